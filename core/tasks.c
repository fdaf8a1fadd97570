/* SPDX-License-Identifier: MIT */
/* Writing tasks (tasks.h). An edit or a status change reads the task FOR UPDATE, decides the
 * schedule from what it found, and writes it back in the same transaction, so two editors never
 * leave a schedule with the other's next_run_at. A create takes its id from the sequence first:
 * the first slot depends on it (the H hash key), and the row is then written whole in one
 * statement. Every statement has "($2 = 0 OR user_id = $2)": another user's task is not found. */
#include "tasks.h"

#include <inttypes.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plan.h"
#include "runctl.h"

static const char sql_next_id[] = "SELECT nextval(pg_get_serial_sequence('tasks', 'id'))";

static const char sql_insert[] =
    "INSERT INTO tasks (id, user_id, title, goal, agent_type, agent_config, priority, max_attempts, timeout_ms,"
    " misfire_policy, overlap_policy, jitter_ms, schedule, timezone, next_run_at, schedule_enabled, source,"
    " retention_days)"
    " OVERRIDING SYSTEM VALUE VALUES ($1::bigint, $2::bigint, $3, coalesce($4, ''), $5, coalesce($6::jsonb, '{}'),"
    " coalesce($7::smallint, 3), coalesce($8::int, 3), coalesce($9::int, 300000), coalesce($10, 'coalesce'),"
    " coalesce($11, 'allow'), coalesce($12::int, 0), $13, coalesce($14, 'UTC'),"
    " CASE WHEN $15::bigint >= 0 THEN to_timestamp($15::bigint / 1000.0) END, $16::boolean, $17, nullif($18::int, 0))";

static const char sql_lock[] =
    "SELECT schedule, timezone, schedule_enabled FROM tasks"
    " WHERE id = $1::bigint AND ($2::bigint = 0 OR user_id = $2::bigint) AND status <> 'deleted' FOR UPDATE";

/* $1 task id, locked. The runs the orchestrator readied ahead of their slot (SCHEDULE_LOOKAHEAD_MS)
 * are taken back before a change: they were planned from what the change replaces. The task is
 * due again at the earliest of their slots, so the orchestrator plans it anew (or the change sets
 * a new next_run_at). Their jobs stay in the queue until the slot, then find no run: dropped. */
static const char sql_unready[] =
    "WITH early AS (DELETE FROM task_runs WHERE task_id = $1::bigint AND status = 'queued' AND trigger = 'schedule'"
    " AND scheduled_for > clock_timestamp() RETURNING scheduled_for)"
    " UPDATE tasks SET next_run_at = least(next_run_at, (SELECT min(scheduled_for) FROM early)), schedule_enabled = true"
    " WHERE id = $1::bigint AND EXISTS (SELECT 1 FROM early)";

/* $13 says whether the schedule changes; then schedule, zone, next slot (-1: none), enabled. */
static const char sql_edit[] =
    "UPDATE tasks SET title = coalesce($3, title), goal = coalesce($4, goal), agent_type = coalesce($5, agent_type),"
    " agent_config = coalesce($6::jsonb, agent_config), priority = coalesce($7::smallint, priority),"
    " max_attempts = coalesce($8::int, max_attempts), timeout_ms = coalesce($9::int, timeout_ms),"
    " misfire_policy = coalesce($10, misfire_policy), overlap_policy = coalesce($11, overlap_policy),"
    " jitter_ms = coalesce($12::int, jitter_ms),"
    " schedule = CASE WHEN $13::boolean THEN $14 ELSE schedule END,"
    " timezone = CASE WHEN $13::boolean THEN $15 ELSE timezone END,"
    " next_run_at = CASE WHEN NOT $13::boolean THEN next_run_at"
    "   WHEN $16::bigint >= 0 THEN to_timestamp($16::bigint / 1000.0) END,"
    " schedule_enabled = CASE WHEN $13::boolean THEN $17::boolean ELSE schedule_enabled END,"
    " retention_days = CASE WHEN $18::int IS NULL THEN retention_days ELSE nullif($18::int, 0) END,"
    " updated_at = now() WHERE id = $1::bigint AND ($2::bigint = 0 OR user_id = $2::bigint)";

