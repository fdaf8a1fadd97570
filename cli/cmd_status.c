/* SPDX-License-Identifier: MIT */
/* `agentcron status`: what every orchestrator and worker last reported, the totals, the queue,
 * and the next tasks due; exit 3 when something is wrong. */
#include <getopt.h>
#include <hiredis/hiredis.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli_util.h"
#include "commands.h"
#include "queue.h"
#include "schedule.h"
#include "timefmt.h"

#define STALE_AFTER_MS 90000  /* an orchestrator silent this long is gone */
#define SKEW_TOLERANCE_MS 2000 /* a host's clock this far from Redis's is a problem: slots fire by it */
#define DEAD_WINDOW_MS 900000 /* runs that died this recently make the system unhealthy */

static const char usage_text[] =
    "usage: agentcron status [--json] [--watch [SECONDS]] [--env-file FILE]\n"
    "\n"
    "Shows each orchestrator's and worker's last status report (they publish one every\n"
    "STATUS_INTERVAL_S), the totals (running, queued, completed and failed today, tokens and\n"
    "credits today), the queue (waiting, active, delayed, dead, completed, failed) and the next\n"
    "five tasks due. --watch redraws it every SECONDS (default 2) until interrupted.\n"
    "\n"
    "exit status: 0 healthy; 3 unhealthy: no orchestrator reported in the last 90 s, Postgres or\n"
    "Redis unreachable, or a run went to the dead set in the last 15 minutes; 1 failure; 2 usage\n";

static const char sql_next_due[] =
    "SELECT id, title, (extract(epoch FROM next_run_at) * 1000)::bigint, timezone, agent_type FROM tasks"
    " WHERE schedule_enabled AND status = 'active' ORDER BY next_run_at, id LIMIT 5";

static const char *str(const json_t *v)
{
    return json_is_string(v) ? json_string_value(v) : "";
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
    json_object_set_new(report, "clockSkewMs", json_integer(has_time && ttl_s > 0 ? at - (redis_now - age) : 0));
}

/* Every instance's last report, from agentcron:status:<role>:<instance>, with its age and its
 * host's clock skew on Redis's clock: how long ago it was written is what its key's TTL has run
 * down (no clock of ours or theirs involved), and skew is how far its reportedAt is from
 * Redis's time when it was written. */
