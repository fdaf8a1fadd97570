/* SPDX-License-Identifier: MIT */
/* POSIX TZ strings ("EST5EDT,M3.2.0,M11.1.0"), as found in TZif footers (RFC 8536, 3.3):
 * a pure parser and the transitions the rule makes in a range of years. */
#ifndef AGENTCRON_POSIXTZ_H
#define AGENTCRON_POSIXTZ_H

#include <stddef.h>
#include <stdint.h>

/* When in a year a rule switches: kind 'J' (day 1-365, Feb 29 never counted), 'D' (day 0-365,
 * counting Feb 29) or 'M' (month m, week w 1-5 where 5 = last, weekday d 0-6 Sunday = 0), at
 * `time` seconds after local midnight (may be negative or past 24 h, RFC 8536 extension). */
struct posixtz_date {
    char kind;
    int day, month, week, weekday;
    int32_t time;
};

struct posixtz {
    int32_t std_utoff; /* seconds east of UTC */
    int has_dst;
    int32_t dst_utoff;
    struct posixtz_date start, end; /* start: into DST, in standard time; end: in DST time */
};

/* Parses a POSIX TZ string. Returns 0, or -1 with a static reason in *why. Thread-safe. */
int posixtz_parse(const char *text, struct posixtz *out, const char **why);

/* One change of offset. */
struct posixtz_transition {
    int64_t at; /* seconds since the epoch, UTC */
    int32_t utoff;
    uint8_t isdst;
};

/* Writes the rule's changes of offset strictly after `after` and in years up to `last_year`
 * (UTC years of the switch dates), in order, starting from the state (utoff, isdst) in force
 * at `after`; changes that do not change the offset or DST flag are left out. Returns how many
 * were written, at most cap. Thread-safe. */
size_t posixtz_expand(const struct posixtz *tz, int64_t after, int32_t utoff, uint8_t isdst,
                      int last_year, struct posixtz_transition *out, size_t cap);

#endif
