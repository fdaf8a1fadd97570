/* SPDX-License-Identifier: MIT */
/* agentcron-orchestrator: finds due tasks in Postgres and turns them into runs in the Redis
 * queue, on time, in their timezones.
 *
 * The libuv loop thread only waits: a timer set to the next due time (or POLL_INTERVAL_MS at
 * most), Postgres NOTIFY on a LISTEN connection (a task changed), the reconciliation and
 * status timers, and signals. Everything that talks to Postgres or Redis runs as one job at a
 * time on libuv's thread pool (uv_queue_work) with the scheduler's own connections, so the
 * loop never blocks and the scheduler is never used by two threads at once. */
#include <inttypes.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>
#include <uv.h>

#include "agents.h"
#include "alert_job.h"
#include "exec_child.h"
#include "http_api.h"
#include "config.h"
#include "log.h"
#include "migrate.h"
#include "pgconn.h"
#include "redisconn.h"
#include "shards.h"
#include "retention_job.h"
#include "schedule.h"
#include "timefmt.h"
#include "traces.h"
#include "tzdata.h"
#include "worker.h"

#define RECONCILE_INTERVAL_MS 30000
#define MAX_BACKOFF_MS 30000
/* A failed pass is tried again soon, whatever else failed meanwhile: slots are falling due, and a
 * try costs one connection attempt (reconciliation and status back off to MAX_BACKOFF_MS) */
#define TICK_RETRY_MAX_MS 1000
/* A pass runs on this many schedulers at once, each with its own Postgres and Redis
 * connections; SKIP LOCKED keeps their tasks apart (as with several orchestrators). They
 * spend much of their time waiting on Postgres, so four beat two even on two cores
 * (bench/README.md); with the LISTEN connection, an orchestrator holds five connections. */
#define TICK_PARALLEL 4

enum job { JOB_NONE, JOB_TICK, JOB_RECONCILE, JOB_STATUS, JOB_LISTEN };

struct orchestrator;

/* One of the parallel halves of a pass. */
struct tick_part {
    struct orchestrator *o;
    uv_work_t work;
    struct scheduler *sched;
    int rc;
    char err[768];
    struct tick_result result;
};

struct orchestrator {
    struct config cfg;
    const char *env_file;                /* --env-file, or NULL: read again on SIGHUP */
    struct agents_generation *reloaded;  /* the newest SIGHUP's agents, linked to the older ones */
    char instance[128];
    char tz_version[32];
    int64_t started_ms;
    uv_loop_t *loop;
    uv_timer_t due_timer, reconcile_timer, status_timer, watchdog_timer;
    uv_signal_t sigterm, sigint, sighup;
    uv_poll_t listen_poll;
    PGconn *listen_conn;  /* owned by the loop thread while polled */
    PGconn *new_listen;   /* handed over by JOB_LISTEN */
    int listening;
    int64_t listen_retry_ms, listen_backoff_ms; /* reconnecting LISTEN waits this long between tries */
    uv_work_t work;
    struct tick_part parts[TICK_PARALLEL];
    int parts_pending, parts_started;
    /* the next pass runs on every part: the last one found work, or a due time is near. A pass
     * with nothing to do (the poll, a NOTIFY) costs one transaction instead of TICK_PARALLEL:
     * an idle orchestrator is quiet. */
    int wide;
    enum job running_job;
    int want[JOB_LISTEN + 1]; /* jobs waiting to run */
    int stopping;
    int reconcile_soon; /* a pass failed: reconcile after the next one that works */
    int64_t backoff_ms;      /* reconciliation and status, after failures */
    int64_t tick_backoff_ms; /* the pass, after failures: 250 ms doubling to TICK_RETRY_MAX_MS */
    struct scheduler *sched; /* = parts[0].sched: also runs reconciliation and status */
    /* results handed from a job to the loop */
    int job_rc;
    char job_err[768];
    struct tick_result tick;
    struct reconcile_result rec;
    struct status_numbers status;
    char status_json[2048];
    /* in-process workers (--workers N) */
    int workers;
    struct agent_set agents;
    struct worker_pool *pool;
    struct retention_job *retention;
    struct alert_job *alerts;
    /* the HTTP surface (unless HTTP_LISTEN=off) */
    struct api *api;
    int api_wants_tick, api_tick_in_pass; /* a POST /check-scheduled-tasks waits for a pass */
};