/* Resuming a paused task records the slots it slept through in the slot ledger (those before
 * the next slot it fires at, from the one it was waiting for when paused). */
static const char sql_status[] =
    "WITH paused AS (INSERT INTO slot_gaps (task_id, first_slot, last_slot, reason)"
    " SELECT id, next_run_at, to_timestamp($4::bigint / 1000.0) - interval '1 millisecond', 'paused' FROM tasks"
    " WHERE id = $1::bigint AND status = 'paused' AND $3 = 'active' AND schedule_enabled AND $4::bigint >= 0"
    " AND next_run_at < least(now(), to_timestamp($4::bigint / 1000.0)))"
    " UPDATE tasks SET status = $3, next_run_at = CASE WHEN $4::bigint >= 0 THEN to_timestamp($4::bigint / 1000.0)"
    " ELSE next_run_at END, updated_at = now() WHERE id = $1::bigint AND ($2::bigint = 0 OR user_id = $2::bigint)";

static const char sql_delete[] =
    "UPDATE tasks SET status = 'deleted', schedule_enabled = false, updated_at = now()"
    " WHERE id = $1::bigint AND ($2::bigint = 0 OR user_id = $2::bigint) AND status <> 'deleted' RETURNING id";

static int fail(struct taskdef_error *err, const char *field, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(struct taskdef_error *err, const char *field, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    snprintf(err->field, sizeof err->field, "%s", field);
    return AC_EINVAL;
}

/* A failed statement: a value Postgres refused (SQLSTATE classes 22 and 23: data, constraints)
 * is the caller's to fix; anything else is Postgres being unavailable. Clears r. */
static int db_fail(PGconn *pg, PGresult *r, const char *what, struct taskdef_error *err)
{
    const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    const int refused = state && (!strncmp(state, "22", 2) || !strncmp(state, "23", 2));
    char why[400];
    snprintf(why, sizeof why, "%s", r ? PQresultErrorMessage(r) : PQerrorMessage(pg));
    why[strcspn(why, "\n")] = 0;
    PQclear(r);
    snprintf(err->field, sizeof err->field, "%s", "");
    snprintf(err->message, sizeof err->message, "%s: %s", what, why[0] ? why : "no connection to Postgres");
    return refused ? AC_EINVAL : AC_EIO;
}

/* Opens a transaction unless the caller has one open; *own says which. AC_EIO on failure. */
static int begin(PGconn *pg, int *own, struct taskdef_error *err)
{
    *own = PQtransactionStatus(pg) == PQTRANS_IDLE;
    if (!*own)
        return 0;
    PGresult *r = PQexec(pg, "BEGIN");
    if (PQresultStatus(r) != PGRES_COMMAND_OK)
        return db_fail(pg, r, "starting a transaction", err);
    PQclear(r);
    return 0;
}

/* Ends what begin opened: commits after rc == 0 (a failed commit is AC_EIO), else rolls back.
 * A caller's own transaction is left to the caller. */
static int end(PGconn *pg, int own, int rc, struct taskdef_error *err)
{
    if (!own)
        return rc;
    PGresult *r = PQexec(pg, rc == 0 ? "COMMIT" : "ROLLBACK");
    if (rc == 0 && PQresultStatus(r) != PGRES_COMMAND_OK)
        return db_fail(pg, r, "committing", err);
    PQclear(r);
    return rc;
}

static const char *num(char buf[24], int64_t v, int64_t unset)
{
    if (v == unset)
        return NULL;
    snprintf(buf, 24, "%" PRId64, v);
    return buf;
}

/* Parameters $3-$12 of the insert and the edit, in the order both take them. */
struct field_params {
    const char *p[10];
    char pr[24], att[24], tmo[24], jit[24];
};

static void field_params(const struct task_fields *f, struct field_params *fp)
{
    const char *p[10] = {f->title, f->goal, f->agent, f->config, num(fp->pr, f->priority, 0),
                         num(fp->att, f->max_attempts, -1), num(fp->tmo, f->timeout_ms, -1), f->misfire, f->overlap,
                         num(fp->jit, f->jitter_ms, -1)};
    memcpy(fp->p, p, sizeof p);
}

int tasks_check(const struct task_fields *f, int64_t now_ms, struct taskdef_error *err)
{
    char zone[128];
    int64_t next;
    if (f->title && (!f->title[0] || strlen(f->title) > 200))
        return fail(err, "title", "title must be 1-200 characters (it has %zu)", strlen(f->title));
    if (f->goal && strlen(f->goal) > 20000)
        return fail(err, "goal", "goal must be at most 20000 characters (it has %zu)", strlen(f->goal));
    if (f->agent && (!f->agent[0] || strlen(f->agent) > 100))
        return fail(err, "agent", "agent must be a name of 1-100 characters");
    if (f->config) {
        json_t *doc = json_loads(f->config, 0, NULL);
        const int object = json_is_object(doc);
        json_decref(doc);
        if (!object)
            return fail(err, "config", "config must be a JSON object, e.g. {\"path\": \"/api/cron/daily\"}");
    }
    if (f->misfire && plan_misfire_policy(f->misfire) < 0)
        return fail(err, "misfire", "misfire policy \"%.40s\" must be coalesce, skip or catch_up", f->misfire);
    if (f->overlap && plan_overlap_policy(f->overlap) < 0)
        return fail(err, "overlap", "overlap policy \"%.40s\" must be allow, skip, queue_one or cancel_previous",
                    f->overlap);
    if (f->priority && (f->priority < 1 || f->priority > 4))
        return fail(err, "priority", "priority must be urgent, high, normal or low (1-4)");
    if (f->max_attempts != -1 && (f->max_attempts < 1 || f->max_attempts > 100))
        return fail(err, "maxAttempts", "max attempts %" PRId64 " must be from 1 to 100", f->max_attempts);
    if (f->timeout_ms != -1 && (f->timeout_ms < 1000 || f->timeout_ms > 86400000))
        return fail(err, "timeoutMs", "timeout %" PRId64 " ms must be from 1000 to 86400000 (24 h)", f->timeout_ms);
    if (f->jitter_ms != -1 && (f->jitter_ms < 0 || f->jitter_ms > 3600000))
        return fail(err, "jitterMs", "jitter %" PRId64 " ms must be from 0 to 3600000 (1 h)", f->jitter_ms);
    if (f->retention_days != -1 && (f->retention_days < 0 || f->retention_days > 3650))
        return fail(err, "retentionDays", "retention %" PRId64 " days must be from 1 to 3650 (0: RUN_RETENTION_DAYS)",
                    f->retention_days);
    if (f->cron && f->no_cron)
        return fail(err, "schedule", "a new schedule and removing the schedule contradict each other");
    if (f->cron) /* a provisional hash key: the task's own one decides the slots */
        return taskdef_schedule(f->cron, f->timezone, 1, now_ms, zone, &next, err) == 0 ? 0 : AC_EINVAL;
    if (f->timezone)
        return taskdef_zone(f->timezone, zone, err) == 0 ? 0 : AC_EINVAL;
    return 0;
}

int tasks_create(struct pg_conn *pg, int64_t user_id, const struct task_fields *f, int64_t now_ms, int64_t *id,
                 int64_t *next_ms, struct taskdef_error *err)
{
    *id = *next_ms = -1;
    if (!f->title || !f->agent)
        return fail(err, f->title ? "agent" : "title", "a task needs a title and an agent");
    if (f->timezone && !f->cron)
        return fail(err, "timezone", "a timezone goes with a schedule: give the cron expression too");
    int rc = tasks_check(f, now_ms, err);
    if (rc)
        return rc;
    PGresult *r = PQexec(pg, sql_next_id);
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1)
        return db_fail(pg, r, "creating the task", err);
    const int64_t new_id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    char zone[128] = "UTC";
    int64_t next = -1;
    if (f->cron && taskdef_schedule(f->cron, f->timezone, new_id, now_ms, zone, &next, err) != 0)
        return AC_EINVAL;
    char ids[24], users[24], nx[24];
    struct field_params fp;
    field_params(f, &fp);
    char keep[24];
    const char *params[18] = {num(ids, new_id, -1), num(users, user_id, -1)};
    params[17] = num(keep, f->retention_days, -1);
    memcpy(params + 2, fp.p, sizeof fp.p);
    params[12] = f->cron, params[13] = zone, params[14] = num(nx, next, -2);
    params[15] = f->cron && f->enabled != 0 ? "true" : "false", params[16] = f->source;
    r = PQexecParams(pg, sql_insert, 18, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
        if (state && !strcmp(state, "23503")) { /* the foreign key: no such user */
            PQclear(r);
            return fail(err, "user", "no user %" PRId64, user_id);
        }
        return db_fail(pg, r, "creating the task", err);
    }
    PQclear(r);
    *id = new_id, *next_ms = f->cron ? next : -1;
    return 0;
}

