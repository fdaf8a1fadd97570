/* SPDX-License-Identifier: MIT */
/* The overview, the dead set, users, credits and keys (see api_admin.h). */
#include "api_admin.h"

#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "accounts.h"
#include "connpair.h"
#include "errors.h"
#include "redisconn.h"
#include "health.h"
#include "history.h"
#include "http_parse.h"
#include "runctl.h"
#include "session.h"
#include "shards.h"
#include "timefmt.h"
#include "url.h"
#include "usage.h"

#define DEAD_PAGE_MAX 200
#define LEDGER_ROWS 50

static const char *num(char buf[24], int64_t v)
{
    snprintf(buf, 24, "%" PRId64, v);
    return buf;
}

static int operator_only(const struct principal *p, struct api_response *out)
{
    if (p->operator)
        return 0;
    api_error(out, 403, NULL, "this needs an operator key (agentcron keys create USER --operator)");
    return 1;
}

/* ---- the overview ---- */

/* The last 24 hours of scope's runs by their slot's hour and status, read without visiting every
 * run (10,000 an hour at scale): the hour's total from the slot index alone, the runs that
 * ended without success from the index of runs with an error (only those rows are read), the
 * live ones from live_runs; the rest succeeded (the history's rule: a run that ended any other
 * way carries an error). Fire lateness over the last hour, scheduled runs only; today's (UTC)
 * tokens, credits and ended runs from the usage summaries. */
#define HOUR_OF(col) "date_bin('1 hour', " col ", '2000-01-01')"
#define IN_DAY(col) col " > now() - interval '24 hours' AND " col " <= now()"
static const char sql_overview[] =
    "WITH total AS (SELECT " HOUR_OF("scheduled_for") " AS h, 'total' AS status, count(*) AS n FROM task_runs"
    "               WHERE " IN_DAY("scheduled_for") " AND ($1::bigint = 0 OR user_id = $1::bigint) GROUP BY 1),"
    " ended_badly AS (SELECT " HOUR_OF("scheduled_for") " AS h, status, count(*) AS n FROM task_runs"
    "                 WHERE error IS NOT NULL AND " IN_DAY("scheduled_for") " AND ($1::bigint = 0 OR user_id = $1::bigint)"
    "                 AND status NOT IN ('queued', 'running', 'retrying') GROUP BY 1, 2),"
    " live AS (SELECT " HOUR_OF("r.scheduled_for") " AS h, r.status, count(*) AS n FROM live_runs l"
    "          JOIN task_runs r ON r.id = l.run_id"
    "          WHERE " IN_DAY("r.scheduled_for") " AND ($1::bigint = 0 OR r.user_id = $1::bigint) GROUP BY 1, 2),"
    " hours AS (SELECT h, json_object_agg(status, n) AS runs FROM"
    "           (SELECT * FROM total UNION ALL SELECT * FROM ended_badly UNION ALL SELECT * FROM live) c GROUP BY h),"
    " late AS (SELECT percentile_cont(ARRAY[0.5, 0.99]) WITHIN GROUP"
    "            (ORDER BY extract(epoch FROM enqueued_at - scheduled_for) * 1000) AS q,"
    "          percentile_cont(ARRAY[0.5, 0.99]) WITHIN GROUP"
    "            (ORDER BY extract(epoch FROM started_at - scheduled_for) * 1000)"
    "            FILTER (WHERE started_at IS NOT NULL) AS s, count(*) AS n"
    "          FROM task_runs WHERE scheduled_for > now() - interval '1 hour' AND scheduled_for <= now()"
    "          AND ($1::bigint = 0 OR user_id = $1::bigint) AND trigger = 'schedule' AND enqueued_at IS NOT NULL),"
    " today AS (SELECT coalesce(sum(prompt_tokens + completion_tokens), 0) AS tokens, coalesce(sum(credits), 0) AS credits,"
    "           coalesce(sum(succeeded + failed + timed_out + cancelled + insufficient_credits), 0) AS runs"
    "           FROM usage_daily WHERE day = (now() AT TIME ZONE 'UTC')::date AND ($1::bigint = 0 OR user_id = $1::bigint))"
    " SELECT (SELECT coalesce(json_agg(json_build_object('hour', to_char(h AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),"
    "         'runs', runs) ORDER BY h), '[]') FROM hours)::text,"
    " (SELECT q[1] FROM late), (SELECT q[2] FROM late), (SELECT s[1] FROM late), (SELECT s[2] FROM late),"
    " (SELECT n FROM late), tokens, credits, runs FROM today";

