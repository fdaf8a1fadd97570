/* SPDX-License-Identifier: MIT */
/* Reading the run history (history.h). Lists are paged by (scheduled_for, id), newest first,
 * so a page costs the same at any depth; each filter has an index (migrations/0007). */
#include "history.h"
#include "steps.h"

#include <ctype.h>
#include <stdarg.h>
#include <inttypes.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cronparse.h"
#include "errors.h"
#include "timefmt.h"

#define PG(c) ((PGconn *)(c))

static int fail(char *err, size_t len, int code, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int fail(char *err, size_t len, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, len, fmt, ap);
    va_end(ap);
    return code;
}

static int db_fail(PGresult *r, const char *doing, char *err, size_t len)
{
    snprintf(err, len, "postgres: %s: %s", doing, PQresultErrorMessage(r));
    err[strcspn(err, "\n")] = 0;
    PQclear(r);
    return AC_EIO;
}

static int64_t cell(const PGresult *r, int row, int col)
{
    return strtoll(PQgetvalue(r, row, col), NULL, 10);
}

static json_t *opt_text(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? json_null() : json_string(PQgetvalue(r, row, col));
}

static json_t *opt_int(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? json_null() : json_integer(cell(r, row, col));
}

/* A time in ms as RFC 3339 UTC, or null for NULL. */
static json_t *opt_time(const PGresult *r, int row, int col)
{
    char buf[TIMEFMT_RFC3339_MAX];
    if (PQgetisnull(r, row, col))
        return json_null();
    timefmt_rfc3339(cell(r, row, col), 0, 1, buf);
    return json_string(buf);
}

static const char *num(char buf[24], int64_t v)
{
    snprintf(buf, 24, "%" PRId64, v);
    return buf;
}

/* ---- one run ---- */

#define MS(col) "(extract(epoch FROM " col ") * 1000)::bigint"

/* The columns of a run, in the order run_json reads them, output and stderr as out. */
#define RUN_SELECT(out)                                                                                             \
    "SELECT r.id, r.task_id, t.title, r.user_id, u.email, r.status, r.trigger, r.priority, r.attempt, t.max_attempts," \
    " " MS("r.scheduled_for") ", " MS("r.enqueued_at") ", " MS("r.started_at") ", " MS("r.finished_at") ","        \
    " r.prompt_tokens, r.completion_tokens, r.credits_charged, r.credits_reserved, r.worker_id, r.error, " out ","   \
    " coalesce(r.agent, t.agent_type), (extract(epoch FROM r.scheduled_for) * 1000000)::bigint"                       \
    " FROM task_runs r JOIN tasks t ON t.id = r.task_id JOIN users u ON u.id = r.user_id"
static const char sql_run_listed[] = RUN_SELECT("NULL, NULL"); /* lists leave out output and stderr */
static const char sql_run_whole[] = RUN_SELECT("r.output, r.stderr_tail");

enum { C_ID, C_TASK, C_TITLE, C_USER, C_EMAIL, C_STATUS, C_TRIGGER, C_PRIO, C_ATTEMPT, C_MAX, C_SLOT, C_ENQ, C_START,
       C_FIN, C_PT, C_CT, C_CREDITS, C_RESERVED, C_WORKER, C_ERROR, C_OUTPUT, C_STDERR, C_AGENT, C_SLOT_US };

