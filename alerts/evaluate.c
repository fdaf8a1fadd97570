/* SPDX-License-Identifier: MIT */
/* Evaluating alert rules (see evaluate.h). */
#include "evaluate.h"

#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "health.h"
#include "pgconn.h"

#define LOCK_KEY "7215392602" /* pg_advisory_xact_lock key: agentcron alerts (retention's is ...601) */
#define EVENT_LAG "interval '2 seconds'"

/* Parameters of every condition's query, typed so that each query may use only some:
 * $1 rule, $2 owner (0: an operator's), $3 scope user, $4 scope agent (''), $5 scope task,
 * $6 threshold, $7 duration (s), $8 events from, $9 events up to. */
#define NPARAMS 9
static const Oid param_types[NPARAMS] = {20, 20, 20, 25, 20, 20, 20, 1184, 1184};

#define TASK_SCOPE                                                                                          \
    " ($2::bigint = 0 OR t.user_id = $2::bigint) AND ($3::bigint = 0 OR t.user_id = $3::bigint)"            \
    " AND ($4::text = '' OR t.agent_type = $4::text) AND ($5::bigint = 0 OR t.id = $5::bigint)"
#define OPEN_TASKS                                                                                          \
    " SELECT substr(subject, 6)::bigint FROM alert_incidents WHERE rule_id = $1::bigint AND resolved_at IS NULL" \
    " AND subject LIKE 'task:%'"
#define IS_OPEN(subject)                                                                                    \
    " EXISTS (SELECT 1 FROM alert_incidents i WHERE i.rule_id = $1::bigint AND i.subject = " subject        \
    " AND i.resolved_at IS NULL)"
#define BAD "('failed', 'timed_out', 'insufficient_credits')"
#define TASK_JSON "jsonb_build_object('id', t.id, 'title', t.title, 'agent', t.agent_type, 'user', t.user_id)"
/* the newest run of task t that ended badly in the event window, or NULL */
#define NEW_BAD_RUN                                                                                         \
    " (SELECT jsonb_build_object('id', r.id, 'status', r.status, 'attempt', r.attempt, 'error', left(r.error, 1000),"\
    " 'scheduledFor', r.scheduled_for, 'finishedAt', r.finished_at) FROM task_runs r WHERE r.task_id = t.id"  \
    " AND r.finished_at > $8 AND r.finished_at <= $9 AND r.status IN " BAD " ORDER BY r.finished_at DESC LIMIT 1)"

/* The run conditions look at the runs that ended badly in the window (found through
 * task_runs_finished) and the tasks of open incidents: a streak can only start with a failure,
 * and only an open incident can clear. (A partial index on the failed runs would spare the scan
 * but costs every settle statement: measured 20 % more Postgres CPU on the worker benchmark.)
 * Each query returns the subjects to act on: (subject, holds, open, detail) for those that hold
 * or have an open incident. */
static const char sql_run_failed[] =
    "WITH cand AS (SELECT DISTINCT task_id AS id FROM task_runs WHERE finished_at > $8 AND finished_at <= $9"
    "              AND status IN " BAD " UNION" OPEN_TASKS "),"
    " s AS (SELECT 'task:' || t.id AS subject, " NEW_BAD_RUN " AS run, " TASK_JSON " AS task,"
    "         (SELECT r.status FROM task_runs r WHERE r.task_id = t.id AND r.finished_at IS NOT NULL"
    "          AND r.finished_at <= $9 AND r.status <> 'cancelled' ORDER BY r.scheduled_for DESC LIMIT 1) AS last"
    "       FROM tasks t JOIN cand ON cand.id = t.id WHERE" TASK_SCOPE ")"
    " SELECT subject, run IS NOT NULL OR coalesce(last IN " BAD ", false),"
    IS_OPEN("s.subject") ", jsonb_strip_nulls(jsonb_build_object('task', task, 'run', run))::text FROM s";

