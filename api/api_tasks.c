/* SPDX-License-Identifier: MIT */
/* The task API's routes. Every statement names the caller's scope (a user id, or 0 for an
 * operator), so isolation does not depend on remembering a check: another user's task simply is
 * not found. Who the caller is comes from session.h. */
#include "api_tasks.h"

#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <mbedtls/sha256.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "agents.h"
#include "connpair.h"
#include "cronparse.h"
#include "http_parse.h"
#include "idempotency.h"
#include "api_admin.h"
#include "api_steps.h"
#include "api_alerts.h"
#include "preview.h"
#include "session.h"
#include "errors.h"
#include "history.h"
#include "queue.h"
#include "redisconn.h"
#include "runctl.h"
#include "schedule.h"
#include "taskdef.h"
#include "tasks.h"
#include "timefmt.h"
#include "url.h"
#include "zones.h"
#include "usage.h"

#define WAIT_MARGIN_MS 5000 /* async: false waits for the task's timeout and this (queueing, recording) */

int api_tasks_owns(const char *path)
{
    return !strncmp(path, "/api/", 5) && strncmp(path, "/api/cron/", 10) != 0;
}

static int64_t i64(PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? -1 : strtoll(PQgetvalue(r, row, col), NULL, 10);
}

static const char *when(int64_t ms, char out[TIMEFMT_RFC3339_MAX])
{
    if (ms < 0)
        return NULL;
    timefmt_rfc3339(ms, 0, 1, out);
    return out;
}

/* ---- tasks ---- */

static const char sql_task[] =
    "SELECT id, title, goal, agent_type, priority, schedule, schedule_enabled, timezone,"
    " coalesce((extract(epoch FROM next_run_at) * 1000)::bigint, -1), status, max_attempts, timeout_ms,"
    " (extract(epoch FROM created_at) * 1000)::bigint, agent_config::text, retention_days, user_id,"
    " (SELECT email FROM users u WHERE u.id = tasks.user_id),"
    " (SELECT array_to_string(array_agg(status ORDER BY scheduled_for), ',') FROM (SELECT status, scheduled_for"
    "   FROM task_runs r WHERE r.task_id = tasks.id ORDER BY scheduled_for DESC LIMIT 20) recent)"
    " FROM tasks";

/* The schedule in words and its next TASK_NEXT_SHOWN fire times from the next slot on (in the
 * task's zone), as schedule.description and schedule.next: what a list of schedules shows. */
#define TASK_NEXT_SHOWN 3
static void schedule_words(json_t *task, const char *cron, const char *zone_name, const char *hash_key, int64_t next_ms,
                           struct zones *zones)
{
    struct cron_expr *expr;
    const struct cron_zone *zone;
    struct cron_error err;
    json_t *sched = json_object_get(task, "schedule");
    if (cron_parse(cron, hash_key, &expr, &err) != 0)
        return;
    char words[512];
    cron_describe(expr, words, sizeof words);
    json_object_set_new(sched, "description", json_string(words));
    if (next_ms >= 0 && (zone = zones_get(zones, zone_name, &err))) {
        json_t *list = json_array();
        struct cron_fire f = {.ms = next_ms};
        char at[TIMEFMT_RFC3339_MAX];
        for (int k = 0; k < TASK_NEXT_SHOWN && (k == 0 || cron_next(expr, zone, f.ms, &f) == 0); k++) {
            timefmt_rfc3339(f.ms, cron_zone_offset(zone, f.ms), 0, at);
            json_array_append_new(list, json_string(at));
        }
        json_object_set_new(sched, "next", list);
    }
    cron_free(expr);
}

/* zones: where the zones of a page of tasks are opened once (opening one costs up to a ms). */
static json_t *task_json(PGresult *r, int i, struct zones *zones)
{
    char next[TIMEFMT_RFC3339_MAX], created[TIMEFMT_RFC3339_MAX];
    json_t *t = json_pack("{s:I, s:s, s:s, s:s, s:s, s:{s:s?, s:b, s:s}, s:s?, s:s, s:I, s:I, s:s, s:o*, s:o}", "id",
                     (json_int_t)i64(r, i, 0), "title", PQgetvalue(r, i, 1), "goal", PQgetvalue(r, i, 2), "agentType",
                     PQgetvalue(r, i, 3), "priority", taskdef_priority_name((int)i64(r, i, 4)), "schedule", "cron",
                     PQgetisnull(r, i, 5) ? NULL : PQgetvalue(r, i, 5), "enabled", PQgetvalue(r, i, 6)[0] == 't',
                     "timezone", PQgetvalue(r, i, 7), "nextRunAt", when(i64(r, i, 8), next), "status",
                     PQgetvalue(r, i, 9), "maxAttempts", (json_int_t)i64(r, i, 10), "timeoutMs",
                     (json_int_t)i64(r, i, 11), "createdAt", when(i64(r, i, 12), created), "agentConfig",
                     json_loads(PQgetvalue(r, i, 13), 0, NULL), "retentionDays",
                     PQgetisnull(r, i, 14) ? json_null() : json_integer(i64(r, i, 14)));
    json_object_set_new(t, "userId", json_integer(i64(r, i, 15)));
    json_object_set_new(t, "owner", json_string(PQgetvalue(r, i, 16)));
    json_t *recent = json_array(); /* the last 20 runs' statuses, oldest first */
    for (const char *s = PQgetvalue(r, i, 17); *s;) {
        const char *comma = strchr(s, ',');
        const size_t n = comma ? (size_t)(comma - s) : strlen(s);
        json_array_append_new(recent, json_stringn(s, n));
        s += n + (comma != NULL);
    }
    json_object_set_new(t, "recent", recent);
    if (!PQgetisnull(r, i, 5))
        schedule_words(t, PQgetvalue(r, i, 5), PQgetvalue(r, i, 7), PQgetvalue(r, i, 0), i64(r, i, 8), zones);
    return t;
}

/* Task id as JSON if scope (a user, 0 for an operator) may see it, or NULL after answering 404
 * (also for another user's task). */