static json_t *run_json(const PGresult *r, int i, int full)
{
    json_t *o = json_object();
    json_object_set_new(o, "id", json_integer(cell(r, i, C_ID)));
    json_object_set_new(o, "task", json_integer(cell(r, i, C_TASK)));
    json_object_set_new(o, "title", json_string(PQgetvalue(r, i, C_TITLE)));
    json_object_set_new(o, "agent", json_string(PQgetvalue(r, i, C_AGENT)));
    json_object_set_new(o, "user", json_integer(cell(r, i, C_USER)));
    json_object_set_new(o, "email", json_string(PQgetvalue(r, i, C_EMAIL)));
    json_object_set_new(o, "status", json_string(PQgetvalue(r, i, C_STATUS)));
    json_object_set_new(o, "trigger", json_string(PQgetvalue(r, i, C_TRIGGER)));
    json_object_set_new(o, "priority", json_integer(cell(r, i, C_PRIO)));
    json_object_set_new(o, "attempt", json_integer(cell(r, i, C_ATTEMPT)));
    json_object_set_new(o, "maxAttempts", json_integer(cell(r, i, C_MAX)));
    json_object_set_new(o, "scheduledFor", opt_time(r, i, C_SLOT));
    json_object_set_new(o, "enqueuedAt", opt_time(r, i, C_ENQ));
    json_object_set_new(o, "startedAt", opt_time(r, i, C_START));
    json_object_set_new(o, "finishedAt", opt_time(r, i, C_FIN));
    const int timed = !PQgetisnull(r, i, C_START) && !PQgetisnull(r, i, C_FIN);
    json_object_set_new(o, "durationMs", timed ? json_integer(cell(r, i, C_FIN) - cell(r, i, C_START)) : json_null());
    json_object_set_new(o, "promptTokens", json_integer(cell(r, i, C_PT)));
    json_object_set_new(o, "completionTokens", json_integer(cell(r, i, C_CT)));
    json_object_set_new(o, "credits", json_integer(cell(r, i, C_CREDITS)));
    json_object_set_new(o, "creditsReserved", json_integer(cell(r, i, C_RESERVED)));
    json_object_set_new(o, "worker", opt_text(r, i, C_WORKER));
    json_object_set_new(o, "error", opt_text(r, i, C_ERROR));
    if (full) {
        json_object_set_new(o, "output", opt_text(r, i, C_OUTPUT));
        json_object_set_new(o, "stderr", opt_text(r, i, C_STDERR));
    }
    return o;
}

/* ---- lists ---- */

static int is_one_of(const char *v, const char *const *set)
{
    for (; *set; set++)
        if (!strcmp(v, *set))
            return 1;
    return 0;
}

/* "<slot µs>.<id>" */
static int parse_cursor(const char *c, int64_t *slot_us, int64_t *id)
{
    char *end;
    if (!c[0] || !(isdigit((unsigned char)c[0]) || c[0] == '-'))
        return -1;
    *slot_us = strtoll(c, &end, 10);
    if (*end != '.' || !isdigit((unsigned char)end[1]))
        return -1;
    *id = strtoll(end + 1, &end, 10);
    return *end || *id <= 0 ? -1 : 0;
}

