/* SPDX-License-Identifier: MIT */
/* The worker pool's loop side (see worker.h). A run's life: intake (claimed, running in
 * Postgres, admitted, credits reserved) -> executing, with a timeout timer and its lease
 * renewed every RENEW_INTERVAL_MS by the outcome lane, which also brings cancel requests ->
 * finished: its outcome decided here (retry with backoff, dead set, charge) and queued for the
 * outcome lane to record in one batch with everything else that finished meanwhile. */
#include "worker.h"

#include <inttypes.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agents.h"
#include "config.h"
#include "executor.h"
#include "http_client.h"
#include "log.h"
#include "queue.h"
#include "livelog.h"
#include "steps.h"
#include "traces.h"
#include "store.h"
#include "timefmt.h"

#define RENEW_INTERVAL_MS 500 /* also how soon a cancel request reaches a running run */
#define WAIT_S 1
#define BACKOFF_BASE_MS 1000
#define BACKOFF_CAP_MS 3600000
#define SETTLE_BATCH 512
/* Finished runs waiting to be recorded hold their leases unrenewed: past this many, no new
 * runs are taken in until the outcome lane catches up. */
#define MAX_UNRECORDED 1024
#define LANE_RETRY_MAX_MS 10000
#define AGENT_MISSING_RETRY_MS 10000 /* a run whose agent this worker lacks is tried again after this */
#define MISSING_AGENTS_MAX 8         /* agents reported missing in the status (the latest) */
#define MISSING_AGENT_SHOWN_MS 300000 /* and for how long after a run last wanted one */
#define INTAKE_RETRY_MAX_MS 1000

struct active_run {
    struct worker_pool *pool;
    struct store_run run;
    const struct agent *agent;
    struct execution *exec;
    uv_timer_t timeout;
    int64_t started_ms;
    char traceparent[56]; /* of the attempt's call: its span is child of the attempt's */
    uint64_t serial;      /* tells this run apart from one that later reuses its memory (step answers) */
    char run_token[RUN_TOKEN_MAX];
    char steps_url[600];
    int lost;  /* the lease went to another worker: nothing of ours is recorded */
    int done;
    int streamed; /* some of its output went to its live stream (livelog.h) */
    struct active_run *next, *prev;
};

/* An outcome waiting to be recorded, with the strings it points to. */
struct finished {
    struct store_outcome o;
    char token[96];
    char *output, *stderr_tail;
    char *error;
    struct finished *next;
};

/* A step operation an execution submitted, until the step lane has carried it out. */
struct step_job {
    struct step_op op; /* its strings owned */
    int64_t run_id;
    int attempt;
    uint64_t serial;   /* of the active run that asked */
    struct execution *x;
    step_answer_cb cb;
    void *arg;
    const struct agent_set *agents;
    int rc;
    struct step_answer answer;
    char err[512];
    struct step_job *next;
};

/* Two lanes each for taking runs in and for recording them overlap their round trips and
 * commits: for short runs those, not the runs, are the slow part. Two more carry out step
 * operations (each run submits one at a time, so its steps stay in order). */
enum lane { LANE_INTAKE, LANE_INTAKE2, LANE_OUTCOME, LANE_OUTCOME2, LANE_WAIT, LANE_STEP, LANE_STEP2, LANE_COUNT };

struct lane_job {
    struct worker_pool *pool;
    uv_work_t work;
    int busy;
    struct store *store;
    int rc;
    char err[1024];
    /* intake */
    int want; /* how many runs it is taking in: their slots are reserved meanwhile */
    const struct agent_set *agents; /* the agents as of the intake's start */
    struct store_intake intake;
    /* outcome: a batch to record, leases to renew, a status to publish */
    struct finished *batch;
    size_t nbatch;
    struct store_run *renew;
    size_t nrenew;
    int *renew_results;
    char *status_json;
    struct livelog_chunk *logs; /* LANE_OUTCOME only: in order */
    char log_err[256];
    int64_t backoff_ms;
    struct step_job *steps; /* LANE_STEP*: the operations it carries out, in order */
};

struct worker_pool {
    uv_loop_t *loop;
    const struct config *cfg;
    const struct agent_set *agents; /* the current set (worker_pool_reload swaps it) */
    const struct config *secrets;   /* where agents' variables are read: the current env file */
    struct {
        char name[101];
        int64_t seen_ms;
    } missing[MISSING_AGENTS_MAX]; /* agents runs wanted that this worker lacks */
    char instance[160];
    int concurrency;
    int64_t started_ms;
    struct http_client *http;
    struct tracer *tracer; /* NULL: tracing is off */
    struct lane_job lanes[LANE_COUNT];
    uv_timer_t renew_timer, status_timer, ready_timer, retry_timer, grace_timer;
    int open_handles;
    struct active_run *active;
    int nactive;
    struct finished *pending, **pending_tail;
    size_t npending;
    struct livelog livelog; /* running exec runs' output, for their live streams */
    struct step_job *steps, **steps_tail; /* step operations waiting for a step lane */
    uint64_t serials;
    unsigned char token_key[RUN_TOKEN_KEY_LEN];
    int have_token_key;
    char public_url[512];
    int want_intake; /* there may be runs to take in */
    int want_renew, want_status;
    int64_t ready_at_ms;
    struct worker_counts counts;
    int64_t tokens, credits;
    int stopping, stopped;
    void (*on_stopped)(void *);
    void *stopped_data;
};

static void kick(struct worker_pool *p);
static void on_generic_timer(uv_timer_t *t);

/* ---- outcomes ---- */

static int64_t backoff_ms(int attempt)
{
    int64_t d = BACKOFF_BASE_MS;
    for (int i = 1; i < attempt && d < BACKOFF_CAP_MS; i++)
        d *= 2;
    if (d > BACKOFF_CAP_MS)
        d = BACKOFF_CAP_MS;
    return d / 2 + (int64_t)(((uint64_t)rand() << 16 ^ (uint64_t)rand()) % (uint64_t)(d / 2 + 1)); /* equal jitter */
}

