/* SPDX-License-Identifier: MIT */
/* Shared by the executors (executor.c, exec_agent.c, http_agent.c); not installed. */
#ifndef AGENTCRON_EXECUTOR_INT_H
#define AGENTCRON_EXECUTOR_INT_H

#include "agents.h"
#include "executor.h"

/* A tail of a stream: keeps the last `max` bytes seen. */
struct tail {
    char *buf;
    size_t len, cap, max;
    int truncated;
};

struct execution {
    execution_done_cb cb;
    void *data;
    enum agent_kind kind;
    struct run_result res;
    int stopping, done;
    enum run_outcome stop_reason;
    /* exec */
    uv_process_t proc;
    uv_pipe_t in, out, err, reply; /* reply: fd 3 of the command, answers to its step operations */
    uv_timer_t kill_timer, drain_timer;
    uv_write_t write_req;
    char *stdin_json;
    struct tail out_tail, err_tail;
    struct tail live_out, live_err; /* written since executor_take_live last took them */
    int exited, eof_out, eof_err, open_handles;
    int64_t exit_status;
    int term_signal;
    int64_t kill_grace_ms;
    /* http, llm */
    struct http_request *req;
    char *req_body;
    struct llm_loop *llm; /* llm: the agent loop */
    /* exec: step reports read from stdout, answered on fd 3 */
    struct exec_steps *steps;
};

/* Hands the result to the callback (once) and frees x when nothing of it is open any more. */
void executor_finish(struct execution *x);
/* Frees x if it is finished and has no open handles (exec calls it from close callbacks). */
void executor_release(struct execution *x);

/* Copies at most max bytes of data as valid UTF-8 without NULs (invalid bytes become U+FFFD;
 * a character cut by the limit is dropped). Returns malloc'd text, or NULL without memory. */
char *executor_clean_text(const char *data, size_t len, size_t max);

/* Reads token counts from a JSON object's "usage" (prompt_tokens, completion_tokens,
 * total_tokens). A total beyond prompt + completion counts the rest as completion tokens, so
 * the stored pair always adds up to what is charged. Returns 1 if it had a usage object. */
int executor_usage(const struct json_t *doc, struct run_result *res);

int64_t executor_setting_int(const struct json_t *settings, const char *key, int64_t dflt);
const char *executor_setting_str(const struct json_t *settings, const char *key, const char *dflt);

/* Appends to a tail, dropping the oldest bytes beyond its max. */
void tail_append(struct tail *t, const char *data, size_t len);
void tail_free(struct tail *t);

int exec_agent_start(uv_loop_t *loop, struct execution *x, const struct run_spec *spec);
void exec_agent_stop(struct execution *x);
int http_agent_start(struct http_client *http, struct execution *x, const struct run_spec *spec);
void http_agent_stop(struct execution *x);
int llm_agent_start(struct http_client *http, struct execution *x, const struct run_spec *spec);
void llm_agent_stop(struct execution *x);
void llm_agent_free(struct execution *x);
/* exec's step protocol (exec_steps.c): starts it (the steps file, AGENTCRON_* variables
 * appended to env at *n; 0, or a negative errno), feeds it stdout, frees it. */
int exec_steps_start(struct execution *x, const struct run_spec *spec, char **env, size_t *n);
void exec_steps_feed(struct execution *x, const char *data, size_t len);
/* Whether step operations the command reported wait for their answers: its run ends after them. */
int exec_steps_pending(const struct execution *x);
/* Ends an exec run once its command has exited, its pipes are drained and its steps answered. */
void exec_agent_complete(struct execution *x);
void exec_steps_free(struct execution *x);

#endif
