/* SPDX-License-Identifier: MIT */
/* The data directories beside the binary (see paths.h). */
#include "paths.h"

#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

void paths_share_dir(const char *what, const char *env_override, char *out, size_t len)
{
    const char *env = env_override ? getenv(env_override) : NULL;
    if (env && *env) {
        snprintf(out, len, "%s", env);
        return;
    }
    char exe[PATH_MAX];
    const ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) {
        snprintf(out, len, "/usr/share/agentcron/%s", what);
        return;
    }
    exe[n] = 0;
    char joined[PATH_MAX + 64];
    snprintf(joined, sizeof joined, "%s/../share/agentcron/%s", dirname(exe), what);
    char resolved[PATH_MAX];
    snprintf(out, len, "%s", realpath(joined, resolved) ? resolved : joined);
}
