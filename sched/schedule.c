/* SPDX-License-Identifier: MIT */
/* The scheduling pass, reconciliation and status (see schedule.h).
 *
 * Exactly once per slot, with any number of orchestrators: due tasks are claimed with
 * FOR UPDATE SKIP LOCKED, so each task is planned by one orchestrator at a time; runs are
 * inserted ON CONFLICT (task_id, scheduled_for) DO NOTHING, so a slot becomes at most one run
 * even if two passes overlap; next_run_at advances in the same transaction. Redis comes after
 * the commit: if the process dies in between, the runs are queued in Postgres, and
 * reconciliation (idempotent enqueue of every queued run) puts them in Redis. */
#include "schedule.h"

#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cronparse.h"
#include "log.h"
#include "connpair.h"
#include "pgconn.h"
#include "plan.h"
#include "queue.h"
#include "shards.h"
#include "redisconn.h"
#include "health.h"
#include "schedule_sql.h"
#include "timefmt.h"
#include "zones.h"

/* A growable text buffer for Postgres array literals ("{1,2,3}"). */
struct strbuf {
    char *s;
    size_t len, cap;
};

static void sb_add(struct strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void sb_add(struct strbuf *b, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        const int n = vsnprintf(b->s ? b->s + b->len : NULL, b->s ? b->cap - b->len : 0, fmt, ap);
        va_end(ap);
        if (n >= 0 && b->s && b->len + (size_t)n < b->cap) {
            b->len += (size_t)n;
            return;
        }
        const size_t cap = (b->cap ? b->cap * 2 : 4096) + (size_t)(n > 0 ? n : 0);
        char *grown = realloc(b->s, cap);
        if (!grown)
            abort(); /* a few hundred kB: if that fails, nothing else will work either */
        b->s = grown, b->cap = cap;
    }
}

/* Appends one element to an array literal being built ("{" added by the first). */
static void sb_elem(struct strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void sb_elem(struct strbuf *b, const char *fmt, ...)
{
    char item[64];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(item, sizeof item, fmt, ap);
    va_end(ap);
    sb_add(b, "%s%s", b->len ? "," : "{", item);
}

static const char *sb_array(struct strbuf *b)
{
    if (!b->len)
        sb_add(b, "{");
    sb_add(b, "}");
    return b->s;
}

static void sb_reset(struct strbuf *b)
{
    b->len = 0;
}

/* The arrays of one batch, and what to do with Redis after the commit. */
struct batch {
    struct strbuf run_task, run_user, run_slot, run_prio, run_ready;
    struct strbuf adv_id, adv_next, adv_enabled, adv_missed, adv_skipped;
    struct strbuf gap_task, gap_first, gap_last, gap_count, gap_reason;
    struct strbuf cancel_ids;
    int64_t *cancel_list;
    size_t cancel_count, cancel_cap;
};

static void batch_reset(struct batch *b)
{
    struct strbuf *all[] = {&b->run_task, &b->run_user, &b->run_slot,    &b->run_prio,    &b->run_ready,
                            &b->adv_id,   &b->adv_next, &b->adv_enabled, &b->adv_missed, &b->adv_skipped,
                            &b->gap_task, &b->gap_first, &b->gap_last, &b->gap_count, &b->gap_reason,
                            &b->cancel_ids};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        sb_reset(all[i]);
    b->cancel_count = 0;
}

static void batch_free(struct batch *b)
{
    struct strbuf *all[] = {&b->run_task, &b->run_user, &b->run_slot,    &b->run_prio,    &b->run_ready,
                            &b->adv_id,   &b->adv_next, &b->adv_enabled, &b->adv_missed, &b->adv_skipped,
                            &b->gap_task, &b->gap_first, &b->gap_last, &b->gap_count, &b->gap_reason,
                            &b->cancel_ids};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        free(all[i]->s);
    free(b->cancel_list);
}

static void note_cancel(struct batch *b, const char *ids)
{
    for (const char *p = ids; *p;) {
        const int64_t id = strtoll(p, (char **)&p, 10);
        if (b->cancel_count == b->cancel_cap) {
            b->cancel_cap = b->cancel_cap ? b->cancel_cap * 2 : 64;
            int64_t *grown = realloc(b->cancel_list, b->cancel_cap * sizeof *grown);
            if (!grown)
                abort();
            b->cancel_list = grown;
        }
        b->cancel_list[b->cancel_count++] = id;
        sb_elem(&b->cancel_ids, "%" PRId64, id);
        if (*p == ',')
            p++;
    }
}

/* Records count slots first..last of a task that got no run, and why (the slot ledger). */
static void note_gap(struct batch *b, int64_t task, int64_t count, int64_t first, int64_t last, const char *reason)
{
    if (count <= 0)
        return;
    sb_elem(&b->gap_task, "%" PRId64, task), sb_elem(&b->gap_count, "%" PRId64, count);
    sb_elem(&b->gap_first, "%" PRId64, first), sb_elem(&b->gap_last, "%" PRId64, last);
    sb_elem(&b->gap_reason, "%s", reason);
}

enum { RECONCILE_PAGE = 5000 };

/* Where a pass is: the last task its batches claimed (sql_claim_due resumes after it). */
struct claim_cursor {
    char at_us[24], id[24]; /* both empty: from the start */
};

struct scheduler {
    struct scheduler_options opt;
    struct connpair conn;
    struct shards shards;
    struct zones *zones;
    /* scratch space, reused by every pass (one thread uses a scheduler at a time) */
    struct batch *batch;
    struct plan plan;
    struct queue_job page_jobs[RECONCILE_PAGE];
    int64_t page_ready[RECONCILE_PAGE];
};

static int fail(char *err, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, len, fmt, ap);
    va_end(ap);
    err[strcspn(err, "\n")] = 0;
    return -1;
}

