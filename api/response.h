/* SPDX-License-Identifier: MIT */
/* The answer a route builds on an API lane, before the loop thread sends it: a status, a JSON
 * body and extra header lines. Every error body is {"error": "...", "field": "..."}. */
#ifndef AGENTCRON_API_RESPONSE_H
#define AGENTCRON_API_RESPONSE_H

#include <stdint.h>

struct json_t;
struct pg_conn;

struct api_response {
    int status;
    struct json_t *doc;  /* the body, owned (the caller sends and frees it) */
    char extra[512];     /* extra header lines ("Name: value\r\n"), e.g. Set-Cookie */
    /* `async: false`: instead of sending this response, wait for run wait_run (of wait_user)
     * to end, at most wait_ms, checking with api_tasks_wait_check */
    int64_t wait_run, wait_user, wait_ms;
};

/* Sets status and body (owned). */
void api_reply(struct api_response *out, int status, struct json_t *doc);

/* Sets status and an error body; field may be NULL. */
void api_error(struct api_response *out, int status, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* 503 naming what Postgres said, with Retry-After. */
void api_db_error(struct api_response *out, struct pg_conn *pg);

/* 405 with Allow: allow ("GET, POST"). */
void api_method_not_allowed(struct api_response *out, const char *allow);

/* The id after prefix in path ("/api/tasks/12/runs", "/api/tasks/" -> 12, *rest "/runs"), or 0
 * when there is no positive number there. */
int64_t api_path_id(const char *path, const char *prefix, const char **rest);

#endif
