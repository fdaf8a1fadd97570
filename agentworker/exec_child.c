/* SPDX-License-Identifier: MIT */
/* The exec run's first moment (exec_child.h). Async-signal-safety is not a concern here: this
 * is a fresh process that execs at once. */
#include "exec_child.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

int exec_child_main(int argc, char **argv)
{
    if (argc < 5 || strcmp(argv[1], EXEC_CHILD_FLAG) != 0)
        return -1;
    const pid_t parent = (pid_t)strtol(argv[2], NULL, 10);
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) {
        fprintf(stderr, "cannot start %s: prctl(PR_SET_PDEATHSIG): %s\n", argv[4], strerror(errno));
        return 127;
    }
    if (getppid() != parent) /* the worker died before the signal was armed */
        return 127;
    execv(argv[3], argv + 4);
    fprintf(stderr, "cannot start %s: %s\n", argv[3], strerror(errno));
    return 127;
}

int exec_child_resolve(const char *program, const char *path, char *out, size_t len)
{
    if (!program[0])
        return -ENOENT;
    if (strchr(program, '/')) {
        if ((size_t)snprintf(out, len, "%s", program) >= len)
            return -ENAMETOOLONG;
        return access(out, X_OK) == 0 ? 0 : -errno;
    }
    int found_denied = 0;
    for (const char *dir = path; dir && *dir;) {
        const size_t n = strcspn(dir, ":");
        if ((size_t)snprintf(out, len, "%.*s/%s", (int)n, n ? dir : ".", program) < len) {
            if (access(out, X_OK) == 0)
                return 0;
            found_denied |= errno == EACCES;
        }
        dir += n + (dir[n] == ':');
    }
    return found_denied ? -EACCES : -ENOENT;
}
