/* SPDX-License-Identifier: MIT */
/* TZif (RFC 8536) files, the compiled zones under /usr/share/zoneinfo: a pure parser. */
#ifndef AGENTCRON_TZIF_H
#define AGENTCRON_TZIF_H

#include <stddef.h>
#include <stdint.h>

struct tzif_type {
    int32_t utoff; /* seconds east of UTC */
    uint8_t isdst;
};

/* A parsed zone. Times before the first transition use types[0] (RFC 8536, 3.2). */
struct tzif {
    uint32_t transition_count, type_count;
    int64_t *at;         /* transition instants, seconds, ascending */
    uint8_t *type_index; /* type in effect from at[i] on */
    struct tzif_type *types;
    char footer[128];    /* POSIX TZ string for instants after the last transition; may be "" */
};

/* Parses a TZif file held in memory (version 1 to 4; the 64-bit block is used when present).
 * On success fills *out (release with tzif_release) and returns 0; on malformed, truncated or
 * leap-second ("right/") data returns -1 with a static reason in *why. Thread-safe. */
int tzif_parse(const uint8_t *data, size_t len, struct tzif *out, const char **why);

/* Frees what tzif_parse allocated; safe on a zeroed struct. */
void tzif_release(struct tzif *z);

#endif