static const char *final_status(enum run_outcome o)
{
    switch (o) {
    case OUTCOME_SUCCEEDED: return "succeeded";
    case OUTCOME_TIMED_OUT: return "timed_out";
    case OUTCOME_CANCELLED: return "cancelled";
    default: return "failed";
    }
}

/* The span id of an attempt's call (its traceparent); attempts are told apart by their start. */
static void call_span(const struct trace_ids *ids, int attempt, int64_t started_ms, unsigned char out[8])
{
    char part[64];
    snprintf(part, sizeof part, "http:%d:%" PRId64, attempt, started_ms);
    trace_span_id(ids, part, out);
}

/* The attempt's spans (traces.h): the attempt and its call; the run's root span (with the
 * moment it was queued) when it ends. */
static void trace_attempt(struct worker_pool *p, const struct store_run *run, const struct agent *agent,
                          const struct run_result *res, const struct store_outcome *o, int64_t started_ms, int64_t now)
{
    if (!p->tracer)
        return;
    struct trace_ids ids;
    trace_ids_of(run->id, run->scheduled_for_ms, &ids);
    const int final = strcmp(o->status, "queued") && strcmp(o->status, "retrying");
    const int ok = !strcmp(o->status, "succeeded");
    const char *error = ok ? NULL : res->error[0] ? res->error : o->status;
    const int attempt_failed = (final && !ok) || o->attempt_increment; /* not a drain or a 429's wait */
    const int64_t tokens = res->prompt_tokens + res->completion_tokens;
    if (started_ms > 0) {
        char part[64];
        unsigned char attempt[8], call[8];
        snprintf(part, sizeof part, "attempt:%d:%" PRId64, run->attempt, started_ms);
        trace_span_id(&ids, part, attempt);
        const int priced = final && agent && agent->tokens_per_credit > 0; /* what its tokens cost, as charged */
        struct trace_attr a[9] = {
            TRACE_INT("agentcron.run.id", run->id), TRACE_INT("agentcron.attempt", run->attempt),
            TRACE_STR("agentcron.worker", p->instance), TRACE_STR("agentcron.agent", run->agent_type),
            TRACE_STR("agentcron.outcome", o->status)};
        size_t na = 5;
        if (tokens) {
            a[na++] = (struct trace_attr)TRACE_INT("gen_ai.usage.input_tokens", res->prompt_tokens);
            a[na++] = (struct trace_attr)TRACE_INT("gen_ai.usage.output_tokens", res->completion_tokens);
        }
        if (priced)
            a[na++] = (struct trace_attr)TRACE_INT(
                "agentcron.credits", agent->base_credits + (tokens + agent->tokens_per_credit - 1) / agent->tokens_per_credit);
        tracer_span(p->tracer, &ids, attempt, ids.run, "agentcron.attempt", 1, started_ms, now,
                    attempt_failed ? error : NULL, a, na, NULL);
        if (agent && (agent->kind == AGENT_HTTP || agent->kind == AGENT_LLM)) {
            call_span(&ids, run->attempt, started_ms, call);
            const struct trace_attr c[] = {TRACE_INT("agentcron.run.id", run->id),
                                           TRACE_INT("http.response.status_code", res->http_status)};
            tracer_span(p->tracer, &ids, call, attempt, agent->kind == AGENT_LLM ? "POST chat/completions" : "agentcron.call",
                        3, started_ms, now, res->http_status >= 400 || (!res->http_status && !ok) ? error : NULL, c,
                        res->http_status ? 2 : 1, NULL);
        }
    }
    if (final) {
        const struct trace_attr r[] = {
            TRACE_INT("agentcron.run.id", run->id), TRACE_INT("agentcron.task.id", run->task_id),
            TRACE_STR("agentcron.task.title", run->title), TRACE_STR("agentcron.agent", run->agent_type),
            TRACE_STR("agentcron.status", o->status), TRACE_INT("agentcron.attempts", run->attempt)};
        const struct trace_attr q[] = {TRACE_INT("agentcron.lateness_ms", run->enqueued_ms - run->scheduled_for_ms)};
        const struct trace_event enqueued = {"enqueued", run->enqueued_ms, q, 1};
        tracer_span(p->tracer, &ids, ids.run, NULL, "agentcron.run", 1, run->scheduled_for_ms, now, error, r,
                    sizeof r / sizeof *r, run->enqueued_ms > 0 ? &enqueued : NULL);
    }
}

