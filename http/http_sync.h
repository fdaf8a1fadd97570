/* SPDX-License-Identifier: MIT */
/* Blocking HTTP requests for a thread of its own (alert deliveries, trace export, the CLI):
 * the HTTP client (http_client.h) on a private libuv loop, run until the answer is in. The
 * connection pool stays with the http_sync, so a thread that sends often reuses connections.
 * One thread at a time per http_sync. */
#ifndef AGENTCRON_HTTP_SYNC_H
#define AGENTCRON_HTTP_SYNC_H

#include <stddef.h>

#include "http_client.h"

struct http_sync;

/* NULL with *err (no entropy, out of memory). */
struct http_sync *http_sync_new(char *err, size_t len);
void http_sync_free(struct http_sync *s);

/* What http_sync_request got: error and status as in http_response; body is malloc'd (up to
 * opts->max_response_bytes, NUL-terminated) or NULL; free it with free(). */
struct http_sync_result {
    int error;
    int status;
    char message[256];
    char *body;
    size_t body_len;
};

/* Sends one request and waits for its answer (opts->timeout_ms at most). 0 when a response
 * came (any status; see res->status), -1 with res->error and res->message otherwise. */
int http_sync_request(struct http_sync *s, const struct http_request_opts *opts, struct http_sync_result *res);

#endif