static json_t *own_task(PGconn *pg, int64_t user, int64_t id, struct api_response *out)
{
    char sql[1024], ids[24], users[24];
    snprintf(sql, sizeof sql, "%s WHERE id = $1::bigint AND ($2::bigint = 0 OR user_id = $2::bigint) AND status <> 'deleted'", sql_task);
    snprintf(ids, sizeof ids, "%" PRId64, id);
    snprintf(users, sizeof users, "%" PRId64, user);
    const char *params[2] = {ids, users};
    PGresult *r = PQexecParams(pg, sql, 2, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        PQclear(r);
        api_db_error(out, pg);
        return NULL;
    }
    struct zones *zones = zones_new();
    json_t *t = PQntuples(r) == 1 && zones ? task_json(r, 0, zones) : NULL;
    zones_free(zones);
    PQclear(r);
    if (!t)
        api_error(out, 404, NULL, "no task %" PRId64, id);
    return t;
}

/* GET /api/tasks?limit=&after=&q=&agent=&state=: the tasks scope may see, by id, filtered by
 * words of the title (q), agent, and state (active, paused). */
static void list_tasks(PGconn *pg, int64_t scope, const char *query, struct api_response *out)
{
    static const char *const names[] = {"limit", "after", "q", "agent", "state"};
    char v[5][256];
    for (int i = 0; i < 5; i++) {
        const int got = http_query_get(query, names[i], v[i], sizeof v[i]);
        if (got < 0) {
            api_error(out, 400, names[i], "%s is malformed or too long (at most 255 bytes)", names[i]);
            return;
        }
        if (!got)
            v[i][0] = 0;
    }
    char *end;
    long limit = 50;
    if (v[0][0] && ((limit = strtol(v[0], &end, 10)) < 1 || limit > 500 || *end)) {
        api_error(out, 400, "limit", "limit must be 1-500, not \"%.32s\"", v[0]);
        return;
    }
    if (v[1][0] && (strtoll(v[1], &end, 10) < 0 || *end)) {
        api_error(out, 400, "after", "after must be a task id, not \"%.32s\"", v[1]);
        return;
    }
    if (v[4][0] && strcmp(v[4], "active") != 0 && strcmp(v[4], "paused") != 0) {
        api_error(out, 400, "state", "state must be active or paused, not \"%.32s\"", v[4]);
        return;
    }
    char sql[2048], users[24], lims[16];
    snprintf(sql, sizeof sql,
             "%s WHERE ($1::bigint = 0 OR user_id = $1::bigint) AND status <> 'deleted' AND id > $2::bigint"
             " AND ($4 = '' OR strpos(lower(title), lower($4)) > 0 OR strpos(lower(coalesce(schedule, '')), lower($4)) > 0)"
             " AND ($5 = '' OR agent_type = $5) AND ($6 = '' OR status = $6)"
             " ORDER BY id LIMIT $3::int",
             sql_task);
    snprintf(users, sizeof users, "%" PRId64, scope);
    snprintf(lims, sizeof lims, "%ld", limit + 1);
    const char *params[6] = {users, v[1][0] ? v[1] : "0", lims, v[2], v[3], v[4]};
    PGresult *r = PQexecParams(pg, sql, 6, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        PQclear(r);
        api_db_error(out, pg);
        return;
    }
    json_t *list = json_array();
    const int n = PQntuples(r) > limit ? (int)limit : PQntuples(r);
    struct zones *zones = zones_new();
    for (int i = 0; zones && i < n; i++)
        json_array_append_new(list, task_json(r, i, zones));
    zones_free(zones);
    json_t *doc = json_pack("{s:o}", "tasks", list);
    if (PQntuples(r) > limit) /* more after this page */
        json_object_set_new(doc, "next", json_integer(i64(r, n - 1, 0)));
    PQclear(r);
    api_reply(out, 200, doc);
}

/* ---- history ---- */

/* What a history_* or usage_report call gave: doc (200), or its failure (404, 400 naming field,
 * or 503). */
static void history_answer(struct api_response *out, PGconn *pg, int rc, const char *field, const char *err,
                           json_t *doc)
{
    if (!rc)
        api_reply(out, 200, doc);
    else if (rc == AC_EIO)
        api_db_error(out, pg);
    else
        api_error(out, rc == HISTORY_NOT_FOUND ? 404 : 400, rc == HISTORY_NOT_FOUND ? NULL : field, "%s", err);
}

/* A time parameter of the query (RFC 3339) into *ms; 0 absent, 1 set, -1 answered 400. */
static int query_time(const char *query, const char *name, int64_t *ms, struct api_response *out)
{
    char v[64];
    const char *why = "malformed";
    const int got = http_query_get(query, name, v, sizeof v);
    if (got == 1 && timefmt_parse_rfc3339(v, ms, &why) == 0)
        return 1;
    if (got == 0)
        return 0;
    api_error(out, 400, name, "%s must be an RFC 3339 time (2026-01-31T09:00:00Z): %s", name, why);
    return -1;
}

/* GET /api/runs and /api/tasks/{id}/runs: filtered, newest slot first, paged by `next`. */
static void list_runs(PGconn *pg, int64_t user, int64_t task, const char *query, struct api_response *out)
{
    static const char *const names[] = {"status", "agent", "trigger", "cursor", "limit", "task"};
    char v[6][256];
    for (int i = 0; i < 6; i++) {
        const int got = http_query_get(query, names[i], v[i], sizeof v[i]);
        if (got < 0) {
            api_error(out, 400, names[i], "%s is malformed or too long", names[i]);
            return;
        }
        if (!got)
            v[i][0] = 0;
    }
    struct history_filter f = {.task_id = task, .status = v[0][0] ? v[0] : NULL, .agent = v[1][0] ? v[1] : NULL,
                               .trigger = v[2][0] ? v[2] : NULL, .cursor = v[3][0] ? v[3] : NULL};
    char *end;
    if (v[4][0] && ((f.limit = (int)strtol(v[4], &end, 10)) < 1 || f.limit > HISTORY_PAGE_MAX || *end)) {
        api_error(out, 400, "limit", "limit must be 1-%d", HISTORY_PAGE_MAX);
        return;
    }
    if (!task && v[5][0] && ((f.task_id = strtoll(v[5], &end, 10)) < 1 || *end)) {
        api_error(out, 400, "task", "task must be a task id");
        return;
    }
    if (query_time(query, "since", &f.since_ms, out) < 0 || query_time(query, "until", &f.until_ms, out) < 0)
        return;
    json_t *doc;
    char err[512];
    const int rc = history_list((struct pg_conn *)pg, user, &f, &doc, err, sizeof err);
    const char *field = NULL; /* history_list's messages begin with the parameter they refuse */
    for (int i = 0; i < 6 && rc == AC_EINVAL; i++)
        if (!strncmp(err, names[i], strlen(names[i])) && err[strlen(names[i])] == ' ')
            field = names[i];
    history_answer(out, pg, rc, field, err, doc);
}