static void start_next_job(struct orchestrator *o);

static void request(struct orchestrator *o, enum job j)
{
    if (o->stopping)
        return;
    o->want[j] = 1;
    start_next_job(o);
}

/* ---- jobs, on the thread pool ---- */

static void build_status_json(struct orchestrator *o)
{
    const struct status_numbers *n = &o->status;
    char started[TIMEFMT_RFC3339_MAX], reported[TIMEFMT_RFC3339_MAX];
    timefmt_rfc3339(o->started_ms, 0, 1, started);
    timefmt_rfc3339(timefmt_now_ms(), 0, 1, reported);
    json_t *doc = json_pack(
        "{s:s, s:s, s:i, s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:s,"
        " s:{s:I, s:I, s:I, s:I, s:I, s:I}}",
        "instance", o->instance, "role", "orchestrator", "pid", (int)getpid(), "version", AGENTCRON_VERSION,
        "startedAt", started, "reportedAt", reported, "uptimeS", (json_int_t)((timefmt_now_ms() - o->started_ms) / 1000),
        "running", (json_int_t)n->running, "activeAgents", (json_int_t)n->active_agents, "queued",
        (json_int_t)n->queued, "completedToday", (json_int_t)n->completed_today, "failedToday",
        (json_int_t)n->failed_today, "scheduledTasks", (json_int_t)n->scheduled_tasks, "tasksCurrentlyDue",
        (json_int_t)n->due_tasks, "tokensToday", (json_int_t)n->tokens_today, "creditsToday",
        (json_int_t)n->credits_today, "tzdata", o->tz_version, "queue", "waiting", (json_int_t)n->q_waiting,
        "active", (json_int_t)n->q_active, "completed", (json_int_t)n->q_completed, "failed",
        (json_int_t)n->q_failed, "delayed", (json_int_t)n->q_delayed, "dead", (json_int_t)n->q_dead);
    json_object_set_new(doc, "ttlS", json_integer(config_report_ttl_s(&o->cfg)));
    char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    snprintf(o->status_json, sizeof o->status_json, "%s", text ? text : "{}");
    free(text);
    json_decref(doc);
}

static void connect_listener(struct orchestrator *o)
{
    PGconn *c = pgconn_open(o->cfg.database_url, "agentcron-orchestrator-listen", o->job_err, sizeof o->job_err);
    if (!c) {
        o->job_rc = -1;
        return;
    }
    PGresult *r = PQexec(c, "LISTEN agentcron_tasks");
    const int ok = PQresultStatus(r) == PGRES_COMMAND_OK && PQsetnonblocking(c, 1) == 0;
    PQclear(r);
    if (!ok) {
        snprintf(o->job_err, sizeof o->job_err, "LISTEN failed: %s", PQerrorMessage(c));
        PQfinish(c);
        o->job_rc = -1;
        return;
    }
    o->new_listen = c;
    o->job_rc = 0;
}

static void run_job(uv_work_t *w)
{
    struct orchestrator *o = w->data;
    o->job_err[0] = 0;
    switch (o->running_job) {
    case JOB_TICK: /* runs as tick parts */
        break;
    case JOB_RECONCILE:
        o->job_rc = scheduler_reconcile(o->sched, &o->rec, o->job_err, sizeof o->job_err);
        break;
    case JOB_STATUS:
        o->job_rc = scheduler_status(o->sched, &o->status, o->job_err, sizeof o->job_err);
        if (o->job_rc == 0) {
            build_status_json(o);
            const int ttl = config_report_ttl_s(&o->cfg);
            o->job_rc = scheduler_publish_status(o->sched, o->instance, o->status_json, ttl, o->job_err,
                                                 sizeof o->job_err);
        }
        break;
    case JOB_LISTEN:
        connect_listener(o);
        break;
    case JOB_NONE:
        break;
    }
}

/* ---- the loop thread ---- */

static void on_due(uv_timer_t *t)
{
    request(t->data, JOB_TICK);
}