struct scheduler *scheduler_new(const struct scheduler_options *opt)
{
    struct scheduler *s = calloc(1, sizeof *s);
    struct queue_error qerr;
    if (!s || !(s->zones = zones_new()) || !(s->batch = calloc(1, sizeof *s->batch)) ||
        shards_init(&s->shards, opt->queue, shards_deployment()->count, opt->redis_url, &qerr) != 0 ||
        connpair_init(&s->conn, opt->database_url, opt->redis_url, "agentcron-orchestrator", 5000) != 0) {
        scheduler_free(s);
        return NULL;
    }
    s->opt = *opt;
    return s;
}

void scheduler_free(struct scheduler *s)
{
    if (!s)
        return;
    connpair_close(&s->conn);
    zones_free(s->zones);
    if (s->batch) {
        batch_free(s->batch);
        free(s->batch);
    }
    free(s);
}

static int connect_all(struct scheduler *s, char *err, size_t len)
{
    return connpair_ensure(&s->conn, err, len);
}

static int exec_ok(PGconn *pg, const char *sql, char *err, size_t len)
{
    PGresult *r = PQexec(pg, sql);
    const int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    if (!ok)
        fail(err, len, "postgres: %s", PQerrorMessage(pg));
    PQclear(r);
    return ok ? 0 : -1;
}

/* Runs a parameterised command that returns no rows; -1 with err naming `what` on failure. */
static int exec_params_ok(PGconn *pg, const char *sql, int n, const char *const *params, const char *what,
                          char *err, size_t len)
{
    PGresult *r = PQexecParams(pg, sql, n, NULL, params, NULL, NULL, 0);
    const int ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
    PQclear(r);
    return ok ? 0 : fail(err, len, "postgres: %s: %s", what, PQerrorMessage(pg));
}

static int64_t i64(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? -1 : strtoll(PQgetvalue(r, row, col), NULL, 10);
}