/* GET /api/runs/{id}: the run whole, with every attempt. */
static void show_run(PGconn *pg, int64_t user, int64_t id, struct api_response *out)
{
    json_t *doc;
    char err[512];
    const int rc = history_run((struct pg_conn *)pg, user, id, &doc, err, sizeof err);
    history_answer(out, pg, rc, NULL, err, doc);
}

/* GET /api/runs/{id}/steps: its steps, as GET /api/runs/{id} shows them. */
static void run_steps(PGconn *pg, int64_t user, int64_t id, struct api_response *out)
{
    char err[512];
    json_t *doc = NULL;
    const int rc = history_run((struct pg_conn *)pg, user, id, &doc, err, sizeof err);
    if (rc != 0) {
        history_answer(out, pg, rc, NULL, err, NULL);
        return;
    }
    api_reply(out, 200, json_pack("{s:I, s:O}", "run", (json_int_t)id, "steps", json_object_get(doc, "steps")));
    json_decref(doc);
}

/* GET /api/runs/{id}/logs?attempt=N */
static void run_logs(PGconn *pg, int64_t user, int64_t id, const char *query, struct api_response *out)
{
    char v[16];
    long attempt = 0;
    char *end;
    const int got = http_query_get(query, "attempt", v, sizeof v);
    if (got < 0 || (got && ((attempt = strtol(v, &end, 10)) < 1 || attempt > 100 || *end))) {
        api_error(out, 400, "attempt", "attempt must be an attempt number, 1-100");
        return;
    }
    json_t *doc;
    char err[512];
    const int rc = history_logs((struct pg_conn *)pg, user, id, (int)attempt, &doc, err, sizeof err);
    history_answer(out, pg, rc, "attempt", err, doc);
}

/* GET /api/tasks/{id}/slots?from=&to= (default: the last 24 hours and the next one) */
static void task_slots(PGconn *pg, int64_t user, int64_t id, const char *query, struct api_response *out)
{
    const int64_t now = timefmt_now_ms();
    int64_t from = now - 86400000, to = now + 3600000;
    if (query_time(query, "from", &from, out) < 0 || query_time(query, "to", &to, out) < 0)
        return;
    json_t *doc;
    char err[512];
    const int rc = history_slots((struct pg_conn *)pg, user, id, from, to, &doc, err, sizeof err);
    history_answer(out, pg, rc, "to", err, doc);
}

/* GET /api/usage?from=YYYY-MM-DD&to=YYYY-MM-DD (default: this UTC month so far) */
static void usage(PGconn *pg, int64_t user, const char *query, struct api_response *out)
{
    char from[16], to[16], today[TIMEFMT_RFC3339_MAX];
    timefmt_rfc3339(timefmt_now_ms(), 0, 1, today);
    const int got_from = http_query_get(query, "from", from, sizeof from), got_to = http_query_get(query, "to", to, sizeof to);
    if (got_from < 0 || got_to < 0) {
        api_error(out, 400, got_from < 0 ? "from" : "to", "from and to are days: YYYY-MM-DD");
        return;
    }
    if (!got_from)
        snprintf(from, sizeof from, "%.8s01", today);
    if (!got_to)
        snprintf(to, sizeof to, "%.10s", today);
    json_t *doc;
    char err[512];
    const int rc = usage_report((struct pg_conn *)pg, user, user, from, to, &doc, err, sizeof err);
    history_answer(out, pg, rc, "from", err, doc);
}

/* The answer to a task change that did not succeed: 404, 400 naming the field, or 503. */
static void change_failed(struct api_response *out, int rc, const struct taskdef_error *terr)
{
    if (rc == TASKS_NOT_FOUND)
        api_error(out, 404, NULL, "%s", terr->message);
    else if (rc == AC_EINVAL)
        api_error(out, 400, terr->field[0] ? terr->field : NULL, "%s", terr->message);
    else {
        api_error(out, 503, NULL, "the database is unavailable: %s", terr->message);
        snprintf(out->extra, sizeof out->extra, "Retry-After: 5\r\n");
    }
}

/* pause, resume (from the next slot), delete (its runs cancelled too, as `agentcron tasks rm`). */
static void set_status(struct connpair *c, int64_t user, int64_t id, const char *status, struct api_response *out)
{
    struct taskdef_error terr;
    if (!strcmp(status, "deleted")) {
        int cancelled, stopping;
        const int rc = tasks_delete(c->pg, c->redis, user, id, &cancelled, &stopping, &terr);
        if (rc)
            change_failed(out, rc, &terr);
        else
            api_reply(out, 200, json_pack("{s:I, s:s, s:i, s:i}", "id", (json_int_t)id, "status", "deleted", "cancelled",
                                      cancelled, "stopping", stopping));
        return;
    }
    const int rc = tasks_set_status(c->pg, user, id, status, timefmt_now_ms(), &terr);
    json_t *t;
    if (rc)
        change_failed(out, rc, &terr);
    else if ((t = own_task(c->pg, user, id, out)))
        api_reply(out, 200, t);
}

static void cancel_runs(struct connpair *c, int64_t user, int64_t id, struct api_response *out)
{
    json_t *t = own_task(c->pg, user, id, out);
    if (!t)
        return;
    json_decref(t);
    int cancelled, stopping;
    char err[512];
    if (runctl_cancel_task(c->pg, c->redis, id, user, &cancelled, &stopping, err, sizeof err) != 0) {
        api_error(out, 503, NULL, "cancelling failed: %.300s", err);
        snprintf(out->extra, sizeof out->extra, "Retry-After: 5\r\n");
        return;
    }
    api_reply(out, 200, json_pack("{s:I, s:i, s:i}", "task", (json_int_t)id, "cancelled", cancelled, "stopping", stopping));
}

