/* SPDX-License-Identifier: MIT */
/* Routing, authentication and the first routes. A request that needs the servers becomes a job
 * for one of API_LANES lanes (each its own Postgres+Redis pair, one job at a time on the thread
 * pool); requests beyond that wait in order.
 *
 * Guessing a secret (CRON_SECRET, METRICS_TOKEN) is made slow before it is hard. Failures are
 * counted per client (an IPv4 address, an IPv6 /64) in a hashed table with a random seed: past
 * AUTH_FAILURES_MAX in a minute, 429 until the minute is over. On top, a budget for everyone:
 * past AUTH_GLOBAL_MAX failures in a minute, every client that failed gets 429 after its first
 * failure, so rotating through many addresses buys one guess per address a minute, not ten.
 * A full table makes room with a client whose minute is over, else the one that failed least:
 * offenders are the last to be forgotten. A client that never failed is never refused. */
#include "http_api.h"

#include <arpa/inet.h>
#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <mbedtls/sha256.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <unistd.h>

#include "api_admin.h"
#include "api_tasks.h"
#include "config.h"
#include "connpair.h"
#include "health.h"
#include "http_server.h"
#include "log.h"
#include "paths.h"
#include "queue.h"
#include "shards.h"
#include "timefmt.h"
#include "web_assets.h"

#define API_LANES 4
#define AUTH_FAILURES_MAX 10 /* a client's failures a minute, while few fail overall */
#define AUTH_GLOBAL_MAX 100  /* everyone's failures a minute; past it, one per client */
#define AUTH_WINDOW_MS 60000
#define AUTH_TABLE 4096      /* clients remembered: a power of two */
#define AUTH_PROBE 8         /* the slots a client may take; evictions stay among them */

#define WAIT_CHECK_MS 100 /* how often runs that `async: false` requests wait for are checked */

enum job_kind { JOB_READY, JOB_COUNTS, JOB_CALL, JOB_METRICS, JOB_WAIT };

struct api_job {
    struct api *api;
    struct http_conn *conn;
    enum job_kind kind;
    int method_post;
    /* results */
    int pg_ok, redis_ok;
    int64_t scheduled, due;
    char error[512];
    const struct http_req *req; /* JOB_CALL: the request (valid until answered) */
    const struct agent_set *agents; /* JOB_CALL: the agents in force when it arrived */
    struct api_response resp;
    char *resp_text; /* JOB_CALL: resp.doc as JSON, made on the lane: the loop thread only sends it */
    char *metrics; /* JOB_METRICS: the text gathered on the lane */
    struct api_wait wait; /* JOB_CALL with async: false: the run it waits for */
    struct api_wait **waits; /* JOB_WAIT: the waiting calls it checks */
    int nwaits;
    struct api_job *followers; /* JOB_COUNTS: webhook calls answered with this job's counts */
    struct api_job *next;
};

struct lane {
    struct api *api;
    uv_work_t work;
    struct connpair conn;
    struct api_job *job;
};

struct auth_failures {
    char client[48]; /* an IPv4 address or an IPv6 /64 */
    int count;
    int64_t window_start;
};

struct api {
    uv_loop_t *loop;
    const struct config *cfg;
    struct http_server *srv;
    struct lane lanes[API_LANES];
    struct api_job *queue, **queue_tail;
    struct api_job *waiting_tick; /* POSTs waiting for a scheduling pass */
    struct api_job *waiting_runs; /* async: false calls waiting for their runs */
    struct api_job *counts_waiting; /* webhook calls waiting for the next count */
    int counts_running;             /* a count is queued or running */
    uv_timer_t wait_timer;
    int wait_checking; /* a JOB_WAIT is queued or running */
    api_tick_fn tick;
    void *tick_data;
    int tick_requested;
    struct auth_failures failures[AUTH_TABLE];
    uint64_t auth_seed;
    int global_failures;
    int64_t global_window_start;
    const struct agent_set *agents_now; /* what agentType may name: the start's set, or a reload's */
    int busy_lanes, stopping, server_stopped;
    int https;                     /* the listener speaks HTTPS (cookies are Secure) */
    struct web_assets *web;        /* the dashboard's files, or NULL without them */
    struct overview_cache overview; /* the operator's overview, shared by the lanes */
    void (*on_stopped)(void *);
    void *stopped_data;
};

int api_secret_equal(const char *a, const char *b)
{
    unsigned char da[32], db[32];
    mbedtls_sha256_ret((const unsigned char *)a, strlen(a), da, 0);
    mbedtls_sha256_ret((const unsigned char *)b, strlen(b), db, 0);
    unsigned char diff = 0;
    for (int i = 0; i < 32; i++)
        diff |= da[i] ^ db[i];
    return diff == 0;
}

static void respond_json(struct http_conn *c, int status, json_t *doc, const char *extra)
{
    char *text = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    http_respond(c, status, "application/json", extra, text ? text : "{}", text ? strlen(text) : 2);
    free(text);
}

/* ---- jobs ---- */

static const char sql_counts[] =
    "SELECT count(*), count(*) FILTER (WHERE next_run_at <= now()) FROM tasks"
    " WHERE schedule_enabled AND status = 'active'";