static json_t *ms_or_null(const PGresult *r, int col)
{
    return PQgetisnull(r, 0, col) ? json_null() : json_integer((json_int_t)strtod(PQgetvalue(r, 0, col), NULL));
}

void overview_cache_init(struct overview_cache *c)
{
    pthread_mutex_init(&c->lock, NULL);
    c->text = NULL, c->at_ms = 0;
}

void overview_cache_free(struct overview_cache *c)
{
    free(c->text);
    pthread_mutex_destroy(&c->lock);
}

static void overview_fresh(struct connpair *c, const struct principal *p, struct api_response *out);

/* An operator's overview from the shared answer when it is recent, else made anew and shared. */
static void overview(struct connpair *c, const struct principal *p, struct overview_cache *cache,
                     struct api_response *out)
{
    if (!p->operator || !cache) {
        overview_fresh(c, p, out);
        return;
    }
    const int64_t now = timefmt_now_ms();
    json_t *doc = NULL;
    pthread_mutex_lock(&cache->lock);
    if (cache->text && now - cache->at_ms < OVERVIEW_CACHE_MS)
        doc = json_loads(cache->text, 0, NULL);
    pthread_mutex_unlock(&cache->lock);
    if (doc) {
        api_reply(out, 200, doc);
        return;
    }
    overview_fresh(c, p, out);
    char *text = out->status == 200 ? json_dumps(out->doc, JSON_COMPACT) : NULL;
    if (!text)
        return;
    pthread_mutex_lock(&cache->lock);
    free(cache->text);
    cache->text = text, cache->at_ms = now;
    pthread_mutex_unlock(&cache->lock);
}

static void overview_fresh(struct connpair *c, const struct principal *p, struct api_response *out)
{
    char scopes[24];
    const char *params[1] = {num(scopes, principal_scope(p))};
    PGresult *r = PQexecParams(c->pg, sql_overview, 1, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        PQclear(r);
        api_db_error(out, c->pg);
        return;
    }
    /* each hour {hour, runs: {status: n}}: what is neither live nor ended badly succeeded */
    json_t *hours = json_loads(PQgetvalue(r, 0, 0), 0, NULL);
    size_t i;
    json_t *hour;
    json_array_foreach(hours, i, hour)
    {
        json_t *runs = json_object_get(hour, "runs");
        json_int_t others = 0;
        const char *status;
        json_t *n;
        json_object_foreach(runs, status, n) if (strcmp(status, "total") != 0) others += json_integer_value(n);
        const json_int_t succeeded = json_integer_value(json_object_get(runs, "total")) - others;
        json_object_del(runs, "total");
        if (succeeded > 0)
            json_object_set_new(runs, "succeeded", json_integer(succeeded));
    }
    json_t *doc = json_pack("{s:o, s:{s:o, s:o, s:o, s:o, s:I}, s:{s:I, s:I, s:I}}", "runsByHour",
                            hours ? hours : json_array(), "lateness",
                            "enqueuedP50Ms", ms_or_null(r, 1), "enqueuedP99Ms", ms_or_null(r, 2), "startedP50Ms",
                            ms_or_null(r, 3), "startedP99Ms", ms_or_null(r, 4), "scheduledRuns",
                            (json_int_t)strtoll(PQgetvalue(r, 0, 5), NULL, 10), "today", "tokens",
                            (json_int_t)strtoll(PQgetvalue(r, 0, 6), NULL, 10), "credits",
                            (json_int_t)strtoll(PQgetvalue(r, 0, 7), NULL, 10), "runs",
                            (json_int_t)strtoll(PQgetvalue(r, 0, 8), NULL, 10));
    PQclear(r);
    if (p->operator) { /* the system's health is an operator's to see */
        json_t *health = json_pack("{s:[]}", "problems");
        health_report(c->pg, c->redis, health);
        json_object_set_new(health, "healthy", json_boolean(json_array_size(json_object_get(health, "problems")) == 0));
        json_object_set_new(doc, "health", health);
        connpair_redis_failed(c);
    }
    api_reply(out, 200, doc);
}

/* ---- the dead set ---- */

struct death {
    int64_t id;
    double at; /* ms */
};

static int newest_first(const void *a, const void *b)
{
    const double x = ((const struct death *)a)->at, y = ((const struct death *)b)->at;
    return x < y ? 1 : x > y ? -1 : 0;
}