/* One due task, as claimed. */
struct due_task {
    int64_t id, user_id, next_run_at, catch_up_window_ms, jitter_ms;
    int priority;
    const char *schedule, *timezone, *misfire, *overlap;
};

/* Plans one task into the batch arrays. */
static void plan_task(struct scheduler *s, const struct due_task *t, int64_t now, int64_t queued, int64_t running,
                      const char *live_ids, struct batch *b, struct tick_result *r)
{
    struct plan *const p = &s->plan;
    char key[24];
    snprintf(key, sizeof key, "%" PRId64, t->id);
    struct cron_expr *expr = NULL;
    struct cron_error cerr;
    const struct cron_zone *zone = NULL;
    const int misfire = plan_misfire_policy(t->misfire), overlap = plan_overlap_policy(t->overlap);
    if (cron_parse(t->schedule ? t->schedule : "", key, &expr, &cerr) != 0 ||
        !(zone = zones_get(s->zones, t->timezone, &cerr)) || misfire < 0 || overlap < 0) {
        /* bad data cannot fire: disable the schedule rather than retry it every pass */
        LOG(LOG_ERROR, "task.schedule_disabled", LOG_I("task", t->id), LOG_S("schedule", t->schedule),
            LOG_S("timezone", t->timezone), LOG_S("reason", misfire < 0 || overlap < 0 ? "unknown policy" : cerr.message));
        sb_elem(&b->adv_id, "%" PRId64, t->id), sb_elem(&b->adv_next, "-1"), sb_elem(&b->adv_enabled, "f");
        sb_elem(&b->adv_missed, "0"), sb_elem(&b->adv_skipped, "0");
        cron_free(expr);
        return;
    }
    /* a slot still ahead (readied early) is planned as at its slot: on time, the next one after it */
    plan_due(expr, zone, t->next_run_at, now > t->next_run_at ? now : t->next_run_at, (enum misfire_policy)misfire,
             t->catch_up_window_ms, p);
    plan_overlap(p, (enum overlap_policy)overlap, queued, running);
    cron_free(expr);
    if (p->cancel_previous && live_ids)
        note_cancel(b, live_ids);
    for (int i = 0; i < p->count; i++) {
        sb_elem(&b->run_task, "%" PRId64, t->id), sb_elem(&b->run_user, "%" PRId64, t->user_id);
        sb_elem(&b->run_slot, "%" PRId64, p->slots[i]), sb_elem(&b->run_prio, "%d", t->priority);
        sb_elem(&b->run_ready, "%" PRId64, p->slots[i] + plan_jitter(t->id, p->slots[i], t->jitter_ms));
        if (now - p->slots[i] > r->lateness_max_ms && i == p->count - 1)
            r->lateness_max_ms = now - p->slots[i];
    }
    sb_elem(&b->adv_id, "%" PRId64, t->id), sb_elem(&b->adv_next, "%" PRId64, p->next);
    sb_elem(&b->adv_enabled, "%s", p->next >= 0 ? "t" : "f");
    sb_elem(&b->adv_missed, "%" PRId64, p->missed), sb_elem(&b->adv_skipped, "%" PRId64, p->skipped);
    note_gap(b, t->id, p->missed, p->missed_first, p->missed_last, p->missed_reason);
    note_gap(b, t->id, p->skipped, p->skipped_first, p->skipped_last, p->skipped_reason);
    if (p->missed)
        LOG(LOG_WARN, "task.slots_missed", LOG_I("task", t->id), LOG_I("count", p->missed), LOG_S("reason", p->missed_reason));
    if (p->skipped)
        LOG(LOG_INFO, "task.slots_skipped", LOG_I("task", t->id), LOG_I("count", p->skipped),
            LOG_S("reason", p->skipped_reason));
    if (p->next < 0)
        LOG(LOG_INFO, "task.schedule_ended", LOG_I("task", t->id));
    r->missed += p->missed, r->skipped += p->skipped;
}

/* Live runs of the claimed tasks whose overlap policy needs them (all but `allow`, the
 * default); *none is set when no task needs them and nothing was asked. */