/* Prometheus text for what Postgres and Redis know; the loop adds its own counters. */
/* The live runs by status, and those that ended today (UTC), from the usage summaries; the
 * lateness of the last hour's scheduled runs (found by their slot: task_runs_slot). */
static const char sql_metrics[] =
    "WITH today AS (SELECT coalesce(sum(succeeded), 0) AS succeeded, coalesce(sum(failed), 0) AS failed,"
    "               coalesce(sum(timed_out), 0) AS timed_out, coalesce(sum(cancelled), 0) AS cancelled,"
    "               coalesce(sum(insufficient_credits), 0) AS insufficient_credits,"
    "               coalesce(sum(prompt_tokens + completion_tokens), 0) AS tokens, coalesce(sum(credits), 0) AS credits"
    "               FROM usage_daily WHERE day = (now() AT TIME ZONE 'UTC')::date)"
    " SELECT (SELECT (coalesce(jsonb_object_agg(status, n), '{}') || (SELECT jsonb_build_object('succeeded', succeeded,"
    "         'failed', failed, 'timed_out', timed_out, 'cancelled', cancelled, 'insufficient_credits',"
    "         insufficient_credits) FROM today))"
    "        FROM (SELECT status, count(*) AS n FROM live_runs l JOIN task_runs r ON r.id = l.run_id"
    "        GROUP BY status) s)::text,"
    " count(*) FILTER (WHERE l <= 0.01), count(*) FILTER (WHERE l <= 0.05), count(*) FILTER (WHERE l <= 0.1),"
    " count(*) FILTER (WHERE l <= 0.5), count(*) FILTER (WHERE l <= 1), count(*) FILTER (WHERE l <= 5),"
    " count(*) FILTER (WHERE l <= 30), count(*), coalesce(sum(l), 0),"
    " (SELECT tokens FROM today), (SELECT credits FROM today),"
    " (SELECT count(*) FROM tasks WHERE schedule_enabled AND status = 'active')"
    " FROM (SELECT extract(epoch FROM enqueued_at - scheduled_for) AS l FROM task_runs"
    "       WHERE trigger = 'schedule' AND scheduled_for > now() - interval '1 hour' AND scheduled_for <= now()"
    "       AND enqueued_at > now() - interval '1 hour') x";

/* Per agent, of the runs that ended today (UTC): outcomes, tokens, credits, and the duration
 * histogram (usage_daily's 20 buckets, summed). Agents are the operator's: bounded labels. */
static const char sql_agent_totals[] =
    "SELECT agent, sum(succeeded), sum(failed), sum(timed_out), sum(cancelled), sum(insufficient_credits),"
    " sum(prompt_tokens), sum(completion_tokens), sum(credits), sum(duration_ms)"
    " FROM usage_daily WHERE day = (now() AT TIME ZONE 'UTC')::date GROUP BY agent ORDER BY agent";
static const char sql_agent_durations[] =
    "SELECT agent, i, sum(v) FROM usage_daily, unnest(duration_hist) WITH ORDINALITY AS h(v, i)"
    " WHERE day = (now() AT TIME ZONE 'UTC')::date GROUP BY agent, i ORDER BY agent, i";

/* A label value as the Prometheus text format wants it. */
static void label(FILE *f, const char *v)
{
    for (; *v; v++)
        if (*v == '\\' || *v == '"')
            fprintf(f, "\\%c", *v);
        else if (*v == '\n')
            fputs("\\n", f);
        else
            fputc(*v, f);
}