static void set_due_timer(struct orchestrator *o, int64_t wait_ms)
{
    if (o->stopping)
        return;
    if (wait_ms < 0)
        wait_ms = 0;
    if (wait_ms > o->cfg.poll_interval_ms)
        wait_ms = o->cfg.poll_interval_ms;
    uv_timer_start(&o->due_timer, on_due, (uint64_t)wait_ms, 0);
}

static void on_listen_readable(uv_poll_t *p, int status, int events);

static void stop_listening(struct orchestrator *o)
{
    if (!o->listening)
        return;
    o->listening = 0;
    uv_poll_stop(&o->listen_poll);
    uv_close((uv_handle_t *)&o->listen_poll, NULL);
}

static void on_listen_readable(uv_poll_t *p, int status, int events)
{
    struct orchestrator *o = p->data;
    (void)events;
    if (status < 0 || !PQconsumeInput(o->listen_conn)) {
        LOG(LOG_WARN, "postgres.listen_lost", LOG_S("error", PQerrorMessage(o->listen_conn)),
            LOG_S("action", "reconnecting; polling meanwhile"));
        stop_listening(o);
        PQfinish(o->listen_conn);
        o->listen_conn = NULL;
        request(o, JOB_LISTEN);
        return;
    }
    int changed = 0;
    for (PGnotify *n; (n = PQnotifies(o->listen_conn)); PQfreemem(n))
        changed = 1;
    if (changed)
        request(o, JOB_TICK);
}

static void finish_shutdown(struct orchestrator *o);