static PGresult *live_runs(PGconn *pg, const PGresult *claimed, int *none, char *err, size_t len)
{
    struct strbuf ids = {0};
    for (int i = 0; i < PQntuples(claimed); i++)
        if (strcmp(PQgetvalue(claimed, i, 8), "allow") != 0)
            sb_elem(&ids, "%s", PQgetvalue(claimed, i, 0));
    *none = ids.len == 0;
    if (*none) {
        free(ids.s);
        return NULL;
    }
    const char *params[1] = {sb_array(&ids)};
    PGresult *r = PQexecParams(pg, sql_active_runs, 1, NULL, params, NULL, NULL, 0);
    free(ids.s);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        fail(err, len, "postgres: %s", PQerrorMessage(pg));
        PQclear(r);
        return NULL;
    }
    return r;
}

/* After the commit: the new runs into Redis, cancelled ones out. Failures are logged;
 * reconciliation repairs Redis from Postgres. */
static void to_redis(struct scheduler *s, PGresult *inserted, const struct batch *b, struct tick_result *r)
{
    const int n = PQntuples(inserted);
    struct queue_job *jobs = calloc((size_t)n + 1, sizeof *jobs);
    int64_t *ready = calloc((size_t)n + 1, sizeof *ready);
    struct queue_error qerr;
    if (jobs && ready) {
        for (int i = 0; i < n; i++) {
            jobs[i] = (struct queue_job){.id = i64(inserted, i, 0), .task_id = i64(inserted, i, 1),
                                         .priority = (int)i64(inserted, i, 2), .attempt = 1};
            ready[i] = i64(inserted, i, 3);
        }
        size_t added;
        const int64_t now = timefmt_now_ms();
        if (shards_enqueue_many(&s->shards, s->conn.redis, jobs, ready, (size_t)n, now, &added, &qerr) == 0) {
            r->enqueued += (int64_t)added;
            for (int i = 0; i < n; i++) /* delayed: when the pass must promote them */
                if (ready[i] > now && (r->next_delayed_ms < 0 || ready[i] < r->next_delayed_ms))
                    r->next_delayed_ms = ready[i];
        } else
            LOG(LOG_ERROR, "queue.enqueue_failed", LOG_I("runs", n), LOG_S("error", qerr.message),
                LOG_S("recovery", "reconciliation enqueues them"));
    }
    free(jobs);
    free(ready);
    for (size_t i = 0; i < b->cancel_count; i++)
        if (shards_cancel(&s->shards, s->conn.redis, b->cancel_list[i], &qerr) < 0)
            LOG(LOG_ERROR, "queue.cancel_failed", LOG_I("run", b->cancel_list[i]), LOG_S("error", qerr.message));
}

/* One transaction: claim a batch of due tasks, plan them, write runs and next_run_at. Returns
 * how many tasks it claimed (0: nothing due), or -1. */
/* Monotonic microseconds, for the per-phase timings of a batch (logged at debug level). */
static int64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Reads when the next task is due into r, inside the pass's last transaction (an idle
 * orchestrator's pass is then one transaction, not two). 0, or -1 with err. */
static int read_next_due(struct scheduler *s, struct tick_result *r, char *err, size_t len)
{
    PGresult *next = PQexec(s->conn.pg, sql_next_due);
    const int ok = PQresultStatus(next) == PGRES_TUPLES_OK;
    if (ok)
        r->next_due_ms = i64(next, 0, 0);
    else
        fail(err, len, "postgres: %s", PQerrorMessage(s->conn.pg));
    PQclear(next);
    return ok ? 0 : -1;
}

