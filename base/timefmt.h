/* SPDX-License-Identifier: MIT */
/* RFC 3339 timestamps to and from int64_t milliseconds since the Unix epoch (UTC). */
#ifndef AGENTCRON_TIMEFMT_H
#define AGENTCRON_TIMEFMT_H

#include <stddef.h>
#include <stdint.h>

/* Longest string timefmt_rfc3339 writes, with its NUL: "-YYYYY-MM-DDTHH:MM:SS.mmm+HH:MM". */
#define TIMEFMT_RFC3339_MAX 40

/* The wall clock: ms since the Unix epoch, UTC (for schedules and timestamps; timers and
 * leases use a monotonic clock). Thread-safe. */
int64_t timefmt_now_ms(void);

/* Parses "YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM)" (`t`, `z` and a space separator
 * accepted; fraction truncated to milliseconds) into *ms. Returns 0, or -1 with a reason in
 * why (a static string) when the text is not a valid RFC 3339 date-time. Thread-safe. */
int timefmt_parse_rfc3339(const char *text, int64_t *ms, const char **why);

/* Writes instant ms as local time at UTC offset offset_s: "2026-03-08T03:00:00-04:00", or with
 * a "Z" suffix when zulu is non-zero (offset_s is then ignored). Milliseconds appear only when
 * non-zero. Returns the length written (buf holds at least TIMEFMT_RFC3339_MAX bytes).
 * Offsets are written to the minute (RFC 3339 has no seconds in offsets). Thread-safe. */
size_t timefmt_rfc3339(int64_t ms, int32_t offset_s, int zulu, char *buf);

#endif
