/* SPDX-License-Identifier: MIT */
/* The task API under /api/ (design.md sections 6 and 8), served with a user's API key
 * (`Authorization: Bearer ak_...`): create a task and run it now or schedule it, list, read,
 * pause, resume, trigger, cancel and delete tasks, read runs. A user sees and changes only their
 * own tasks: anyone else's is a 404. Blocking (Postgres and Redis): called on the API's lanes,
 * one request per lane at a time. */
#ifndef AGENTCRON_API_TASKS_H
#define AGENTCRON_API_TASKS_H

#include <stdint.h>

struct agent_set;
struct connpair;
struct http_req;
struct json_t;

struct api_response {
    int status;
    struct json_t *doc;  /* the body, owned (the caller sends and frees it) */
    char extra[160];     /* extra header lines */
    /* `async: false`: instead of sending this response, wait for run wait_run (of wait_user)
     * to end, at most wait_ms, checking with api_tasks_wait_check */
    int64_t wait_run, wait_user, wait_ms;
};

/* A request waiting for its run to end. */
struct api_wait {
    int64_t run, user, deadline_ms;
    int done;                  /* set by api_tasks_wait_check: resp is the answer to send */
    struct api_response resp;
};

/* Whether path belongs to the task API. */
int api_tasks_owns(const char *path);

/* Authenticates and serves one request. agents may be NULL (only noop exists). */
void api_tasks_serve(struct connpair *conn, const struct agent_set *agents, const struct http_req *req,
                     struct api_response *out);

/* Checks n waiting requests in one query: each whose run has ended gets done and 200 with the
 * run; each past its deadline gets done and 202 with the run as it stands (and a Location to
 * poll). The others wait on. */
void api_tasks_wait_check(struct connpair *conn, struct api_wait *const *waits, int n, int64_t now_ms);

#endif