static int tick_batch(struct scheduler *s, struct batch *b, struct claim_cursor *cur, struct tick_result *r, char *err,
                      size_t len)
{
    int64_t t0 = mono_us(), t_claim = 0, t_plan = 0, t_insert = 0, t_write = 0, t_commit = 0;
    batch_reset(b);
    if (exec_ok(s->conn.pg, "BEGIN", err, len) || exec_ok(s->conn.pg, "SET LOCAL agentcron.quiet = 'on'", err, len))
        return -1;
    char limit[16], lookahead[16];
    snprintf(limit, sizeof limit, "%d", s->opt.batch);
    snprintf(lookahead, sizeof lookahead, "%d", s->opt.lookahead_ms);
    const char *claim_params[4] = {limit, lookahead, cur->at_us[0] ? cur->at_us : NULL, cur->id[0] ? cur->id : NULL};
    PGresult *claimed = PQexecParams(s->conn.pg, sql_claim_due, 4, NULL, claim_params, NULL, NULL, 0);
    PGresult *live = NULL, *inserted = NULL;
    int rc = -1;
    if (PQresultStatus(claimed) != PGRES_TUPLES_OK) {
        fail(err, len, "postgres: claiming due tasks: %s", PQerrorMessage(s->conn.pg));
        goto out;
    }
    const int n = PQntuples(claimed);
    if (n == 0) { /* the pass's last batch: when the next task is due, in this transaction */
        rc = read_next_due(s, r, err, len) || exec_ok(s->conn.pg, "COMMIT", err, len) ? -1 : 0;
        goto out;
    }
    int no_live_runs;
    if (!(live = live_runs(s->conn.pg, claimed, &no_live_runs, err, len)) && !no_live_runs)
        goto out;
    t_claim = mono_us();
    snprintf(cur->at_us, sizeof cur->at_us, "%s", PQgetvalue(claimed, n - 1, 11));
    snprintf(cur->id, sizeof cur->id, "%s", PQgetvalue(claimed, n - 1, 0));
    const int64_t now = i64(claimed, 0, 10);
    for (int i = 0; i < n; i++) {
        const struct due_task t = {
            .id = i64(claimed, i, 0), .user_id = i64(claimed, i, 1),
            .schedule = PQgetisnull(claimed, i, 2) ? NULL : PQgetvalue(claimed, i, 2),
            .timezone = PQgetvalue(claimed, i, 3), .next_run_at = i64(claimed, i, 4),
            .priority = (int)i64(claimed, i, 5), .misfire = PQgetvalue(claimed, i, 6),
            .catch_up_window_ms = i64(claimed, i, 7), .overlap = PQgetvalue(claimed, i, 8),
            .jitter_ms = i64(claimed, i, 9)};
        int64_t queued = 0, running = 0;
        const char *ids = NULL;
        for (int k = 0; live && k < PQntuples(live); k++) /* a handful of rows: tasks with live runs */
            if (i64(live, k, 0) == t.id)
                queued = i64(live, k, 1), running = i64(live, k, 2), ids = PQgetvalue(live, k, 3);
        plan_task(s, &t, now, queued, running, ids, b, r);
    }
    r->tasks += n;
    t_plan = mono_us();
    if (b->cancel_count) {
        const char *params[1] = {sb_array(&b->cancel_ids)};
        if (exec_params_ok(s->conn.pg, sql_cancel_queued, 1, params, "cancelling runs", err, len))
            goto out;
    }
    const char *run_params[6] = {sb_array(&b->run_task), sb_array(&b->run_user), sb_array(&b->run_slot),
                                 sb_array(&b->run_prio), sb_array(&b->run_ready), "schedule"};
    inserted = PQexecParams(s->conn.pg, sql_insert_runs, 6, NULL, run_params, NULL, NULL, 0);
    if (PQresultStatus(inserted) != PGRES_TUPLES_OK) {
        fail(err, len, "postgres: inserting runs: %s", PQerrorMessage(s->conn.pg));
        goto out;
    }
    t_insert = mono_us();
    const char *adv_params[10] = {sb_array(&b->adv_id),    sb_array(&b->adv_next),   sb_array(&b->adv_enabled),
                                  sb_array(&b->adv_missed), sb_array(&b->adv_skipped), sb_array(&b->gap_task),
                                  sb_array(&b->gap_first),  sb_array(&b->gap_last),  sb_array(&b->gap_count),
                                  sb_array(&b->gap_reason)};
    if (exec_params_ok(s->conn.pg, sql_advance_tasks, 10, adv_params, "advancing next_run_at", err, len))
        goto out;
    t_write = mono_us();
    if ((n < s->opt.batch && read_next_due(s, r, err, len)) || exec_ok(s->conn.pg, "COMMIT", err, len))
        goto out;
    t_commit = mono_us();
    r->runs += PQntuples(inserted);
    to_redis(s, inserted, b, r); /* enqueued_at: when Redis really received them */
    rc = n;
    LOG(LOG_DEBUG, "schedule.batch", LOG_I("tasks", n), LOG_I("claim_us", t_claim - t0), LOG_I("plan_us", t_plan - t_claim),
        LOG_I("insert_us", t_insert - t_plan), LOG_I("advance_us", t_write - t_insert), LOG_I("commit_us", t_commit - t_write), LOG_I("redis_us", mono_us() - t_commit));
out:
    if (rc < 0 && PQtransactionStatus(s->conn.pg) != PQTRANS_IDLE)
        PQclear(PQexec(s->conn.pg, "ROLLBACK"));
    PQclear(claimed);
    PQclear(live);
    PQclear(inserted);
    return rc;
}