static void trigger(struct connpair *c, int64_t user, int64_t id, struct api_response *out)
{
    int64_t run, at;
    char err[512], t[TIMEFMT_RFC3339_MAX];
    const int rc = runctl_trigger(c->pg, c->redis, id, user, "api", &run, &at, err, sizeof err);
    if (rc == RUNCTL_NOT_FOUND)
        api_error(out, 404, NULL, "no task %" PRId64, id);
    else if (rc < 0)
        api_db_error(out, c->pg);
    else
        api_reply(out, 202, json_pack("{s:I, s:I, s:s, s:s}", "task", (json_int_t)id, "run", (json_int_t)run, "status",
                                  "queued", "scheduledFor", when(at, t)));
}

/* PATCH: title, goal, priority, and the schedule (cron, timezone, enabled), given flat or as
 * {"schedule": {...}}; next_run_at follows any schedule change (tasks_edit). */
static const char *unknown_field(const json_t *obj, const char *const *known, char where[80]);

/* A PATCH's agentConfig, checked against the task's agent (only what it lets a task override):
 * its JSON text (the caller frees it), or NULL after answering. */
static char *checked_config(PGconn *pg, const struct agent_set *agents, int64_t user, int64_t id, const json_t *config,
                            struct api_response *out)
{
    if (!json_is_object(config)) {
        api_error(out, 400, "agentConfig", "agentConfig must be an object of the settings the agent lets a task override");
        return NULL;
    }
    json_t *t = own_task(pg, user, id, out);
    if (!t)
        return NULL;
    const struct agent *a = agents ? agents_find(agents, json_string_value(json_object_get(t, "agentType"))) : NULL;
    char *text = json_dumps(config, JSON_COMPACT);
    struct agents_error aerr;
    json_t *eff = a && text ? agents_effective(a, text, &aerr) : NULL;
    if (!eff) {
        api_error(out, 400, "agentConfig", "agentConfig: %s",
              !a ? "the task's agent is not defined in this deployment's AGENTS_FILE" : text ? aerr.message : "out of memory");
        free(text);
        text = NULL;
    }
    json_decref(eff);
    json_decref(t);
    return text;
}

static void patch_task(PGconn *pg, const struct agent_set *agents, int64_t user, int64_t id, const struct http_req *req,
                       struct api_response *out)
{
    static const char *const known[] = {"title", "goal", "priority", "schedule", "cron", "timezone", "enabled",
                                        "agentConfig", "retentionDays", NULL};
    static const char *const known_schedule[] = {"enabled", "cron", "timezone", NULL};
    json_error_t jerr;
    json_t *body = json_loadb(req->body ? req->body : "", req->body_len, JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_object(body)) {
        json_decref(body);
        api_error(out, 400, NULL, "the body must be a JSON object: %s", jerr.text);
        return;
    }
    const json_t *sched = json_object_get(body, "schedule");
    const json_t *src = json_is_object(sched) ? sched : body;
    const json_t *title = json_object_get(body, "title"), *goal = json_object_get(body, "goal"),
                 *prio = json_object_get(body, "priority"), *cron = json_object_get(src, "cron"),
                 *tz = json_object_get(src, "timezone"), *enabled = json_object_get(src, "enabled");
    const json_t *config = json_object_get(body, "agentConfig"), *keep = json_object_get(body, "retentionDays");
    struct taskdef_error terr;
    struct task_fields f = TASK_FIELDS_UNSET;
    char where[80], *config_text = NULL;
    const char *unknown = unknown_field(body, known, NULL);
    if (unknown)
        api_error(out, 400, unknown, "unknown field \"%.60s\": PATCH takes title, goal, priority, agentConfig,"
              " retentionDays and the schedule (cron, timezone, enabled)", unknown);
    else if (json_is_object(sched) && unknown_field(sched, known_schedule, where))
        api_error(out, 400, where, "unknown field \"%s\": a schedule takes enabled, cron and timezone", where);
    else if (sched && !json_is_object(sched))
        api_error(out, 400, "schedule", "schedule must be an object {cron, timezone, enabled}");
    else if (config && !(config_text = checked_config(pg, agents, user, id, config, out)))
        ; /* answered: 404, 400 or 503 */
    else if (keep && !json_is_null(keep) &&
             (!json_is_integer(keep) || json_integer_value(keep) < 1 || json_integer_value(keep) > 3650))
        api_error(out, 400, "retentionDays", "retentionDays must be a number of days (1-3650) or null (RUN_RETENTION_DAYS)");
    else if ((title && !json_is_string(title)) || (goal && !json_is_string(goal)))
        api_error(out, 400, title && !json_is_string(title) ? "title" : "goal", "title and goal must be strings");
    else if (prio && (!json_is_string(prio) || (f.priority = taskdef_priority(json_string_value(prio), &terr)) < 0))
        api_error(out, 400, "priority", "priority must be urgent, high, normal or low");
    else if ((cron && !json_is_string(cron)) || (tz && !json_is_string(tz)) || (enabled && !json_is_boolean(enabled)))
        api_error(out, 400, cron && !json_is_string(cron) ? "cron" : tz && !json_is_string(tz) ? "timezone" : "enabled",
              "cron and timezone must be strings, enabled true or false");
    if (!out->status) {
        f.title = json_string_value(title), f.goal = json_string_value(goal), f.config = config_text;
        f.cron = json_string_value(cron), f.timezone = json_string_value(tz);
        f.enabled = enabled ? json_is_true(enabled) : -1;
        if (keep)
            f.retention_days = json_is_null(keep) ? 0 : json_integer_value(keep);
        const int rc = tasks_edit(pg, user, id, &f, timefmt_now_ms(), &terr);
        json_t *t;
        if (rc)
            change_failed(out, rc, &terr);
        else if ((t = own_task(pg, user, id, out)))
            api_reply(out, 200, t);
    }
    free(config_text);
    json_decref(body);
}

/* ---- POST /api/agent/execute ---- */

static int has_credits(PGconn *pg, int64_t user)
{
    char users[24];
    snprintf(users, sizeof users, "%" PRId64, user);
    const char *params[1] = {users};
    PGresult *r = PQexecParams(pg,
                               "SELECT credits_used + credits_reserved < monthly_credits + granted_credits FROM users"
                               " WHERE id = $1::bigint",
                               1, NULL, params, NULL, NULL, 0);
    const int ok = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 ? PQgetvalue(r, 0, 0)[0] == 't' : -1;
    PQclear(r);
    return ok;
}