static const char sql_failures_in_row[] =
    "WITH cand AS (SELECT DISTINCT task_id AS id FROM task_runs WHERE finished_at > $8 AND finished_at <= $9"
    "              AND status IN " BAD " UNION" OPEN_TASKS "),"
    " s AS (SELECT 'task:' || t.id AS subject, " NEW_BAD_RUN " AS run, " TASK_JSON " AS task,"
    "         (SELECT count(*) = $6::bigint AND bool_and(x.status IN " BAD ") FROM (SELECT r.status FROM task_runs r"
    "          WHERE r.task_id = t.id AND r.finished_at IS NOT NULL AND r.finished_at <= $9 AND r.status <> 'cancelled'"
    "          ORDER BY r.scheduled_for DESC LIMIT $6::bigint) x) AS streak"
    "       FROM tasks t JOIN cand ON cand.id = t.id WHERE" TASK_SCOPE ")"
    " SELECT subject, coalesce(streak, false)," IS_OPEN("s.subject") ","
    " jsonb_strip_nulls(jsonb_build_object('task', task, 'run', run, 'inARow', $6::bigint))::text FROM s";

static const char sql_slot_missed[] =
    "WITH cand AS (SELECT DISTINCT task_id AS id FROM slot_gaps WHERE decided_at > $8 AND decided_at <= $9"
    "              AND reason <> 'paused' UNION" OPEN_TASKS "),"
    " s AS (SELECT 'task:' || t.id AS subject, " TASK_JSON " AS task, g.*,"
    "         EXISTS (SELECT 1 FROM slot_gaps n WHERE n.task_id = t.id AND n.decided_at > $8 AND n.decided_at <= $9"
    "                 AND n.reason <> 'paused') AS new_gap,"
    "         (SELECT max(r.scheduled_for) FROM task_runs r WHERE r.task_id = t.id) AS last_run"
    "       FROM tasks t JOIN cand ON cand.id = t.id"
    "       LEFT JOIN LATERAL (SELECT first_slot, last_slot, slots, reason FROM slot_gaps g WHERE g.task_id = t.id"
    "                          AND g.reason <> 'paused' ORDER BY g.last_slot DESC LIMIT 1) g ON true"
    "       WHERE" TASK_SCOPE ")"
    " SELECT subject, new_gap OR coalesce(last_slot > coalesce(last_run, '-infinity'), false)," IS_OPEN("s.subject") ","
    " jsonb_strip_nulls(jsonb_build_object('task', task, 'gap', CASE WHEN last_slot IS NOT NULL THEN"
    "   jsonb_build_object('reason', reason, 'firstSlot', first_slot, 'lastSlot', last_slot, 'slots', slots) END))::text"
    " FROM s";

/* Succeeded runs are looked for among those slotted up to a day before the window, so the
 * task's slot index bounds the search. */
static const char sql_no_success[] =
    "WITH cand AS (SELECT t.id FROM tasks t WHERE t.status = 'active' AND t.schedule_enabled AND" TASK_SCOPE
    "              UNION" OPEN_TASKS "),"
    " s AS (SELECT 'task:' || t.id AS subject, " TASK_JSON " AS task,"
    "         t.status = 'active' AND t.schedule_enabled AND t.created_at <= now() - make_interval(secs => $7::bigint)"
    "         AND NOT EXISTS (SELECT 1 FROM task_runs r WHERE r.task_id = t.id"
    "             AND r.scheduled_for > now() - make_interval(secs => $7::bigint) - interval '1 day'"
    "             AND r.status = 'succeeded' AND r.finished_at > now() - make_interval(secs => $7::bigint)) AS holds"
    "       FROM tasks t JOIN cand ON cand.id = t.id WHERE" TASK_SCOPE ")"
    " SELECT subject, holds, open, jsonb_build_object('task', task, 'durationS', $7::bigint)::text"
    " FROM (SELECT s.*," IS_OPEN("s.subject") " AS open FROM s) x WHERE holds OR open";

static const char sql_credits_used[] =
    "WITH s AS (SELECT 'user:' || u.id AS subject, u.email, u.credits_used, u.monthly_credits + u.granted_credits AS allowance"
    "           FROM users u WHERE ($2::bigint = 0 OR u.id = $2::bigint) AND ($3::bigint = 0 OR u.id = $3::bigint)"
    "           AND $4::text = '' AND $5::bigint = 0)"
    " SELECT subject, holds, open, jsonb_build_object('user', jsonb_build_object('id', substr(subject, 6)::bigint,"
    "   'email', email), 'creditsUsed', credits_used, 'allowance', allowance, 'percent', $6::bigint)::text"
    " FROM (SELECT s.*, allowance > 0 AND credits_used * 100 >= $6::bigint * allowance AS holds,"
    IS_OPEN("s.subject") " AS open FROM s) x WHERE holds OR open";

