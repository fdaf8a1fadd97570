/* SPDX-License-Identifier: MIT */
/* The agentcron CLI's subcommands. Each takes its own argv (argv[0] is the subcommand name)
 * and returns the process exit status: 0 ok, 1 failure, 2 usage or invalid input. */
#ifndef AGENTCRON_CLI_COMMANDS_H
#define AGENTCRON_CLI_COMMANDS_H

enum cli_exit { CLI_OK = 0, CLI_FAILURE = 1, CLI_USAGE = 2 };

/* `agentcron next`: fire times of a cron expression. */
int cmd_next(int argc, char **argv);

#endif
