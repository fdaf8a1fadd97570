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

#include "evaluate_sql.h"
#include "health.h"
#include "pgconn.h"

#define LOCK_KEY "7215392602" /* pg_advisory_xact_lock key: agentcron alerts (retention's is ...601) */
#define EVENT_LAG "interval '2 seconds'"

/* The parameters of every condition's statement (evaluate_sql.h), typed so that each may use
 * only some. */
#define NPARAMS 9
static const Oid param_types[NPARAMS] = {20, 20, 20, 25, 20, 20, 20, 1184, 1184};

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
    const char *sql = NULL;
    for (size_t i = 0; i < sizeof alert_condition_sql / sizeof *alert_condition_sql; i++)
        if (!strcmp(alert_condition_sql[i].condition, rl->condition))
            sql = alert_condition_sql[i].sql;
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
                             " coalesce(threshold, 1), coalesce(duration_s, 0), repeat_s, events_from::text,"
                             " condition = 'no_success' AND checked_at > now() - least(interval '1 minute',"
                             "   make_interval(secs => duration_s / 4.0))"
                             " FROM alert_rules WHERE enabled ORDER BY id");
    if (PQresultStatus(rules) != PGRES_TUPLES_OK)
        return rollback(pg, pgconn_failed(rules, (struct pg_conn *)pg, "reading alert rules", err, len));
    int rc = 0;
    for (int i = 0; i < PQntuples(rules) && rc == 0; i++) {
        if (PQgetvalue(rules, i, 11)[0] == 't')
            continue; /* looked at every task of its scope less than a minute ago */
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
    r = PQexecParams(pg,
                     "UPDATE alert_rules SET events_from = greatest(events_from, $1::timestamptz),"
                     " checked_at = CASE WHEN condition = 'no_success' AND (checked_at IS NULL OR checked_at <= now() -"
                     "   least(interval '1 minute', make_interval(secs => duration_s / 4.0))) THEN now() ELSE checked_at END"
                     " WHERE enabled",
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

int alerts_prune(struct pg_conn *conn, int days, long long *removed, char *err, size_t len)
{
    PGconn *pg = (PGconn *)conn;
    *removed = 0;
    if (days <= 0)
        return 0;
    char d[16];
    snprintf(d, sizeof d, "%d", days);
    const char *params[] = {d};
    PGresult *r = PQexecParams(pg,
                               "WITH i AS (DELETE FROM alert_incidents WHERE resolved_at < now() - make_interval(days =>"
                               "   $1::integer) RETURNING 1),"
                               " t AS (DELETE FROM alert_deliveries WHERE incident_id IS NULL AND created_at < now() -"
                               "   make_interval(days => $1::integer) RETURNING 1)"
                               " SELECT (SELECT count(*) FROM i) + (SELECT count(*) FROM t)",
                               1, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        return pgconn_failed(r, conn, "pruning old alert incidents", err, len);
    *removed = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return 0;
}
