/* SPDX-License-Identifier: MIT */
/* The system's health (see health.h). */
#include "health.h"

#include <hiredis/hiredis.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "queue.h"
#include "shards.h"
#include "redisconn.h"
#include "timefmt.h"

/* The live runs by status, and those that ended today (UTC) from the usage summaries. */
static const char sql_status[] =
    "WITH today AS (SELECT coalesce(sum(succeeded), 0) AS ok, coalesce(sum(failed + timed_out), 0) AS bad,"
    "               coalesce(sum(prompt_tokens + completion_tokens), 0) AS tokens, coalesce(sum(credits), 0) AS credits"
    "               FROM usage_daily WHERE day = (now() AT TIME ZONE 'UTC')::date)"
    " SELECT count(*) FILTER (WHERE r.status = 'running'), count(*) FILTER (WHERE r.status = 'queued'),"
    " (SELECT ok FROM today), (SELECT bad FROM today), count(DISTINCT r.worker_id) FILTER (WHERE r.status = 'running'),"
    " (SELECT tokens FROM today), (SELECT credits FROM today),"
    " (SELECT count(*) FROM tasks WHERE schedule_enabled AND status = 'active'),"
    " (SELECT count(*) FROM tasks WHERE schedule_enabled AND status = 'active' AND next_run_at <= now())"
    " FROM live_runs l JOIN task_runs r ON r.id = l.run_id WHERE r.status IN ('running', 'queued')";

static const char sql_next_due[] =
    "SELECT id, title, (extract(epoch FROM next_run_at) * 1000)::bigint, timezone, agent_type FROM tasks"
    " WHERE schedule_enabled AND status = 'active' ORDER BY next_run_at, id LIMIT 5";

static int64_t i64(PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? -1 : strtoll(PQgetvalue(r, row, col), NULL, 10);
}

static const char *str(const json_t *v)
{
    return json_is_string(v) ? json_string_value(v) : "";
}

int health_numbers(struct pg_conn *pg, struct redisContext *redis, struct status_numbers *n, char *err, size_t len)
{
    memset(n, 0, sizeof *n);
    PGresult *r = PQexec(pg, sql_status);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        snprintf(err, len, "postgres: %s", PQerrorMessage(pg));
        PQclear(r);
        return -1;
    }
    n->running = i64(r, 0, 0), n->queued = i64(r, 0, 1), n->completed_today = i64(r, 0, 2);
    n->failed_today = i64(r, 0, 3), n->active_agents = i64(r, 0, 4), n->tokens_today = i64(r, 0, 5);
    n->credits_today = i64(r, 0, 6), n->scheduled_tasks = i64(r, 0, 7), n->due_tasks = i64(r, 0, 8);
    PQclear(r);
    struct queue_stats st;
    struct queue_error qerr;
    if (shards_stats(shards_deployment(), redis, &st, &qerr) != 0) {
        snprintf(err, len, "%s", qerr.message);
        return -1;
    }
    n->q_waiting = st.waiting, n->q_active = st.active, n->q_delayed = st.delayed, n->q_dead = st.dead;
    n->q_completed = st.completed, n->q_failed = st.failed;
    return 0;
}

/* Adds ageMs and clockSkewMs to a report whose key had pttl ms to live at redis_now. */
static void annotate(json_t *report, long long pttl, int64_t redis_now)
{
    const json_int_t ttl_s = json_integer_value(json_object_get(report, "ttlS"));
    int64_t at;
    const char *why, *reported = json_string_value(json_object_get(report, "reportedAt"));
    const int has_time = reported && timefmt_parse_rfc3339(reported, &at, &why) == 0;
    int64_t age = ttl_s > 0 && pttl >= 0 ? ttl_s * 1000 - pttl : has_time ? redis_now - at : 0;
    if (age < 0)
        age = 0;
    json_object_set_new(report, "ageMs", json_integer(age));
    json_object_set_new(report, "ageS", json_integer(age / 1000));
    json_object_set_new(report, "clockSkewMs", json_integer(has_time && ttl_s > 0 ? at - (redis_now - age) : 0));
}

/* Every instance's last report, from agentcron:{default}:status:<role>:<instance>, with its age and its
 * host's clock skew on Redis's clock: how long ago it was written is what its key's TTL has run
 * down (no clock of ours or theirs involved), and skew is how far its reportedAt is from
 * Redis's time when it was written. */
json_t *health_instances(redisContext *redis)
{
    json_t *list = json_array();
    redisReply *t = redisCommand(redis, "TIME");
    const int64_t redis_now = t && t->type == REDIS_REPLY_ARRAY && t->elements == 2
                                  ? strtoll(t->element[0]->str, NULL, 10) * 1000 + strtoll(t->element[1]->str, NULL, 10) / 1000
                                  : timefmt_now_ms();
    freeReplyObject(t);
    unsigned long long cursor = 0;
    do {
        redisReply *r = redisconn_command(redis, "SCAN %llu MATCH agentcron:{default}:status:* COUNT 1000", cursor);
        if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
            freeReplyObject(r);
            break;
        }
        cursor = strtoull(r->element[0]->str, NULL, 10);
        for (size_t i = 0; i < r->element[1]->elements; i++) {
            const char *key = r->element[1]->element[i]->str;
            redisAppendCommand(redis, "GET %s", key);
            redisAppendCommand(redis, "PTTL %s", key);
            redisReply *v = NULL, *ttl = NULL;
            redisGetReply(redis, (void **)&v);
            redisGetReply(redis, (void **)&ttl);
            json_t *doc = v && v->type == REDIS_REPLY_STRING ? json_loads(v->str, 0, NULL) : NULL;
            if (json_is_object(doc)) {
                annotate(doc, ttl && ttl->type == REDIS_REPLY_INTEGER ? ttl->integer : -1, redis_now);
                json_array_append_new(list, doc);
            } else
                json_decref(doc);
            freeReplyObject(v);
            freeReplyObject(ttl);
        }
        freeReplyObject(r);
    } while (cursor != 0);
    return list;
}

