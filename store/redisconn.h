/* SPDX-License-Identifier: MIT */
/* Opening a Redis connection from REDIS_URL: redis://[[user]:password@]host[:port][/db],
 * rediss:// (the same over TLS, through redis_tls.h) or unix:///path/to/socket, with connect
 * and command timeouts, AUTH (an ACL user's when the URL names one) and SELECT. */
#ifndef AGENTCRON_REDISCONN_H
#define AGENTCRON_REDISCONN_H

#include <stddef.h>

struct redisContext;

/* Connects (blocking, up to timeout_ms; commands time out after the same). Returns the
 * context, or NULL with a one-line message in err that never shows the password. Free with
 * redisFree. */
struct redisContext *redisconn_open(const char *url, int timeout_ms, char *err, size_t errlen);

/* Takes REDIS_TLS_CA_FILE, REDIS_TLS_CERT_FILE and REDIS_TLS_KEY_FILE from cfg for rediss://
 * connections (redis_tls.h); every program calls it once after loading its configuration. */
struct config;
void redisconn_use_config(const struct config *cfg);

#endif
