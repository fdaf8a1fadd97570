/* SPDX-License-Identifier: MIT */
/* Alert rules (see rules.h). */
#include "rules.h"

#include <ctype.h>
#include <inttypes.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "pgconn.h"

/* What each condition needs: a threshold (and its bounds), a duration, an operator. */
static const struct condition {
    const char *name;
    int threshold; /* 1 required, 0 not used */
    long long lo, hi;
    int duration;  /* 1 required */
    int operator_only;
    const char *threshold_means;
} conditions[] = {
    {"run_failed", 0, 0, 0, 0, 0, NULL},
    {"failures_in_row", 1, 2, 1000, 0, 0, "how many failed runs in a row (2-1000)"},
    {"slot_missed", 0, 0, 0, 0, 0, NULL},
    {"no_success", 0, 0, 0, 1, 0, NULL},
    {"credits_used", 1, 1, 1000, 0, 0, "the percentage of the month's credits (1-1000)"},
    {"queue_wait", 0, 0, 0, 1, 1, NULL},
    {"orchestrators_below", 1, 1, 1000, 0, 1, "the fewest orchestrators that should report (1-1000)"},
    {"workers_below", 1, 1, 100000, 0, 1, "the fewest workers that should report (1-100000)"},
};

int alert_duration_parse(const char *text, int64_t *seconds)
{
    char *end;
    if (!text || !isdigit((unsigned char)*text))
        return -1;
    const long long n = strtoll(text, &end, 10);
    const long long unit = !*end ? 1 : !strcmp(end, "s") ? 1 : !strcmp(end, "m") ? 60 : !strcmp(end, "h") ? 3600
                         : !strcmp(end, "d") ? 86400 : 0;
    if (!unit || n <= 0 || n > 31622400 / unit)
        return -1;
    *seconds = n * unit;
    return 0;
}

static int invalid(char field[32], const char *name, char *err, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static int invalid(char field[32], const char *name, char *err, size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, len, fmt, ap);
    va_end(ap);
    snprintf(field, 32, "%s", name);
    return AC_EINVAL;
}

/* A duration member: a positive integer (seconds) or a string alert_duration_parse takes.
 * 0 (absent: *s unchanged), 1 read, -1 malformed. */
static int duration_member(const json_t *def, const char *key, int64_t *s)
{
    const json_t *v = json_object_get(def, key);
    if (!v || json_is_null(v))
        return 0;
    if (json_is_integer(v) && json_integer_value(v) > 0 && json_integer_value(v) <= 31622400) {
        *s = json_integer_value(v);
        return 1;
    }
    return json_is_string(v) && alert_duration_parse(json_string_value(v), s) == 0 ? 1 : -1;
}