/* The id of the user a filter names (email or id); 0 none such, -1 error. */
static int64_t user_named(PGconn *pg, const char *user, char *err, size_t len)
{
    const char *params[1] = {user};
    PGresult *r = PQexecParams(pg, "SELECT id FROM users WHERE email = $1 OR ($1 ~ '^[0-9]{1,18}$' AND id = $1::bigint)",
                               1, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        return db_fail(r, "finding the user", err, len), -1;
    const int64_t id = PQntuples(r) ? cell(r, 0, 0) : 0;
    PQclear(r);
    return id;
}

/* What a status filter implies that an index can serve (no index of task_runs names status or
 * finished_at: the worker's writes are HOT updates, migrations/0007 and 0013): the live runs are in
 * live_runs, the runs that ended without success carry an error. */
static const char *status_index_hint(const char *status)
{
    if (!status || !strcmp(status, "succeeded"))
        return "";
    if (!strcmp(status, "queued") || !strcmp(status, "running") || !strcmp(status, "retrying"))
        return " AND r.id IN (SELECT run_id FROM live_runs)";
    return " AND r.error IS NOT NULL"; /* task_runs_unsuccessful, task_runs_user_unsuccessful */
}

int history_list(struct pg_conn *conn, int64_t scope, const struct history_filter *f, json_t **out, char *err,
                 size_t len)
{
    static const char *const statuses[] = {"queued",    "running",   "retrying", "succeeded", "failed", "timed_out",
                                           "cancelled", "insufficient_credits", NULL};
    static const char *const triggers[] = {"schedule", "backfill", "manual", "api", NULL};
    PGconn *pg = PG(conn);
    *out = NULL;
    if (f->status && !is_one_of(f->status, statuses))
        return fail(err, len, AC_EINVAL, "status \"%.40s\" is not a run status (queued, running, retrying, succeeded,"
                    " failed, timed_out, cancelled, insufficient_credits)", f->status);
    if (f->trigger && !is_one_of(f->trigger, triggers))
        return fail(err, len, AC_EINVAL, "trigger \"%.40s\" is not a trigger (schedule, backfill, manual, api)",
                    f->trigger);
    if (f->limit < 0 || f->limit > HISTORY_PAGE_MAX)
        return fail(err, len, AC_EINVAL, "limit %d must be 1-%d", f->limit, HISTORY_PAGE_MAX);
    int64_t cur_slot = 0, cur_id = 0, user = 0;
    if (f->cursor && parse_cursor(f->cursor, &cur_slot, &cur_id) != 0)
        return fail(err, len, AC_EINVAL, "cursor \"%.40s\" is not one this API gave (pass `next` of the page before)",
                    f->cursor);
    if (f->user && (user = user_named(pg, f->user, err, len)) <= 0)
        return user < 0 ? AC_EIO : fail(err, len, AC_EINVAL, "user \"%.100s\": no such user (an email or an id)", f->user);
    const int limit = f->limit ? f->limit : 50;
    char sql[2048];
    const int n_sql = snprintf(sql, sizeof sql,
             "%s WHERE ($1::bigint = 0 OR r.user_id = $1::bigint) AND ($2::bigint IS NULL OR r.task_id = $2::bigint)"
             " AND ($3::bigint IS NULL OR r.user_id = $3::bigint) AND ($4::text IS NULL OR r.status = $4)%s"
             " AND ($5::text IS NULL OR r.agent = $5) AND ($6::text IS NULL OR r.trigger = $6)"
             " AND ($7::bigint IS NULL OR r.scheduled_for >= to_timestamp($7::bigint / 1000.0))"
             " AND ($8::bigint IS NULL OR r.scheduled_for <= to_timestamp($8::bigint / 1000.0))"
             " AND ($9::bigint IS NULL OR (r.scheduled_for, r.id) <"
             " (timestamptz 'epoch' + $9::bigint * interval '1 microsecond', $10::bigint))"
             " ORDER BY r.scheduled_for DESC, r.id DESC LIMIT $11::int",
             sql_run_listed, status_index_hint(f->status));
    if (n_sql < 0 || (size_t)n_sql >= sizeof sql)
        return fail(err, len, AC_EFAIL, "the run list's statement does not fit its buffer");
    char scope_s[24], task_s[24], user_s[24], since_s[24], until_s[24], slot_s[24], id_s[24], lim_s[24];
    const char *params[11] = {num(scope_s, scope),
                              f->task_id ? num(task_s, f->task_id) : NULL,
                              f->user ? num(user_s, user) : NULL,
                              f->status,
                              f->agent,
                              f->trigger,
                              f->since_ms ? num(since_s, f->since_ms) : NULL,
                              f->until_ms ? num(until_s, f->until_ms) : NULL,
                              f->cursor ? num(slot_s, cur_slot) : NULL,
                              f->cursor ? num(id_s, cur_id) : NULL,
                              num(lim_s, limit + 1)};
    PGresult *r = PQexecParams(pg, sql, 11, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        return db_fail(r, "listing runs", err, len);
    const int n = PQntuples(r) > limit ? limit : PQntuples(r);
    json_t *runs = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(runs, run_json(r, i, 0));
    json_t *next = json_null();
    if (PQntuples(r) > limit) {
        char c[64];
        snprintf(c, sizeof c, "%s.%s", PQgetvalue(r, n - 1, C_SLOT_US), PQgetvalue(r, n - 1, C_ID));
        next = json_string(c);
    }
    PQclear(r);
    *out = json_pack("{s:o, s:o}", "runs", runs, "next", next);
    return 0;
}

int history_select(struct pg_conn *conn, const char *condition, int nparams, const char *const *params, json_t **out,
                   char *err, size_t len)
{
    char *sql = NULL;
    *out = NULL;
    if (asprintf(&sql, "%s WHERE %s", sql_run_whole, condition) < 0)
        return fail(err, len, AC_ENOMEM, "out of memory");
    PGresult *r = PQexecParams(PG(conn), sql, nparams, NULL, params, NULL, NULL, 0);
    free(sql);
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        return db_fail(r, "reading runs", err, len);
    json_t *runs = json_array();
    for (int i = 0; i < PQntuples(r); i++)
        json_array_append_new(runs, run_json(r, i, 1));
    PQclear(r);
    *out = runs;
    return 0;
}

/* ---- one run, its attempts, their logs ---- */

static const char sql_attempts[] =
    "SELECT attempt, worker_id, " MS("started_at") ", " MS("finished_at") ", outcome, error, prompt_tokens,"
    " completion_tokens, " MS("retry_at") ", retry_reason, http_status, exit_code, exit_signal, duration_ms,"
    " output_tail, stderr_tail, id"
    " FROM run_attempts WHERE run_id = $1::bigint ORDER BY attempt, id";

static json_t *attempt_json(const PGresult *r, int i)
{
    json_t *o = json_object();
    json_object_set_new(o, "attempt", json_integer(cell(r, i, 0)));
    json_object_set_new(o, "worker", opt_text(r, i, 1));
    json_object_set_new(o, "startedAt", opt_time(r, i, 2));
    json_object_set_new(o, "finishedAt", opt_time(r, i, 3));
    json_object_set_new(o, "durationMs", opt_int(r, i, 13));
    json_object_set_new(o, "outcome", json_string(PQgetvalue(r, i, 4)));
    json_object_set_new(o, "error", opt_text(r, i, 5));
    json_object_set_new(o, "promptTokens", json_integer(cell(r, i, 6)));
    json_object_set_new(o, "completionTokens", json_integer(cell(r, i, 7)));
    json_object_set_new(o, "retryAt", opt_time(r, i, 8));
    json_object_set_new(o, "retryReason", opt_text(r, i, 9));
    json_object_set_new(o, "httpStatus", opt_int(r, i, 10));
    json_object_set_new(o, "exitCode", opt_int(r, i, 11));
    json_object_set_new(o, "signal", opt_int(r, i, 12));
    return o;
}

/* The run's row (full); HISTORY_NOT_FOUND outside the scope. */
static int load_run(PGconn *pg, int64_t scope, int64_t run_id, PGresult **row, char *err, size_t len)
{
    static const char sql[] = RUN_SELECT("r.output, r.stderr_tail")
        " WHERE r.id = $1::bigint AND ($2::bigint = 0 OR r.user_id = $2::bigint)";
    char ids[24], scopes[24];
    const char *params[2] = {num(ids, run_id), num(scopes, scope)};
    PGresult *r = PQexecParams(pg, sql, 2, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        return db_fail(r, "reading the run", err, len);
    if (PQntuples(r) != 1) {
        PQclear(r);
        return fail(err, len, HISTORY_NOT_FOUND, "no run %" PRId64, run_id);
    }
    *row = r;
    return 0;
}

/* The run's row (full) and its attempts' rows; HISTORY_NOT_FOUND outside the scope. */
static int load_run_attempts(PGconn *pg, int64_t scope, int64_t run_id, PGresult **run, PGresult **attempts,
                             char *err, size_t len)
{
    const int rc = load_run(pg, scope, run_id, run, err, len);
    if (rc)
        return rc;
    char ids[24];
    const char *params[1] = {num(ids, run_id)};
    *attempts = PQexecParams(pg, sql_attempts, 1, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(*attempts) != PGRES_TUPLES_OK) {
        PQclear(*run);
        return db_fail(*attempts, "reading the run's attempts", err, len);
    }
    return 0;
}

int history_run_task(struct pg_conn *conn, int64_t scope, int64_t run_id, int64_t *task_id, char *err, size_t len)
{
    PGconn *pg = (PGconn *)conn;
    char ids[24], scopes[24];
    const char *params[2] = {num(ids, run_id), num(scopes, scope)};
    PGresult *r = PQexecParams(pg,
                               "SELECT task_id FROM task_runs WHERE id = $1::bigint"
                               " AND ($2::bigint = 0 OR user_id = $2::bigint)",
                               2, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        return db_fail(r, "reading the run", err, len);
    const int found = PQntuples(r) == 1;
    if (found)
        *task_id = cell(r, 0, 0);
    else
        snprintf(err, len, "no run %" PRId64, run_id);
    PQclear(r);
    return found ? 0 : HISTORY_NOT_FOUND;
}

int history_run(struct pg_conn *conn, int64_t scope, int64_t run_id, json_t **out, char *err, size_t len)
{
    PGresult *run, *a;
    *out = NULL;
    const int rc = load_run_attempts(PG(conn), scope, run_id, &run, &a, err, len);
    if (rc)
        return rc;
    json_t *doc = run_json(run, 0, 1), *attempts = json_array();
    for (int i = 0; i < PQntuples(a); i++)
        json_array_append_new(attempts, attempt_json(a, i));
    json_object_set_new(doc, "attempts", attempts);
    PQclear(a);
    PQclear(run);
    json_t *steps = NULL;
    if (steps_list(conn, run_id, &steps, err, len) != 0) {
        json_decref(doc);
        return AC_EIO;
    }
    json_object_set_new(doc, "steps", steps);
    size_t i;
    json_t *st;
    json_int_t charged = 0;
    json_array_foreach(steps, i, st) charged += json_integer_value(json_object_get(st, "credits"));
    json_object_set_new(doc, "stepCredits", json_integer(charged)); /* part of creditsCharged */
    *out = doc;
    return 0;
}

int history_logs(struct pg_conn *conn, int64_t scope, int64_t run_id, int attempt, json_t **out, char *err,
                 size_t len)
{
    PGresult *run, *a;
    *out = NULL;
    const int rc = load_run_attempts(PG(conn), scope, run_id, &run, &a, err, len);
    if (rc)
        return rc;
    const int n = PQntuples(a), run_attempt = (int)cell(run, 0, C_ATTEMPT);
    const int want = attempt > 0 ? attempt : run_attempt;
    int row = -1; /* the last row of the attempt asked for */
    for (int i = 0; i < n; i++)
        if (cell(a, i, 0) == want)
            row = i;
    /* The run's own output and stderr are its latest attempt's: the one running now, or the
     * row that ended it. An earlier attempt's are in its row. */
    const int latest = want == run_attempt && (row < 0 || row == n - 1);
    if (row < 0 && !(latest && !PQgetisnull(run, 0, C_START))) {
        const int made = n ? (int)cell(a, n - 1, 0) : 0;
        PQclear(a), PQclear(run);
        return fail(err, len, HISTORY_NOT_FOUND, "run %" PRId64 " has no attempt %d (it has made %d)", run_id, want, made);
    }
    json_t *doc = json_object();
    json_object_set_new(doc, "run", json_integer(run_id));
    json_object_set_new(doc, "attempt", json_integer(want));
    json_object_set_new(doc, "status", json_string(PQgetvalue(run, 0, C_STATUS)));
    json_object_set_new(doc, "outcome", row >= 0 ? json_string(PQgetvalue(a, row, 4)) : json_string("running"));
    const int own = row >= 0 && (!PQgetisnull(a, row, 14) || !PQgetisnull(a, row, 15));
    json_object_set_new(doc, "output", own ? opt_text(a, row, 14) : latest ? opt_text(run, 0, C_OUTPUT) : json_null());
    json_object_set_new(doc, "stderr", own ? opt_text(a, row, 15) : latest ? opt_text(run, 0, C_STDERR) : json_null());
    PQclear(a), PQclear(run);
    *out = doc;
    return 0;
}

/* ---- slots ---- */

static const char sql_slot_task[] =
    "SELECT schedule, timezone, status, " MS("next_run_at") ", " MS("created_at") ", title FROM tasks"
    " WHERE id = $1::bigint AND ($2::bigint = 0 OR user_id = $2::bigint)";

static const char sql_slot_runs[] =
    "SELECT " MS("scheduled_for") ", id, status, trigger FROM task_runs WHERE task_id = $1::bigint"
    " AND scheduled_for BETWEEN to_timestamp($2::bigint / 1000.0) AND to_timestamp($3::bigint / 1000.0)"
    " ORDER BY scheduled_for, id LIMIT $4::int";

static const char sql_slot_gaps[] =
    "SELECT " MS("first_slot") ", " MS("last_slot") ", reason FROM slot_gaps WHERE task_id = $1::bigint"
    " AND last_slot >= to_timestamp($2::bigint / 1000.0) AND first_slot <= to_timestamp($3::bigint / 1000.0)"
    " ORDER BY first_slot";

/* The slot's time in UTC, and in the task's zone when it has one. */
static void put_slot_time(json_t *o, int64_t ms, const struct cron_zone *zone)
{
    char buf[TIMEFMT_RFC3339_MAX];
    timefmt_rfc3339(ms, 0, 1, buf);
    json_object_set_new(o, "slot", json_string(buf));
    if (zone) {
        timefmt_rfc3339(ms, cron_zone_offset(zone, ms), 0, buf);
        json_object_set_new(o, "local", json_string(buf));
    }
}

int history_slots(struct pg_conn *conn, int64_t scope, int64_t task_id, int64_t from_ms, int64_t to_ms, json_t **out,
                  char *err, size_t len)
{
    PGconn *pg = PG(conn);
    *out = NULL;
    if (to_ms < from_ms)
        return fail(err, len, AC_EINVAL, "the range ends before it begins");
    char ids[24], scopes[24], from_s[24], to_s[24], lim_s[24];
    const char *tp[2] = {num(ids, task_id), num(scopes, scope)};
    PGresult *t = PQexecParams(pg, sql_slot_task, 2, NULL, tp, NULL, NULL, 0);
    if (PQresultStatus(t) != PGRES_TUPLES_OK)
        return db_fail(t, "reading the task", err, len);
    if (PQntuples(t) != 1) {
        PQclear(t);
        return fail(err, len, HISTORY_NOT_FOUND, "no task %" PRId64, task_id);
    }
    struct cron_expr *expr = NULL;
    struct cron_zone *zone = NULL;
    struct cron_error cerr;
    const int has_schedule = !PQgetisnull(t, 0, 0);
    if (cron_zone_open(PQgetvalue(t, 0, 1), &zone, &cerr) != 0 ||
        (has_schedule && cron_parse(PQgetvalue(t, 0, 0), ids, &expr, &cerr) != 0)) {
        cron_free(expr), cron_zone_free(zone);
        PQclear(t);
        return fail(err, len, AC_EINVAL, "task %" PRId64 "'s schedule cannot be read: %s", task_id, cerr.message);
    }
    const int paused = !strcmp(PQgetvalue(t, 0, 2), "paused");
    const int64_t next_run = PQgetisnull(t, 0, 3) ? -1 : cell(t, 0, 3);
    /* the schedule's slots */
    int64_t *slots = malloc((HISTORY_SLOTS_MAX + 1) * sizeof *slots);
    int nslots = 0;
    struct cron_fire f;
    for (int64_t at = from_ms - 1; slots && expr && nslots <= HISTORY_SLOTS_MAX && cron_next(expr, zone, at, &f) == 0 &&
                                   f.ms <= to_ms;
         at = f.ms)
        slots[nslots++] = f.ms;
    if (!slots || nslots > HISTORY_SLOTS_MAX) {
        free(slots), cron_free(expr), cron_zone_free(zone), PQclear(t);
        return slots ? fail(err, len, AC_EINVAL, "the range holds more than %d slots of task %" PRId64 "; ask for a"
                            " narrower one", HISTORY_SLOTS_MAX, task_id)
                     : fail(err, len, AC_ENOMEM, "out of memory");
    }
    const char *rp[4] = {ids, num(from_s, from_ms), num(to_s, to_ms), num(lim_s, HISTORY_SLOTS_MAX + 1)};
    PGresult *runs = PQexecParams(pg, sql_slot_runs, 4, NULL, rp, NULL, NULL, 0);
    PGresult *gaps = PQresultStatus(runs) == PGRES_TUPLES_OK ? PQexecParams(pg, sql_slot_gaps, 3, NULL, rp, NULL, NULL, 0)
                                                              : NULL;
    if (!gaps || PQresultStatus(gaps) != PGRES_TUPLES_OK) {
        free(slots), cron_free(expr), cron_zone_free(zone), PQclear(t);
        if (gaps)
            PQclear(runs);
        return db_fail(gaps ? gaps : runs, "reading the task's runs and slot ledger", err, len);
    }
    if (PQntuples(runs) > HISTORY_SLOTS_MAX) {
        free(slots), cron_free(expr), cron_zone_free(zone), PQclear(t), PQclear(runs), PQclear(gaps);
        return fail(err, len, AC_EINVAL, "the range holds more than %d runs of task %" PRId64 "; ask for a narrower one",
                    HISTORY_SLOTS_MAX, task_id);
    }
    /* Merge the schedule's slots with the runs (both ascending); a run off the schedule (a
     * manual one, or of an earlier schedule) is listed at its own time. */
    const int64_t now = timefmt_now_ms();
    json_t *list = json_array();
    int si = 0, ri = 0, gi = 0;
    const int nruns = PQntuples(runs), ngaps = PQntuples(gaps);
    while (si < nslots || ri < nruns) {
        const int64_t s = si < nslots ? slots[si] : INT64_MAX, rs = ri < nruns ? cell(runs, ri, 0) : INT64_MAX;
        json_t *o = json_object();
        put_slot_time(o, rs <= s ? rs : s, zone);
        if (rs <= s) { /* a run: of this slot, or off the schedule */
            json_object_set_new(o, "run", json_integer(cell(runs, ri, 1)));
            json_object_set_new(o, "status", json_string(PQgetvalue(runs, ri, 2)));
            json_object_set_new(o, "trigger", json_string(PQgetvalue(runs, ri, 3)));
            if (rs == s)
                si++;
            ri++;
        } else {
            /* the gaps come by first slot: one that ends before s covers no later slot either */
            while (gi < ngaps && cell(gaps, gi, 1) < s)
                gi++;
            const char *reason = gi < ngaps && cell(gaps, gi, 0) <= s ? PQgetvalue(gaps, gi, 2) : NULL;
            if (!reason)
                reason = s > now                                    ? "upcoming"
                       : paused && next_run >= 0 && s >= next_run ? "paused"
                                                                   : "unrecorded";
            json_object_set_new(o, "reason", json_string(reason));
            si++;
        }
        json_array_append_new(list, o);
    }
    *out = json_pack("{s:I, s:s, s:s?, s:s?, s:o}", "task", (json_int_t)task_id, "title", PQgetvalue(t, 0, 5),
                     "schedule", has_schedule ? PQgetvalue(t, 0, 0) : NULL, "timezone", PQgetvalue(t, 0, 1), "slots",
                     list);
    free(slots), cron_free(expr), cron_zone_free(zone);
    PQclear(t), PQclear(runs), PQclear(gaps);
    return 0;
}