/* The oldest queued run in scope (by id: the order they were made in). */
static const char sql_queue_wait[] =
    "WITH q AS (SELECT r.id, r.task_id, greatest(r.enqueued_at, r.not_before) AS since FROM task_runs r"
    "           JOIN tasks t ON t.id = r.task_id WHERE r.status = 'queued' AND" TASK_SCOPE
    "           ORDER BY r.status, r.id LIMIT 1)"
    " SELECT 'queue', coalesce((SELECT since <= now() - make_interval(secs => $7::bigint) FROM q), false),"
    IS_OPEN("'queue'") ", jsonb_strip_nulls(jsonb_build_object('durationS', $7::bigint, 'run', (SELECT"
    "   jsonb_build_object('id', id, 'task', task_id, 'waitingS', floor(extract(epoch FROM now() - since))) FROM q)))::text";

struct rule {
    const char *id, *name, *owner, *scope_user, *agent, *task, *condition, *threshold, *duration, *repeat, *from;
};

/* How many instances of role report in Redis now; -1 if Redis did not answer. */
static long long count_reports(redisContext *redis, const char *role)
{
    if (!redis)
        return -1;
    json_t *all = health_instances(redis);
    long long n = 0;
    size_t i;
    json_t *doc;
    json_array_foreach(all, i, doc) {
        const char *r = json_string_value(json_object_get(doc, "role"));
        n += r && !strcmp(r, role);
    }
    json_decref(all);
    return redis->err ? -1 : n;
}

static const char *str(const json_t *o, const char *a, const char *b)
{
    const json_t *v = json_object_get(o, a);
    if (b)
        v = json_object_get(v, b);
    return json_is_string(v) ? json_string_value(v) : "";
}

static long long num(const json_t *o, const char *a, const char *b)
{
    const json_t *v = json_object_get(o, a);
    if (b)
        v = json_object_get(v, b);
    return json_is_integer(v) ? (long long)json_integer_value(v) : 0;
}

/* One readable sentence for what the incident is about (the Slack text, the mail's subject). */
static void summarize(const struct rule *rl, const json_t *d, int resolved, char *out, size_t len)
{
    char what[700];
    const char *c = rl->condition;
    char task[260];
    snprintf(task, sizeof task, "task \"%.160s\" (#%lld)", str(d, "task", "title"), num(d, "task", "id"));
    if (!strcmp(c, "run_failed") || !strcmp(c, "failures_in_row")) {
        const json_t *run = json_object_get(d, "run");
        char streak[64] = "";
        if (!strcmp(c, "failures_in_row"))
            snprintf(streak, sizeof streak, " %lld times in a row", num(d, "inARow", NULL));
        if (resolved)
            snprintf(what, sizeof what, "%s runs again without failing", task);
        else if (run)
            snprintf(what, sizeof what, "%s failed%s: run %lld ended %s after %lld attempt%s: %.300s", task, streak,
                     num(run, "id", NULL), str(run, "status", NULL), num(run, "attempt", NULL),
                     num(run, "attempt", NULL) == 1 ? "" : "s", str(run, "error", NULL));
        else
            snprintf(what, sizeof what, "%s failed%s", task, streak);
    } else if (!strcmp(c, "slot_missed")) {
        const json_t *g = json_object_get(d, "gap");
        if (resolved || !g)
            snprintf(what, sizeof what, "%s %s", task, resolved ? "runs its slots again" : "missed a slot");
        else
            snprintf(what, sizeof what, "%s: slots %s to %s got no run (%s, %lld slot%s)", task, str(g, "firstSlot", NULL),
                     str(g, "lastSlot", NULL), str(g, "reason", NULL), num(g, "slots", NULL),
                     num(g, "slots", NULL) == 1 ? "" : "s");
    } else if (!strcmp(c, "no_success"))
        snprintf(what, sizeof what, "%s %s in %lld s", task, resolved ? "succeeded again" : "has not succeeded",
                 num(d, "durationS", NULL));
    else if (!strcmp(c, "credits_used"))
        snprintf(what, sizeof what, "user %s has used %lld of %lld credits this month (alert at %lld%%)",
                 str(d, "user", "email"), num(d, "creditsUsed", NULL), num(d, "allowance", NULL), num(d, "percent", NULL));
    else if (!strcmp(c, "queue_wait")) {
        if (json_object_get(d, "run") && !resolved)
            snprintf(what, sizeof what, "the oldest queued run (%lld, task %lld) has waited %lld s (alert after %lld s)",
                     num(d, "run", "id"), num(d, "run", "task"), num(d, "run", "waitingS"), num(d, "durationS", NULL));
        else
            snprintf(what, sizeof what, "queued runs wait less than %lld s", num(d, "durationS", NULL));
    } else
        snprintf(what, sizeof what, "%lld %s reporting, fewer than the %lld expected", num(d, "reporting", NULL),
                 !strcmp(c, "workers_below") ? "workers" : "orchestrators", num(d, "expected", NULL));
    snprintf(out, len, "%s%s", resolved ? "Resolved: " : "", what);
}

