/* SPDX-License-Identifier: MIT */
/* cronparse: cron expressions, their fire instants in any IANA zone, and their descriptions.
 *
 * The contract is docs/cron.md with the project's additions in
 * cronparse/README.md. Times are int64_t milliseconds since the Unix epoch, UTC.
 *
 * Thread safety: a parsed cron_expr and an opened cron_zone are immutable; any number of
 * threads may use them at once. Parsing and opening zones are themselves thread-safe.
 */
#ifndef CRONPARSE_H
#define CRONPARSE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Error codes: 0 is success, every error is negative. */
#define CRON_ERRNO_MAP(X)                                                            \
    X(SYNTAX, -1, "invalid cron expression")                                         \
    X(RANGE, -2, "value out of range")                                               \
    X(NEVER, -3, "expression can never fire")                                        \
    X(ZONE, -4, "unknown timezone")                                                  \
    X(NOKEY, -5, "H needs a hash key")                                               \
    X(TOOLONG, -6, "expression too long")                                            \
    X(NOFIRE, -7, "no fire time within 1970-2199")                                   \
    X(NOMEM, -8, "out of memory")                                                    \
    X(ICU, -9, "ICU failure")

enum cron_errno {
#define CRON_ERRNO_ENUM(name, code, text) CRON_E##name = (code),
    CRON_ERRNO_MAP(CRON_ERRNO_ENUM)
#undef CRON_ERRNO_ENUM
};

/* Longest expression accepted, in bytes (the contract's limit). */
#define CRON_MAX_EXPR_LEN 1024

/* First and last instants supported: 1970-01-01T00:00:00Z .. 2199-12-31T23:59:59Z. */
#define CRON_MIN_MS INT64_C(0)
#define CRON_MAX_MS INT64_C(7258118399000)

/* A human-readable error. `field` is "second", "minute", "hour", "day-of-month", "month",
 * "day-of-week", "timezone" or "expression"; `column` is 1-based into the original text
 * (0 when it does not apply); `message` is one complete line, e.g.
 * `hour: "24" out of range 0-23 (column 3)`. */
struct cron_error {
    int code;
    int column;
    char field[16];
    char message[256];
};

/* The static text for an error code ("value out of range"); never NULL. */
const char *cron_strerror(int code);

struct cron_expr;
struct cron_zone;

/* Parses `text` (NUL-terminated). `hash_key` (may be NULL) seeds `H` items: the same key and
 * expression give the same schedule forever; an `H` without a key is CRON_ENOKEY.
 * On success stores a new expression in *out (free with cron_free) and returns 0; otherwise
 * returns a negative CRON_E* code, fills *err (if not NULL) and leaves *out NULL.
 * Expressions that can never fire are rejected here (CRON_ENEVER). */
int cron_parse(const char *text, const char *hash_key, struct cron_expr **out,
               struct cron_error *err);

/* Frees an expression; NULL is a no-op. */
void cron_free(struct cron_expr *expr);

/* The timezone named by a `TZ=`/`CRON_TZ=` prefix, as written, or NULL if there was none.
 * Owned by the expression. */
const char *cron_expr_timezone(const struct cron_expr *expr);

/* 1 for an interval schedule (hour field begins with `*`), 0 for a fixed-time schedule. */
int cron_expr_is_interval(const struct cron_expr *expr);

/* Opens an IANA zone (links such as US/Eastern accepted) through ICU and precomputes its
 * UTC-offset transitions for 1970-2199. NULL or "" means UTC. On success stores a new zone in
 * *out (free with cron_zone_free) and returns 0; an unknown name is CRON_EZONE with *err
 * filled. Opening costs up to about a millisecond (it walks ICU's transitions): open a zone
 * once and share it. */
int cron_zone_open(const char *name, struct cron_zone **out, struct cron_error *err);

/* Frees a zone; NULL is a no-op. */
void cron_zone_free(struct cron_zone *zone);

/* The zone's canonical IANA name: links are followed ("US/Eastern" is "America/New_York",
 * "Asia/Calcutta" is "Asia/Kolkata"), and the Etc/UTC family reads "UTC". Owned by the zone. */
const char *cron_zone_name(const struct cron_zone *zone);

/* The zone's UTC offset, in seconds, at instant `ms`. */
int32_t cron_zone_offset(const struct cron_zone *zone, int64_t ms);

/* The first change of UTC offset strictly after `after_ms` (up to 2201): stores its instant
 * and the offset from then on, and returns 0; CRON_ENOFIRE when there is none. */
int cron_zone_next_transition(const struct cron_zone *zone, int64_t after_ms, int64_t *at_ms,
                              int32_t *offset_after);

/* How a fire instant relates to the wall-clock time that matched. */
enum cron_fire_kind {
    CRON_FIRE_NORMAL = 0,   /* the wall time exists once */
    CRON_FIRE_GAP = 1,      /* the wall time fell in a DST gap; fired when the gap ended */
    CRON_FIRE_OVERLAP_1 = 2, /* the wall time exists twice; this is the first instance */
    CRON_FIRE_OVERLAP_2 = 3, /* the wall time exists twice; this is the second instance */
};

/* Details of a fire instant: the matching wall time (seconds since 1970-01-01T00:00 local,
 * i.e. the civil fields read as if UTC) and its kind. */
struct cron_fire {
    int64_t ms;
    int64_t wall_s;
    enum cron_fire_kind kind;
};

/* The first fire instant strictly after `after_ms`, in `zone`. Returns 0 and fills *fire, or
 * CRON_ENOFIRE when there is none up to the end of 2199. Exact: no scanning. */
int cron_next(const struct cron_expr *expr, const struct cron_zone *zone, int64_t after_ms,
              struct cron_fire *fire);

/* The last fire instant strictly before `before_ms`, in `zone`. Returns 0 and fills *fire, or
 * CRON_ENOFIRE when there is none since 1970. */
int cron_prev(const struct cron_expr *expr, const struct cron_zone *zone, int64_t before_ms,
              struct cron_fire *fire);

/* Writes an English description ("At 09:00, Monday through Friday") into buf, NUL-terminated
 * and truncated to fit. Returns the length it needed (excluding the NUL), like snprintf. */
size_t cron_describe(const struct cron_expr *expr, char *buf, size_t len);

#ifdef __cplusplus
}
#endif

#endif
