/* SPDX-License-Identifier: MIT */
/* `agentcron runs cancel ID`: stops a run, queued or running. (Listing, showing and retrying
 * runs come with the status CLI.) */
#include <getopt.h>
#include <hiredis/hiredis.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "config.h"
#include "pgconn.h"
#include "redisconn.h"
#include "runctl.h"

static const char usage_text[] =
    "usage: agentcron runs cancel ID [--json] [--env-file FILE]\n"
    "\n"
    "Cancels run ID. A run that has not started ends `cancelled` at once; a running one is\n"
    "stopped by its worker within a second (a process gets SIGTERM, then SIGKILL after the\n"
    "agent's kill_grace_ms; an HTTP request is closed) and recorded `cancelled`.\n"
    "\n"
    "exit status: 0 ok (also when the run had already ended), 1 failure or no such run, 2 usage\n";

static int usage_error(const char *what, const char *value)
{
    fprintf(stderr, "agentcron runs: %s%s%s; see `agentcron runs --help`\n", what, value ? " " : "",
            value ? value : "");
    return CLI_USAGE;
}

int cmd_runs(int argc, char **argv)
{
    if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        fputs(usage_text, stdout);
        return CLI_OK;
    }
    if (argc < 2 || strcmp(argv[1], "cancel"))
        return usage_error("the only subcommand so far is cancel", NULL);
    static const struct option options[] = {
        {"json", no_argument, NULL, 'j'}, {"env-file", required_argument, NULL, 'e'},
        {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0},
    };
    const char *env_file = NULL;
    int json = 0, c;
    optind = 2;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (c) {
        case 'j': json = 1; break;
        case 'e': env_file = optarg; break;
        case 'h': fputs(usage_text, stdout); return CLI_OK;
        default: return usage_error("unknown or incomplete option", argv[optind - 1]);
        }
    }
    if (optind + 1 != argc)
        return usage_error("give exactly one run ID", NULL);
    char *end;
    const long long id = strtoll(argv[optind], &end, 10);
    if (*end || id <= 0)
        return usage_error("the run ID must be a positive number, not", argv[optind]);
    struct config cfg;
    struct config_error cerr;
    static const char *const required[] = {"DATABASE_URL", "REDIS_URL", NULL};
    if (config_load(&cfg, env_file, &cerr) != 0 || config_require(&cfg, required, &cerr) != 0) {
        fprintf(stderr, "agentcron runs cancel: %s\n", cerr.message);
        return CLI_USAGE;
    }
    char err[1024], status[32];
    PGconn *pg = pgconn_open(cfg.database_url, "agentcron-cli", err, sizeof err);
    redisContext *redis = pg ? redisconn_open(cfg.redis_url, 5000, err, sizeof err) : NULL;
    const int rc = redis ? runctl_cancel(pg, redis, id, 0, status, err, sizeof err) : -1;
    if (redis)
        redisFree(redis);
    PQfinish(pg);
    if (rc < 0 || rc == RUNCTL_NOT_FOUND) {
        if (rc == RUNCTL_NOT_FOUND)
            snprintf(err, sizeof err, "no run %lld", id);
        fprintf(stderr, "agentcron runs cancel: %s\n", err);
        return CLI_FAILURE;
    }
    static const char *const results[] = {"cancelled", "stopping", "finished"};
    if (json) {
        json_t *doc = json_pack("{s:I, s:s, s:s}", "run", (json_int_t)id, "result", results[rc], "status", status);
        json_dumpf(doc, stdout, JSON_COMPACT);
        putchar('\n');
        json_decref(doc);
    } else if (rc == RUNCTL_CANCELLED)
        printf("run %lld: cancelled before it started\n", id);
    else if (rc == RUNCTL_STOPPING)
        printf("run %lld: running; its worker stops it within a second and records it cancelled\n", id);
    else
        printf("run %lld: already ended (%s); nothing to cancel\n", id, status);
    return CLI_OK;
}
