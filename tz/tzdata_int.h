/* SPDX-License-Identifier: MIT */
/* Shared by tzdata.c (orchestration) and tzdata_gen.c (the resource writer). Not installed. */
#ifndef AGENTCRON_TZDATA_INT_H
#define AGENTCRON_TZDATA_INT_H

#include <stdint.h>
#include <stdio.h>

#include "tzdata.h"

/* Transitions are written out explicitly through this year (cronparse needs up to 2200). */
#define TZDATA_LAST_YEAR 2210

/* Instants at which refresh checks every zone's offset through ICU against what it wrote. */
#define TZDATA_PROBES 3
static const int64_t tzdata_probe_at[TZDATA_PROBES] = {0, 1782864000 /* 2026-07-01 */,
                                                        2871763200 /* 2061-01-01 */};

struct name {
    char *name;
    char *link_target; /* NULL for a zone */
    char region[4];
    int32_t probe_utoff[TZDATA_PROBES];
};

struct tzdata_names {
    struct name *names; /* sorted by name */
    size_t count;
    char version[32];
};

/* Writes the zoneinfo64 resource for the zoneinfo directory `source` to `out` and returns the
 * names it wrote (release with tzdata_names_release). 0, or -1 with *err filled. */
int tzdata_generate(const char *source, FILE *out, struct tzdata_names *names, struct tzdata_error *err);

void tzdata_names_release(struct tzdata_names *names);

/* Formats a message into *err and returns -1. */
int tzdata_fail(struct tzdata_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