static int agent_metrics(PGconn *pg, FILE *f)
{
    PGresult *t = PQexec(pg, sql_agent_totals), *d = PQexec(pg, sql_agent_durations);
    const int ok = PQresultStatus(t) == PGRES_TUPLES_OK && PQresultStatus(d) == PGRES_TUPLES_OK;
    if (ok) {
        static const char *const outcomes[] = {"succeeded", "failed", "timed_out", "cancelled", "insufficient_credits"};
        fputs("# HELP agentcron_agent_runs Runs that ended today (UTC), by agent and outcome.\n"
              "# TYPE agentcron_agent_runs gauge\n", f);
        for (int i = 0; i < PQntuples(t); i++)
            for (int k = 0; k < 5; k++) {
                fputs("agentcron_agent_runs{agent=\"", f);
                label(f, PQgetvalue(t, i, 0));
                fprintf(f, "\",outcome=\"%s\"} %s\n", outcomes[k], PQgetvalue(t, i, 1 + k));
            }
        fputs("# HELP agentcron_agent_tokens Tokens of the runs that ended today (UTC), by agent.\n"
              "# TYPE agentcron_agent_tokens gauge\n", f);
        for (int i = 0; i < PQntuples(t); i++)
            for (int k = 0; k < 2; k++) {
                fputs("agentcron_agent_tokens{agent=\"", f);
                label(f, PQgetvalue(t, i, 0));
                fprintf(f, "\",kind=\"%s\"} %s\n", k ? "completion" : "prompt", PQgetvalue(t, i, 6 + k));
            }
        fputs("# HELP agentcron_agent_credits Credits charged for the runs that ended today (UTC), by agent.\n"
              "# TYPE agentcron_agent_credits gauge\n", f);
        for (int i = 0; i < PQntuples(t); i++) {
            fputs("agentcron_agent_credits{agent=\"", f);
            label(f, PQgetvalue(t, i, 0));
            fprintf(f, "\"} %s\n", PQgetvalue(t, i, 8));
        }
        /* bucket i counts durations from bound[i] up to bound[i+1]: cumulative, its upper bound is le */
        static const char *const le[] = {"0.01", "0.02", "0.05", "0.1", "0.2", "0.5", "1", "2", "5", "10", "20",
                                         "50", "100", "200", "500", "1000", "2000", "5000", "10000", "+Inf"};
        fputs("# HELP agentcron_agent_run_duration_seconds Durations of the runs that ended today (UTC), by agent"
              " (starts again at 00:00 UTC).\n# TYPE agentcron_agent_run_duration_seconds histogram\n", f);
        for (int i = 0; i < PQntuples(t); i++) {
            const char *agent = PQgetvalue(t, i, 0);
            long long count = 0;
            for (int b = 0; b < 20; b++) {
                for (int row = 0; row < PQntuples(d); row++)
                    if (!strcmp(PQgetvalue(d, row, 0), agent) && atoi(PQgetvalue(d, row, 1)) == b + 1)
                        count += strtoll(PQgetvalue(d, row, 2), NULL, 10);
                fputs("agentcron_agent_run_duration_seconds_bucket{agent=\"", f);
                label(f, agent);
                fprintf(f, "\",le=\"%s\"} %lld\n", le[b], count);
            }
            fputs("agentcron_agent_run_duration_seconds_sum{agent=\"", f);
            label(f, agent);
            fprintf(f, "\"} %.3f\n", strtod(PQgetvalue(t, i, 9), NULL) / 1000.0);
            fputs("agentcron_agent_run_duration_seconds_count{agent=\"", f);
            label(f, agent);
            fprintf(f, "\"} %lld\n", count);
        }
    }
    PQclear(t);
    PQclear(d);
    return ok ? 0 : -1;
}

/* The workers' trace export counters, summed over their reports in Redis (traces.h). */
static void trace_metrics(redisContext *redis, FILE *f)
{
    static const char *const keys[] = {"exported", "dropped", "failed"};
    long long sums[3] = {0, 0, 0};
    json_t *all = health_instances(redis), *doc;
    size_t i;
    json_array_foreach(all, i, doc)
        for (int k = 0; k < 3; k++)
            sums[k] += json_integer_value(json_object_get(json_object_get(doc, "traceSpans"), keys[k]));
    json_decref(all);
    fputs("# HELP agentcron_trace_spans Spans the workers now reporting exported to OTLP, dropped (queue full) or"
          " lost (the collector failed).\n# TYPE agentcron_trace_spans counter\n", f);
    for (int k = 0; k < 3; k++)
        fprintf(f, "agentcron_trace_spans{result=\"%s\"} %lld\n", keys[k], sums[k]);
}

static void gather_metrics(struct lane *l, struct api_job *j)
{
    PGresult *r = PQexec(l->conn.pg, sql_metrics);
    j->pg_ok = PQresultStatus(r) == PGRES_TUPLES_OK;
    if (!j->pg_ok) {
        snprintf(j->error, sizeof j->error, "postgres: %s", PQerrorMessage(l->conn.pg));
        PQclear(r);
        return;
    }
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f) {
        PQclear(r);
        return;
    }
    fputs("# HELP agentcron_runs Runs by status: queued, running and retrying now; others ended today (UTC).\n"
          "# TYPE agentcron_runs gauge\n", f);
    json_t *by = json_loads(PQgetvalue(r, 0, 0), 0, NULL);
    static const char *const statuses[] = {"queued", "running", "retrying", "succeeded", "failed", "timed_out",
                                           "cancelled", "insufficient_credits"};
    for (size_t i = 0; i < sizeof statuses / sizeof statuses[0]; i++)
        fprintf(f, "agentcron_runs{status=\"%s\"} %lld\n", statuses[i],
                (long long)json_integer_value(json_object_get(by, statuses[i])));
    json_decref(by);
    static const char *const le[] = {"0.01", "0.05", "0.1", "0.5", "1", "5", "30", "+Inf"};
    fputs("# HELP agentcron_fire_lateness_seconds From a slot to its run being queued (scheduled runs, last hour).\n"
          "# TYPE agentcron_fire_lateness_seconds histogram\n", f);
    for (int i = 0; i < 8; i++)
        fprintf(f, "agentcron_fire_lateness_seconds_bucket{le=\"%s\"} %s\n", le[i], PQgetvalue(r, 0, 1 + i));
    fprintf(f, "agentcron_fire_lateness_seconds_sum %s\nagentcron_fire_lateness_seconds_count %s\n",
            PQgetvalue(r, 0, 9), PQgetvalue(r, 0, 8));
    fprintf(f, "# HELP agentcron_tokens Tokens of runs that ended today (UTC).\n# TYPE agentcron_tokens gauge\n"
               "agentcron_tokens %s\n# HELP agentcron_credits Credits charged for runs that ended today (UTC).\n"
               "# TYPE agentcron_credits gauge\nagentcron_credits %s\n"
               "# HELP agentcron_scheduled_tasks Tasks with an active schedule.\n# TYPE agentcron_scheduled_tasks gauge\n"
               "agentcron_scheduled_tasks %s\n",
            PQgetvalue(r, 0, 10), PQgetvalue(r, 0, 11), PQgetvalue(r, 0, 12));
    PQclear(r);
    if (agent_metrics(l->conn.pg, f) != 0) {
        j->pg_ok = 0;
        snprintf(j->error, sizeof j->error, "postgres: %s", PQerrorMessage(l->conn.pg));
    }
    struct queue_stats st;
    struct queue_error qerr;
    j->redis_ok = shards_stats(shards_deployment(), l->conn.redis, &st, &qerr) == 0;
    if (j->redis_ok)
        trace_metrics(l->conn.redis, f);
    if (j->redis_ok)
        fprintf(f, "# HELP agentcron_queue_jobs Jobs in the Redis queue by state.\n# TYPE agentcron_queue_jobs gauge\n"
                   "agentcron_queue_jobs{state=\"waiting\"} %lld\nagentcron_queue_jobs{state=\"active\"} %lld\n"
                   "agentcron_queue_jobs{state=\"delayed\"} %lld\nagentcron_queue_jobs{state=\"dead\"} %lld\n",
                (long long)st.waiting, (long long)st.active, (long long)st.delayed, (long long)st.dead);
    else
        snprintf(j->error, sizeof j->error, "%s", qerr.message);
    fclose(f);
    j->metrics = text;
}