/* The schedule the task had, read under the row lock. */
struct old_schedule {
    char cron[1025], zone[128]; /* the column allows 128 bytes */
    int has_cron, enabled;
};

/* Locks task id for this user, reads its schedule and takes back its runs readied ahead (see
 * sql_unready). 0, TASKS_NOT_FOUND or AC_EIO. */
static int lock_task(PGconn *pg, int64_t user_id, int64_t id, struct old_schedule *old, struct taskdef_error *err)
{
    char ids[24], users[24];
    const char *params[2] = {num(ids, id, -1), num(users, user_id, -1)};
    PGresult *r = PQexecParams(pg, sql_lock, 2, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        return db_fail(pg, r, "reading the task", err);
    const int found = PQntuples(r) == 1;
    if (found) {
        old->has_cron = !PQgetisnull(r, 0, 0);
        snprintf(old->cron, sizeof old->cron, "%s", PQgetvalue(r, 0, 0));
        snprintf(old->zone, sizeof old->zone, "%s", PQgetvalue(r, 0, 1));
        old->enabled = PQgetvalue(r, 0, 2)[0] == 't';
    }
    PQclear(r);
    if (!found)
        return fail(err, "", "no task %" PRId64 " (or it is deleted)", id), TASKS_NOT_FOUND;
    r = PQexecParams(pg, sql_unready, 1, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_COMMAND_OK)
        return db_fail(pg, r, "taking back the runs readied ahead of their slot", err);
    PQclear(r);
    return 0;
}

/* The schedule an edit leaves: cron (NULL: none), its zone, whether it fires, the next slot. */
struct new_schedule {
    const char *cron;
    char zone[128];
    int enabled;
    int64_t next;
};

static int decide_schedule(int64_t id, const struct task_fields *f, const struct old_schedule *old, int64_t now_ms,
                           struct new_schedule *s, struct taskdef_error *err)
{
    s->cron = f->no_cron ? NULL : f->cron ? f->cron : old->has_cron ? old->cron : NULL;
    if (!s->cron && (f->enabled == 1 || f->timezone))
        return fail(err, "cron", "task %" PRId64 " has no schedule: give the cron expression", id);
    s->enabled = s->cron && (f->enabled == 0 ? 0 : f->enabled == 1 || f->cron ? 1 : old->enabled);
    const char *zone = f->timezone ? f->timezone : f->cron ? NULL : old->zone;
    s->next = -1;
    snprintf(s->zone, sizeof s->zone, "%s", old->zone);
    if (s->cron && taskdef_schedule(s->cron, zone, id, now_ms, s->zone, &s->next, err) != 0)
        return AC_EINVAL;
    return 0;
}

static int edit_locked(PGconn *pg, int64_t user_id, int64_t id, const struct task_fields *f, int64_t now_ms,
                       struct taskdef_error *err)
{
    struct old_schedule old;
    int rc = lock_task(pg, user_id, id, &old, err);
    if (rc)
        return rc;
    const int changes = f->cron || f->timezone || f->no_cron || f->enabled >= 0;
    struct new_schedule s = {0};
    if (changes && (rc = decide_schedule(id, f, &old, now_ms, &s, err)) != 0)
        return rc;
    char ids[24], users[24], nx[24];
    struct field_params fp;
    field_params(f, &fp);
    char keep[24];
    const char *params[18] = {num(ids, id, -1), num(users, user_id, -1)};
    params[17] = num(keep, f->retention_days, -1);
    memcpy(params + 2, fp.p, sizeof fp.p);
    params[12] = changes ? "true" : "false", params[13] = s.cron, params[14] = s.zone;
    params[15] = num(nx, s.next, -2), params[16] = s.enabled ? "true" : "false";
    PGresult *r = PQexecParams(pg, sql_edit, 18, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_COMMAND_OK)
        return db_fail(pg, r, "editing the task", err);
    PQclear(r);
    return 0;
}

int tasks_edit(struct pg_conn *pg, int64_t user_id, int64_t id, const struct task_fields *f, int64_t now_ms,
               struct taskdef_error *err)
{
    int own, rc = tasks_check(f, now_ms, err);
    if (rc || (rc = begin(pg, &own, err)) != 0)
        return rc;
    return end(pg, own, edit_locked(pg, user_id, id, f, now_ms, err), err);
}

static int set_status_locked(PGconn *pg, int64_t user_id, int64_t id, const char *status, int64_t now_ms,
                             struct taskdef_error *err)
{
    struct old_schedule old;
    int rc = lock_task(pg, user_id, id, &old, err);
    if (rc)
        return rc;
    char zone[128], ids[24], users[24], nx[24];
    int64_t next = -1; /* resuming fires from the next slot, not the ones missed while paused */
    if (!strcmp(status, "active") && old.has_cron && old.enabled &&
        taskdef_schedule(old.cron, old.zone, id, now_ms, zone, &next, err) != 0)
        return AC_EINVAL;
    const char *params[4] = {num(ids, id, -1), num(users, user_id, -1), status, num(nx, next, -2)};
    PGresult *r = PQexecParams(pg, sql_status, 4, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_COMMAND_OK)
        return db_fail(pg, r, "changing the task's status", err);
    PQclear(r);
    return 0;
}

int tasks_set_status(struct pg_conn *pg, int64_t user_id, int64_t id, const char *status, int64_t now_ms,
                     struct taskdef_error *err)
{
    if (strcmp(status, "active") != 0 && strcmp(status, "paused") != 0)
        return fail(err, "status", "status \"%.20s\" must be active or paused (tasks_delete deletes)", status);
    int own, rc = begin(pg, &own, err);
    if (rc)
        return rc;
    return end(pg, own, set_status_locked(pg, user_id, id, status, now_ms, err), err);
}

int tasks_delete(struct pg_conn *pg, struct redisContext *redis, int64_t user_id, int64_t id, int *cancelled,
                 int *stopping, struct taskdef_error *err)
{
    *cancelled = *stopping = 0;
    err->field[0] = err->message[0] = 0;
    char ids[24], users[24];
    const char *params[2] = {num(ids, id, -1), num(users, user_id, -1)};
    PGresult *r = PQexecParams(pg, sql_delete, 2, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        return db_fail(pg, r, "deleting the task", err);
    const int found = PQntuples(r) == 1;
    PQclear(r);
    if (!found)
        return fail(err, "", "no task %" PRId64 " (or it is deleted)", id), TASKS_NOT_FOUND;
    char why[400];
    if (runctl_cancel_task(pg, redis, id, user_id, cancelled, stopping, why, sizeof why) != 0)
        snprintf(err->message, sizeof err->message, "task %" PRId64 " deleted, but cancelling its runs failed: %s", id,
                 why);
    return 0;
}