/* The first key of obj that is not in known, or NULL; where (when given) gets "schedule.KEY". */
static const char *unknown_field(const json_t *obj, const char *const *known, char where[80])
{
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)obj, k, v)
    {
        int found = 0;
        for (const char *const *n = known; *n && !found; n++)
            found = !strcmp(k, *n);
        if (!found) {
            if (where)
                snprintf(where, 80, "schedule.%.60s", k);
            return k;
        }
    }
    return NULL;
}

int api_tasks_parse_execute(const char *text, size_t len, const struct agent_set *agents, struct execute_body *b,
                            struct api_response *out)
{
    memset(b, 0, sizeof *b);
    json_error_t jerr;
    json_t *body = json_loadb(text ? text : "", len, JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_object(body)) {
        json_decref(body);
        api_error(out, 400, NULL, "the body must be a JSON object: %s", jerr.text);
        return -1;
    }
    static const char *const known[] = {"goal", "agentType", "title", "priority", "async", "schedule", "timeoutMs",
                                        "maxAttempts", "agentConfig", "idempotencyKey", "retentionDays", NULL};
    static const char *const known_schedule[] = {"enabled", "cron", "timezone", NULL};
    const json_t *goal = json_object_get(body, "goal"), *agent = json_object_get(body, "agentType"),
                 *title = json_object_get(body, "title"), *prio = json_object_get(body, "priority"),
                 *async = json_object_get(body, "async"), *sched = json_object_get(body, "schedule"),
                 *timeout = json_object_get(body, "timeoutMs"), *attempts = json_object_get(body, "maxAttempts"),
                 *config = json_object_get(body, "agentConfig"), *idem = json_object_get(body, "idempotencyKey"),
                 *keep = json_object_get(body, "retentionDays");
    struct taskdef_error terr;
    struct agents_error aerr;
    const char *unknown = unknown_field(body, known, NULL);
    char where[80];
    b->priority = 3, b->enabled = 1, b->timeout_ms = b->max_attempts = b->retention_days = -1;
    const struct agent *a = json_is_string(agent) && agents ? agents_find(agents, json_string_value(agent)) : NULL;
    if (unknown)
        api_error(out, 400, unknown, "unknown field \"%.60s\": the body takes goal, agentType, title, priority, async, "
              "schedule, timeoutMs, maxAttempts, agentConfig, retentionDays and idempotencyKey", unknown);
    else if (json_is_object(sched) && (unknown = unknown_field(sched, known_schedule, where)))
        api_error(out, 400, where, "unknown field \"%s\": a schedule takes enabled, cron and timezone", where);
    else if (!json_is_string(goal) || !json_string_length(goal) || json_string_length(goal) > 20000)
        api_error(out, 400, "goal", "goal must be a string of 1-20000 characters");
    else if (!json_is_string(agent) || !a)
        api_error(out, 400, "agentType", "agentType \"%.60s\" must name an agent this deployment defines",
              json_is_string(agent) ? json_string_value(agent) : "");
    else if (config && !json_is_object(config))
        api_error(out, 400, "agentConfig", "agentConfig must be an object of the settings the agent lets a task override");
    else if (idem && (!json_is_string(idem) || !json_string_length(idem) || json_string_length(idem) > 200))
        api_error(out, 400, "idempotencyKey", "idempotencyKey must be a string of 1-200 characters");
    else if (title && (!json_is_string(title) || !json_string_length(title) || json_string_length(title) > 200))
        api_error(out, 400, "title", "title must be a string of 1-200 characters");
    else if (prio && (!json_is_string(prio) || (b->priority = taskdef_priority(json_string_value(prio), &terr)) < 0))
        api_error(out, 400, "priority", "priority must be urgent, high, normal or low");
    else if (async && !json_is_boolean(async))
        api_error(out, 400, "async", "async must be true or false");
    else if (timeout && (!json_is_integer(timeout) || json_integer_value(timeout) < 1000 ||
                         json_integer_value(timeout) > 86400000))
        api_error(out, 400, "timeoutMs", "timeoutMs must be an integer from 1000 to 86400000 (24 h)");
    else if (attempts && (!json_is_integer(attempts) || json_integer_value(attempts) < 1 ||
                          json_integer_value(attempts) > 100))
        api_error(out, 400, "maxAttempts", "maxAttempts must be an integer from 1 to 100");
    else if (keep && !json_is_null(keep) &&
             (!json_is_integer(keep) || json_integer_value(keep) < 1 || json_integer_value(keep) > 3650))
        api_error(out, 400, "retentionDays", "retentionDays must be a number of days (1-3650) or null (RUN_RETENTION_DAYS)");
    else if (sched && !json_is_object(sched))
        api_error(out, 400, "schedule", "schedule must be an object {enabled, cron, timezone}");
    if (out->status) {
        json_decref(body);
        return -1;
    }
    if (config) { /* the same rule as the CLI's --config: only what the agent lets a task override */
        b->config = json_dumps(config, JSON_COMPACT);
        json_t *eff = b->config ? agents_effective(a, b->config, &aerr) : NULL;
        if (!eff) {
            api_error(out, 400, "agentConfig", "agentConfig: %s", b->config ? aerr.message : "out of memory");
            free(b->config);
            b->config = NULL;
            json_decref(body);
            return -1;
        }
        json_decref(eff);
    }
    b->body = body;
    b->goal = json_string_value(goal), b->agent = json_string_value(agent);
    b->idempotency_key = json_string_value(idem);
    b->wait = json_is_false(async);
    if (timeout)
        b->timeout_ms = json_integer_value(timeout);
    if (attempts)
        b->max_attempts = json_integer_value(attempts);
    if (json_is_integer(keep))
        b->retention_days = json_integer_value(keep);
    if (title)
        b->title = json_string_value(title);
    else { /* the goal, shortened at a character boundary, names the task */
        size_t n = strlen(b->goal);
        if (n > 200)
            for (n = 200; n > 0 && ((unsigned char)b->goal[n] & 0xC0) == 0x80;)
                n--; /* goal[n] continues a character that began before the cut: cut before it */
        memcpy(b->title_from_goal, b->goal, n);
        b->title_from_goal[n] = 0;
        b->title = b->title_from_goal;
    }
    if (sched) {
        int64_t next;
        b->cron = json_string_value(json_object_get(sched, "cron"));
        b->timezone = json_string_value(json_object_get(sched, "timezone"));
        b->enabled = !json_is_false(json_object_get(sched, "enabled"));
        if (!b->cron || taskdef_schedule(b->cron, b->timezone, 1, timefmt_now_ms(), b->zone, &next, &terr) != 0) {
            api_error(out, 400, b->cron ? terr.field : "schedule.cron", "%s",
                  b->cron ? terr.message : "schedule.cron is required");
            api_tasks_execute_body_free(b);
            return -1;
        }
    }
    return 0;
}