static void run_job(uv_work_t *w)
{
    struct lane *l = w->data;
    struct api_job *j = l->job;
    if (j->kind == JOB_METRICS) {
        char err[512];
        if (connpair_ensure(&l->conn, err, sizeof err) != 0)
            snprintf(j->error, sizeof j->error, "%s", err);
        else
            gather_metrics(l, j);
        connpair_redis_failed(&l->conn);
        return;
    }
    if (j->kind == JOB_CALL) {
        const struct api_context ctx = {.agents = j->agents, .https = l->api->https,
                                        .session_ttl_s = l->api->cfg->session_ttl_s, .overview = &l->api->overview,
                                        .cfg = l->api->cfg};
        api_tasks_serve(&l->conn, &ctx, j->req, &j->resp);
        /* a large answer (200 tasks) takes milliseconds to write out: not on the loop thread,
         * which fires the schedules */
        if (j->resp.status && j->resp.wait_run <= 0 && j->resp.doc) {
            j->resp_text = json_dumps(j->resp.doc, JSON_COMPACT);
            json_decref(j->resp.doc);
            j->resp.doc = NULL;
        }
        return;
    }
    if (j->kind == JOB_WAIT) {
        api_tasks_wait_check(&l->conn, j->waits, j->nwaits, timefmt_now_ms());
        return;
    }
    char err[512];
    j->error[0] = 0;
    if (connpair_ensure(&l->conn, err, sizeof err) != 0) {
        snprintf(j->error, sizeof j->error, "%s", err);
        j->pg_ok = l->conn.pg != NULL;
        return;
    }
    PGresult *r = PQexec(l->conn.pg, j->kind == JOB_COUNTS ? sql_counts : "SELECT 1");
    j->pg_ok = PQresultStatus(r) == PGRES_TUPLES_OK;
    if (j->pg_ok && j->kind == JOB_COUNTS)
        j->scheduled = strtoll(PQgetvalue(r, 0, 0), NULL, 10), j->due = strtoll(PQgetvalue(r, 0, 1), NULL, 10);
    if (!j->pg_ok)
        snprintf(j->error, sizeof j->error, "postgres: %s", PQerrorMessage(l->conn.pg));
    PQclear(r);
    redisReply *p = redisCommand(l->conn.redis, "PING");
    j->redis_ok = p && p->type == REDIS_REPLY_STATUS;
    if (!j->redis_ok && !j->error[0])
        snprintf(j->error, sizeof j->error, "redis: %s", p ? p->str : l->conn.redis->errstr);
    freeReplyObject(p);
    connpair_redis_failed(&l->conn);
    j->error[strcspn(j->error, "\n")] = 0;
}

static void start_jobs(struct api *a);
static void enqueue(struct api *a, struct api_job *j);

/* ---- async: false: calls waiting for their runs, checked together every WAIT_CHECK_MS ---- */

static void answer_waiter(struct api_job *j)
{
    respond_json(j->conn, j->wait.resp.status, j->wait.resp.doc, j->wait.resp.extra[0] ? j->wait.resp.extra : NULL);
    free(j);
}

/* Answers the waiting calls a check found done and drops them from the list; on shutdown, and
 * to callers that hung up (so they hold no connection slot), answers the rest with where to
 * look, as the run goes on without them. */
static void sweep_waiters(struct api *a)
{
    for (struct api_job **p = &a->waiting_runs; *p;) {
        struct api_job *j = *p;
        if (!j->wait.done && (a->stopping || http_conn_gone(j->conn))) {
            char loc[80];
            snprintf(loc, sizeof loc, "Location: /api/runs/%" PRId64 "\r\n", j->wait.run);
            respond_json(j->conn, 202,
                         json_pack("{s:I, s:s}", "run", (json_int_t)j->wait.run, "note",
                                   a->stopping ? "the orchestrator is stopping; the run goes on: poll GET /api/runs/{id}"
                                               : "the connection closed; the run goes on: poll GET /api/runs/{id}"),
                         loc);
            *p = j->next;
            free(j);
        } else if (j->wait.done) {
            *p = j->next;
            answer_waiter(j);
        } else
            p = &j->next;
    }
    if (!a->waiting_runs)
        uv_timer_stop(&a->wait_timer);
}