/* The dashboard page for the incident: the run, else the task, else the overview. */
static void link_for(const char *public_url, const json_t *d, char *out, size_t len)
{
    if (num(d, "run", "id") && json_object_get(d, "task"))
        snprintf(out, len, "%s/#/runs/%lld", public_url, num(d, "run", "id"));
    else if (num(d, "task", "id"))
        snprintf(out, len, "%s/#/tasks/%lld", public_url, num(d, "task", "id"));
    else if (num(d, "run", "id"))
        snprintf(out, len, "%s/#/runs/%lld", public_url, num(d, "run", "id"));
    else
        snprintf(out, len, "%s/#/overview", public_url);
}

/* Records an announcement of incident (id, opened, notifications, its detail). */
static int announce(PGconn *pg, const struct rule *rl, const char *kind, const char *incident, const char *subject,
                    const char *opened, int notifications, const char *detail_text, const char *public_url, char *err,
                    size_t len)
{
    json_t *detail = json_loads(detail_text, 0, NULL);
    if (!detail)
        detail = json_object();
    char summary[800], url[1200];
    const int resolved = !strcmp(kind, "resolved");
    summarize(rl, detail, resolved, summary, sizeof summary);
    link_for(public_url, detail, url, sizeof url);
    json_t *payload = json_pack("{s:s, s:s, s:{s:I, s:s, s:s}, s:{s:I, s:s, s:s, s:i}, s:s, s:s, s:o}", "kind", kind,
                                "state", resolved ? "resolved" : "firing", "rule", "id",
                                (json_int_t)strtoll(rl->id, NULL, 10), "name", rl->name, "condition", rl->condition,
                                "incident", "id", (json_int_t)strtoll(incident, NULL, 10), "subject", subject,
                                "openedAt", opened, "notifications", notifications, "summary", summary, "url", url,
                                "detail", detail);
    char *text = payload ? json_dumps(payload, JSON_COMPACT) : NULL;
    json_decref(payload);
    if (!text) {
        snprintf(err, len, "out of memory");
        return -1;
    }
    const char *params[] = {rl->id, incident, kind, text};
    PGresult *r = PQexecParams(pg,
                               "INSERT INTO alert_deliveries (rule_id, incident_id, kind, payload)"
                               " VALUES ($1::bigint, $2::bigint, $3, $4::jsonb)",
                               4, NULL, params, NULL, NULL, 0);
    free(text);
    if (PQresultStatus(r) != PGRES_COMMAND_OK)
        return pgconn_failed(r, (struct pg_conn *)pg, "recording an alert", err, len);
    PQclear(r);
    return 0;
}