void api_tasks_execute_body_free(struct execute_body *b)
{
    json_decref(b->body);
    free(b->config);
    b->body = NULL, b->config = NULL;
}

/* The request's idempotency key: the Idempotency-Key header, else the body's idempotencyKey;
 * NULL without one, or after answering 400 for one that is not 1-200 printable characters. */
static const char *idempotency_key_of(const struct http_req *req, const char *from_body, struct api_response *out)
{
    const char *key = http_req_header(req, "Idempotency-Key");
    key = key ? key : from_body;
    if (key && !idempotency_key_valid(key)) {
        api_error(out, 400, "Idempotency-Key", "an Idempotency-Key must be 1-200 printable ASCII characters");
        return NULL;
    }
    return key;
}

static void execute_body(struct connpair *c, int64_t user, const struct execute_body *b, struct api_response *out);

static void execute(struct connpair *c, const struct agent_set *agents, int64_t user, const struct http_req *req,
                    struct api_response *out)
{
    struct execute_body b;
    if (api_tasks_parse_execute(req->body, req->body_len, agents, &b, out) != 0)
        return;
    const char *key = idempotency_key_of(req, b.idempotency_key, out);
    if (out->status || (key && idempotency_claim(c->pg, user, key, req->path, req->body, req->body_len, out))) {
        api_tasks_execute_body_free(&b);
        return;
    }
    execute_body(c, user, &b, out);
    if (key)
        idempotency_finish(c->pg, user, key, out);
    api_tasks_execute_body_free(&b);
}

/* The work of an execute whose body is checked: the task, then its schedule or a run now. */
static void execute_body(struct connpair *c, int64_t user, const struct execute_body *b, struct api_response *out)
{
    const int credits = has_credits(c->pg, user);
    if (credits <= 0) {
        if (credits < 0)
            api_db_error(out, c->pg);
        else
            api_error(out, 402, NULL, "no credits left this period: ask for a grant or wait for the next period");
        return;
    }
    struct task_fields f = TASK_FIELDS_UNSET;
    f.title = b->title, f.goal = b->goal, f.agent = b->agent, f.priority = b->priority, f.config = b->config;
    f.timeout_ms = b->timeout_ms, f.max_attempts = b->max_attempts, f.retention_days = b->retention_days;
    f.cron = b->cron, f.timezone = b->cron ? b->timezone : NULL, f.enabled = b->cron ? b->enabled : -1;
    struct taskdef_error terr;
    int64_t id, next;
    const int rc = tasks_create(c->pg, user, &f, timefmt_now_ms(), &id, &next, &terr);
    if (rc) {
        change_failed(out, rc, &terr);
    } else if (b->cron) {
        char t[TIMEFMT_RFC3339_MAX];
        api_reply(out, 201, json_pack("{s:I, s:s?, s:s, s:s, s:b}", "task", (json_int_t)id, "nextRunAt", when(next, t),
                                  "timezone", b->zone, "cron", b->cron, "enabled", b->enabled));
    } else {
        trigger(c, user, id, out);
        if (out->status == 202 && b->wait) { /* answer when the run ends (http_api waits) */
            out->wait_run = json_integer_value(json_object_get(out->doc, "run"));
            out->wait_user = user;
            out->wait_ms = (b->timeout_ms > 0 ? b->timeout_ms : 300000) + WAIT_MARGIN_MS;
        }
    }
}

/* ---- async: false ---- */

/* "{1,2,3}": the runs of the waits (all of them, or only those past their deadline), or with
 * users set, the users of all of them. */
static char *run_array(struct api_wait *const *waits, int n, int64_t past_ms, int users)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f)
        return NULL;
    fputc('{', f);
    for (int i = 0, first = 1; i < n; i++)
        if (past_ms < 0 || past_ms >= waits[i]->deadline_ms)
            fprintf(f, "%s%" PRId64, first ? "" : ",", users ? waits[i]->user : waits[i]->run), first = 0;
    fputc('}', f);
    fclose(f);
    return text;
}

void api_tasks_wait_check(struct connpair *c, struct api_wait *const *waits, int n, int64_t now_ms)
{
    char err[512] = "";
    json_t *runs = NULL; /* NULL: the check failed (err says why) */
    if (n > 0 && connpair_ensure(c, err, sizeof err) == 0) {
        /* in one query, the whole run of each wait that can be answered: its run ended, or its
         * deadline passed; each run by its waiting user's id, as every statement here names it */
        char *all = run_array(waits, n, -1, 0), *past = run_array(waits, n, now_ms, 0), *users = run_array(waits, n, -1, 1);
        const char *params[3] = {all, past, users};
        if (all && past && users)
            history_select((struct pg_conn *)c->pg,
                                "(r.id, r.user_id) IN (SELECT * FROM unnest($1::bigint[], $3::bigint[]))"
                                " AND (r.status NOT IN ('queued', 'running', 'retrying') OR r.id = ANY($2::bigint[]))",
                                3, params, &runs, err, sizeof err);
        free(all), free(past), free(users);
    }
    const int ok = runs != NULL;
    for (int i = 0; i < n; i++) {
        struct api_wait *w = waits[i];
        json_t *run = NULL, *v;
        size_t k;
        json_array_foreach(runs, k, v)
        {
            if (json_integer_value(json_object_get(v, "id")) == w->run)
                run = v;
        }
        const char *status = run ? json_string_value(json_object_get(run, "status")) : "";
        const int ended = run && strcmp(status, "queued") && strcmp(status, "running") && strcmp(status, "retrying");
        if (!ended && now_ms < w->deadline_ms)
            continue; /* a failed check is tried again at the next; the deadline still holds */
        memset(&w->resp, 0, sizeof w->resp);
        if (run)
            api_reply(&w->resp, ended ? 200 : 202, json_incref(run));
        else if (ok)
            api_error(&w->resp, 404, NULL, "no run %" PRId64, w->run);
        else
            api_error(&w->resp, 503, NULL, "the database is unavailable (%.200s); the run goes on: poll GET /api/runs/%" PRId64,
                  err[0] ? err : "no connection", w->run);
        if (!ended && w->resp.status != 404) /* still going, or unknown for now: say where to look */
            snprintf(w->resp.extra, sizeof w->resp.extra, "%sLocation: /api/runs/%" PRId64 "\r\n",
                     w->resp.status == 503 ? "Retry-After: 5\r\n" : "", w->run);
        w->done = 1;
    }
    json_decref(runs);
}