static void finish_wait_check(struct api *a, struct api_job *check)
{
    a->wait_checking = 0;
    free(check->waits);
    sweep_waiters(a);
}

static void on_wait_timer(uv_timer_t *t)
{
    struct api *a = t->data;
    if (a->wait_checking || !a->waiting_runs)
        return;
    struct api_job *check = calloc(1, sizeof *check);
    int n = 0;
    for (struct api_job *j = a->waiting_runs; j; j = j->next)
        n++;
    if (!check || !(check->waits = calloc((size_t)n, sizeof *check->waits))) {
        free(check);
        return; /* try again at the next tick */
    }
    for (struct api_job *j = a->waiting_runs; j; j = j->next)
        check->waits[check->nwaits++] = &j->wait;
    check->api = a, check->kind = JOB_WAIT;
    a->wait_checking = 1;
    enqueue(a, check);
}

static void wait_for_run(struct api *a, struct api_job *j)
{
    j->wait = (struct api_wait){.run = j->resp.wait_run, .user = j->resp.wait_user,
                                .deadline_ms = timefmt_now_ms() + j->resp.wait_ms};
    json_decref(j->resp.doc); /* the 202 it would have sent */
    j->resp.doc = NULL;
    j->next = a->waiting_runs;
    a->waiting_runs = j;
    if (!uv_is_active((uv_handle_t *)&a->wait_timer))
        uv_timer_start(&a->wait_timer, on_wait_timer, WAIT_CHECK_MS, WAIT_CHECK_MS);
}

/* ---- the webhook's counts: one query at a time, shared by every call that arrived before it
 * began (so each answer is fresh, and Postgres sees one query however many calls come) ---- */

static void start_counts(struct api *a)
{
    struct api_job *lead = a->counts_waiting;
    a->counts_waiting = NULL;
    lead->followers = lead->next;
    lead->next = NULL;
    a->counts_running = 1;
    enqueue(a, lead);
}

static void want_counts(struct api *a, struct http_conn *c, int post)
{
    struct api_job *j = calloc(1, sizeof *j);
    if (!j) {
        http_respond_error(c, 503, NULL, "out of memory", "Retry-After: 1\r\n");
        return;
    }
    j->api = a, j->conn = c, j->kind = JOB_COUNTS, j->method_post = post;
    j->next = a->counts_waiting; /* order does not matter: all get the same answer */
    a->counts_waiting = j;
    if (!a->counts_running)
        start_counts(a);
}

/* Answers the calls a count was for, with one body built for all: GETs at once, POSTs after
 * the scheduling pass they ask for (api_tick_done). */
static void finish_counts(struct api *a, struct api_job *lead)
{
    char now[TIMEFMT_RFC3339_MAX];
    timefmt_rfc3339(timefmt_now_ms(), 0, 1, now);
    const int healthy = lead->pg_ok && lead->redis_ok;
    json_t *doc = healthy ? json_pack("{s:s, s:I, s:I, s:s}", "status", "healthy", "scheduledTasks",
                                      (json_int_t)lead->scheduled, "tasksCurrentlyDue", (json_int_t)lead->due,
                                      "timestamp", now)
                          : json_pack("{s:s, s:s, s:s}", "status", "degraded", "reason", lead->error, "timestamp", now);
    char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    lead->next = lead->followers;
    for (struct api_job *j = lead, *next; j; j = next) {
        next = j->next;
        if (healthy && j->method_post && !a->stopping) { /* run a due-check now; answer when it ends */
            j->scheduled = lead->scheduled, j->due = lead->due;
            j->next = a->waiting_tick;
            a->waiting_tick = j;
            continue;
        }
        if (healthy && j->method_post) /* api_stop has answered the pass's waiters already */
            http_respond_error(j->conn, 503, NULL, "shutting down", "Retry-After: 5\r\n");
        else
            http_respond(j->conn, healthy ? 200 : 503, "application/json", healthy ? NULL : "Retry-After: 5\r\n",
                         text ? text : "{}", text ? strlen(text) : 2);
        free(j);
    }
    free(text);
    if (a->waiting_tick && !a->tick_requested) {
        a->tick_requested = 1;
        a->tick(a->tick_data);
    }
    a->counts_running = 0;
    if (a->counts_waiting)
        start_counts(a);
}

