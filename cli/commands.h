/* SPDX-License-Identifier: MIT */
/* The agentcron CLI's subcommands. Each takes its own argv (argv[0] is the subcommand name)
 * and returns the process exit status: 0 ok, 1 failure, 2 usage or invalid input. */
#ifndef AGENTCRON_CLI_COMMANDS_H
#define AGENTCRON_CLI_COMMANDS_H

enum cli_exit { CLI_OK = 0, CLI_FAILURE = 1, CLI_USAGE = 2, CLI_UNHEALTHY = 3 };

/* `agentcron next`: fire times of a cron expression. */
int cmd_next(int argc, char **argv);

/* `agentcron migrate`: apply pending schema migrations, or list them (--status). */
int cmd_migrate(int argc, char **argv);

/* `agentcron tasks`: add, list, show, edit, pause, resume, trigger, cancel, rm, backfill. */
int cmd_tasks(int argc, char **argv);

/* `agentcron status`: every instance's report, totals, queue, next due; exit 3 if unhealthy. */
int cmd_status(int argc, char **argv);

/* `agentcron users` and `agentcron keys`: users, their credits and ledger; API keys. */
int cmd_users(int argc, char **argv);
int cmd_keys(int argc, char **argv);

/* `agentcron import vercel.json`: a Vercel app's crons as tasks, idempotently. */
int cmd_import(int argc, char **argv);

/* `agentcron runs`: list, show, retry, cancel. */
int cmd_runs(int argc, char **argv);

/* `agentcron tzdata`: regenerate or inspect the tz data ICU runs with. Runs before ICU is
 * pointed at any data (it must not be stopped by stale data). */
int cmd_tzdata(int argc, char **argv);
int cmd_alerts(int argc, char **argv);

#endif