static void finish_job(struct orchestrator *o, int status)
{
    const enum job j = o->running_job;
    o->running_job = JOB_NONE;
    if (status == UV_ECANCELED)
        o->job_rc = -1, snprintf(o->job_err, sizeof o->job_err, "cancelled");
    if (j == JOB_TICK && o->api_tick_in_pass && o->api) {
        o->api_tick_in_pass = 0;
        api_tick_done(o->api, o->job_rc == 0, o->tick.enqueued, o->job_err);
    }
    if (o->job_rc != 0 && j != JOB_LISTEN) {
        int64_t *backoff = j == JOB_TICK ? &o->tick_backoff_ms : &o->backoff_ms;
        const int64_t cap = j == JOB_TICK ? TICK_RETRY_MAX_MS : MAX_BACKOFF_MS;
        LOG(LOG_ERROR, j == JOB_TICK ? "schedule.failed" : j == JOB_RECONCILE ? "reconcile.failed" : "status.failed",
            LOG_S("error", o->job_err), LOG_I("retry_in_ms", *backoff));
        /* runs a failed pass created may not be in the queue: repair as soon as a pass works */
        o->reconcile_soon |= j == JOB_TICK || j == JOB_RECONCILE;
        if (j == JOB_TICK)
            o->wide = 1, set_due_timer(o, *backoff);
        *backoff = *backoff * 2 > cap ? cap : *backoff * 2;
    } else if (j == JOB_TICK) {
        const struct tick_result *t = &o->tick;
        o->backoff_ms = o->tick_backoff_ms = 250;
        /* runs the pass could not queue (Redis lost, or a cluster moving the queue's slot) are
         * queued by reconciliation at once, not at its next turn */
        if (o->reconcile_soon || t->enqueued < t->runs)
            o->want[JOB_RECONCILE] = 1, o->reconcile_soon = 0;
        if (t->tasks)
            LOG(LOG_INFO, "schedule.pass", LOG_I("tasks", t->tasks), LOG_I("runs", t->runs), LOG_I("enqueued", t->enqueued),
                LOG_I("missed", t->missed), LOG_I("skipped", t->skipped), LOG_I("max_lateness_ms", t->lateness_max_ms));
        const int64_t now = timefmt_now_ms();
        /* +1 ms: libuv's millisecond timers may fire a fraction early, before the slot */
        int64_t wait = o->cfg.poll_interval_ms;
        const int64_t wake_ms = t->next_due_ms >= 0 ? scheduler_wake_ms(t->next_due_ms, now, o->cfg.schedule_lookahead_ms) : -1;
        if (wake_ms >= 0 && wake_ms - now + 1 < wait)
            wait = wake_ms - now + 1;
        if (t->next_delayed_ms >= 0 && t->next_delayed_ms - now + 1 < wait)
            wait = t->next_delayed_ms - now + 1;
        if (t->tasks == 0 && t->next_due_ms >= 0 && t->next_due_ms < now - 20)
            wait = 50; /* overdue, yet none claimed: another orchestrator holds them; do not spin */
        o->wide = t->tasks > 0 || (wake_ms >= 0 && wake_ms - now < o->cfg.poll_interval_ms);
        set_due_timer(o, wait);
    } else if (j == JOB_RECONCILE) {
        const struct reconcile_result *r = &o->rec;
        if (r->reenqueued || r->leases_requeued)
            LOG(LOG_WARN, "reconcile.repaired", LOG_I("queued_checked", r->queued_checked),
                LOG_I("reenqueued", r->reenqueued), LOG_I("leases_requeued", r->leases_requeued));
    } else if (j == JOB_STATUS) {
        const struct status_numbers *n = &o->status;
        LOG(LOG_INFO, "status", LOG_S("instance", o->instance), LOG_I("uptime_s", (timefmt_now_ms() - o->started_ms) / 1000),
            LOG_I("running", n->running), LOG_I("active_agents", n->active_agents), LOG_I("queued", n->queued),
            LOG_I("completed_today", n->completed_today), LOG_I("failed_today", n->failed_today),
            LOG_I("scheduled_tasks", n->scheduled_tasks), LOG_I("q_waiting", n->q_waiting),
            LOG_I("q_active", n->q_active), LOG_I("q_completed", n->q_completed), LOG_I("q_failed", n->q_failed),
            LOG_I("q_delayed", n->q_delayed), LOG_I("tokens_today", n->tokens_today),
            LOG_I("credits_today", n->credits_today));
    } else if (j == JOB_LISTEN) {
        if (o->job_rc == 0 && o->new_listen && !o->stopping) {
            o->listen_conn = o->new_listen, o->new_listen = NULL;
            uv_poll_init(o->loop, &o->listen_poll, PQsocket(o->listen_conn));
            o->listen_poll.data = o;
            uv_poll_start(&o->listen_poll, UV_READABLE, on_listen_readable);
            o->listening = 1;
            o->listen_backoff_ms = 250;
            LOG(LOG_INFO, "postgres.listening", LOG_S("channel", "agentcron_tasks"));
            request(o, JOB_TICK); /* changes made while we were not listening */
        } else if (o->job_rc != 0) {
            LOG(LOG_WARN, "postgres.listen_failed", LOG_S("error", o->job_err), LOG_I("retry_in_ms", o->listen_backoff_ms));
            /* retried once the backoff has passed (the due timer brings the loop back at least
             * every POLL_INTERVAL_MS); meanwhile that timer also covers missed notifications */
            o->listen_retry_ms = timefmt_now_ms() + o->listen_backoff_ms;
            o->listen_backoff_ms = o->listen_backoff_ms * 2 > MAX_BACKOFF_MS ? MAX_BACKOFF_MS : o->listen_backoff_ms * 2;
            o->want[JOB_LISTEN] = 1;
        }
    }
    if (o->stopping) {
        finish_shutdown(o);
        return;
    }
    start_next_job(o);
}

static void after_job(uv_work_t *w, int status)
{
    finish_job(w->data, status);
}

static void run_tick_part(uv_work_t *w)
{
    struct tick_part *p = w->data;
    p->err[0] = 0;
    p->rc = scheduler_tick(p->sched, &p->result, p->err, sizeof p->err);
}