static void finish_job(struct api *a, struct api_job *j)
{
    char now[TIMEFMT_RFC3339_MAX];
    timefmt_rfc3339(timefmt_now_ms(), 0, 1, now);
    const int healthy = j->pg_ok && j->redis_ok;
    if (j->kind == JOB_METRICS) {
        if (!j->metrics || !j->pg_ok || !j->redis_ok) {
            http_respond_error(j->conn, 503, NULL, j->error[0] ? j->error : "metrics unavailable", "Retry-After: 5\r\n");
        } else {
            char *text = NULL;
            size_t len = 0;
            FILE *f = open_memstream(&text, &len);
            if (f) {
                fputs(j->metrics, f);
                struct http_count counts[HTTP_COUNTS_MAX];
                const int n = http_server_counts(a->srv, counts);
                fputs("# HELP agentcron_http_requests_total Requests answered, by route and status.\n"
                      "# TYPE agentcron_http_requests_total counter\n", f);
                for (int i = 0; i < n; i++)
                    fprintf(f, "agentcron_http_requests_total{route=\"%s\",status=\"%d\"} %llu\n", counts[i].route,
                            counts[i].status, (unsigned long long)counts[i].count);
                fclose(f);
            }
            http_respond(j->conn, 200, "text/plain; version=0.0.4", NULL, text ? text : "", text ? len : 0);
            free(text);
        }
        free(j->metrics);
    } else if (j->kind == JOB_WAIT) {
        finish_wait_check(a, j);
    } else if (j->kind == JOB_CALL) {
        if (!j->resp.status) /* cancelled before it ran */
            http_respond_error(j->conn, 503, NULL, "shutting down", "Retry-After: 5\r\n");
        else if (j->resp.wait_run > 0 && !a->stopping) {
            wait_for_run(a, j);
            return; /* answered and freed when the run ends or the wait is over */
        } else if (j->resp_text) {
            http_respond(j->conn, j->resp.status, "application/json", j->resp.extra[0] ? j->resp.extra : NULL,
                         j->resp_text, strlen(j->resp_text));
            free(j->resp_text);
        } else
            respond_json(j->conn, j->resp.status, j->resp.doc, j->resp.extra[0] ? j->resp.extra : NULL);
    } else if (j->kind == JOB_READY) {
        json_t *doc = json_pack("{s:s, s:b, s:b}", "status", healthy ? "ready" : "unavailable", "postgres", j->pg_ok,
                                "redis", j->redis_ok);
        if (!healthy)
            json_object_set_new(doc, "reason", json_string(j->error));
        respond_json(j->conn, healthy ? 200 : 503, doc, healthy ? NULL : "Retry-After: 5\r\n");
    } else {
        finish_counts(a, j);
        return;
    }
    free(j);
}

static void after_job(uv_work_t *w, int status)
{
    struct lane *l = w->data;
    struct api *a = l->api;
    struct api_job *j = l->job;
    l->job = NULL;
    a->busy_lanes--;
    if (status == UV_ECANCELED)
        j->pg_ok = j->redis_ok = 0, snprintf(j->error, sizeof j->error, "cancelled");
    finish_job(a, j);
    start_jobs(a);
}

/* The last handle closed: everything is done. */
static void on_timer_closed(uv_handle_t *h)
{
    struct api *a = h->data;
    void (*cb)(void *) = a->on_stopped;
    void *data = a->stopped_data;
    for (int i = 0; i < API_LANES; i++)
        connpair_close(&a->lanes[i].conn);
    web_assets_free(a->web);
    overview_cache_free(&a->overview);
    free(a);
    if (cb)
        cb(data);
}

static void start_jobs(struct api *a)
{
    for (int i = 0; i < API_LANES && a->queue; i++) {
        struct lane *l = &a->lanes[i];
        if (l->job)
            continue;
        l->job = a->queue;
        a->queue = a->queue->next;
        if (!a->queue)
            a->queue_tail = &a->queue;
        l->work.data = l;
        a->busy_lanes++;
        if (uv_queue_work(a->loop, &l->work, run_job, after_job) != 0) {
            a->busy_lanes--;
            struct api_job *j = l->job;
            l->job = NULL;
            snprintf(j->error, sizeof j->error, "cannot queue work");
            finish_job(a, j);
        }
    }
    if (a->stopping && !a->busy_lanes && a->server_stopped && !uv_is_closing((uv_handle_t *)&a->wait_timer))
        uv_close((uv_handle_t *)&a->wait_timer, on_timer_closed);
}

static void enqueue_job(struct api *a, struct http_conn *c, enum job_kind kind, int post, const struct http_req *req)
{
    struct api_job *j = calloc(1, sizeof *j);
    if (!j) {
        http_respond_error(c, 503, NULL, "out of memory", "Retry-After: 1\r\n");
        return;
    }
    j->api = a, j->conn = c, j->kind = kind, j->method_post = post, j->req = req, j->agents = a->agents_now;
    enqueue(a, j);
}

static void enqueue(struct api *a, struct api_job *j)
{
    *a->queue_tail = j;
    a->queue_tail = &j->next;
    start_jobs(a);
}

void api_tick_done(struct api *a, int ok, int64_t enqueued, const char *error)
{
    a->tick_requested = 0;
    struct api_job *j = a->waiting_tick;
    a->waiting_tick = NULL;
    char now[TIMEFMT_RFC3339_MAX];
    timefmt_rfc3339(timefmt_now_ms(), 0, 1, now);
    while (j) {
        struct api_job *next = j->next;
        if (ok)
            respond_json(j->conn, 200,
                         json_pack("{s:s, s:I, s:I, s:I, s:s}", "status", "healthy", "enqueued", (json_int_t)enqueued,
                                   "scheduledTasks", (json_int_t)j->scheduled, "tasksCurrentlyDue", (json_int_t)j->due,
                                   "timestamp", now),
                         NULL);
        else
            respond_json(j->conn, 503,
                         json_pack("{s:s, s:s, s:s}", "status", "degraded", "reason", error ? error : "the pass failed",
                                   "timestamp", now),
                         "Retry-After: 5\r\n");
        free(j);
        j = next;
    }
}

