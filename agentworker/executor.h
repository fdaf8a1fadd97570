/* SPDX-License-Identifier: MIT */
/* Executors run one attempt of a run on the worker's libuv loop: `http` and `llm` through the
 * HTTP client, `exec` as a child process in its own process group, `noop` at once. The pool
 * decides what happens next (retry, charge, record) from the result they hand back.
 *
 * Loop-thread only. executor_start either fails (its callback never fires) or its callback
 * fires exactly once, also after executor_stop. */
#ifndef AGENTCRON_EXECUTOR_H
#define AGENTCRON_EXECUTOR_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct agent;
struct config;
struct http_client;
struct json_t;
struct step_answer;
struct execution;

enum run_outcome {
    OUTCOME_SUCCEEDED,
    OUTCOME_FAILED,       /* retryable while attempts are left */
    OUTCOME_FAILED_FINAL, /* not worth retrying: 4xx, exit 64-78, bad agent configuration */
    OUTCOME_TIMED_OUT,    /* the task's timeout passed (retryable) */
    OUTCOME_CANCELLED,    /* a cancel request stopped it */
    OUTCOME_RATE_LIMITED, /* 429 with Retry-After: try again then, without spending an attempt */
    OUTCOME_INTERRUPTED,  /* the worker is shutting down: back to the queue, attempt not spent */
    OUTCOME_AGENT_MISSING, /* this worker defines no such agent: the run waits (a reload, another worker) */
};

#define RUN_OUTPUT_MAX 131072 /* task_runs.output */
#define RUN_ERROR_MAX 8192    /* task_runs.error */
#define RUN_TAIL_MAX 65536    /* stdout and stderr tails of an exec run */
#define RUN_LIVE_MAX 65536    /* what an exec run wrote between two executor_take_live (older bytes dropped) */

struct run_result {
    enum run_outcome outcome;
    int64_t retry_after_ms;
    int64_t prompt_tokens, completion_tokens, total_tokens;
    int http_status;  /* http/llm: the response's status, 0 none */
    int exit_code;    /* exec: the command's exit status, -1 none */
    int exit_signal;  /* exec: the signal that ended it, 0 none */
    char *output;     /* UTF-8, malloc'd, at most RUN_OUTPUT_MAX bytes, or NULL */
    char *stderr_tail; /* exec only, as output, at most RUN_TAIL_MAX */
    char error[1024]; /* why it did not succeed */
};

/* A step operation an agent asks for (steps.h): record a completed step, or reserve credits
 * before one. The strings are copied when submitted. */
struct step_op {
    int reserve;           /* 1: reserve `credits` (at least `at_least`) before step_id; 0: record it */
    const char *step_id;
    const char *output;    /* record: the step's output as JSON text, or NULL */
    int64_t prompt_tokens, completion_tokens; /* record */
    int64_t credits, at_least;                /* reserve */
};

/* The answer to a step operation, on the loop thread: a (steps.h), or error when it could not
 * be carried out (Postgres unreachable): then the attempt should fail and be retried. */
typedef void (*step_answer_cb)(struct execution *x, const struct step_answer *a, const char *error, void *arg);

/* Submits op for the run x executes (ctx: run_spec.step_ctx). cb fires once, later, unless the
 * execution has finished by then. 0, or -1 (out of memory). */
typedef int (*step_submit_fn)(void *ctx, struct execution *x, const struct step_op *op, step_answer_cb cb, void *arg);

/* What an executor needs of a run. */
struct run_spec {
    int64_t run_id, task_id, scheduled_for_ms;
    int attempt;
    const char *title, *goal;
    const struct agent *agent;
    struct json_t *settings;   /* the agent's settings with the task's overrides */
    int64_t reserved_credits;  /* an llm run's max_tokens stays within what this covers */
    int64_t timeout_ms;
    const char *llm_base_url, *llm_api_key; /* defaults from the configuration */
    const struct config *secrets;           /* where the variables agents name are read (config_secret) */
    const char *traceparent;                /* W3C traceparent for the call (http, llm) or TRACEPARENT (exec), or NULL */
    /* durable steps (docs/steps.md) */
    const char *steps_json;  /* the run's completed steps, a JSON array (steps_completed), or NULL: none */
    const char *run_token;   /* scoped to this run and attempt, for the step API; "" without one */
    const char *steps_url;   /* where an http agent's app reports steps: {PUBLIC_URL}/api/runs/{id}/steps */
    step_submit_fn submit_step; /* exec and llm agents' steps go through the worker */
    void *step_ctx;
};

struct execution;
typedef void (*execution_done_cb)(struct execution *x, struct run_result *res, void *data);

/* Starts an attempt. The spec's strings are copied as needed. 0 and *out, or -1 with the reason
 * in res->error and res->outcome set (a configuration problem: OUTCOME_FAILED_FINAL). */
int executor_start(uv_loop_t *loop, struct http_client *http, const struct run_spec *spec, execution_done_cb cb,
                   void *data, struct execution **out, struct run_result *res);

/* Stops an attempt early (why: OUTCOME_TIMED_OUT, OUTCOME_CANCELLED or OUTCOME_INTERRUPTED):
 * a process group gets SIGTERM, then SIGKILL after the agent's kill_grace_ms; an HTTP request
 * is closed. The callback then fires with that outcome and whatever tokens were reported. */
void executor_stop(struct execution *x, enum run_outcome why);

/* Moves out what an exec run wrote on stdout (*out) and stderr (*err) since the last call, for
 * `agentcron runs logs --follow`: malloc'd (NULL when nothing), lengths in *out_len, *err_len.
 * Any other kind of run writes nothing. Also valid inside the done callback. */
void executor_take_live(struct execution *x, char **out, size_t *out_len, char **err, size_t *err_len);

/* Frees a result's strings (not the struct). */
void run_result_clear(struct run_result *res);

#endif
