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
#include "config.h"
#include "health.h"
#include "pgconn.h"
#include "redisconn.h"
#include "shards.h"
#include "timefmt.h"

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

static const char *str(const json_t *v)
{
    return json_is_string(v) ? json_string_value(v) : "";
}

/* Gathers everything into one document (sched/health.h); problems listed in "problems". Each
 * server separately: one being down must not hide what the other knows. */
static json_t *gather(const char *env_file)
{
    json_t *doc = json_object(), *problems = json_array();
    json_object_set_new(doc, "problems", problems);
    char when[TIMEFMT_RFC3339_MAX], err[1024];
    json_object_set_new(doc, "timestamp", json_string(cli_time(timefmt_now_ms(), when)));
    struct config cfg;
    struct config_error cerr;
    static const char *const required[] = {"DATABASE_URL", "REDIS_URL", NULL};
    if (config_load(&cfg, env_file, &cerr) != 0 || config_require(&cfg, required, &cerr) != 0) {
        json_object_set_new(doc, "configError", json_string(cerr.message));
        return doc;
    }
    struct pg_conn *pg = pgconn_open(cfg.database_url, "agentcron-cli", err, sizeof err);
    if (!pg)
        json_array_append_new(problems, json_string(err));
    redisconn_use_config(&cfg);
    shards_use_config(&cfg);
    redisContext *redis = redisconn_open(cfg.redis_url, 5000, err, sizeof err);
    if (!redis)
        json_array_append_new(problems, json_string(err));
    health_report(pg, redis, doc);
    PQfinish(pg);
    if (redis)
        redisFree(redis);
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
        printf("queue%s: waiting %lld  active %lld  delayed %lld  dead %lld  completed %lld  failed %lld\n",
               json_integer_value(json_object_get(q, "shards")) > 1 ? " (all shards)" : "",
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