int64_t scheduler_wake_ms(int64_t next_due_ms, int64_t now_ms, int lookahead_ms)
{
    return next_due_ms - lookahead_ms > now_ms ? next_due_ms - lookahead_ms : next_due_ms;
}

/* Jittered runs and runs readied ahead wait in the delayed set: promotes the due ones, learns
 * when the next one is (r->next_delayed_ms). 0, or -1 with err. */
static int promote_due(struct scheduler *s, struct tick_result *r, char *err, size_t len)
{
    struct queue_error qerr;
    if (shards_promote(&s->shards, s->conn.redis, timefmt_now_ms(), 10000, &r->next_delayed_ms, &qerr) < 0)
        return fail(err, len, "%s", qerr.message);
    return 0;
}

static int delayed_due(const struct tick_result *r)
{
    return r->next_delayed_ms >= 0 && r->next_delayed_ms <= timefmt_now_ms();
}

int scheduler_tick(struct scheduler *s, struct tick_result *r, char *err, size_t len)
{
    memset(r, 0, sizeof *r);
    r->next_due_ms = -1, r->next_delayed_ms = -1;
    if (connect_all(s, err, len))
        return -1;
    /* first, and between batches: the slots of runs readied ahead come while a long pass readies
     * more. A Redis failure does not stop the pass (reconciliation queues what it wrote). */
    char redis_err[256] = "";
    if (promote_due(s, r, redis_err, sizeof redis_err))
        r->next_delayed_ms = -1;
    /* Each batch resumes after the last task the one before it claimed. A pass that resumed
     * ends with a claim from the start, for what its cursor passed over: a task another
     * orchestrator held and let go, or one it advanced while a claim read it (the claim then
     * returns it at its new place, past tasks it has not reached). */
    struct claim_cursor cur = {"", ""};
    int n, resumed = 0;
    for (;;) {
        n = tick_batch(s, s->batch, &cur, r, err, len);
        if (n == s->opt.batch) {
            resumed = 1;
            if (delayed_due(r) && promote_due(s, r, redis_err, sizeof redis_err))
                r->next_delayed_ms = -1;
            continue;
        }
        if (n < 0 || !resumed)
            break;
        cur = (struct claim_cursor){"", ""}, resumed = 0;
    }
    if (n < 0)
        return -1;
    if (delayed_due(r) && promote_due(s, r, redis_err, sizeof redis_err))
        r->next_delayed_ms = -1;
    return redis_err[0] ? fail(err, len, "%s", redis_err) : 0;
}