static json_t *reports(redisContext *redis)
{
    json_t *list = json_array();
    redisReply *t = redisCommand(redis, "TIME");
    const int64_t redis_now = t && t->type == REDIS_REPLY_ARRAY && t->elements == 2
                                  ? strtoll(t->element[0]->str, NULL, 10) * 1000 + strtoll(t->element[1]->str, NULL, 10) / 1000
                                  : timefmt_now_ms();
    freeReplyObject(t);
    unsigned long long cursor = 0;
    do {
        redisReply *r = redisCommand(redis, "SCAN %llu MATCH agentcron:status:* COUNT 1000", cursor);
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


/* Gathers everything into one document; problems listed in "problems". */
static json_t *gather(const char *env_file)
{
    json_t *doc = json_object(), *problems = json_array();
    json_object_set_new(doc, "problems", problems);
    const int64_t now = timefmt_now_ms();
    char when[TIMEFMT_RFC3339_MAX];
    json_object_set_new(doc, "timestamp", json_string(cli_time(now, when)));
    struct cli_conn c;
    memset(&c, 0, sizeof c);
    struct config_error cerr;
    static const char *const required[] = {"DATABASE_URL", "REDIS_URL", NULL};
    if (config_load(&c.cfg, env_file, &cerr) != 0 || config_require(&c.cfg, required, &cerr) != 0) {
        json_object_set_new(doc, "configError", json_string(cerr.message));
        return doc;
    }
    /* each server separately: one being down must not hide the other */
    struct scheduler_options opt = {.database_url = c.cfg.database_url, .redis_url = c.cfg.redis_url,
                                    .queue = "default", .batch = 1};
    struct scheduler *s = scheduler_new(&opt);
    struct status_numbers n;
    char err[1024];
    if (s && scheduler_status(s, &n, err, sizeof err) == 0) {
        json_object_set_new(doc, "totals",
                            json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "running", (json_int_t)n.running,
                                      "queued", (json_int_t)n.queued, "completedToday", (json_int_t)n.completed_today,
                                      "failedToday", (json_int_t)n.failed_today, "activeAgents",
                                      (json_int_t)n.active_agents, "tokensToday", (json_int_t)n.tokens_today,
                                      "creditsToday", (json_int_t)n.credits_today, "scheduledTasks",
                                      (json_int_t)n.scheduled_tasks, "tasksCurrentlyDue", (json_int_t)n.due_tasks));
        json_object_set_new(doc, "queue", json_pack("{s:I, s:I, s:I, s:I, s:I, s:I}", "waiting", (json_int_t)n.q_waiting,
                                                    "active", (json_int_t)n.q_active, "delayed", (json_int_t)n.q_delayed,
                                                    "dead", (json_int_t)n.q_dead, "completed",
                                                    (json_int_t)n.q_completed, "failed", (json_int_t)n.q_failed));
    } else
        json_array_append_new(problems, json_string(s ? err : "out of memory"));
    scheduler_free(s);
    if (cli_connect(&c, "status", env_file, 1) != 0) /* the reason is already in problems */
        return doc;
    json_t *instances = reports(c.redis);
    json_object_set_new(doc, "instances", instances);
    size_t i;
    json_t *report;
    int live_orchestrators = 0;
    json_array_foreach(instances, i, report)
    {
        const int64_t age = json_integer_value(json_object_get(report, "ageMs"));
        json_object_set_new(report, "ageS", json_integer(age / 1000));
        if (!strcmp(str(json_object_get(report, "role")), "orchestrator") && age <= STALE_AFTER_MS)
            live_orchestrators++;
        size_t k;
        const json_t *missing;
        json_array_foreach(json_object_get(report, "missingAgents"), k, missing)
        {
            char msg[300];
            snprintf(msg, sizeof msg, "runs wait for agent \"%.60s\", which worker %.100s does not define: add it to "
                     "AGENTS_FILE and reload the workers (systemctl reload 'agentcron-worker@*')",
                     json_string_value(missing), str(json_object_get(report, "instance")));
            json_array_append_new(problems, json_string(msg));
        }
        const int64_t skew = json_integer_value(json_object_get(report, "clockSkewMs"));
        if (skew > SKEW_TOLERANCE_MS || skew < -SKEW_TOLERANCE_MS) {
            char msg[300];
            snprintf(msg, sizeof msg, "the clock of %s %.100s is %.1f s %s Redis's: slots fire by the orchestrator's "
                     "clock; run NTP (chrony) on that host",
                     str(json_object_get(report, "role")), str(json_object_get(report, "instance")),
                     (double)(skew < 0 ? -skew : skew) / 1000, skew > 0 ? "ahead of" : "behind");
            json_array_append_new(problems, json_string(msg));
        }
    }
    if (!live_orchestrators)
        json_array_append_new(problems, json_string("no orchestrator has reported in the last 90 s: is "
                                                    "agentcron-orchestrator running? (systemctl status "
                                                    "agentcron-orchestrator)"));
    redisReply *r = redisCommand(c.redis, "ZCOUNT agentcron:{default}:dead %lld +inf", (long long)(now - DEAD_WINDOW_MS));
    const long long died = r && r->type == REDIS_REPLY_INTEGER ? r->integer : 0;
    freeReplyObject(r);
    json_object_set_new(doc, "diedLast15m", json_integer(died));
    if (died > 0) {
        char msg[200];
        snprintf(msg, sizeof msg, "%lld run%s failed for good in the last 15 minutes: agentcron runs list --status failed",
                 died, died == 1 ? "" : "s");
        json_array_append_new(problems, json_string(msg));
    }
    PGresult *q = PQexec(c.pg, sql_next_due);
    json_t *next = json_array();
    for (int row = 0; PQresultStatus(q) == PGRES_TUPLES_OK && row < PQntuples(q); row++)
        json_array_append_new(next, json_pack("{s:I, s:s, s:s, s:s, s:s}", "task", (json_int_t)cli_i64(q, row, 0),
                                              "title", PQgetvalue(q, row, 1), "nextRunAt",
                                              cli_time(cli_i64(q, row, 2), when), "timezone", PQgetvalue(q, row, 3),
                                              "agent", PQgetvalue(q, row, 4)));
    PQclear(q);
    json_object_set_new(doc, "nextDue", next);
    cli_disconnect(&c);
    return doc;
}

static void print_human(const json_t *doc)
{
    const json_t *problems = json_object_get(doc, "problems");
    printf("agentcron status at %s: %s\n", json_string_value(json_object_get(doc, "timestamp")),
           json_array_size(problems) ? "UNHEALTHY" : "healthy");
    size_t i;
    json_t *v;
    json_array_foreach(problems, i, v) printf("  ! %s\n", json_string_value(v));
    const json_t *t = json_object_get(doc, "totals");
    if (t)
        printf("\nrunning %lld  active agents %lld  queued %lld  completed today %lld  failed today %lld\n"
               "tokens today %lld  credits today %lld  scheduled tasks %lld  due now %lld\n",
               json_integer_value(json_object_get(t, "running")), json_integer_value(json_object_get(t, "activeAgents")),
               json_integer_value(json_object_get(t, "queued")), json_integer_value(json_object_get(t, "completedToday")),
               json_integer_value(json_object_get(t, "failedToday")), json_integer_value(json_object_get(t, "tokensToday")),
               json_integer_value(json_object_get(t, "creditsToday")),
               json_integer_value(json_object_get(t, "scheduledTasks")),
               json_integer_value(json_object_get(t, "tasksCurrentlyDue")));
    const json_t *q = json_object_get(doc, "queue");
    if (q)
        printf("queue: waiting %lld  active %lld  delayed %lld  dead %lld  completed %lld  failed %lld\n",
               json_integer_value(json_object_get(q, "waiting")), json_integer_value(json_object_get(q, "active")),
               json_integer_value(json_object_get(q, "delayed")), json_integer_value(json_object_get(q, "dead")),
               json_integer_value(json_object_get(q, "completed")), json_integer_value(json_object_get(q, "failed")));
    const json_t *inst = json_object_get(doc, "instances");
    if (json_array_size(inst)) {
        printf("\n%-13s %-32s %8s %8s %10s %8s %9s\n", "ROLE", "INSTANCE", "UPTIME", "RUNNING", "COMPLETED", "FAILED",
               "REPORTED");
        json_array_foreach(inst, i, v)
        {
            const int worker = !strcmp(str(json_object_get(v, "role")), "worker");
            char ago[32];
            snprintf(ago, sizeof ago, "%llds ago", json_integer_value(json_object_get(v, "ageS")));
            printf("%-13s %-32.32s %7llds %8lld %10lld %8lld %9s\n", json_string_value(json_object_get(v, "role")),
                   json_string_value(json_object_get(v, "instance")), json_integer_value(json_object_get(v, "uptimeS")),
                   json_integer_value(json_object_get(v, "running")),
                   json_integer_value(json_object_get(v, worker ? "completed" : "completedToday")),
                   json_integer_value(json_object_get(v, worker ? "failed" : "failedToday")), ago);
        }
    }
    const json_t *next = json_object_get(doc, "nextDue");
    if (json_array_size(next)) {
        printf("\nnext due:\n");
        json_array_foreach(next, i, v)
        printf("  %s  task %lld  %s (%s, %s)\n", json_string_value(json_object_get(v, "nextRunAt")),
               json_integer_value(json_object_get(v, "task")), json_string_value(json_object_get(v, "title")),
               json_string_value(json_object_get(v, "timezone")), json_string_value(json_object_get(v, "agent")));
    }
}

static volatile sig_atomic_t interrupted;
static void on_interrupt(int sig)
{
    (void)sig;
    interrupted = 1;
}

int cmd_status(int argc, char **argv)
{
    static const struct option options[] = {
        {"json", no_argument, NULL, 'j'}, {"watch", optional_argument, NULL, 'w'},
        {"env-file", required_argument, NULL, 'e'}, {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0},
    };
    const char *env_file = NULL;
    int json = 0, watch = 0, c;
    long every = 2;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (c) {
        case 'j': json = 1; break;
        case 'e': env_file = optarg; break;
        case 'w': {
            watch = 1;
            const char *arg = optarg ? optarg : (optind < argc && argv[optind][0] != '-' ? argv[optind++] : NULL);
            char *end;
            if (arg && ((every = strtol(arg, &end, 10)) < 1 || every > 3600 || *end))
                return cli_error("status", CLI_USAGE, "--watch \"%s\" must be 1-3600 seconds", arg);
            break;
        }
        case 'h': fputs(usage_text, stdout); return CLI_OK;
        default: return cli_error("status", CLI_USAGE, "unknown or incomplete option %s; see --help", argv[optind - 1]);
        }
    }
    if (optind != argc)
        return cli_error("status", CLI_USAGE, "unexpected argument \"%s\"; see --help", argv[optind]);
    signal(SIGINT, on_interrupt);
    signal(SIGTERM, on_interrupt);
    int status;
    int first = 1;
    do {
        json_t *doc = gather(env_file);
        const json_t *cfg_error = json_object_get(doc, "configError");
        if (cfg_error) {
            cli_error("status", CLI_USAGE, "%s", json_string_value(cfg_error));
            json_decref(doc);
            return CLI_USAGE;
        }
        status = json_array_size(json_object_get(doc, "problems")) ? CLI_UNHEALTHY : CLI_OK;
        json_object_set_new(doc, "healthy", json_boolean(status == CLI_OK));
        if (watch && !json && isatty(STDOUT_FILENO))
            fputs("\033[H\033[2J", stdout); /* redraw from the top */
        else if (watch && !json && !first)
            putchar('\n'); /* into a pipe or a file: one report after another */
        first = 0;
        if (json)
            cli_print_json(doc);
        else {
            print_human(doc);
            json_decref(doc);
        }
        fflush(stdout);
        for (long s = 0; watch && s < every * 10 && !interrupted; s++)
            usleep(100000);
    } while (watch && !interrupted);
    return status;
}