/* When every part of a pass is done: one result, as if one scheduler had done it all. */
static void after_tick_part(uv_work_t *w, int status)
{
    struct tick_part *p = w->data;
    struct orchestrator *o = p->o;
    if (status == UV_ECANCELED)
        p->rc = -1, snprintf(p->err, sizeof p->err, "cancelled");
    if (--o->parts_pending > 0)
        return;
    struct tick_result *t = &o->tick;
    memset(t, 0, sizeof *t);
    t->next_due_ms = t->next_delayed_ms = -1;
    o->job_rc = 0;
    for (int i = 0; i < o->parts_started; i++) {
        const struct tick_part *q = &o->parts[i];
        if (q->rc != 0) {
            o->job_rc = -1;
            snprintf(o->job_err, sizeof o->job_err, "%s", q->err);
            continue;
        }
        const struct tick_result *r = &q->result;
        t->tasks += r->tasks, t->runs += r->runs, t->enqueued += r->enqueued;
        t->missed += r->missed, t->skipped += r->skipped;
        if (r->lateness_max_ms > t->lateness_max_ms)
            t->lateness_max_ms = r->lateness_max_ms;
        if (r->next_due_ms >= 0 && (t->next_due_ms < 0 || r->next_due_ms < t->next_due_ms))
            t->next_due_ms = r->next_due_ms;
        if (r->next_delayed_ms >= 0 && (t->next_delayed_ms < 0 || r->next_delayed_ms < t->next_delayed_ms))
            t->next_delayed_ms = r->next_delayed_ms;
    }
    finish_job(o, 0);
}

static void start_next_job(struct orchestrator *o)
{
    if (o->running_job != JOB_NONE || o->stopping)
        return;
    static const enum job order[] = {JOB_TICK, JOB_LISTEN, JOB_RECONCILE, JOB_STATUS};
    for (size_t i = 0; i < sizeof order / sizeof order[0]; i++) {
        if (!o->want[order[i]] || (order[i] == JOB_LISTEN && timefmt_now_ms() < o->listen_retry_ms))
            continue;
        o->want[order[i]] = 0;
        o->running_job = order[i];
        if (order[i] == JOB_TICK) {
            o->api_tick_in_pass = o->api_wants_tick; /* this pass answers the webhooks waiting now */
            o->api_wants_tick = 0;
            o->parts_pending = 0;
            o->parts_started = o->wide || o->api_tick_in_pass ? TICK_PARALLEL : 1;
            for (int k = 0; k < o->parts_started; k++) {
                o->parts[k].work.data = &o->parts[k];
                if (uv_queue_work(o->loop, &o->parts[k].work, run_tick_part, after_tick_part) == 0)
                    o->parts_pending++;
            }
            if (o->parts_pending == 0)
                o->running_job = JOB_NONE;
            return;
        }
        o->work.data = o;
        if (uv_queue_work(o->loop, &o->work, run_job, after_job) != 0)
            o->running_job = JOB_NONE;
        return;
    }
}

static void on_reconcile(uv_timer_t *t)
{
    request(t->data, JOB_RECONCILE);
}

static void on_status(uv_timer_t *t)
{
    request(t->data, JOB_STATUS);
}

static void on_watchdog(uv_timer_t *t)
{
    (void)t;
    sd_notify(0, "WATCHDOG=1");
}

static void on_pool_stopped(void *data)
{
    struct orchestrator *o = data;
    o->pool = NULL;
    finish_shutdown(o);
}

static void on_api_stopped(void *data)
{
    struct orchestrator *o = data;
    o->api = NULL;
    finish_shutdown(o);
}

static void on_retention_stopped(void *data)
{
    struct orchestrator *o = data;
    o->retention = NULL;
    finish_shutdown(o);
}

static void on_alerts_stopped(void *data)
{
    finish_shutdown(data);
}

static void finish_shutdown(struct orchestrator *o)
{
    if (o->alerts) { /* what it is sending finishes; on_alerts_stopped comes back here */
        struct alert_job *j = o->alerts;
        o->alerts = NULL;
        alert_job_stop(j, on_alerts_stopped, o);
        return;
    }
    if (o->retention) { /* the batch in progress ends; on_retention_stopped comes back here */
        struct retention_job *j = o->retention;
        o->retention = NULL;
        retention_job_stop(j, on_retention_stopped, o);
        return;
    }
    if (o->api) { /* answer what is in progress, close the server; on_api_stopped comes back here */
        api_stop(o->api, on_api_stopped, o);
        return;
    }
    if (o->pool) { /* drain the in-process workers first; on_pool_stopped comes back here */
        worker_pool_stop(o->pool, on_pool_stopped, o);
        return;
    }
    if (o->running_job != JOB_NONE)
        return; /* after_job comes back here */
    stop_listening(o);
    uv_handle_t *handles[] = {(uv_handle_t *)&o->due_timer, (uv_handle_t *)&o->reconcile_timer,
                              (uv_handle_t *)&o->status_timer, (uv_handle_t *)&o->watchdog_timer,
                              (uv_handle_t *)&o->sigterm, (uv_handle_t *)&o->sigint, (uv_handle_t *)&o->sighup};
    for (size_t i = 0; i < sizeof handles / sizeof handles[0]; i++)
        if (!uv_is_closing(handles[i]))
            uv_close(handles[i], NULL);
}