/* ---- routing ---- */

/* GET /api/runs/{id}/live?after=ID: what a running exec run wrote since entry after, from its
 * live stream (queue.h: QUEUE_LOG_*): {"entries": [{attempt, stream, data}], "last", "ended"}.
 * Nothing when it streams nothing (other agents, or it ended within one flush): the page then
 * shows what GET /api/runs/{id}/logs has. */
#define LIVE_ENTRIES_MAX 256
static void run_live(struct connpair *c, int64_t scope, int64_t id, const char *query, struct api_response *out)
{
    char after[64] = "0";
    const int got = http_query_get(query, "after", after, sizeof after);
    if (got < 0 || strspn(after, "0123456789-") != strlen(after)) {
        api_error(out, 400, "after", "after must be the \"last\" of the answer before (a stream id such as 1700000000000-0)");
        return;
    }
    if (!got)
        snprintf(after, sizeof after, "0");
    int64_t task;
    char err[256];
    const int found = history_run_task((struct pg_conn *)c->pg, scope, id, &task, err, sizeof err);
    if (found != 0) {
        history_answer(out, c->pg, found, NULL, err, NULL);
        return;
    }
    struct queue q;
    struct queue_error qerr;
    queue_init(&q, "default", &qerr);
    redisReply *rr = redisconn_command(c->redis, "XREAD COUNT %d STREAMS %s%" PRId64 " %s", LIVE_ENTRIES_MAX, q.log_prefix, id,
                                  after);
    if (!rr || rr->type == REDIS_REPLY_ERROR) {
        api_error(out, 503, NULL, "redis: %s", rr ? rr->str : c->redis->errstr);
        freeReplyObject(rr);
        connpair_redis_failed(c);
        return;
    }
    json_t *entries = json_array();
    int ended = 0;
    const redisReply *list = rr->type == REDIS_REPLY_ARRAY && rr->elements ? rr->element[0]->element[1] : NULL;
    for (size_t i = 0; list && i < list->elements; i++) {
        struct queue_log_entry le;
        if (queue_log_entry(list->element[i], &le) != 0)
            continue;
        snprintf(after, sizeof after, "%s", le.id);
        ended = le.end;
        if (le.stream)
            json_array_append_new(entries, json_pack("{s:I, s:s, s:s%}", "attempt", (json_int_t)le.attempt, "stream",
                                                     le.stream, "data", le.data, le.len));
    }
    freeReplyObject(rr);
    api_reply(out, 200, json_pack("{s:o, s:s, s:b}", "entries", entries, "last", after, "ended", ended));
}

/* POST /api/tasks/{id}/backfill {"from": T, "to": T}: a run for every slot in the range that has
 * none (GET /api/tasks/{id}/slots shows them first). */
static void backfill(struct connpair *c, int64_t scope, int64_t id, const struct http_req *req, struct api_response *out)
{
    json_t *t = own_task(c->pg, scope, id, out);
    if (!t)
        return;
    json_decref(t);
    json_error_t jerr;
    json_t *body = json_loadb(req->body ? req->body : "", req->body_len, JSON_REJECT_DUPLICATES, &jerr);
    const char *from = json_string_value(json_object_get(body, "from")), *to = json_string_value(json_object_get(body, "to"));
    int64_t from_ms = 0, to_ms = 0;
    const char *why = "missing", *field = NULL;
    if (!json_is_object(body) || json_object_size(body) != 2)
        field = "from", why = "send exactly from and to";
    else if (!from || timefmt_parse_rfc3339(from, &from_ms, &why) != 0)
        field = "from";
    else if (!to || timefmt_parse_rfc3339(to, &to_ms, &why) != 0)
        field = "to";
    else if (to_ms < from_ms)
        field = "to", why = "to is before from";
    if (field) {
        api_error(out, 400, field, "send {\"from\": T, \"to\": T} as RFC 3339 times (2026-11-01T00:00:00Z): %s", why);
        json_decref(body);
        return;
    }
    json_decref(body);
    const struct scheduler_options opt = {.database_url = c->database_url, .redis_url = c->redis_url,
                                          .queue = "default", .batch = 1000};
    struct scheduler *s = scheduler_new(&opt);
    struct backfill_result r;
    char err[1024];
    const int rc = s ? scheduler_backfill(s, id, from_ms, to_ms, &r, err, sizeof err) : -1;
    scheduler_free(s);
    if (rc != 0)
        api_error(out, strstr(err, "narrower") || strstr(err, "no schedule") ? 400 : 503, "to", "%s",
                  s ? err : "out of memory");
    else
        api_reply(out, 200, json_pack("{s:I, s:I, s:I, s:I, s:I}", "task", (json_int_t)id, "slots", (json_int_t)r.slots,
                                      "created", (json_int_t)r.created, "existing", (json_int_t)r.existing, "enqueued",
                                      (json_int_t)r.enqueued));
}

/* POST /api/runs/{id}/cancel and /retry (a new run of the run's task, now). */
static void run_action(struct connpair *c, int64_t scope, int64_t id, const char *action, struct api_response *out)
{
    char status[32], err[512];
    if (!strcmp(action, "/cancel")) {
        const int rc = runctl_cancel(c->pg, c->redis, id, scope, status, err, sizeof err);
        if (rc == RUNCTL_NOT_FOUND)
            api_error(out, 404, NULL, "no run %" PRId64, id);
        else if (rc < 0)
            api_error(out, 503, NULL, "cancelling failed: %.300s", err);
        else
            api_reply(out, 200, json_pack("{s:I, s:s, s:s}", "run", (json_int_t)id, "result",
                                          rc == RUNCTL_CANCELLED ? "cancelled" : rc == RUNCTL_STOPPING ? "stopping"
                                                                                                      : "finished",
                                          "status", status));
        return;
    }
    int64_t task;
    const int found = history_run_task((struct pg_conn *)c->pg, scope, id, &task, err, sizeof err);
    if (found != 0) {
        history_answer(out, c->pg, found, NULL, err, NULL);
        return;
    }
    trigger(c, scope, task, out);
    if (out->status == 202)
        json_object_set_new(out->doc, "retryOf", json_integer(id));
}