int scheduler_backfill(struct scheduler *s, int64_t task_id, int64_t from_ms, int64_t to_ms,
                       struct backfill_result *r, char *err, size_t len)
{
    memset(r, 0, sizeof *r);
    if (connect_all(s, err, len))
        return -1;
    char id[24];
    snprintf(id, sizeof id, "%" PRId64, task_id);
    const char *params[1] = {id};
    PGresult *task = PQexecParams(s->conn.pg, sql_task_for_backfill, 1, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(task) != PGRES_TUPLES_OK || PQntuples(task) != 1 || PQgetisnull(task, 0, 1)) {
        if (PQresultStatus(task) != PGRES_TUPLES_OK)
            fail(err, len, "postgres: %s", PQerrorMessage(s->conn.pg));
        else if (PQntuples(task) != 1)
            fail(err, len, "task %s does not exist", id);
        else
            fail(err, len, "task %s has no schedule to backfill", id);
        PQclear(task);
        return -1;
    }
    const int64_t user = i64(task, 0, 0), priority = i64(task, 0, 3);
    struct cron_expr *expr = NULL;
    struct cron_error cerr;
    const struct cron_zone *zone = NULL;
    if (cron_parse(PQgetvalue(task, 0, 1), id, &expr, &cerr) != 0 || !(zone = zones_get(s->zones, PQgetvalue(task, 0, 2), &cerr))) {
        fail(err, len, "task %s: %s", id, cerr.message);
        PQclear(task);
        cron_free(expr);
        return -1;
    }
    PQclear(task);
    struct batch *b = s->batch;
    batch_reset(b);
    struct cron_fire f;
    for (int64_t t = from_ms - 1; cron_next(expr, zone, t, &f) == 0 && f.ms <= to_ms; t = f.ms) {
        if (++r->slots > BACKFILL_MAX_SLOTS) {
            cron_free(expr);
            return fail(err, len, "the range holds more than %d slots of task %s; backfill a narrower range",
                        BACKFILL_MAX_SLOTS, id);
        }
        sb_elem(&b->run_task, "%s", id), sb_elem(&b->run_user, "%" PRId64, user);
        sb_elem(&b->run_slot, "%" PRId64, f.ms), sb_elem(&b->run_prio, "%" PRId64, priority);
        sb_elem(&b->run_ready, "%" PRId64, f.ms);
    }
    cron_free(expr);
    if (r->slots == 0)
        return 0;
    const char *run_params[6] = {sb_array(&b->run_task), sb_array(&b->run_user), sb_array(&b->run_slot),
                                 sb_array(&b->run_prio), sb_array(&b->run_ready), "backfill"};
    PGresult *inserted = PQexecParams(s->conn.pg, sql_insert_runs, 6, NULL, run_params, NULL, NULL, 0);
    if (PQresultStatus(inserted) != PGRES_TUPLES_OK) {
        fail(err, len, "postgres: inserting runs: %s", PQerrorMessage(s->conn.pg));
        PQclear(inserted);
        return -1;
    }
    r->created = PQntuples(inserted);
    r->existing = r->slots - r->created;
    struct tick_result t = {0};
    to_redis(s, inserted, b, &t);
    r->enqueued = t.enqueued;
    PQclear(inserted);
    return 0;
}