/* Decides what happens to a run after an attempt, and queues it for the outcome lane. */
static void record(struct worker_pool *p, const struct store_run *run, const struct agent *agent,
                   struct run_result *res, int64_t started_ms)
{
    struct finished *f = calloc(1, sizeof *f);
    if (!f) { /* its lease expires and it runs again */
        LOG(LOG_ERROR, "run.unrecorded", LOG_I("run", run->id), LOG_S("error", "out of memory"));
        return;
    }
    struct store_outcome *o = &f->o;
    snprintf(f->token, sizeof f->token, "%s", run->lease_token);
    char timed_out[64];
    if (res->outcome == OUTCOME_TIMED_OUT) /* one message, whichever part noticed first */
        snprintf(timed_out, sizeof timed_out, "timed out after %" PRId64 " ms", run->timeout_ms);
    const char *error = res->outcome == OUTCOME_TIMED_OUT ? timed_out : res->error;
    f->error = error[0] ? strndup(error, RUN_ERROR_MAX) : NULL;
    f->output = res->output, f->stderr_tail = res->stderr_tail;
    res->output = res->stderr_tail = NULL;
    *o = (struct store_outcome){.id = run->id, .user_id = run->user_id, .lease_token = f->token,
                                .user_limit = run->user_limit, .shard = run->shard, .next_attempt = run->attempt,
                                .reserved = run->reserved,
                                .prompt_tokens = res->prompt_tokens, .completion_tokens = res->completion_tokens,
                                .output = f->output, .stderr_tail = f->stderr_tail,
                                .error = f->error, .exit_code = -1, .duration_ms = -1};
    const int64_t now = timefmt_now_ms();
    const int executed = started_ms > 0;
    if (executed && agent) {
        o->base_credits = agent->base_credits, o->tokens_per_credit = agent->tokens_per_credit;
        o->duration_ms = now - started_ms;
        o->http_status = res->http_status;
        if (agent->kind == AGENT_EXEC)
            o->exit_code = res->exit_code, o->exit_signal = res->exit_signal;
    }
    const int retryable = res->outcome == OUTCOME_FAILED || res->outcome == OUTCOME_TIMED_OUT;
    if (res->outcome == OUTCOME_RATE_LIMITED || res->outcome == OUTCOME_INTERRUPTED ||
        res->outcome == OUTCOME_AGENT_MISSING) {
        o->status = run->attempt > 1 ? "retrying" : "queued";
        o->retry_reason = res->outcome == OUTCOME_RATE_LIMITED ? "retry_after"
                        : res->outcome == OUTCOME_AGENT_MISSING ? "agent_missing"
                                                                : "drained";
        o->ready_at_ms = now + (res->outcome == OUTCOME_RATE_LIMITED   ? res->retry_after_ms
                                : res->outcome == OUTCOME_AGENT_MISSING ? AGENT_MISSING_RETRY_MS
                                                                        : 0);
    } else if (retryable && run->attempt < run->max_attempts) {
        o->status = "retrying";
        o->retry_reason = "backoff";
        o->attempt_increment = 1;
        o->next_attempt = run->attempt + 1;
        o->ready_at_ms = now + backoff_ms(run->attempt);
    } else {
        o->status = final_status(res->outcome);
        o->dead = res->outcome != OUTCOME_SUCCEEDED && res->outcome != OUTCOME_CANCELLED;
    }
    const int64_t ms = now - run->scheduled_for_ms;
    if (res->outcome == OUTCOME_SUCCEEDED)
        LOG(LOG_INFO, "run.finished", LOG_I("run", run->id), LOG_I("task", run->task_id), LOG_S("agent", run->agent_type),
            LOG_I("attempt", run->attempt), LOG_S("status", o->status),
            LOG_I("tokens", res->prompt_tokens + res->completion_tokens), LOG_I("since_slot_ms", ms));
    else
        LOG(LOG_WARN, "run.finished", LOG_I("run", run->id), LOG_I("task", run->task_id), LOG_S("agent", run->agent_type),
            LOG_I("attempt", run->attempt), LOG_S("status", o->status),
            LOG_I("tokens", res->prompt_tokens + res->completion_tokens), LOG_I("since_slot_ms", ms),
            LOG_S("error", f->error ? f->error : ""));
    if (strcmp(o->status, "succeeded") == 0)
        p->counts.completed++;
    else if (strcmp(o->status, "retrying") == 0 && o->attempt_increment)
        p->counts.retried++;
    else if (strcmp(o->status, "cancelled") == 0)
        p->counts.cancelled++;
    else if (o->dead)
        p->counts.failed++;
    p->tokens += res->prompt_tokens + res->completion_tokens;
    trace_attempt(p, run, agent, res, o, started_ms, now);
    *p->pending_tail = f;
    p->pending_tail = &f->next;
    p->npending++;
}

/* ---- running ---- */

static void pool_handle_closed(struct worker_pool *p);

static void on_timeout_closed(uv_handle_t *h)
{
    struct active_run *a = h->data;
    struct worker_pool *p = a->pool;
    store_run_clear(&a->run);
    free(a);
    pool_handle_closed(p);
}

static void unlink_run(struct worker_pool *p, struct active_run *a)
{
    if (a->prev)
        a->prev->next = a->next;
    else
        p->active = a->next;
    if (a->next)
        a->next->prev = a->prev;
    p->nactive--;
    p->counts.active = p->nactive;
}

/* Queues what a running exec run wrote since the last time for its live stream; at its end
 * (last), the rest and the end mark, if it streamed anything before. */
static void stream_output(struct worker_pool *p, struct active_run *a, struct execution *x, int last)
{
    char *out, *err;
    size_t out_len, err_len;
    executor_take_live(x, &out, &out_len, &err, &err_len);
    if (last && !a->streamed) { /* ended within one flush: nothing streamed, nothing to end */
        free(out), free(err);
        return;
    }
    a->streamed |= out_len || err_len;
    if (livelog_push(&p->livelog, a->run.id, a->run.attempt, last, out, out_len, err, err_len) != 0)
        LOG(LOG_WARN, "run.output_not_streamed", LOG_I("run", a->run.id), LOG_S("reason", "out of memory"));
}

static void on_done(struct execution *x, struct run_result *res, void *data)
{
    struct active_run *a = data;
    struct worker_pool *p = a->pool;
    stream_output(p, a, x, 1);
    a->exec = NULL;
    a->done = 1;
    uv_timer_stop(&a->timeout);
    if (a->lost)
        LOG(LOG_WARN, "run.lease_lost", LOG_I("run", a->run.id),
            LOG_S("action", "not recorded here; the worker that took it over records it"));
    else
        record(p, &a->run, a->agent, res, a->started_ms);
    unlink_run(p, a);
    uv_close((uv_handle_t *)&a->timeout, on_timeout_closed);
}

static void on_run_timeout(uv_timer_t *t)
{
    struct active_run *a = t->data;
    LOG(LOG_WARN, "run.timeout", LOG_I("run", a->run.id), LOG_I("timeout_ms", a->run.timeout_ms),
        LOG_S("action", "stopping it"));
    if (a->exec)
        executor_stop(a->exec, OUTCOME_TIMED_OUT);
}

/* Remembers that a run wanted an agent this worker lacks, for the status report. */
static void note_missing_agent(struct worker_pool *p, const char *name)
{
    int slot = 0;
    for (int i = 0; i < MISSING_AGENTS_MAX; i++) {
        if (!strcmp(p->missing[i].name, name)) {
            slot = i;
            break;
        }
        if (p->missing[i].seen_ms < p->missing[slot].seen_ms)
            slot = i; /* the oldest makes room */
    }
    snprintf(p->missing[slot].name, sizeof p->missing[slot].name, "%s", name);
    p->missing[slot].seen_ms = timefmt_now_ms();
}