void api_tasks_serve(struct connpair *c, const struct api_context *ctx, const struct http_req *req,
                     struct api_response *out)
{
    memset(out, 0, sizeof *out);
    char err[512];
    if (connpair_ensure(c, err, sizeof err) != 0) {
        api_error(out, 503, NULL, "unavailable: %.300s", err);
        snprintf(out->extra, sizeof out->extra, "Retry-After: 5\r\n");
        return;
    }
    const char *m = req->method, *rest = "";
    const int get = !strcmp(m, "GET"), post = !strcmp(m, "POST"), del = !strcmp(m, "DELETE");
    const int patch = !strcmp(m, "PATCH");
    if ((post || patch) && req->body_len) {
        const char *ct = http_req_header(req, "Content-Type");
        if (!ct || strncasecmp(ct, "application/json", 16) != 0) {
            api_error(out, 415, NULL, "send the body as Content-Type: application/json");
            return;
        }
    }
    if (!strcmp(req->path, "/api/session") && post) { /* signing in needs no session */
        session_sign_in(c, req, ctx->https, ctx->session_ttl_s, out);
        return;
    }
    if (api_steps_owns(req)) { /* an http agent's app, with its run token */
        api_steps_serve(c, ctx->agents, req, out);
        return;
    }
    struct principal p;
    if (session_authenticate(c, req, &p, out) != 0)
        return;
    const int64_t scope = principal_scope(&p), user = p.user;
    const struct agent_set *agents = ctx->agents;
    int64_t id;
    if (!strcmp(req->path, "/api/session")) {
        if (get)
            session_show(c, req, &p, out);
        else if (del)
            session_sign_out(c, &p, ctx->https, out);
        else
            api_method_not_allowed(out, "GET, POST, DELETE");
    } else if (!strcmp(req->path, "/api/schedule/preview")) {
        if (!get)
            api_method_not_allowed(out, "GET");
        else
            api_schedule_preview(req->query, timefmt_now_ms(), out);
    } else if (!strcmp(req->path, "/api/agent/execute")) {
        if (!post)
            api_method_not_allowed(out, "POST");
        else
            execute(c, agents, user, req, out);
    } else if (!strcmp(req->path, "/api/tasks") || !strcmp(req->path, "/api/runs") || !strcmp(req->path, "/api/usage")) {
        if (!get)
            api_method_not_allowed(out, "GET");
        else if (!strcmp(req->path, "/api/tasks"))
            list_tasks(c->pg, scope, req->query, out);
        else if (!strcmp(req->path, "/api/runs"))
            list_runs(c->pg, scope, 0, req->query, out);
        else
            usage(c->pg, scope, req->query, out);
    } else if ((id = api_path_id(req->path, "/api/tasks/", &rest))) {
        if (!*rest && get) {
            json_t *t = own_task(c->pg, scope, id, out);
            if (t)
                api_reply(out, 200, t);
        } else if (!*rest && del)
            set_status(c, scope, id, "deleted", out);
        else if (!*rest && patch)
            patch_task(c->pg, agents, scope, id, req, out);
        else if ((!strcmp(rest, "/runs") || !strcmp(rest, "/slots")) && get) {
            json_t *t = own_task(c->pg, scope, id, out); /* 404 for anyone else's */
            json_decref(t);
            if (t && !strcmp(rest, "/runs"))
                list_runs(c->pg, scope, id, req->query, out);
            else if (t)
                task_slots(c->pg, scope, id, req->query, out);
        }
        else if (!strcmp(rest, "/pause") && post)
            set_status(c, scope, id, "paused", out);
        else if (!strcmp(rest, "/resume") && post)
            set_status(c, scope, id, "active", out);
        else if (!strcmp(rest, "/trigger") && post) {
            const char *key = idempotency_key_of(req, NULL, out);
            if (!out->status && !(key && idempotency_claim(c->pg, user, key, req->path, req->body, req->body_len, out))) {
                trigger(c, scope, id, out);
                if (key)
                    idempotency_finish(c->pg, user, key, out);
            }
        }
        else if (!strcmp(rest, "/cancel") && post)
            cancel_runs(c, scope, id, out);
        else if (!strcmp(rest, "/backfill") && post)
            backfill(c, scope, id, req, out);
        else if (!*rest)
            api_method_not_allowed(out, "GET, PATCH, DELETE");
        else if (!strcmp(rest, "/runs") || !strcmp(rest, "/slots"))
            api_method_not_allowed(out, "GET");
        else if (!strcmp(rest, "/pause") || !strcmp(rest, "/resume") || !strcmp(rest, "/trigger") ||
                 !strcmp(rest, "/cancel") || !strcmp(rest, "/backfill"))
            api_method_not_allowed(out, "POST");
        else
            api_error(out, 404, NULL, "no such route");
    } else if ((id = api_path_id(req->path, "/api/runs/", &rest)) &&
               (!*rest || !strcmp(rest, "/logs") || !strcmp(rest, "/live") || !strcmp(rest, "/steps"))) {
        if (!get)
            api_method_not_allowed(out, "GET");
        else if (!*rest)
            show_run(c->pg, scope, id, out);
        else if (!strcmp(rest, "/steps"))
            run_steps(c->pg, scope, id, out);
        else if (!strcmp(rest, "/live"))
            run_live(c, scope, id, req->query, out);
        else
            run_logs(c->pg, scope, id, req->query, out);
    } else if ((id = api_path_id(req->path, "/api/runs/", &rest)) && (!strcmp(rest, "/cancel") || !strcmp(rest, "/retry"))) {
        if (!post)
            api_method_not_allowed(out, "POST");
        else
            run_action(c, scope, id, rest, out);
    } else if (!api_admin_serve(c, &p, req, ctx->overview, out) && !api_alerts_serve(c, &p, req, ctx->cfg, out))
        api_error(out, 404, NULL, "no such route");
}
