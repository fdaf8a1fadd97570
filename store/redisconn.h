/* SPDX-License-Identifier: MIT */
/* Opening a Redis connection from REDIS_URL: redis://[:password@]host[:port][/db] or
 * unix:///path/to/socket, with connect and command timeouts, AUTH and SELECT. */
#ifndef AGENTCRON_REDISCONN_H
#define AGENTCRON_REDISCONN_H

#include <stddef.h>

struct redisContext;

/* Connects (blocking, up to timeout_ms; commands time out after the same). Returns the
 * context, or NULL with a one-line message in err that never shows the password. Free with
 * redisFree. */
struct redisContext *redisconn_open(const char *url, int timeout_ms, char *err, size_t errlen);

#endif