static void dead_list(struct connpair *c, const char *query, struct api_response *out)
{
    char v[16];
    long limit = 50;
    char *end;
    const int got = http_query_get(query, "limit", v, sizeof v);
    if (got < 0 || (got && ((limit = strtol(v, &end, 10)) < 1 || limit > DEAD_PAGE_MAX || *end))) {
        api_error(out, 400, "limit", "limit must be 1-%d", DEAD_PAGE_MAX);
        return;
    }
    /* each shard's newest limit deaths, merged: the newest limit of all */
    const struct shards *shards = shards_deployment();
    struct death *all = calloc((size_t)(limit * shards->count), sizeof *all);
    size_t nall = 0;
    for (int k = 0; k < shards->count && all; k++) {
        struct queue_error qerr;
        redisContext *node = shards_conn(shards, c->redis, k, &qerr);
        redisReply *rr =
            node ? redisconn_command(node, "ZREVRANGE %s 0 %ld WITHSCORES", shards->q[k].dead, limit - 1) : NULL;
        if (!rr || rr->type != REDIS_REPLY_ARRAY) {
            api_error(out, 503, NULL, "%s", !node ? qerr.message : rr && rr->str ? rr->str : node->errstr);
            freeReplyObject(rr);
            free(all);
            connpair_redis_failed(c);
            return;
        }
        for (size_t i = 0; i + 1 < rr->elements; i += 2) {
            const char *member = rr->element[i]->str;
            if (!member || !*member || strspn(member, "0123456789") != strlen(member) || strlen(member) > 18)
                continue; /* not a run id: nothing of ours */
            all[nall].id = strtoll(member, NULL, 10);
            all[nall++].at = strtod(rr->element[i + 1]->str, NULL);
        }
        freeReplyObject(rr);
    }
    if (!all) {
        api_error(out, 503, NULL, "out of memory listing the dead set");
        return;
    }
    qsort(all, nall, sizeof *all, newest_first);
    /* "{3,2,1}": the runs, newest death first, and when each died */
    char ids[DEAD_PAGE_MAX * 22 + 3] = "{";
    size_t o = 1;
    json_t *died = json_object();
    json_t *order = json_array();
    for (size_t i = 0; i < nall && i < (size_t)limit; i++) {
        char member[24];
        num(member, all[i].id);
        o += (size_t)snprintf(ids + o, sizeof ids - o, "%s%s", o > 1 ? "," : "", member);
        json_array_append_new(order, json_string(member));
        char t[TIMEFMT_RFC3339_MAX];
        timefmt_rfc3339((int64_t)all[i].at, 0, 1, t);
        json_object_set_new(died, member, json_string(t));
    }
    free(all);
    snprintf(ids + o, sizeof ids - o, "}");
    json_t *runs;
    char err[512];
    const char *params[1] = {ids};
    if (history_select((struct pg_conn *)c->pg, "r.id = ANY($1::bigint[])", 1, params, &runs, err, sizeof err) != 0) {
        json_decref(died), json_decref(order);
        api_db_error(out, c->pg);
        return;
    }
    /* in the dead set's order, newest death first, each with when it died */
    json_t *by_id = json_object(), *sorted = json_array(), *run, *id;
    size_t i;
    json_array_foreach(runs, i, run)
    {
        char key[24];
        json_object_set(by_id, num(key, json_integer_value(json_object_get(run, "id"))), run);
    }
    json_array_foreach(order, i, id)
    {
        if (!(run = json_object_get(by_id, json_string_value(id))))
            continue; /* removed by retention since */
        json_object_set(run, "diedAt", json_object_get(died, json_string_value(id)));
        json_array_append(sorted, run);
    }
    json_decref(by_id), json_decref(runs), json_decref(died), json_decref(order);
    api_reply(out, 200, json_pack("{s:o}", "runs", sorted));
}

/* A new run of the dead run's task, now; the dead entry goes. */
static void dead_requeue(struct connpair *c, int64_t id, struct api_response *out)
{
    char err[512], t[TIMEFMT_RFC3339_MAX];
    int64_t task;
    const int found = history_run_task((struct pg_conn *)c->pg, 0, id, &task, err, sizeof err);
    if (found != 0) {
        if (found == HISTORY_NOT_FOUND)
            api_error(out, 404, NULL, "%s", err);
        else
            api_db_error(out, c->pg);
        return;
    }
    int64_t new_run, at;
    const int rc = runctl_trigger(c->pg, c->redis, task, 0, "manual", &new_run, &at, err, sizeof err);
    if (rc == RUNCTL_NOT_FOUND) {
        api_error(out, 404, NULL, "the task of run %" PRId64 " is deleted: nothing to requeue", id);
        return;
    }
    if (rc < 0) {
        api_db_error(out, c->pg);
        return;
    }
    const struct shards *shards = shards_deployment();
    for (int k = 0; k < shards->count; k++) { /* in its run's shard, unless QUEUE_SHARDS changed since */
        struct queue_error qerr;
        redisContext *node = shards_conn(shards, c->redis, k, &qerr);
        if (node)
            freeReplyObject(redisconn_command(node, "ZREM %s %" PRId64, shards->q[k].dead, id));
    }
    connpair_redis_failed(c);
    timefmt_rfc3339(at, 0, 1, t);
    api_reply(out, 202, json_pack("{s:I, s:I, s:I, s:s, s:s}", "requeueOf", (json_int_t)id, "task", (json_int_t)task,
                                  "run", (json_int_t)new_run, "status", "queued", "scheduledFor", t));
}