static void step_job_free(struct step_job *j)
{
    free((char *)j->op.step_id);
    free((char *)j->op.output);
    free(j);
}

/* step_submit_fn: queues op for a step lane. */
static int submit_step(void *ctx, struct execution *x, const struct step_op *op, step_answer_cb cb, void *arg)
{
    struct active_run *a = ctx;
    struct worker_pool *p = a->pool;
    struct step_job *j = calloc(1, sizeof *j);
    if (!j)
        return -1;
    j->op = *op;
    j->op.step_id = strdup(op->step_id);
    j->op.output = op->output ? strdup(op->output) : NULL;
    if (!j->op.step_id || (op->output && !j->op.output)) {
        step_job_free(j);
        return -1;
    }
    j->run_id = a->run.id, j->attempt = a->run.attempt, j->serial = a->serial;
    j->x = x, j->cb = cb, j->arg = arg, j->agents = p->agents;
    *p->steps_tail = j;
    p->steps_tail = &j->next;
    kick(p);
    return 0;
}

static void start_run(struct worker_pool *p, struct store_run *run)
{
    struct active_run *a = calloc(1, sizeof *a);
    struct run_result res = {0};
    if (!a) {
        LOG(LOG_ERROR, "run.not_started", LOG_I("run", run->id), LOG_S("error", "out of memory"));
        store_run_clear(run);
        return;
    }
    a->pool = p;
    a->run = *run;
    memset(run, 0, sizeof *run); /* its strings are a's now */
    a->started_ms = timefmt_now_ms();
    a->serial = ++p->serials;
    a->next = p->active;
    if (p->active)
        p->active->prev = a;
    p->active = a;
    p->nactive++;
    p->counts.active = p->nactive;
    uv_timer_init(p->loop, &a->timeout);
    a->timeout.data = a;
    p->open_handles++;
    a->agent = agents_find(p->agents, a->run.agent_type);
    struct agents_error aerr;
    json_t *settings = NULL;
    if (!a->agent) { /* removed from AGENTS_FILE, or a worker that has not reloaded it yet: wait, do not fail */
        res.outcome = OUTCOME_AGENT_MISSING;
        snprintf(res.error, sizeof res.error,
                 "waiting: worker %.100s defines no agent \"%.100s\"; add it to AGENTS_FILE and reload the workers "
                 "(systemctl reload 'agentcron-worker@*', or SIGHUP): the run is tried again every %d s",
                 p->instance, a->run.agent_type, AGENT_MISSING_RETRY_MS / 1000);
        note_missing_agent(p, a->run.agent_type);
        LOG(LOG_WARN, "run.agent_missing", LOG_I("run", a->run.id), LOG_S("agent", a->run.agent_type),
            LOG_S("action", "waits in the delayed set"));
    } else if (!(settings = agents_effective(a->agent, a->run.agent_config, &aerr))) {
        res.outcome = OUTCOME_FAILED_FINAL;
        snprintf(res.error, sizeof res.error, "invalid agent configuration: %s", aerr.message);
    } else {
        if (p->tracer) {
            struct trace_ids ids;
            unsigned char call[8];
            trace_ids_of(a->run.id, a->run.scheduled_for_ms, &ids);
            call_span(&ids, a->run.attempt, a->started_ms, call);
            trace_parent_header(&ids, call, a->traceparent);
        }
        if (p->have_token_key && (a->agent->kind == AGENT_HTTP || a->agent->kind == AGENT_EXEC)) {
            /* for the step API (llm steps go through the worker): valid while the attempt may
             * run, and a minute for its last report */
            steps_token_make(p->token_key, a->run.id, a->run.attempt,
                             a->started_ms / 1000 + a->run.timeout_ms / 1000 + 60, a->run_token);
            snprintf(a->steps_url, sizeof a->steps_url, "%s/api/runs/%" PRId64 "/steps", p->public_url, a->run.id);
        }
        const struct run_spec spec = {
            .run_id = a->run.id, .task_id = a->run.task_id, .scheduled_for_ms = a->run.scheduled_for_ms,
            .attempt = a->run.attempt, .title = a->run.title, .goal = a->run.goal, .agent = a->agent,
            .settings = settings, .reserved_credits = a->run.reserved, .timeout_ms = a->run.timeout_ms,
            .llm_base_url = p->cfg->llm_base_url, .llm_api_key = p->cfg->llm_api_key, .secrets = p->secrets,
            .traceparent = a->traceparent[0] ? a->traceparent : NULL,
            .steps_json = a->run.steps_json, .run_token = a->run_token, .steps_url = a->steps_url,
            .submit_step = submit_step, .step_ctx = a,
        };
        LOG(LOG_DEBUG, "run.started", LOG_I("run", a->run.id), LOG_I("task", a->run.task_id),
            LOG_S("agent", a->agent->name), LOG_I("attempt", a->run.attempt));
        uv_timer_start(&a->timeout, on_run_timeout, (uint64_t)a->run.timeout_ms, 0);
        struct execution *x = NULL;
        const int rc = executor_start(p->loop, p->http, &spec, on_done, a, &x, &res);
        json_decref(settings);
        settings = NULL;
        if (rc == 0) {
            if (!a->done) /* still running (noop finishes inside executor_start) */
                a->exec = x;
            return;
        }
    }
    json_decref(settings);
    /* it never ran: recorded at once, no charge */
    record(p, &a->run, a->agent, &res, 0);
    run_result_clear(&res);
    unlink_run(p, a);
    uv_close((uv_handle_t *)&a->timeout, on_timeout_closed);
}

/* ---- lanes, on the thread pool ---- */

static void run_intake(uv_work_t *w)
{
    struct lane_job *l = w->data;
    struct worker_pool *p = l->pool;
    l->err[0] = 0;
    l->rc = store_intake(l->store, l->agents, l->want, (int64_t)p->cfg->worker_lease_s * 1000, &l->intake, l->err,
                         sizeof l->err);
}

