/* SPDX-License-Identifier: MIT */
/* agentcron: the command-line tool. Dispatches to one subcommand per file. */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "tzdata.h"

static const struct {
    const char *name;
    int (*run)(int argc, char **argv);
    int needs_tzdata; /* refuse to run on tz data older than the system's */
    const char *summary;
} commands[] = {
    {"status", cmd_status, 0, "what every orchestrator and worker reports, the queue, what is due (exit 3: unhealthy)"},
    {"tasks", cmd_tasks, 1, "add, list, show, edit, pause, resume, trigger, cancel, rm, backfill tasks"},
    {"runs", cmd_runs, 0, "list, show, follow, retry, cancel and prune runs"},
    {"users", cmd_users, 0, "add, list and show users; grant credits and read the ledger"},
    {"keys", cmd_keys, 0, "create, list and revoke API keys"},
    {"alerts", cmd_alerts, 0, "add, list, show, test and remove alert rules"},
    {"import", cmd_import, 1, "turn a vercel.json's crons into tasks"},
    {"next", cmd_next, 1, "show when a cron expression fires, in any timezone"},
    {"migrate", cmd_migrate, 0, "apply pending database schema migrations (--status: list them)"},
    {"tzdata", cmd_tzdata, 0, "regenerate or inspect the timezone data ICU uses"},
};

static void usage(FILE *to)
{
    fprintf(to, "usage: agentcron COMMAND [OPTIONS]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(to, "  %-8s %s\n", commands[i].name, commands[i].summary);
    fprintf(to, "\n`agentcron COMMAND --help` describes a command.\n"
                "exit status: 0 ok, 1 failure, 2 usage or invalid input, 3 unhealthy\n");
}

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN); /* a server that hangs up gets a message, not a silent death */
    if (argc < 2) {
        usage(stderr);
        return CLI_USAGE;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return CLI_OK;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("agentcron %s\n", AGENTCRON_VERSION);
        return CLI_OK;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        if (strcmp(argv[1], commands[i].name))
            continue;
        if (commands[i].needs_tzdata) {
            struct tzdata_status st;
            struct tzdata_error err;
            if (tzdata_init(NULL, &st, &err) != 0) {
                fprintf(stderr, "agentcron: %s\n", err.message);
                return CLI_FAILURE;
            }
        }
        return commands[i].run(argc - 1, argv + 1);
    }
    fprintf(stderr, "agentcron: unknown command \"%s\"; `agentcron --help` lists the commands\n", argv[1]);
    return CLI_USAGE;
}