/* ---- users and credits ---- */

static void accounts_failed(struct api_response *out, struct connpair *c, int rc, const char *err)
{
    if (rc == ACCOUNTS_NOT_FOUND)
        api_error(out, 404, NULL, "%s", err);
    else
        api_db_error(out, c->pg);
}

/* GET /api/users/{id}: the user, this period's usage and the newest ledger rows. */
static void show_user(struct connpair *c, const struct principal *p, int64_t id, struct api_response *out)
{
    char ids[24], err[512], today[TIMEFMT_RFC3339_MAX], from[16], to[16];
    json_t *u, *ledger, *usage;
    int rc = accounts_user((struct pg_conn *)c->pg, num(ids, id), principal_scope(p), &u, err, sizeof err);
    if (rc) {
        accounts_failed(out, c, rc, err);
        return;
    }
    if ((rc = accounts_ledger((struct pg_conn *)c->pg, id, LEDGER_ROWS, &ledger, err, sizeof err)) != 0) {
        json_decref(u);
        accounts_failed(out, c, rc, err);
        return;
    }
    json_object_set_new(u, "ledger", ledger);
    timefmt_rfc3339(timefmt_now_ms(), 0, 1, today);
    snprintf(from, sizeof from, "%.10s", json_string_value(json_object_get(u, "periodStart")));
    snprintf(to, sizeof to, "%.10s", today);
    if (usage_report((struct pg_conn *)c->pg, principal_scope(p), id, from, to, &usage, err, sizeof err) == 0)
        json_object_set_new(u, "usage", usage);
    api_reply(out, 200, u);
}

/* A count of credits in [min, 10^12]. */
static int count_ok(const json_t *v, json_int_t min)
{
    return json_is_integer(v) && json_integer_value(v) >= min && json_integer_value(v) <= 1000000000000LL;
}

/* POST /api/users/{id}/credits {"grant": N, "allowance": N, "note": "..."} */
static void change_credits(struct connpair *c, int64_t id, const struct http_req *req, struct api_response *out)
{
    json_error_t jerr;
    json_t *body = json_loadb(req->body ? req->body : "", req->body_len, JSON_REJECT_DUPLICATES, &jerr);
    const json_t *grant = json_object_get(body, "grant"), *allowance = json_object_get(body, "allowance"),
                 *note = json_object_get(body, "note");
    const char *k;
    json_t *v;
    if (!json_is_object(body)) {
        json_decref(body);
        api_error(out, 400, NULL, "the body must be a JSON object: %s", jerr.text);
        return;
    }
    json_object_foreach(body, k, v) if (strcmp(k, "grant") && strcmp(k, "allowance") && strcmp(k, "note"))
    {
        api_error(out, 400, k, "unknown field \"%.60s\": credits take grant, allowance and note", k);
        json_decref(body);
        return;
    }
    const char *field = grant && !count_ok(grant, 1)               ? "grant"
                        : allowance && !count_ok(allowance, 0)       ? "allowance"
                        : !grant && !allowance                       ? "grant"
                        : note && (!json_is_string(note) || json_string_length(note) > 500) ? "note"
                                                                                            : NULL;
    if (field) {
        api_error(out, 400, field, "send {\"grant\": 1-1000000000000} (credits for this period) and/or"
                  " {\"allowance\": 0-1000000000000} (the monthly credits), with an optional note of at most 500 bytes");
        json_decref(body);
        return;
    }
    char grants[24], allowances[24], err[512], ids[24];
    json_t *u;
    int rc = accounts_user((struct pg_conn *)c->pg, num(ids, id), 0, &u, err, sizeof err);
    if (!rc) {
        json_decref(u);
        rc = accounts_credits((struct pg_conn *)c->pg, id, grant ? num(grants, json_integer_value(grant)) : NULL,
                              allowance ? num(allowances, json_integer_value(allowance)) : NULL,
                              note ? json_string_value(note) : NULL, err, sizeof err);
    }
    json_decref(body);
    if (rc)
        accounts_failed(out, c, rc, err);
}