/* Opens, repeats or resolves the incident of one subject. */
static int act(PGconn *pg, const struct rule *rl, const char *subject, int holds, int open, const char *detail,
               const char *public_url, struct alert_pass *out, char *err, size_t len)
{
    if (holds) {
        const char *params[] = {rl->id, subject, detail, rl->repeat};
        PGresult *r = PQexecParams(
            pg,
            "INSERT INTO alert_incidents (rule_id, subject, detail) VALUES ($1::bigint, $2, $3::jsonb)"
            " ON CONFLICT (rule_id, subject) WHERE resolved_at IS NULL DO UPDATE SET detail = alert_incidents.detail"
            " || EXCLUDED.detail"
            " RETURNING id, xmax = 0, last_notified_at <= now() - make_interval(secs => $4::integer), to_json(opened_at) #>> '{}',"
            " notifications, detail::text",
            4, NULL, params, NULL, NULL, 0);
        if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1)
            return pgconn_failed(r, (struct pg_conn *)pg, "opening an incident", err, len);
        const int inserted = PQgetvalue(r, 0, 1)[0] == 't', due = PQgetvalue(r, 0, 2)[0] == 't';
        int rc = 0;
        if (inserted) {
            out->opened++;
            rc = announce(pg, rl, "firing", PQgetvalue(r, 0, 0), subject, PQgetvalue(r, 0, 3), 1, PQgetvalue(r, 0, 5),
                          public_url, err, len);
        } else if (due) {
            const char *p2[] = {PQgetvalue(r, 0, 0)};
            PGresult *u = PQexecParams(pg,
                                       "UPDATE alert_incidents SET last_notified_at = now(),"
                                       " notifications = notifications + 1 WHERE id = $1::bigint",
                                       1, NULL, p2, NULL, NULL, 0);
            if (PQresultStatus(u) != PGRES_COMMAND_OK)
                rc = pgconn_failed(u, (struct pg_conn *)pg, "repeating an incident", err, len);
            else {
                PQclear(u);
                out->repeated++;
                rc = announce(pg, rl, "repeat", PQgetvalue(r, 0, 0), subject, PQgetvalue(r, 0, 3),
                              atoi(PQgetvalue(r, 0, 4)) + 1, PQgetvalue(r, 0, 5), public_url, err, len);
            }
        }
        PQclear(r);
        return rc;
    }
    if (!open)
        return 0;
    const char *params[] = {rl->id, subject};
    PGresult *r = PQexecParams(pg,
                               "UPDATE alert_incidents SET resolved_at = now() WHERE rule_id = $1::bigint"
                               " AND subject = $2 AND resolved_at IS NULL RETURNING id, to_json(opened_at) #>> '{}', notifications, detail::text",
                               2, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        return pgconn_failed(r, (struct pg_conn *)pg, "resolving an incident", err, len);
    int rc = 0;
    if (PQntuples(r) == 1) {
        out->resolved++;
        rc = announce(pg, rl, "resolved", PQgetvalue(r, 0, 0), subject, PQgetvalue(r, 0, 1), atoi(PQgetvalue(r, 0, 2)),
                      PQgetvalue(r, 0, 3), public_url, err, len);
    }
    PQclear(r);
    return rc;
}