static void on_signal(uv_signal_t *s, int signum)
{
    struct orchestrator *o = s->data;
    if (o->stopping)
        return;
    o->stopping = 1;
    sd_notify(0, "STOPPING=1");
    LOG(LOG_INFO, "orchestrator.stopping", LOG_S("signal", signum == SIGTERM ? "SIGTERM" : "SIGINT"),
        LOG_S("action", o->running_job != JOB_NONE ? "finishing the current pass" : "exiting"));
    finish_shutdown(o);
}

/* SIGHUP: AGENTS_FILE and the env file's secrets anew (for the task API's checks and the
 * in-process workers); a broken one is logged and the old kept. */
static void reload_agents(struct orchestrator *o)
{
    struct agents_error aerr;
    struct agents_generation *g = agents_reload(o->env_file, o->pool != NULL, o->reloaded, &aerr);
    if (!g) {
        LOG(LOG_ERROR, "agents.reload_failed", LOG_S("reason", aerr.message),
            LOG_S("action", "kept the agents in force; fix the file and send SIGHUP again"));
        return;
    }
    o->reloaded = g;
    if (o->api)
        api_reload_agents(o->api, &g->set);
    if (o->pool)
        worker_pool_reload(o->pool, &g->set, g->cfg);
    LOG(LOG_INFO, "agents.reloaded", LOG_S("file", g->cfg->agents_file), LOG_I("agents", (int64_t)g->set.count));
}

/* SIGHUP: the agents anew, and a renewed certificate takes effect, without a restart. */
static void on_sighup(uv_signal_t *s, int signum)
{
    struct orchestrator *o = s->data;
    (void)signum;
    char err[1024];
    if (o->stopping)
        return;
    reload_agents(o);
    if (!o->api)
        return;
    const int rc = api_reload_tls(o->api, err, sizeof err);
    if (rc < 0)
        LOG(LOG_ERROR, "http.tls_reload_failed", LOG_S("reason", err),
            LOG_S("action", "kept the previous certificate; fix the files and send SIGHUP again"));
    else if (rc > 0)
        LOG(LOG_INFO, "orchestrator.sighup", LOG_S("action", err));
}

/* POST /check-scheduled-tasks: a pass now, answered when it ends. */
static void on_api_tick(void *data)
{
    struct orchestrator *o = data;
    o->api_wants_tick = 1;
    request(o, JOB_TICK);
}

/* ---- start-up ---- */

static const char usage_text[] =
    "usage: agentcron-orchestrator [--env-file FILE] [--instance NAME] [--workers N]\n"
    "\n"
    "Turns due tasks into runs in the Redis queue. --workers N also runs them here, N at a time\n"
    "(as agentcron-worker would), for a one-box setup. Settings come from the environment, then\n"
    "FILE (default " CONFIG_DEFAULT_ENV_FILE " if present); see deploy/agentcron.env.example.\n"
    "Any number of orchestrators may run at once. SIGTERM or SIGINT: finish the current pass, exit 0.\n"
    "SIGHUP: read AGENTS_FILE, the env file's secrets, TLS_CERT_FILE and TLS_KEY_FILE again.\n";

/* Refuses to run on a schema with pending migrations. */
static int check_schema(const struct config *cfg)
{
    struct migrate_error merr;
    if (migrate_require_current(cfg->database_url, "agentcron-orchestrator", &merr) == 0)
        return 0;
    LOG(LOG_ERROR, "orchestrator.cannot_start", LOG_S("reason", merr.message));
    return -1;
}

