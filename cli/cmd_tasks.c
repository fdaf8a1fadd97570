/* SPDX-License-Identifier: MIT */
/* `agentcron tasks backfill ID --from TIME --to TIME`: runs for the past slots of a task's
 * schedule, with the same slot keys as scheduled runs (so never a duplicate). The other
 * `tasks` subcommands come with the status CLI. */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "config.h"
#include "schedule.h"
#include "timefmt.h"

static const char usage_text[] =
    "usage: agentcron tasks backfill ID --from TIME --to TIME [--json] [--env-file FILE]\n"
    "\n"
    "Creates a run for every slot of task ID's schedule from --from to --to (RFC 3339, both\n"
    "included) that has no run yet, and queues them. Slots that already have a run are left\n"
    "alone, so a backfill can be repeated safely. At most 10,000 slots at a time.\n"
    "\n"
    "exit status: 0 ok, 1 failure (unknown task, database or Redis), 2 usage or invalid input\n";

static int usage_error(const char *what, const char *value)
{
    fprintf(stderr, "agentcron tasks backfill: %s%s%s; see `agentcron tasks --help`\n", what, value ? " " : "",
            value ? value : "");
    return CLI_USAGE;
}

static int parse_time(const char *option, const char *text, int64_t *ms)
{
    const char *why;
    if (timefmt_parse_rfc3339(text, ms, &why) == 0)
        return 0;
    fprintf(stderr, "agentcron tasks backfill: %s \"%.64s\" is not an RFC 3339 time: %s\n", option, text, why);
    return -1;
}

int cmd_tasks(int argc, char **argv)
{
    if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        fputs(usage_text, stdout);
        return CLI_OK;
    }
    if (argc < 2 || strcmp(argv[1], "backfill"))
        return usage_error("the only subcommand so far is backfill", NULL);
    static const struct option options[] = {
        {"from", required_argument, NULL, 'f'}, {"to", required_argument, NULL, 't'},
        {"json", no_argument, NULL, 'j'},       {"env-file", required_argument, NULL, 'e'},
        {"help", no_argument, NULL, 'h'},       {NULL, 0, NULL, 0},
    };
    const char *from = NULL, *to = NULL, *env_file = NULL;
    int json = 0, c;
    optind = 2;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (c) {
        case 'f': from = optarg; break;
        case 't': to = optarg; break;
        case 'j': json = 1; break;
        case 'e': env_file = optarg; break;
        case 'h': fputs(usage_text, stdout); return CLI_OK;
        default: return usage_error("unknown or incomplete option", argv[optind - 1]);
        }
    }
    if (optind + 1 != argc)
        return usage_error("give exactly one task ID", NULL);
    char *end;
    const long long task = strtoll(argv[optind], &end, 10);
    if (*end || task <= 0)
        return usage_error("the task ID must be a positive number, not", argv[optind]);
    if (!from || !to)
        return usage_error("both --from and --to are required", NULL);
    int64_t from_ms, to_ms;
    if (parse_time("--from", from, &from_ms) || parse_time("--to", to, &to_ms))
        return CLI_USAGE;
    if (to_ms < from_ms)
        return usage_error("--to is before --from", NULL);
    struct config cfg;
    struct config_error cerr;
    static const char *const required[] = {"DATABASE_URL", "REDIS_URL", NULL};
    if (config_load(&cfg, env_file, &cerr) != 0 || config_require(&cfg, required, &cerr) != 0) {
        fprintf(stderr, "agentcron tasks backfill: %s\n", cerr.message);
        return CLI_USAGE;
    }
    const struct scheduler_options opt = {
        .database_url = cfg.database_url, .redis_url = cfg.redis_url, .queue = "default", .batch = 1000};
    struct scheduler *s = scheduler_new(&opt);
    struct backfill_result r;
    char err[1024];
    const int rc = s ? scheduler_backfill(s, task, from_ms, to_ms, &r, err, sizeof err) : -1;
    scheduler_free(s);
    if (rc != 0) {
        fprintf(stderr, "agentcron tasks backfill: %s\n", s ? err : "out of memory");
        return CLI_FAILURE;
    }
    if (json) {
        json_t *doc = json_pack("{s:I, s:I, s:I, s:I, s:I}", "task", (json_int_t)task, "slots", (json_int_t)r.slots,
                                "created", (json_int_t)r.created, "existing", (json_int_t)r.existing, "enqueued",
                                (json_int_t)r.enqueued);
        json_dumpf(doc, stdout, JSON_COMPACT);
        putchar('\n');
        json_decref(doc);
    } else {
        printf("task %lld: %lld slot%s from %s to %s; %lld new run%s queued, %lld already had a run\n", task,
               (long long)r.slots, r.slots == 1 ? "" : "s", from, to, (long long)r.created, r.created == 1 ? "" : "s",
               (long long)r.existing);
    }
    return CLI_OK;
}