/* orchestrators_below, workers_below: from the status reports in Redis. */
static int evaluate_reports(PGconn *pg, redisContext *redis, const struct rule *rl, const char *public_url,
                            struct alert_pass *out, char *err, size_t len)
{
    const int workers = !strcmp(rl->condition, "workers_below");
    const long long n = count_reports(redis, workers ? "worker" : "orchestrator");
    if (n < 0)
        return 0; /* Redis is unreachable: say nothing either way */
    const long long expected = strtoll(rl->threshold, NULL, 10);
    const char *subject = workers ? "workers" : "orchestrators";
    const char *params[] = {rl->id, subject};
    PGresult *r = PQexecParams(pg, "SELECT" IS_OPEN("$2"), 2, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        return pgconn_failed(r, (struct pg_conn *)pg, "reading incidents", err, len);
    const int open = PQgetvalue(r, 0, 0)[0] == 't';
    PQclear(r);
    char detail[128];
    snprintf(detail, sizeof detail, "{\"reporting\": %lld, \"expected\": %lld}", n, expected);
    return act(pg, rl, subject, n < expected, open, detail, public_url, out, err, len);
}

static int evaluate_rule(PGconn *pg, redisContext *redis, const struct rule *rl, const char *upto,
                         const char *public_url, struct alert_pass *out, char *err, size_t len)
{
    static const struct {
        const char *condition, *sql;
    } queries[] = {{"run_failed", sql_run_failed},   {"failures_in_row", sql_failures_in_row},
                   {"slot_missed", sql_slot_missed}, {"no_success", sql_no_success},
                   {"credits_used", sql_credits_used}, {"queue_wait", sql_queue_wait}};
    const char *sql = NULL;
    for (size_t i = 0; i < sizeof queries / sizeof *queries; i++)
        if (!strcmp(queries[i].condition, rl->condition))
            sql = queries[i].sql;
    if (!sql)
        return evaluate_reports(pg, redis, rl, public_url, out, err, len);
    const char *params[NPARAMS] = {rl->id, rl->owner, rl->scope_user, rl->agent, rl->task, rl->threshold,
                                   rl->duration, rl->from, upto};
    PGresult *r = PQexecParams(pg, sql, NPARAMS, param_types, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        char what[160];
        snprintf(what, sizeof what, "evaluating alert rule %s (%s)", rl->id, rl->condition);
        return pgconn_failed(r, (struct pg_conn *)pg, what, err, len);
    }
    int rc = 0;
    for (int i = 0; i < PQntuples(r) && rc == 0; i++)
        rc = act(pg, rl, PQgetvalue(r, i, 0), PQgetvalue(r, i, 1)[0] == 't', PQgetvalue(r, i, 2)[0] == 't',
                 PQgetvalue(r, i, 3), public_url, out, err, len);
    PQclear(r);
    return rc;
}

static int rollback(PGconn *pg, int rc)
{
    PQclear(PQexec(pg, "ROLLBACK"));
    return rc;
}

int alerts_evaluate(struct pg_conn *conn, struct redisContext *redis, const char *public_url, struct alert_pass *out,
                    char *err, size_t len)
{
    PGconn *pg = (PGconn *)conn;
    memset(out, 0, sizeof *out);
    PGresult *r = PQexec(pg, "SELECT EXISTS (SELECT 1 FROM alert_rules WHERE enabled)");
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        return pgconn_failed(r, (struct pg_conn *)pg, "reading alert rules", err, len);
    const int any = PQgetvalue(r, 0, 0)[0] == 't';
    PQclear(r);
    if (!any)
        return 0; /* the common case costs one read, no transaction */
    r = PQexec(pg, "BEGIN");
    if (PQresultStatus(r) != PGRES_COMMAND_OK)
        return pgconn_failed(r, (struct pg_conn *)pg, "starting an alert pass", err, len);
    PQclear(r);
    r = PQexec(pg, "SELECT pg_try_advisory_xact_lock(" LOCK_KEY "), (now() - " EVENT_LAG ")::text");
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        return rollback(pg, pgconn_failed(r, (struct pg_conn *)pg, "taking the alert lock", err, len));
    if (PQgetvalue(r, 0, 0)[0] != 't') {
        PQclear(r);
        out->elsewhere = 1;
        return rollback(pg, 0);
    }
    char upto[64];
    snprintf(upto, sizeof upto, "%s", PQgetvalue(r, 0, 1));
    PQclear(r);
    PGresult *rules = PQexec(pg,
                             "SELECT id, name, coalesce(owner_user_id, 0), coalesce(scope_user_id, 0),"
                             " coalesce(scope_agent, ''), coalesce(scope_task_id, 0), condition,"
                             " coalesce(threshold, 1), coalesce(duration_s, 0), repeat_s, events_from::text"
                             " FROM alert_rules WHERE enabled ORDER BY id");
    if (PQresultStatus(rules) != PGRES_TUPLES_OK)
        return rollback(pg, pgconn_failed(rules, (struct pg_conn *)pg, "reading alert rules", err, len));
    int rc = 0;
    for (int i = 0; i < PQntuples(rules) && rc == 0; i++) {
        const struct rule rl = {PQgetvalue(rules, i, 0), PQgetvalue(rules, i, 1), PQgetvalue(rules, i, 2),
                                PQgetvalue(rules, i, 3), PQgetvalue(rules, i, 4), PQgetvalue(rules, i, 5),
                                PQgetvalue(rules, i, 6), PQgetvalue(rules, i, 7), PQgetvalue(rules, i, 8),
                                PQgetvalue(rules, i, 9), PQgetvalue(rules, i, 10)};
        rc = evaluate_rule(pg, redis, &rl, upto, public_url, out, err, len);
        out->rules++;
    }
    PQclear(rules);
    if (rc != 0)
        return rollback(pg, rc);
    const char *params[] = {upto};
    r = PQexecParams(pg, "UPDATE alert_rules SET events_from = $1::timestamptz WHERE enabled AND events_from < $1::timestamptz",
                     1, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_COMMAND_OK)
        return rollback(pg, pgconn_failed(r, (struct pg_conn *)pg, "moving the alert rules' event window", err, len));
    PQclear(r);
    r = PQexec(pg, "COMMIT");
    if (PQresultStatus(r) != PGRES_COMMAND_OK)
        return pgconn_failed(r, (struct pg_conn *)pg, "committing the alert pass", err, len);
    PQclear(r);
    return 0;
}