/* ---- authentication ---- */

/* The client a failure is counted against: the address, or for IPv6 its /64 (one host's share). */
static void client_of(const char *peer, char out[48])
{
    struct in6_addr a6;
    snprintf(out, 48, "%s", peer);
    if (!strchr(peer, ':') || inet_pton(AF_INET6, peer, &a6) != 1 || IN6_IS_ADDR_V4MAPPED(&a6))
        return;
    memset(a6.s6_addr + 8, 0, 8);
    char text[INET6_ADDRSTRLEN + 4];
    if (inet_ntop(AF_INET6, &a6, text, sizeof text))
        snprintf(out, 48, "%.40s/64", text);
}

static uint64_t client_hash(uint64_t seed, const char *client)
{
    uint64_t h = 1469598103934665603ull ^ seed; /* FNV-1a, seeded so no one can aim at a slot */
    for (const unsigned char *p = (const unsigned char *)client; *p; p++)
        h = (h ^ *p) * 1099511628211ull;
    return h ^ (h >> 29);
}

/* The client's entry (its minute started anew once over), or NULL; with create, a new one in
 * the best of its slots: an empty one, one whose minute is over, else the one with the fewest
 * failures. */
static struct auth_failures *failures_of(struct api *a, const char *client, int create, int64_t now)
{
    const uint64_t h = client_hash(a->auth_seed, client);
    struct auth_failures *room = NULL;
    for (int i = 0; i < AUTH_PROBE; i++) {
        struct auth_failures *f = &a->failures[(h + (uint64_t)i) & (AUTH_TABLE - 1)];
        const int over = now - f->window_start >= AUTH_WINDOW_MS;
        if (f->client[0] && !strcmp(f->client, client)) {
            if (over)
                f->count = 0, f->window_start = now;
            return f;
        }
        const int rank = !f->client[0] ? 0 : over ? 1 : 2;
        const int room_rank = !room ? 3 : !room->client[0] ? 0 : now - room->window_start >= AUTH_WINDOW_MS ? 1 : 2;
        if (rank < room_rank || (rank == 2 && room_rank == 2 && f->count < room->count))
            room = f;
    }
    if (!create)
        return NULL;
    snprintf(room->client, sizeof room->client, "%s", client);
    room->count = 0, room->window_start = now;
    return room;
}

/* 0 if the request carries `Authorization: Bearer <secret>` (compared in constant time);
 * otherwise it has been answered: 401, or 429 past AUTH_FAILURES_MAX failures a minute from
 * its address. name: the setting, for the message. */
static int check_bearer(struct api *a, struct http_conn *c, const struct http_req *req, const char *secret,
                        const char *name)
{
    const char *peer = http_conn_peer(c);
    char client[48];
    client_of(peer, client);
    const int64_t now = timefmt_now_ms();
    if (now - a->global_window_start >= AUTH_WINDOW_MS)
        a->global_failures = 0, a->global_window_start = now;
    struct auth_failures *f = failures_of(a, client, 0, now);
    const int allowed = a->global_failures >= AUTH_GLOBAL_MAX ? 1 : AUTH_FAILURES_MAX;
    if (f && f->count >= allowed) {
        char retry[64];
        snprintf(retry, sizeof retry, "Retry-After: %" PRId64 "\r\n", (AUTH_WINDOW_MS - (now - f->window_start)) / 1000 + 1);
        http_respond_error(c, 429, NULL, "too many failed attempts from this address; wait and try again", retry);
        return -1;
    }
    const char *auth = http_req_header(req, "Authorization");
    if (auth && !strncasecmp(auth, "Bearer ", 7) && api_secret_equal(auth + 7, secret))
        return 0;
    f = failures_of(a, client, 1, now);
    f->count++;
    a->global_failures++;
    LOG(LOG_WARN, "http.auth_failed", LOG_S("client", peer), LOG_S("path", req->path),
        LOG_S("reason", auth ? "wrong credentials" : "no Authorization header"));
    char missing[96];
    snprintf(missing, sizeof missing, "missing credentials: send Authorization: Bearer <%s>", name);
    http_respond_error(c, 401, NULL, auth ? "wrong credentials" : missing,
                       "WWW-Authenticate: Bearer realm=\"agentcron\"\r\n");
    return -1;
}

/* 0 if the request carries CRON_SECRET; otherwise it has been answered. */
static int check_cron_secret(struct api *a, struct http_conn *c, const struct http_req *req)
{
    if (!a->cfg->cron_secret[0]) {
        http_respond_error(c, 503, NULL,
                           "CRON_SECRET is not configured on this orchestrator: the webhook stays closed until it is",
                           NULL);
        return -1;
    }
    return check_bearer(a, c, req, a->cfg->cron_secret, "CRON_SECRET");
}

/* 0 if /metrics is open or the request carries METRICS_TOKEN; otherwise it has been answered.
 * Failures count with the webhook's, per address. */
static int check_metrics_token(struct api *a, struct http_conn *c, const struct http_req *req)
{
    if (!a->cfg->metrics_token[0])
        return 0;
    return check_bearer(a, c, req, a->cfg->metrics_token, "METRICS_TOKEN");
}

