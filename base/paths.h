/* SPDX-License-Identifier: MIT */
/* Where agentcron's installed data lives, found relative to the running binary so that the
 * build tree, `cmake --install` to any prefix, and a moved tree all work unchanged. */
#ifndef AGENTCRON_PATHS_H
#define AGENTCRON_PATHS_H

#include <stddef.h>

/* Writes the directory for `what` (e.g. "tzdata", "migrations"): the value of the environment
 * variable `env_override` when set and non-empty, else <the executable's directory>/../share/
 * agentcron/<what>, resolved. Thread-safe. */
void paths_share_dir(const char *what, const char *env_override, char *out, size_t len);

#endif