static void run_outcome(uv_work_t *w)
{
    struct lane_job *l = w->data;
    l->err[0] = 0;
    l->rc = 0;
    l->log_err[0] = 0;
    if (l->logs) /* the live view only: a failure is logged, not retried */
        store_stream_logs(l->store, l->logs, l->log_err, sizeof l->log_err);
    if (l->nbatch) {
        struct store_outcome *o = calloc(l->nbatch, sizeof *o);
        size_t i = 0;
        for (struct finished *f = l->batch; f && o; f = f->next)
            o[i++] = f->o;
        l->rc = o ? store_settle(l->store, o, l->nbatch, l->err, sizeof l->err) : -1;
        free(o);
    }
    if (l->rc == 0 && l->nrenew) {
        const struct store_run **runs = calloc(l->nrenew, sizeof *runs);
        for (size_t i = 0; runs && i < l->nrenew; i++)
            runs[i] = &l->renew[i];
        l->rc = runs ? store_renew(l->store, runs, l->nrenew, (int64_t)l->pool->cfg->worker_lease_s * 1000, l->renew_results, l->err, sizeof l->err) : -1;
        free(runs);
    }
    if (l->status_json) {
        char key[256], err[256];
        snprintf(key, sizeof key, "agentcron:{default}:status:worker:%s", l->pool->instance);
        const int ttl = config_report_ttl_s(l->pool->cfg);
        if (store_publish(l->store, key, l->status_json, ttl, err, sizeof err) != 0 && l->rc == 0)
            l->rc = -1, snprintf(l->err, sizeof l->err, "%s", err);
    }
}

/* Each operation is a transaction of its own: batching them in one commit made two lanes lock
 * two users' rows in opposite orders (deadlocks), and one user's row stay locked for a whole
 * batch. */
static void run_steps(uv_work_t *w)
{
    struct lane_job *l = w->data;
    for (struct step_job *j = l->steps; j; j = j->next) {
        const struct step_op *op = &j->op;
        if (op->reserve)
            j->rc = store_step_reserve(l->store, j->agents, j->run_id, j->attempt, op->step_id, op->credits,
                                       op->at_least, &j->answer, j->err, sizeof j->err);
        else {
            const struct step_report rep = {op->step_id, op->output, op->prompt_tokens, op->completion_tokens};
            j->rc = store_step_record(l->store, j->agents, j->run_id, j->attempt, &rep, &j->answer, j->err, sizeof j->err);
        }
    }
}

/* Hands each answer to its execution, if the run that asked still runs it. */
static void after_steps(uv_work_t *w, int status)
{
    struct lane_job *l = w->data;
    struct worker_pool *p = l->pool;
    l->busy = 0;
    struct step_job *j = l->steps;
    l->steps = NULL;
    while (j) {
        struct step_job *next = j->next;
        if (status == UV_ECANCELED)
            j->rc = -1, snprintf(j->err, sizeof j->err, "the worker is stopping");
        if (j->rc != 0)
            LOG(LOG_WARN, "run.step_failed", LOG_I("run", j->run_id), LOG_S("step", j->op.step_id), LOG_S("error", j->err));
        for (struct active_run *a = p->active; a; a = a->next)
            if (a->serial == j->serial && a->exec == j->x) {
                j->cb(j->x, j->rc ? NULL : &j->answer, j->rc ? j->err : NULL, j->arg);
                break;
            }
        step_job_free(j);
        j = next;
    }
    kick(p);
}

static void start_step_lanes(struct worker_pool *p)
{
    for (int k = LANE_STEP; k <= LANE_STEP2 && p->steps; k++) {
        struct lane_job *l = &p->lanes[k];
        if (l->busy)
            continue;
        l->steps = p->steps;
        p->steps = NULL;
        p->steps_tail = &p->steps;
        l->busy = 1;
        l->work.data = l;
        if (uv_queue_work(p->loop, &l->work, run_steps, after_steps) != 0) {
            l->busy = 0;
            p->steps = l->steps, l->steps = NULL;
            for (struct step_job *j = p->steps; j; j = j->next)
                p->steps_tail = &j->next;
        }
    }
}

static void run_wait(uv_work_t *w)
{
    struct lane_job *l = w->data;
    l->err[0] = 0;
    l->rc = store_wait(l->store, WAIT_S, l->err, sizeof l->err);
}

static void on_ready_timer(uv_timer_t *t)
{
    struct worker_pool *p = t->data;
    p->want_intake = 1; /* a delayed run is due: promote and claim it */
    kick(p);
}

/* Brings the intake back when a delayed run becomes due at at_ms (the earliest one wins). */
static void arm_ready_timer(struct worker_pool *p, int64_t at_ms)
{
    int64_t wait = at_ms - timefmt_now_ms() + 1;
    if (wait < 0)
        wait = 0;
    if (uv_is_active((uv_handle_t *)&p->ready_timer) && uv_timer_get_due_in(&p->ready_timer) <= (uint64_t)wait)
        return;
    uv_timer_start(&p->ready_timer, on_ready_timer, (uint64_t)wait, 0);
}

static void lane_failed(struct worker_pool *p, struct lane_job *l, const char *event)
{
    LOG(LOG_ERROR, event, LOG_S("error", l->err), LOG_I("retry_in_ms", l->backoff_ms));
    if (!uv_is_active((uv_handle_t *)&p->retry_timer))
        uv_timer_start(&p->retry_timer, on_generic_timer, (uint64_t)l->backoff_ms, 0);
    /* taking runs in, and waiting for them (an idle worker's intake follows its wait), try again
     * at least every second: due runs wait at most that long once Postgres or Redis is back (a
     * failed try costs one connection attempt). Other lanes' kicks may retry a lane sooner, each
     * failure doubling its backoff: without this cap an idle worker slept 4 s after a Redis
     * master was killed. */
    const int fast = l == &p->lanes[LANE_INTAKE] || l == &p->lanes[LANE_INTAKE2] || l == &p->lanes[LANE_WAIT];
    const int64_t cap = fast ? INTAKE_RETRY_MAX_MS : LANE_RETRY_MAX_MS;
    l->backoff_ms = l->backoff_ms * 2 > cap ? cap : l->backoff_ms * 2;
}