int main(int argc, char **argv)
{
    const int child = exec_child_main(argc, argv); /* an exec run's command, starting */
    if (child >= 0)
        return child;
    const char *env_file = NULL, *instance = NULL;
    int workers = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--env-file") && i + 1 < argc)
            env_file = argv[++i];
        else if (!strcmp(argv[i], "--instance") && i + 1 < argc)
            instance = argv[++i];
        else if (!strcmp(argv[i], "--workers") && i + 1 < argc) {
            char *end;
            const long v = strtol(argv[++i], &end, 10);
            if (*end || v < 0 || v > 1024)
                return fprintf(stderr, "agentcron-orchestrator: --workers \"%s\" must be 0-1024\n", argv[i]), 2;
            workers = (int)v;
        } else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
            return fputs(usage_text, stdout), 0;
        else if (!strcmp(argv[i], "--version"))
            return printf("agentcron-orchestrator %s\n", AGENTCRON_VERSION), 0;
        else
            return fprintf(stderr, "agentcron-orchestrator: unknown or incomplete option \"%s\"; see --help\n", argv[i]),
                   2;
    }
    static struct orchestrator o;
    struct config_error cerr;
    signal(SIGPIPE, SIG_IGN); /* a Redis or Postgres that hangs up is an error to handle, not a death */
    static const char *const required[] = {"DATABASE_URL", "REDIS_URL", NULL};
    o.env_file = env_file;
    if (config_load(&o.cfg, env_file, &cerr) != 0 || config_require(&o.cfg, required, &cerr) != 0) {
        fprintf(stderr, "agentcron-orchestrator: %s\n", cerr.message);
        return CONFIG_EXIT_STATUS;
    }
    log_setup(o.cfg.log_format == LOG_FORMAT_JSON, o.cfg.log_level);
    redisconn_use_config(&o.cfg);
    shards_use_config(&o.cfg);
    char terr[512];
    if (tracer_check_config(&o.cfg, terr, sizeof terr) != 0) { /* the in-process workers' traces */
        fprintf(stderr, "agentcron-orchestrator: %s\n", terr);
        return CONFIG_EXIT_STATUS;
    }
    struct tzdata_status tz;
    struct tzdata_error tzerr;
    if (tzdata_init(NULL, &tz, &tzerr) != 0) {
        LOG(LOG_ERROR, "orchestrator.cannot_start", LOG_S("reason", tzerr.message));
        return 1;
    }
    snprintf(o.tz_version, sizeof o.tz_version, "%s", tz.icu_version);
    char host[64] = "host";
    gethostname(host, sizeof host - 1);
    snprintf(o.instance, sizeof o.instance, "%s", instance ? instance : host);
    if (!instance)
        snprintf(o.instance + strlen(o.instance), sizeof o.instance - strlen(o.instance), ":%d", (int)getpid());
    if (check_schema(&o.cfg) != 0)
        return 1;
    struct agents_error aerr;
    if (agents_load(&o.agents, o.cfg.agents_file, &aerr) != 0 ||
        agents_check_secrets(&o.agents, &o.cfg, workers > 0, &aerr) != 0) {
        LOG(LOG_ERROR, "orchestrator.cannot_start", LOG_S("reason", aerr.message));
        return CONFIG_EXIT_STATUS;
    }
    /* A thread for every job that can run at once, so that none waits for another's thread: a
     * pass whose four schedulers wait on a lock (a migration, a long transaction) left libuv's
     * default four threads none for the API's lanes and retention, and requests hung as long. */
    setenv("UV_THREADPOOL_SIZE", workers ? "16" : "10", 0); /* 4 schedulers, 4 API lanes, retention,
                                                              (5 worker lanes), headroom */
    const struct scheduler_options opt = {
        .database_url = o.cfg.database_url, .redis_url = o.cfg.redis_url, .queue = "default", .batch = 1000,
        .lookahead_ms = o.cfg.schedule_lookahead_ms};
    for (int k = 0; k < TICK_PARALLEL; k++) {
        o.parts[k].o = &o;
        if (!(o.parts[k].sched = scheduler_new(&opt))) {
            LOG(LOG_ERROR, "orchestrator.cannot_start", LOG_S("reason", "out of memory"));
            return 1;
        }
    }
    o.sched = o.parts[0].sched;
    o.loop = uv_default_loop();
    o.started_ms = timefmt_now_ms();
    o.backoff_ms = o.tick_backoff_ms = 250;
    o.listen_backoff_ms = 250;
    uv_timer_t *timers[] = {&o.due_timer, &o.reconcile_timer, &o.status_timer, &o.watchdog_timer};
    for (size_t i = 0; i < 4; i++)
        uv_timer_init(o.loop, timers[i]), timers[i]->data = &o;
    uv_signal_init(o.loop, &o.sigterm), o.sigterm.data = &o;
    uv_signal_init(o.loop, &o.sigint), o.sigint.data = &o;
    uv_signal_start(&o.sigterm, on_signal, SIGTERM);
    uv_signal_start(&o.sigint, on_signal, SIGINT);
    uv_signal_init(o.loop, &o.sighup), o.sighup.data = &o;
    uv_signal_start(&o.sighup, on_sighup, SIGHUP);
    uv_timer_start(&o.reconcile_timer, on_reconcile, RECONCILE_INTERVAL_MS, RECONCILE_INTERVAL_MS);
    uv_timer_start(&o.status_timer, on_status, (uint64_t)o.cfg.status_interval_s * 1000,
                   (uint64_t)o.cfg.status_interval_s * 1000);
    uint64_t watchdog_usec = 0;
    if (sd_watchdog_enabled(0, &watchdog_usec) > 0)
        uv_timer_start(&o.watchdog_timer, on_watchdog, watchdog_usec / 2000, watchdog_usec / 2000);
    LOG(LOG_INFO, "orchestrator.started", LOG_S("instance", o.instance), LOG_S("version", AGENTCRON_VERSION),
        LOG_S("tzdata", tz.icu_version), LOG_I("poll_interval_ms", o.cfg.poll_interval_ms));
    o.want[JOB_LISTEN] = o.want[JOB_RECONCILE] = o.want[JOB_TICK] = o.want[JOB_STATUS] = 1;
    o.wide = 1;
    if (!(o.retention = retention_job_start(o.loop, o.cfg.database_url, o.cfg.run_retention_days,
                                            o.cfg.retention_interval_s))) {
        LOG(LOG_ERROR, "orchestrator.cannot_start", LOG_S("reason", "out of memory"));
        return 1;
    }
    char public_url[1100];
    config_public_url(&o.cfg, public_url, sizeof public_url);
    if (!(o.alerts = alert_job_start(o.loop, &o.cfg, public_url)))
        return 1;
    start_next_job(&o);
    if (strcmp(o.cfg.http_listen, "off") != 0) {
        char aerr2[512];
        if (!(o.api = api_start(o.loop, &o.cfg, &o.agents, on_api_tick, &o, aerr2, sizeof aerr2))) {
            LOG(LOG_ERROR, "orchestrator.cannot_start", LOG_S("reason", aerr2));
            return 1;
        }
        LOG(LOG_INFO, "http.listening", LOG_S("listen", o.cfg.http_listen),
            LOG_S("scheme", api_is_tls(o.api) ? "https" : "http"),
            LOG_S("webhook", o.cfg.cron_secret[0] ? "on" : "off: set CRON_SECRET"));
    }
    if (workers) {
        char werr[512], wname[200];
        snprintf(wname, sizeof wname, "%s/workers", o.instance);
        if (!(o.pool = worker_pool_start(o.loop, &o.cfg, &o.agents, wname, workers, werr, sizeof werr))) {
            LOG(LOG_ERROR, "orchestrator.cannot_start", LOG_S("reason", werr));
            return 1;
        }
    }
    sd_notify(0, "READY=1");
    uv_run(o.loop, UV_RUN_DEFAULT);
    scheduler_unpublish_status(o.parts[0].sched, o.instance); /* a clean stop: gone from status at once */
    PQfinish(o.listen_conn);
    PQfinish(o.new_listen);
    for (int k = 0; k < TICK_PARALLEL; k++)
        scheduler_free(o.parts[k].sched);
    agents_free(&o.agents);
    agents_generations_free(o.reloaded);
    const int closed = uv_loop_close(o.loop);
    LOG(LOG_INFO, "orchestrator.stopped", LOG_S("instance", o.instance), LOG_I("loop_closed", closed == 0));
    return 0;
}