/* ---- keys ---- */

static void create_key(struct connpair *c, const struct principal *p, const struct http_req *req,
                       struct api_response *out)
{
    json_error_t jerr;
    json_t *body = req->body_len ? json_loadb(req->body, req->body_len, 0, &jerr) : json_object();
    const json_t *name = json_object_get(body, "name");
    if (!json_is_object(body) || json_object_size(body) > (name ? 1u : 0u) ||
        (name && (!json_is_string(name) || json_string_length(name) > 200))) {
        json_decref(body);
        api_error(out, 400, "name", "send {\"name\": \"what the key is for\"} (at most 200 bytes), or no body");
        return;
    }
    char key[ACCOUNTS_KEY_LEN], prefix[16], err[512];
    int64_t id;
    const int rc = accounts_key_create((struct pg_conn *)c->pg, p->user, json_string_value(name), 0, key, prefix, &id,
                                       err, sizeof err);
    json_decref(body);
    if (rc) {
        api_db_error(out, c->pg);
        return;
    }
    api_reply(out, 201, json_pack("{s:I, s:s, s:s, s:s, s:s}", "id", (json_int_t)id, "key", key, "prefix", prefix,
                                  "role", "user", "note", "shown once: store it now (only its SHA-256 is kept)"));
}

int api_admin_serve(struct connpair *c, const struct principal *p, const struct http_req *req,
                    struct overview_cache *cache, struct api_response *out)
{
    const char *path = req->path, *rest = "";
    const int get = !strcmp(req->method, "GET"), post = !strcmp(req->method, "POST"),
              del = !strcmp(req->method, "DELETE");
    int64_t id;
    char err[512];
    if (!strcmp(path, "/api/overview")) {
        if (!get)
            api_method_not_allowed(out, "GET");
        else
            overview(c, p, cache, out);
    } else if (!strcmp(path, "/api/queue/dead")) {
        if (!get)
            api_method_not_allowed(out, "GET");
        else if (!operator_only(p, out))
            dead_list(c, req->query, out);
    } else if ((id = api_path_id(path, "/api/queue/dead/", &rest)) && !strcmp(rest, "/requeue")) {
        if (!post)
            api_method_not_allowed(out, "POST");
        else if (!operator_only(p, out))
            dead_requeue(c, id, out);
    } else if (!strcmp(path, "/api/users")) {
        json_t *list;
        if (!get)
            api_method_not_allowed(out, "GET");
        else if (accounts_users((struct pg_conn *)c->pg, principal_scope(p), &list, err, sizeof err) != 0)
            api_db_error(out, c->pg);
        else
            api_reply(out, 200, json_pack("{s:o}", "users", list));
    } else if ((id = api_path_id(path, "/api/users/", &rest)) && (!*rest || !strcmp(rest, "/credits"))) {
        if (!*rest && !get)
            api_method_not_allowed(out, "GET");
        else if (*rest && !post)
            api_method_not_allowed(out, "POST");
        else if (!*rest)
            show_user(c, p, id, out);
        else if (!operator_only(p, out)) {
            change_credits(c, id, req, out);
            if (!out->status)
                show_user(c, p, id, out);
        }
    } else if (!strcmp(path, "/api/keys")) {
        json_t *list;
        if (get && accounts_keys((struct pg_conn *)c->pg, principal_scope(p), NULL, &list, err, sizeof err) != 0)
            api_db_error(out, c->pg);
        else if (get)
            api_reply(out, 200, json_pack("{s:o}", "keys", list));
        else if (post)
            create_key(c, p, req, out);
        else
            api_method_not_allowed(out, "GET, POST");
    } else if ((id = api_path_id(path, "/api/keys/", &rest)) && !*rest) {
        char prefix[40];
        int rc;
        if (!del)
            api_method_not_allowed(out, "DELETE");
        else if ((rc = accounts_key_revoke((struct pg_conn *)c->pg, id, principal_scope(p), prefix, err, sizeof err)))
            accounts_failed(out, c, rc, err);
        else
            api_reply(out, 200, json_pack("{s:I, s:s, s:b}", "id", (json_int_t)id, "prefix", prefix, "revoked", 1));
    } else
        return 0;
    return 1;
}