/* A lane is free again only once its results are used: starting a run can kick() (an llm run
 * reserves its first step at once), and a kick that restarted this lane had its thread clear
 * the intake these runs are read from, mid-loop (the remaining runs were left marked running,
 * never started). The same holds for an outcome lane's batch and renewals. */
static void after_intake(uv_work_t *w, int status)
{
    struct lane_job *l = w->data;
    struct worker_pool *p = l->pool;
    l->want = 0;
    if (status == UV_ECANCELED || l->rc != 0) {
        lane_failed(p, l, "worker.intake_failed");
    } else {
        l->backoff_ms = 250;
        struct store_intake *in = &l->intake;
        if (in->deferred || in->insufficient || in->dropped || in->requeued)
            LOG(LOG_INFO, "worker.intake", LOG_I("claimed", in->claimed), LOG_I("lapsed_leases_requeued", in->requeued),
                LOG_I("deferred", in->deferred),
                LOG_I("insufficient_credits", in->insufficient), LOG_I("duplicates_dropped", in->dropped));
        if (in->count) {
            memcpy(p->token_key, in->token_key, sizeof p->token_key);
            p->have_token_key = 1;
        }
        /* Runs not started yet keep their slots reserved, as a kick() from starting one counts
         * them: else the other intake lane could claim beyond the concurrency meanwhile. */
        l->want = in->count;
        for (int i = 0; i < in->count; i++) {
            l->want--; /* start_run counts it active before anything it does can kick */
            start_run(p, &in->runs[i]);
        }
        if (in->next_ready_ms >= 0)
            arm_ready_timer(p, in->next_ready_ms);
        /* more may be waiting after a non-empty claim; an empty one means wait for a wake-up */
        p->want_intake = in->claimed > 0;
        store_intake_clear(in);
    }
    l->busy = 0;
    kick(p);
}

static void free_batch(struct finished *f)
{
    while (f) {
        struct finished *next = f->next;
        free(f->output);
        free(f->stderr_tail);
        free(f->error);
        free(f);
        f = next;
    }
}

static void after_outcome(uv_work_t *w, int status)
{
    struct lane_job *l = w->data;
    struct worker_pool *p = l->pool;
    free(l->status_json);
    l->status_json = NULL;
    livelog_free(l->logs);
    l->logs = NULL;
    if (l->log_err[0])
        LOG(LOG_WARN, "worker.output_not_streamed", LOG_S("error", l->log_err));
    if (status == UV_ECANCELED || l->rc != 0) {
        /* nothing was recorded (Postgres first): put the batch back in front */
        if (l->batch) {
            struct finished *last = l->batch;
            while (last->next)
                last = last->next;
            last->next = p->pending;
            if (!p->pending)
                p->pending_tail = &last->next;
            p->pending = l->batch;
            p->npending += l->nbatch;
        }
        lane_failed(p, l, "worker.record_failed");
    } else {
        l->backoff_ms = 250;
        int64_t ready = -1; /* the soonest retry recorded: look for it then */
        for (struct finished *f = l->batch; f; f = f->next)
            if (f->o.ready_at_ms > 0 && (ready < 0 || f->o.ready_at_ms < ready))
                ready = f->o.ready_at_ms;
        if (ready >= 0)
            arm_ready_timer(p, ready);
        free_batch(l->batch);
        for (size_t i = 0; i < l->nrenew; i++) {
            if (l->renew_results[i] != QUEUE_LEASE_LOST)
                p->counts.renewals++;
            if (l->renew_results[i] == QUEUE_LEASE_OK)
                continue;
            for (struct active_run *a = p->active; a; a = a->next) {
                if (a->run.id != l->renew[i].id || !a->exec)
                    continue;
                if (l->renew_results[i] == QUEUE_LEASE_CANCEL) {
                    LOG(LOG_INFO, "run.cancel_requested", LOG_I("run", a->run.id), LOG_S("action", "stopping it"));
                    executor_stop(a->exec, OUTCOME_CANCELLED);
                } else {
                    a->lost = 1;
                    executor_stop(a->exec, OUTCOME_INTERRUPTED);
                }
            }
        }
    }
    l->batch = NULL;
    l->nbatch = 0;
    free(l->renew);
    free(l->renew_results);
    l->renew = NULL;
    l->renew_results = NULL;
    l->nrenew = 0;
    l->busy = 0; /* only now: stopping a run (above) can record it and kick() (see after_intake) */
    kick(p);
}

static void after_wait(uv_work_t *w, int status)
{
    struct lane_job *l = w->data;
    struct worker_pool *p = l->pool;
    l->busy = 0;
    if (status == UV_ECANCELED || l->rc < 0) {
        lane_failed(p, l, "worker.wait_failed");
        return;
    }
    l->backoff_ms = 250;
    p->want_intake = 1; /* woken or timed out: look again (also promotes delayed runs) */
    kick(p);
}

static char *status_json(struct worker_pool *p)
{
    char started[TIMEFMT_RFC3339_MAX], reported[TIMEFMT_RFC3339_MAX];
    timefmt_rfc3339(p->started_ms, 0, 1, started);
    timefmt_rfc3339(timefmt_now_ms(), 0, 1, reported);
    json_t *doc = json_pack("{s:s, s:s, s:i, s:s, s:s, s:s, s:I, s:i, s:I, s:I, s:I, s:I, s:I, s:I, s:b}", "instance",
                            p->instance, "role", "worker", "pid", (int)getpid(), "version", AGENTCRON_VERSION,
                            "startedAt", started, "reportedAt", reported, "uptimeS",
                            (json_int_t)((timefmt_now_ms() - p->started_ms) / 1000), "concurrency", p->concurrency,
                            "running", (json_int_t)p->nactive, "completed", (json_int_t)p->counts.completed, "failed",
                            (json_int_t)p->counts.failed, "retried", (json_int_t)p->counts.retried, "cancelled",
                            (json_int_t)p->counts.cancelled, "tokens", (json_int_t)p->tokens, "draining", p->stopping);
    json_object_set_new(doc, "ttlS", json_integer(config_report_ttl_s(p->cfg)));
    json_object_set_new(doc, "leaseRenewals", json_integer(p->counts.renewals));
    json_t *missing = json_array();
    for (int i = 0; i < MISSING_AGENTS_MAX; i++)
        if (p->missing[i].name[0] && timefmt_now_ms() - p->missing[i].seen_ms < MISSING_AGENT_SHOWN_MS)
            json_array_append_new(missing, json_string(p->missing[i].name));
    json_object_set_new(doc, "missingAgents", missing);
    if (p->tracer) {
        struct trace_counts tc;
        tracer_counts(p->tracer, &tc);
        json_object_set_new(doc, "traceSpans", json_pack("{s:I, s:I, s:I}", "exported", (json_int_t)tc.exported,
                                                         "dropped", (json_int_t)tc.dropped, "failed", (json_int_t)tc.failed));
    }
    char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    return text;
}