/* ---- routing ---- */

static void handle(struct http_conn *c, const struct http_req *req, void *data)
{
    struct api *a = data;
    const int get = !strcmp(req->method, "GET"), post = !strcmp(req->method, "POST");
    if (a->stopping) {
        http_respond_error(c, 503, NULL, "shutting down", "Retry-After: 5\r\n");
        return;
    }
    if (!strcmp(req->path, "/healthz")) {
        if (!get) {
            http_respond_error(c, 405, NULL, "use GET", "Allow: GET\r\n");
            return;
        }
        static const char ok[] = "{\"status\":\"ok\"}";
        http_respond(c, 200, "application/json", NULL, ok, sizeof ok - 1);
        return;
    }
    if (!strcmp(req->path, "/readyz")) {
        if (!get)
            http_respond_error(c, 405, NULL, "use GET", "Allow: GET\r\n");
        else
            enqueue_job(a, c, JOB_READY, 0, req);
        return;
    }
    if (!strcmp(req->path, "/check-scheduled-tasks") || !strcmp(req->path, "/api/cron/check-scheduled-tasks")) {
        if (!get && !post) {
            http_respond_error(c, 405, NULL, "use GET (status) or POST (run a due-check now)", "Allow: GET, POST\r\n");
            return;
        }
        if (check_cron_secret(a, c, req) == 0)
            want_counts(a, c, post);
        return;
    }
    if (!strcmp(req->path, "/metrics")) {
        if (!get)
            http_respond_error(c, 405, NULL, "use GET", "Allow: GET\r\n");
        else if (check_metrics_token(a, c, req) == 0)
            enqueue_job(a, c, JOB_METRICS, 0, req);
        return;
    }
    if (api_tasks_owns(req->path)) {
        enqueue_job(a, c, JOB_CALL, post, req);
        return;
    }
    if (web_assets_serve(a->web, c, req))
        return;
    http_respond_error(c, 404, NULL, "no such route", NULL);
}

struct api *api_start(uv_loop_t *loop, const struct config *cfg, const struct agent_set *agents, api_tick_fn tick,
                      void *tick_data, char *err, size_t err_len)
{
    struct api *a = calloc(1, sizeof *a);
    if (!a) {
        snprintf(err, err_len, "out of memory");
        return NULL;
    }
    a->loop = loop, a->cfg = cfg, a->tick = tick, a->tick_data = tick_data;
    a->queue_tail = &a->queue;
    if (getrandom(&a->auth_seed, sizeof a->auth_seed, GRND_NONBLOCK) != sizeof a->auth_seed)
        a->auth_seed = (uint64_t)timefmt_now_ms() ^ ((uint64_t)getpid() << 32);
    a->agents_now = agents;
    for (int i = 0; i < API_LANES; i++) {
        a->lanes[i].api = a;
        if (connpair_init(&a->lanes[i].conn, cfg->database_url, cfg->redis_url, "agentcron-api", 5000) != 0) {
            snprintf(err, err_len, "out of memory");
            for (int k = 0; k <= i; k++)
                connpair_close(&a->lanes[k].conn);
            free(a);
            return NULL;
        }
    }
    if (!(a->srv = http_server_start(loop, cfg->http_listen, cfg->http_max_connections, cfg->tls_cert_file,
                                    cfg->tls_key_file, handle, a, err, err_len))) {
        for (int i = 0; i < API_LANES; i++)
            connpair_close(&a->lanes[i].conn);
        free(a);
        return NULL;
    }
    a->https = http_server_is_tls(a->srv);
    overview_cache_init(&a->overview);
    char dir[1024], why[1200];
    paths_share_dir("web", "AGENTCRON_WEB_DIR", dir, sizeof dir);
    if ((a->web = web_assets_load(dir, why, sizeof why)))
        LOG(LOG_INFO, "http.dashboard", LOG_S("dir", dir), LOG_I("files", web_assets_count(a->web)));
    else
        LOG(LOG_WARN, "http.dashboard_missing", LOG_S("reason", why),
            LOG_S("effect", "the API works; the dashboard at / answers 404"));
    uv_timer_init(loop, &a->wait_timer);
    a->wait_timer.data = a;
    return a;
}

static void on_server_stopped(void *data)
{
    struct api *a = data;
    a->server_stopped = 1;
    start_jobs(a);
}

void api_stop(struct api *a, void (*on_stopped)(void *data), void *data)
{
    if (a->stopping)
        return;
    a->stopping = 1;
    a->on_stopped = on_stopped, a->stopped_data = data;
    api_tick_done(a, 0, 0, "the orchestrator is shutting down");
    if (!a->wait_checking)
        sweep_waiters(a);
    http_server_stop(a->srv, on_server_stopped, a);
}

int api_reload_tls(struct api *a, char *err, size_t err_len)
{
    return http_server_reload_tls(a->srv, err, err_len);
}

void api_reload_agents(struct api *a, const struct agent_set *agents)
{
    a->agents_now = agents;
}

int api_is_tls(const struct api *a)
{
    return http_server_is_tls(a->srv);
}

int api_port(const struct api *a)
{
    return http_server_port(a->srv);
}
