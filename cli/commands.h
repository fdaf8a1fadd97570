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

/* `agentcron tasks backfill`: runs for the past slots of a task, never duplicating one. */
int cmd_tasks(int argc, char **argv);

/* `agentcron runs cancel`: stop a queued or running run. */
int cmd_runs(int argc, char **argv);

/* `agentcron tzdata`: regenerate or inspect the tz data ICU runs with. Runs before ICU is
 * pointed at any data (it must not be stopped by stale data). */
int cmd_tzdata(int argc, char **argv);

#endif