/* ---- the loop ---- */

static void finish_stop(struct worker_pool *p);

static void start_outcome_lane(struct worker_pool *p, struct lane_job *l)
{
    if (l->busy || uv_is_active((uv_handle_t *)&p->retry_timer))
        return;
    const int logs = l == &p->lanes[LANE_OUTCOME] && p->livelog.count;
    if (!p->npending && !p->want_renew && !p->want_status && !logs)
        return;
    if (logs)
        l->logs = livelog_take(&p->livelog);
    /* take up to SETTLE_BATCH finished runs */
    l->batch = p->pending;
    struct finished **cut = &p->pending;
    size_t n = 0;
    while (*cut && n < SETTLE_BATCH)
        cut = &(*cut)->next, n++;
    p->pending = *cut;
    *cut = NULL;
    if (!p->pending)
        p->pending_tail = &p->pending;
    l->nbatch = n;
    p->npending -= n;
    if (p->want_renew && p->nactive) {
        l->renew = calloc((size_t)p->nactive, sizeof *l->renew);
        l->renew_results = calloc((size_t)p->nactive, sizeof *l->renew_results);
        const int64_t now = timefmt_now_ms();
        for (struct active_run *a = p->active; a && l->renew && l->renew_results; a = a->next)
            if (a->exec && now - a->started_ms >= RENEW_INTERVAL_MS / 2)
                l->renew[l->nrenew++] = (struct store_run){.id = a->run.id, .user_id = a->run.user_id,
                                                           .user_limit = a->run.user_limit, .shard = a->run.shard};
    }
    p->want_renew = 0;
    if (p->want_status) {
        l->status_json = status_json(p);
        p->want_status = 0;
    }
    l->busy = 1;
    l->work.data = l;
    if (uv_queue_work(p->loop, &l->work, run_outcome, after_outcome) != 0)
        l->busy = 0;
}

static void start_outcome(struct worker_pool *p)
{
    start_outcome_lane(p, &p->lanes[LANE_OUTCOME]);
    start_outcome_lane(p, &p->lanes[LANE_OUTCOME2]);
}

static void kick(struct worker_pool *p)
{
    if (p->stopped)
        return;
    start_outcome(p);
    start_step_lanes(p);
    struct lane_job *wait = &p->lanes[LANE_WAIT];
    int reserved = 0, intake_busy = 0;
    for (int k = LANE_INTAKE; k <= LANE_INTAKE2; k++)
        if (p->lanes[k].busy)
            reserved += p->lanes[k].want, intake_busy = 1;
    int free_slots = p->concurrency - p->nactive - reserved;
    if (p->npending >= MAX_UNRECORDED)
        free_slots = 0; /* let the outcome lane catch up first */
    for (int k = LANE_INTAKE; k <= LANE_INTAKE2; k++) {
        struct lane_job *in = &p->lanes[k];
        if (p->stopping || in->busy || !p->want_intake || free_slots <= 0 ||
            uv_is_active((uv_handle_t *)&p->retry_timer))
            continue;
        const int other_busy = p->lanes[k == LANE_INTAKE ? LANE_INTAKE2 : LANE_INTAKE].busy;
        in->want = other_busy ? free_slots : (free_slots + 1) / 2; /* both idle: share the slots */
        free_slots -= in->want;
        in->busy = intake_busy = 1;
        in->agents = p->agents; /* the set as of now: a reload swaps p->agents on this thread only */
        in->work.data = in;
        if (uv_queue_work(p->loop, &in->work, run_intake, after_intake) != 0)
            in->busy = 0, in->want = 0;
    }
    if (!p->stopping && !p->want_intake && !intake_busy && !wait->busy && free_slots > 0) {
        wait->busy = 1;
        wait->work.data = wait;
        if (uv_queue_work(p->loop, &wait->work, run_wait, after_wait) != 0)
            wait->busy = 0;
    }
    if (p->stopping)
        finish_stop(p);
}

static void on_renew_timer(uv_timer_t *t)
{
    struct worker_pool *p = t->data;
    p->want_renew = 1;
    for (struct active_run *a = p->active; a; a = a->next)
        if (a->exec)
            stream_output(p, a, a->exec, 0);
    kick(p);
}

static void on_status_timer(uv_timer_t *t)
{
    struct worker_pool *p = t->data;
    p->want_status = 1;
    LOG(LOG_INFO, "status", LOG_S("instance", p->instance), LOG_S("role", "worker"),
        LOG_I("uptime_s", (timefmt_now_ms() - p->started_ms) / 1000), LOG_I("running", p->nactive),
        LOG_I("completed", p->counts.completed), LOG_I("failed", p->counts.failed), LOG_I("retried", p->counts.retried),
        LOG_I("cancelled", p->counts.cancelled), LOG_I("tokens", p->tokens));
    kick(p);
}

static void on_generic_timer(uv_timer_t *t)
{
    kick(t->data);
}