static const char *str_member(const json_t *def, const char *key)
{
    const json_t *v = json_object_get(def, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

/* A target the channel can use: an http(s) URL for webhook and slack (https only for a user's
 * rule: the orchestrator must not become a way into its own network), an address for email. */
static int check_target(const char *channel, const char *target, int64_t owner, char field[32], char *err, size_t len)
{
    if (!target || strlen(target) < 3 || strlen(target) > 2048)
        return invalid(field, "target", err, len, "target is required: %s",
                       strcmp(channel, "email") ? "the URL to POST alerts to" : "the address to mail alerts to");
    for (const char *p = target; *p; p++)
        if ((unsigned char)*p <= ' ' || *p == 0x7f)
            return invalid(field, "target", err, len, "target \"%.100s\" contains spaces or control characters", target);
    if (!strcmp(channel, "email")) {
        const char *at = strchr(target, '@');
        if (!at || at == target || !at[1] || strchr(at + 1, '@') || strpbrk(target, "<>,;\"'()"))
            return invalid(field, "target", err, len, "target \"%.100s\" is not one email address (name@example.com)",
                           target);
        return 0;
    }
    const int https = !strncmp(target, "https://", 8), http = !strncmp(target, "http://", 7);
    if (!https && !http)
        return invalid(field, "target", err, len, "target \"%.100s\" must be an http:// or https:// URL", target);
    if (owner && !https)
        return invalid(field, "target", err, len,
                       "target \"%.100s\": a user's alerts go to https:// URLs only (an operator's may use http://)",
                       target);
    return 0;
}

static int db_fail(PGresult *r, PGconn *pg, const char *what, char *err, size_t len)
{
    pgconn_failed(r, (struct pg_conn *)pg, what, err, len);
    return AC_EIO;
}

/* The user def names (id or email), within owner: its id, 0 if there is none. -1 on error. */
static int64_t find_user(PGconn *pg, const json_t *v, int64_t owner, char *err, size_t len)
{
    char buf[32];
    const char *text = json_is_string(v) ? json_string_value(v) : NULL;
    if (json_is_integer(v)) {
        snprintf(buf, sizeof buf, "%" PRId64, (int64_t)json_integer_value(v));
        text = buf;
    }
    if (!text)
        return 0;
    char own[24];
    snprintf(own, sizeof own, "%" PRId64, owner);
    const char *params[] = {text, own};
    PGresult *r = PQexecParams(pg,
                               "SELECT id FROM users WHERE (email = $1 OR (id::text = $1))"
                               " AND ($2::bigint = 0 OR id = $2::bigint)",
                               2, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        return db_fail(r, pg, "finding the user", err, len), -1;
    const int64_t id = PQntuples(r) ? strtoll(PQgetvalue(r, 0, 0), NULL, 10) : 0;
    PQclear(r);
    return id;
}

/* A rule as JSON, built by Postgres: the one shape list and show give. */
#define RULE_JSON                                                                                                  \
    "jsonb_build_object('id', a.id, 'name', a.name, 'owner', a.owner_user_id, 'scope', a.scope,"                    \
    " 'user', a.scope_user_id, 'agent', a.scope_agent, 'task', a.scope_task_id, 'condition', a.condition,"        \
    " 'threshold', a.threshold, 'durationS', a.duration_s, 'channel', a.channel,"                                 \
    " 'target', CASE WHEN a.channel = 'email' THEN a.target ELSE regexp_replace(a.target, '^(https?://[^/]+).*$', '\\1/...') END," \
    " 'repeatS', a.repeat_s, 'enabled', a.enabled, 'createdAt', a.created_at,"                                   \
    " 'openIncidents', (SELECT count(*) FROM alert_incidents i WHERE i.rule_id = a.id AND i.resolved_at IS NULL))"

static const char sql_show[] =
    "SELECT (" RULE_JSON " || jsonb_build_object("
    "  'incidents', (SELECT coalesce(jsonb_agg(jsonb_build_object('id', i.id, 'subject', i.subject, 'openedAt',"
    "    i.opened_at, 'lastNotifiedAt', i.last_notified_at, 'notifications', i.notifications, 'resolvedAt',"
    "    i.resolved_at, 'detail', i.detail) ORDER BY i.id DESC), '[]') FROM (SELECT * FROM alert_incidents"
    "    WHERE rule_id = a.id ORDER BY id DESC LIMIT 20) i),"
    "  'deliveries', (SELECT coalesce(jsonb_agg(jsonb_build_object('id', d.id, 'incident', d.incident_id, 'kind',"
    "    d.kind, 'status', d.status, 'attempts', d.attempts, 'lastError', d.last_error, 'sentAt', d.sent_at,"
    "    'nextAttemptAt', CASE WHEN d.status = 'pending' THEN d.next_attempt_at END, 'createdAt', d.created_at,"
    "    'summary', d.payload->>'summary') ORDER BY d.id DESC), '[]') FROM (SELECT * FROM alert_deliveries"
    "    WHERE rule_id = a.id ORDER BY id DESC LIMIT 20) d)))::text"
    " FROM alert_rules a WHERE a.id = $1::bigint AND ($2::bigint = 0 OR a.owner_user_id = $2::bigint)";

int alert_rule_show(struct pg_conn *conn, int64_t id, int64_t scope, json_t **out, char *err, size_t len)
{
    PGconn *pg = (PGconn *)conn;
    char ids[24], sc[24];
    snprintf(ids, sizeof ids, "%" PRId64, id);
    snprintf(sc, sizeof sc, "%" PRId64, scope);
    const char *params[] = {ids, sc};
    PGresult *r = PQexecParams(pg, sql_show, 2, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        return db_fail(r, pg, "reading the alert rule", err, len);
    if (!PQntuples(r)) {
        PQclear(r);
        snprintf(err, len, "no alert rule %" PRId64 " (agentcron alerts list shows them)", id);
        return ALERT_NOT_FOUND;
    }
    *out = json_loads(PQgetvalue(r, 0, 0), 0, NULL);
    PQclear(r);
    return *out ? 0 : AC_EIO;
}

int alert_rules_list(struct pg_conn *conn, int64_t scope, json_t **out, char *err, size_t len)
{
    PGconn *pg = (PGconn *)conn;
    char sc[24];
    snprintf(sc, sizeof sc, "%" PRId64, scope);
    const char *params[] = {sc};
    PGresult *r = PQexecParams(pg,
                               "SELECT coalesce(jsonb_agg(" RULE_JSON " ORDER BY a.id), '[]')::text FROM alert_rules a"
                               " WHERE $1::bigint = 0 OR a.owner_user_id = $1::bigint",
                               1, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        return db_fail(r, pg, "listing alert rules", err, len);
    *out = json_loads(PQgetvalue(r, 0, 0), 0, NULL);
    PQclear(r);
    return *out ? 0 : AC_EIO;
}

int alert_rule_remove(struct pg_conn *conn, int64_t id, int64_t scope, char *err, size_t len)
{
    PGconn *pg = (PGconn *)conn;
    char ids[24], sc[24];
    snprintf(ids, sizeof ids, "%" PRId64, id);
    snprintf(sc, sizeof sc, "%" PRId64, scope);
    const char *params[] = {ids, sc};
    PGresult *r = PQexecParams(pg,
                               "DELETE FROM alert_rules WHERE id = $1::bigint"
                               " AND ($2::bigint = 0 OR owner_user_id = $2::bigint)",
                               2, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_COMMAND_OK)
        return db_fail(r, pg, "removing the alert rule", err, len);
    const int gone = atoi(PQcmdTuples(r));
    PQclear(r);
    if (!gone) {
        snprintf(err, len, "no alert rule %" PRId64 " (agentcron alerts list shows them)", id);
        return ALERT_NOT_FOUND;
    }
    return 0;
}

static const char *const known_keys[] = {"name", "condition", "scope", "user", "agent", "task", "threshold",
                                         "duration", "channel", "target", "repeat", "enabled"};

int alert_rule_create(struct pg_conn *conn, const json_t *def, int64_t owner, json_t **out, char field[32], char *err,
                      size_t len)
{
    PGconn *pg = (PGconn *)conn;
    field[0] = 0;
    if (!json_is_object(def))
        return invalid(field, "", err, len, "an alert rule is a JSON object");
    const char *key;
    const json_t *v;
    json_object_foreach((json_t *)def, key, v) {
        size_t i = 0;
        while (i < sizeof known_keys / sizeof *known_keys && strcmp(known_keys[i], key))
            i++;
        if (i == sizeof known_keys / sizeof *known_keys)
            return invalid(field, key, err, len,
                           "unknown field \"%.40s\" (a rule has name, condition, scope, user, agent, task, threshold,"
                           " duration, channel, target, repeat, enabled)",
                           key);
    }
    const char *name = str_member(def, "name"), *cond_name = str_member(def, "condition");
    const char *channel = str_member(def, "channel"), *target = str_member(def, "target");
    const char *scope = str_member(def, "scope"), *agent = str_member(def, "agent");
    if (!name || !*name || strlen(name) > 200)
        return invalid(field, "name", err, len, "name is required (1-200 characters)");
    const struct condition *cond = NULL;
    for (size_t i = 0; cond_name && i < sizeof conditions / sizeof *conditions; i++)
        if (!strcmp(conditions[i].name, cond_name))
            cond = &conditions[i];
    if (!cond)
        return invalid(field, "condition", err, len,
                       "condition \"%.40s\" is not one of run_failed, failures_in_row, slot_missed, no_success,"
                       " credits_used, queue_wait, orchestrators_below, workers_below",
                       cond_name ? cond_name : "");
    if (cond->operator_only && owner)
        return invalid(field, "condition", err, len, "condition %s watches the whole system: an operator's key sets it",
                       cond->name);
    if (!channel || (strcmp(channel, "webhook") && strcmp(channel, "slack") && strcmp(channel, "email")))
        return invalid(field, "channel", err, len, "channel \"%.40s\" is not one of webhook, slack, email",
                       channel ? channel : "");
    int rc = check_target(channel, target, owner, field, err, len);
    if (rc)
        return rc;
    const json_t *th = json_object_get(def, "threshold");
    long long threshold = 0;
    if (cond->threshold) {
        if (!json_is_integer(th) || json_integer_value(th) < cond->lo || json_integer_value(th) > cond->hi)
            return invalid(field, "threshold", err, len, "condition %s needs threshold: %s", cond->name,
                           cond->threshold_means);
        threshold = json_integer_value(th);
    } else if (th && !json_is_null(th))
        return invalid(field, "threshold", err, len, "condition %s takes no threshold", cond->name);
    int64_t duration = 0, repeat = 3600;
    const int d = duration_member(def, "duration", &duration);
    if (d < 0 || (cond->duration && d == 0))
        return invalid(field, "duration", err, len,
                       "condition %s needs duration: seconds, or a number with s, m, h or d (\"15m\"), up to 366 days",
                       cond->name);
    if (!cond->duration && d > 0)
        return invalid(field, "duration", err, len, "condition %s takes no duration", cond->name);
    if (duration_member(def, "repeat", &repeat) < 0 || repeat < 60 || repeat > 2592000)
        return invalid(field, "repeat", err, len,
                       "repeat is how often an open incident is announced again: 1m to 30d (\"1h\", the default)");
    const json_t *enabled = json_object_get(def, "enabled");
    if (enabled && !json_is_boolean(enabled))
        return invalid(field, "enabled", err, len, "enabled is true or false");

    /* the scope: explicit, or implied by the one of user, agent, task given */
    const json_t *user_v = json_object_get(def, "user"), *task_v = json_object_get(def, "task");
    const int given = (user_v && !json_is_null(user_v)) + (agent != NULL) + (task_v && !json_is_null(task_v));
    if (given > 1)
        return invalid(field, "scope", err, len, "give one of user, agent, task (the rule's scope), not several");
    if (!scope)
        scope = user_v && !json_is_null(user_v) ? "user" : agent ? "agent" : task_v && !json_is_null(task_v) ? "task"
              : owner                          ? "user"
                                               : "all";
    if (strcmp(scope, "all") && strcmp(scope, "user") && strcmp(scope, "agent") && strcmp(scope, "task"))
        return invalid(field, "scope", err, len, "scope \"%.40s\" is not one of all, user, agent, task", scope);
    if (cond->operator_only && strcmp(scope, "all") && strcmp(cond->name, "queue_wait"))
        return invalid(field, "scope", err, len, "condition %s watches the whole system: its scope is all", cond->name);
    if (!strcmp(cond->name, "credits_used") && strcmp(scope, "all") && strcmp(scope, "user"))
        return invalid(field, "scope", err, len, "condition credits_used watches users: its scope is all or user");
    char uid[24] = "", tid[24] = "";
    if (!strcmp(scope, "user")) {
        if (!user_v || json_is_null(user_v)) {
            if (!owner)
                return invalid(field, "user", err, len, "scope user needs user: the user's id or email");
            snprintf(uid, sizeof uid, "%" PRId64, owner);
        } else {
            const int64_t u = find_user(pg, user_v, owner, err, len);
            if (u < 0)
                return AC_EIO;
            if (!u)
                return invalid(field, "user", err, len, "no such user (agentcron users list shows them)");
            snprintf(uid, sizeof uid, "%" PRId64, u);
        }
    } else if (user_v && !json_is_null(user_v))
        return invalid(field, "user", err, len, "user is only for scope user");
    if (!strcmp(scope, "agent") && (!agent || !*agent || strlen(agent) > 100))
        return invalid(field, "agent", err, len, "scope agent needs agent: the agent's name");
    if (strcmp(scope, "agent") && agent)
        return invalid(field, "agent", err, len, "agent is only for scope agent");
    if (!strcmp(scope, "task")) {
        if (!json_is_integer(task_v) || json_integer_value(task_v) <= 0)
            return invalid(field, "task", err, len, "scope task needs task: the task's id");
        snprintf(tid, sizeof tid, "%" PRId64, (int64_t)json_integer_value(task_v));
        char own[24];
        snprintf(own, sizeof own, "%" PRId64, owner);
        const char *p[] = {tid, own};
        PGresult *r = PQexecParams(pg,
                                   "SELECT 1 FROM tasks WHERE id = $1::bigint AND status <> 'deleted'"
                                   " AND ($2::bigint = 0 OR user_id = $2::bigint)",
                                   2, NULL, p, NULL, NULL, 0);
        if (PQresultStatus(r) != PGRES_TUPLES_OK)
            return db_fail(r, pg, "finding the task", err, len);
        const int found = PQntuples(r);
        PQclear(r);
        if (!found)
            return invalid(field, "task", err, len, "no task %s (agentcron tasks list shows them)", tid);
    } else if (task_v && !json_is_null(task_v))
        return invalid(field, "task", err, len, "task is only for scope task");

    char own[24], th_s[24], dur_s[24], rep_s[24];
    snprintf(own, sizeof own, "%" PRId64, owner);
    if (owner) { /* every rule is evaluated every pass: a user's are bounded */
        char most[16];
        snprintf(most, sizeof most, "%d", ALERT_RULES_PER_USER);
        const char *p[] = {own, most};
        PGresult *r = PQexecParams(pg, "SELECT count(*) >= $2::integer FROM alert_rules WHERE owner_user_id = $1::bigint",
                                   2, NULL, p, NULL, NULL, 0);
        if (PQresultStatus(r) != PGRES_TUPLES_OK)
            return db_fail(r, pg, "counting the user's alert rules", err, len);
        const int full = PQgetvalue(r, 0, 0)[0] == 't';
        PQclear(r);
        if (full)
            return invalid(field, "", err, len, "a user may have at most %d alert rules: remove one first",
                           ALERT_RULES_PER_USER);
    }
    snprintf(th_s, sizeof th_s, "%lld", threshold);
    snprintf(dur_s, sizeof dur_s, "%" PRId64, duration);
    snprintf(rep_s, sizeof rep_s, "%" PRId64, repeat);
    const char *params[] = {name, own, scope, uid[0] ? uid : NULL, agent, tid[0] ? tid : NULL, cond->name,
                            cond->threshold ? th_s : NULL, cond->duration ? dur_s : NULL, channel, target, rep_s,
                            enabled && json_is_false(enabled) ? "false" : "true"};
    PGresult *r = PQexecParams(pg,
                               "INSERT INTO alert_rules (name, owner_user_id, scope, scope_user_id, scope_agent,"
                               " scope_task_id, condition, threshold, duration_s, channel, target, repeat_s, enabled)"
                               " VALUES ($1, nullif($2::bigint, 0), $3, $4::bigint, $5, $6::bigint, $7, $8::bigint,"
                               " $9::integer, $10, $11, $12::integer, $13::boolean) RETURNING id",
                               13, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        return db_fail(r, pg, "storing the alert rule", err, len);
    const int64_t id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    rc = alert_rule_show(conn, id, 0, out, err, len);
    return rc == ALERT_NOT_FOUND ? AC_EIO : rc;
}
