/* SPDX-License-Identifier: MIT */
/* The task API under /api/ (docs/api.md), served with a user's API key
 * (`Authorization: Bearer ak_...`): create a task and run it now or schedule it, list, read,
 * pause, resume, trigger, cancel and delete tasks, read runs. A user sees and changes only their
 * own tasks: anyone else's is a 404. Blocking (Postgres and Redis): called on the API's lanes,
 * one request per lane at a time. */
#ifndef AGENTCRON_API_TASKS_H
#define AGENTCRON_API_TASKS_H

#include <stddef.h>
#include <stdint.h>

#include "response.h"

struct agent_set;
struct config;
struct connpair;
struct http_req;
struct overview_cache;
struct json_t;

/* A request waiting for its run to end. */
struct api_wait {
    int64_t run, user, deadline_ms;
    int done;                  /* set by api_tasks_wait_check: resp is the answer to send */
    struct api_response resp;
};

/* The body of POST /api/agent/execute, checked. The strings point into body. */
struct execute_body {
    struct json_t *body;
    const char *goal, *agent, *title; /* title: given, or the goal cut to 200 bytes */
    const char *cron, *timezone;      /* NULL without a schedule; timezone as given */
    char zone[128];                   /* the zone's canonical name, with a schedule */
    char title_from_goal[201];
    int priority, enabled, wait;      /* wait: `async: false` */
    int64_t timeout_ms, max_attempts; /* -1: the default */
    int64_t retention_days;           /* -1: RUN_RETENTION_DAYS */
    char *config;                     /* agentConfig as JSON text (owned), checked against the agent; or NULL */
    const char *idempotency_key;      /* idempotencyKey, or NULL (the header wins) */
};

/* Parses and checks an execute body without touching any server (the fuzzer drives it):
 * sizes, types, priority names, the agent and the settings agentConfig overrides (only what the
 * agent lists as overridable, as for the CLI's --config), the cron contract and the zone. A
 * field it does not know is refused, not ignored. 0 (free b with api_tasks_execute_body_free),
 * or -1 with *out a 400 naming the field. */
int api_tasks_parse_execute(const char *text, size_t len, const struct agent_set *agents, struct execute_body *b,
                            struct api_response *out);
void api_tasks_execute_body_free(struct execute_body *b);

/* Whether path belongs to the task API. */
int api_tasks_owns(const char *path);

/* What a request is served with besides itself. */
struct api_context {
    const struct agent_set *agents; /* the agents in force (NULL: only noop exists) */
    int https;                      /* the listener speaks HTTPS: cookies are Secure */
    int session_ttl_s;              /* how long a dashboard session lasts */
    struct overview_cache *overview; /* the operator's overview, shared by the lanes (api_admin.h) */
    const struct config *cfg;        /* the orchestrator's settings (alerts' channels) */
};

/* Authenticates (session.h) and serves one request under /api/. */
void api_tasks_serve(struct connpair *conn, const struct api_context *ctx, const struct http_req *req,
                     struct api_response *out);

/* Checks n waiting requests in one query: each whose run has ended gets done and 200 with the
 * run; each past its deadline gets done and 202 with the run as it stands (503 if Postgres
 * cannot say), with a Location to poll. The others wait on. */
void api_tasks_wait_check(struct connpair *conn, struct api_wait *const *waits, int n, int64_t now_ms);

#endif