struct worker_pool *worker_pool_start(uv_loop_t *loop, const struct config *cfg, const struct agent_set *agents,
                                      const char *instance, int concurrency, char *err, size_t len)
{
    struct worker_pool *p = calloc(1, sizeof *p);
    if (!p) {
        snprintf(err, len, "out of memory");
        return NULL;
    }
    p->loop = loop, p->cfg = cfg, p->agents = agents, p->secrets = cfg, p->concurrency = concurrency;
    snprintf(p->instance, sizeof p->instance, "%s", instance);
    p->started_ms = timefmt_now_ms();
    p->pending_tail = &p->pending;
    p->steps_tail = &p->steps;
    config_public_url(cfg, p->public_url, sizeof p->public_url);
    livelog_init(&p->livelog);
    srand((unsigned)(getpid() ^ p->started_ms));
    /* a command that exits without reading its stdin, or a server that hangs up, must not
     * kill the worker: writes to them fail with EPIPE instead */
    signal(SIGPIPE, SIG_IGN);
    if (!(p->http = http_client_new(loop, err, len))) {
        free(p);
        return NULL;
    }
    if (tracer_new(loop, p->http, cfg, "agentcron-worker", &p->tracer, err, len) != 0) {
        http_client_free(p->http);
        free(p);
        return NULL;
    }
    for (int i = 0; i < LANE_COUNT; i++) {
        struct lane_job *l = &p->lanes[i];
        l->pool = p;
        l->backoff_ms = 250;
        if (!(l->store = store_new(cfg->database_url, cfg->redis_url, instance))) {
            snprintf(err, len, "out of memory");
            for (int j = 0; j <= i; j++)
                store_free(p->lanes[j].store);
            tracer_free(p->tracer);
            http_client_free(p->http);
            free(p);
            return NULL;
        }
    }
    p->want_intake = 1;
    uv_timer_t *timers[] = {&p->renew_timer, &p->status_timer, &p->ready_timer, &p->retry_timer, &p->grace_timer};
    for (size_t i = 0; i < sizeof timers / sizeof timers[0]; i++) {
        uv_timer_init(loop, timers[i]);
        timers[i]->data = p;
        p->open_handles++;
    }
    uv_timer_start(&p->renew_timer, on_renew_timer, RENEW_INTERVAL_MS, RENEW_INTERVAL_MS);
    uv_timer_start(&p->status_timer, on_status_timer, 0, (uint64_t)cfg->status_interval_s * 1000);
    LOG(LOG_INFO, "worker.started", LOG_S("instance", instance), LOG_I("concurrency", concurrency),
        LOG_I("agents", (int64_t)agents->count));
    kick(p);
    return p;
}

/* ---- stopping ---- */

/* Every handle of the pool ends here; the last one, once stopped, frees the pool. */
static void pool_handle_closed(struct worker_pool *p)
{
    if (--p->open_handles > 0 || !p->stopped) {
        kick(p);
        return;
    }
    char key[200]; /* stopped: gone from agentcron status at once, not when the report expires */
    snprintf(key, sizeof key, "agentcron:{default}:status:worker:%s", p->instance);
    store_unpublish(p->lanes[LANE_OUTCOME].store, key);
    for (int i = 0; i < LANE_COUNT; i++)
        store_free(p->lanes[i].store);
    free_batch(p->pending);
    livelog_free(livelog_take(&p->livelog));
    void (*cb)(void *) = p->on_stopped;
    void *data = p->stopped_data;
    free(p);
    if (cb)
        cb(data);
}

static void on_pool_handle_closed(uv_handle_t *h)
{
    pool_handle_closed(h->data);
}

/* Once nothing runs, nothing waits to be recorded and no lane is busy: close everything. */
static void finish_stop(struct worker_pool *p)
{
    if (p->stopped || p->nactive > 0 || p->steps)
        return;
    for (int i = 0; i < LANE_COUNT; i++)
        if (p->lanes[i].busy)
            return;
    if (p->npending > 0 && p->lanes[LANE_OUTCOME].backoff_ms < LANE_RETRY_MAX_MS &&
        p->lanes[LANE_OUTCOME2].backoff_ms < LANE_RETRY_MAX_MS)
        return; /* still recording; give up only after the lane kept failing */
    if (p->npending > 0)
        LOG(LOG_ERROR, "worker.unrecorded", LOG_I("runs", (int64_t)p->npending),
            LOG_S("action", "their leases expire and they run again elsewhere"));
    p->stopped = 1;
    LOG(LOG_INFO, "worker.stopped", LOG_S("instance", p->instance), LOG_I("completed", p->counts.completed),
        LOG_I("failed", p->counts.failed));
    tracer_free(p->tracer);
    p->tracer = NULL;
    http_client_free(p->http);
    uv_timer_t *timers[] = {&p->renew_timer, &p->status_timer, &p->ready_timer, &p->retry_timer, &p->grace_timer};
    for (size_t i = 0; i < sizeof timers / sizeof timers[0]; i++)
        uv_close((uv_handle_t *)timers[i], on_pool_handle_closed);
}

static void on_grace_over(uv_timer_t *t)
{
    struct worker_pool *p = t->data;
    if (p->nactive)
        LOG(LOG_WARN, "worker.grace_over", LOG_I("running", p->nactive),
            LOG_S("action", "stopping them; they return to the queue without spending an attempt"));
    for (struct active_run *a = p->active; a; a = a->next)
        if (a->exec)
            executor_stop(a->exec, OUTCOME_INTERRUPTED);
}

void worker_pool_stop(struct worker_pool *p, void (*on_stopped)(void *data), void *data)
{
    if (p->stopping)
        return;
    p->stopping = 1;
    p->on_stopped = on_stopped, p->stopped_data = data;
    LOG(LOG_INFO, "worker.draining", LOG_I("running", p->nactive), LOG_I("grace_s", p->cfg->shutdown_grace_s));
    uv_timer_start(&p->grace_timer, on_grace_over, (uint64_t)p->cfg->shutdown_grace_s * 1000, 0);
    kick(p);
}

void worker_pool_reload(struct worker_pool *p, const struct agent_set *agents, const struct config *secrets)
{
    p->agents = agents, p->secrets = secrets;
    memset(p->missing, 0, sizeof p->missing);
    p->want_intake = 1; /* runs that waited for an agent may go now */
    kick(p);
}

void worker_pool_counts(const struct worker_pool *p, struct worker_counts *out)
{
    *out = p->counts;
}
