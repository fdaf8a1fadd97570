/* SPDX-License-Identifier: MIT */
/* How an exec run's command dies with its worker. libuv cannot run code in a child between
 * fork and exec, so the command is started through the worker's own binary (/proc/self/exe),
 * asked by its first argument to ask the kernel for SIGKILL when its parent dies
 * (PR_SET_PDEATHSIG) and then to become the command. A worker killed with -9 outside systemd
 * so takes its commands with it instead of leaving them to run and then run again elsewhere.
 * Both daemons call exec_child_main first thing in main(). */
#ifndef AGENTCRON_EXEC_CHILD_H
#define AGENTCRON_EXEC_CHILD_H

#include <stddef.h>

#define EXEC_CHILD_FLAG "--agentcron-exec-child"

/* When argv asks for it (argv[1] is EXEC_CHILD_FLAG, then the parent's pid, the program's path
 * and the command's argv): arms the parent-death signal and execs the program; returns only
 * when that fails (the exit status: 127, after a line on stderr). Otherwise returns -1 at once
 * and the daemon goes on. */
int exec_child_main(int argc, char **argv);

/* Finds program as execvp would in the directories of path ("a:b:c"), checking that it is
 * executable: its full name in out (len bytes), or a negative errno (-ENOENT, -EACCES). */
int exec_child_resolve(const char *program, const char *path, char *out, size_t len);

#endif