int scheduler_reconcile(struct scheduler *s, struct reconcile_result *r, char *err, size_t len)
{
    memset(r, 0, sizeof *r);
    if (connect_all(s, err, len))
        return -1;
    if (exec_params_ok(s->conn.pg, sql_live_cleanup, 0, NULL, "removing ended runs from live_runs", err, len))
        return -1;
    const int64_t now = timefmt_now_ms();
    struct queue_error qerr;
    int64_t after = 0;
    enum { PAGE = RECONCILE_PAGE };
    struct queue_job *const jobs = s->page_jobs;
    int64_t *const ready = s->page_ready;
    for (;;) {
        char after_s[24], page_s[16];
        snprintf(after_s, sizeof after_s, "%" PRId64, after);
        snprintf(page_s, sizeof page_s, "%d", PAGE);
        const char *params[2] = {after_s, page_s};
        PGresult *q = PQexecParams(s->conn.pg, sql_queued_runs, 2, NULL, params, NULL, NULL, 0);
        if (PQresultStatus(q) != PGRES_TUPLES_OK) {
            fail(err, len, "postgres: reading queued runs: %s", PQerrorMessage(s->conn.pg));
            PQclear(q);
            return -1;
        }
        const int n = PQntuples(q);
        for (int i = 0; i < n; i++) {
            jobs[i] = (struct queue_job){.id = i64(q, i, 0), .task_id = i64(q, i, 1), .priority = (int)i64(q, i, 2),
                                         .attempt = 1};
            ready[i] = i64(q, i, 3);
        }
        PQclear(q);
        size_t added = 0;
        if (n && shards_enqueue_absent(&s->shards, s->conn.redis, jobs, ready, (size_t)n, now, &added, &qerr) != 0)
            return fail(err, len, "%s", qerr.message);
        r->queued_checked += n, r->reenqueued += (int64_t)added;
        if (n < PAGE)
            break;
        after = jobs[n - 1].id;
    }
    int64_t ids[1000];
    int n;
    while ((n = shards_requeue_expired(&s->shards, s->conn.redis, now, ids, 1000, &qerr)) > 0) {
        r->leases_requeued += n;
        for (int i = 0; i < n; i++)
            LOG(LOG_WARN, "run.lease_expired", LOG_I("run", ids[i]), LOG_S("action", "requeued"));
        if (n < 1000)
            break;
    }
    if (n < 0)
        return fail(err, len, "%s", qerr.message);
    int64_t next;
    const int promoted = shards_promote(&s->shards, s->conn.redis, now, 10000, &next, &qerr);
    if (promoted < 0)
        return fail(err, len, "%s", qerr.message);
    r->promoted = promoted;
    /* the task API's idempotency keys live 24 hours (api_tasks.c) */
    PGresult *q = PQexec(s->conn.pg, sql_expire_idempotency_keys);
    const int ok = PQresultStatus(q) == PGRES_COMMAND_OK;
    r->keys_expired = ok ? strtoll(PQcmdTuples(q), NULL, 10) : 0;
    if (!ok)
        fail(err, len, "postgres: expiring idempotency keys: %s", PQerrorMessage(s->conn.pg));
    PQclear(q);
    return ok ? 0 : -1;
}

int scheduler_status(struct scheduler *s, struct status_numbers *n, char *err, size_t len)
{
    memset(n, 0, sizeof *n);
    if (connect_all(s, err, len))
        return -1;
    return health_numbers(s->conn.pg, s->conn.redis, n, err, len);
}

void scheduler_unpublish_status(struct scheduler *s, const char *instance)
{
    char err[256]; /* Redis alone: a Postgres that is down must not hold up a stop */
    if (connpair_ensure_redis(&s->conn, 2000, err, sizeof err) != 0)
        return;
    freeReplyObject(redisconn_command(s->conn.redis, "DEL agentcron:{default}:status:orchestrator:%s", instance));
    connpair_redis_failed(&s->conn);
}

int scheduler_publish_status(struct scheduler *s, const char *instance, const char *json, int ttl_s, char *err,
                             size_t len)
{
    if (connect_all(s, err, len))
        return -1;
    redisReply *r = redisconn_command(s->conn.redis, "SET agentcron:{default}:status:orchestrator:%s %s EX %d", instance, json, ttl_s);
    const int ok = r && r->type != REDIS_REPLY_ERROR;
    if (!ok)
        fail(err, len, "redis: %s", r ? r->str : s->conn.redis->errstr);
    freeReplyObject(r);
    return ok ? 0 : -1;
}