static void problem(json_t *problems, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void problem(json_t *problems, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    json_array_append_new(problems, json_string(msg));
}

void health_report(struct pg_conn *pg, struct redisContext *redis, json_t *doc)
{
    json_t *problems = json_object_get(doc, "problems");
    struct status_numbers n;
    char err[1024];
    if (pg && redis && health_numbers(pg, redis, &n, err, sizeof err) == 0) {
        json_object_set_new(doc, "totals",
                            json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "running", (json_int_t)n.running,
                                      "queued", (json_int_t)n.queued, "completedToday", (json_int_t)n.completed_today,
                                      "failedToday", (json_int_t)n.failed_today, "activeAgents",
                                      (json_int_t)n.active_agents, "tokensToday", (json_int_t)n.tokens_today,
                                      "creditsToday", (json_int_t)n.credits_today, "scheduledTasks",
                                      (json_int_t)n.scheduled_tasks, "tasksCurrentlyDue", (json_int_t)n.due_tasks));
        const struct shards *shards = shards_deployment();
        json_t *tags = json_array();
        for (int k = 0; k < shards->count; k++)
            json_array_append_new(tags, json_string(shards->tag[k]));
        json_object_set_new(doc, "queue",
                            json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:i, s:o}", "waiting", (json_int_t)n.q_waiting,
                                      "active", (json_int_t)n.q_active, "delayed", (json_int_t)n.q_delayed, "dead",
                                      (json_int_t)n.q_dead, "completed", (json_int_t)n.q_completed, "failed",
                                      (json_int_t)n.q_failed, "shards", shards->count, "tags", tags));
    } else if (pg && redis)
        problem(problems, "%s", err);
    if (!redis)
        return;
    json_t *instances = health_instances(redis);
    json_object_set_new(doc, "instances", instances);
    size_t i;
    json_t *report;
    int live_orchestrators = 0;
    json_array_foreach(instances, i, report)
    {
        const int64_t age = json_integer_value(json_object_get(report, "ageMs"));
        if (!strcmp(str(json_object_get(report, "role")), "orchestrator") && age <= HEALTH_STALE_AFTER_MS)
            live_orchestrators++;
        size_t k;
        const json_t *missing;
        json_array_foreach(json_object_get(report, "missingAgents"), k, missing)
            problem(problems, "runs wait for agent \"%.60s\", which worker %.100s does not define: add it to "
                    "AGENTS_FILE and reload the workers (systemctl reload 'agentcron-worker@*')",
                    json_string_value(missing), str(json_object_get(report, "instance")));
        const int64_t skew = json_integer_value(json_object_get(report, "clockSkewMs"));
        if (skew > HEALTH_SKEW_TOLERANCE_MS || skew < -HEALTH_SKEW_TOLERANCE_MS)
            problem(problems, "the clock of %s %.100s is %.1f s %s Redis's: slots fire by the orchestrator's "
                    "clock; run NTP (chrony) on that host",
                    str(json_object_get(report, "role")), str(json_object_get(report, "instance")),
                    (double)(skew < 0 ? -skew : skew) / 1000, skew > 0 ? "ahead of" : "behind");
    }
    if (!live_orchestrators)
        problem(problems, "no orchestrator has reported in the last 90 s: is agentcron-orchestrator running? "
                "(systemctl status agentcron-orchestrator)");
    const int64_t now = timefmt_now_ms();
    const struct shards *shards = shards_deployment();
    long long died = 0;
    for (int k = 0; k < shards->count; k++) {
        struct queue_error qerr;
        redisContext *c = shards_conn(shards, redis, k, &qerr);
        redisReply *r = c ? redisconn_command(c, "ZCOUNT %s %lld +inf", shards->q[k].dead,
                                              (long long)(now - HEALTH_DEAD_WINDOW_MS)) : NULL;
        died += r && r->type == REDIS_REPLY_INTEGER ? r->integer : 0;
        freeReplyObject(r);
    }
    json_object_set_new(doc, "diedLast15m", json_integer(died));
    if (died > 0)
        problem(problems, "%lld run%s failed for good in the last 15 minutes: agentcron runs list --status failed",
                died, died == 1 ? "" : "s");
    if (!pg)
        return;
    PGresult *q = PQexec(pg, sql_next_due);
    json_t *next = json_array();
    char when[TIMEFMT_RFC3339_MAX];
    for (int row = 0; PQresultStatus(q) == PGRES_TUPLES_OK && row < PQntuples(q); row++) {
        timefmt_rfc3339(i64(q, row, 2), 0, 1, when);
        json_array_append_new(next, json_pack("{s:I, s:s, s:s, s:s, s:s}", "task", (json_int_t)i64(q, row, 0), "title",
                                              PQgetvalue(q, row, 1), "nextRunAt", when, "timezone",
                                              PQgetvalue(q, row, 3), "agent", PQgetvalue(q, row, 4)));
    }
    PQclear(q);
    json_object_set_new(doc, "nextDue", next);
}
