/* SPDX-License-Identifier: MIT */
/* Helpers shared by the cronparse unit tests: assert the fire times of an expression. */
#ifndef CRON_TEST_UTIL_H
#define CRON_TEST_UTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "cronparse.h"
#include "timefmt.h"

static inline int64_t ms_of(const char *rfc3339)
{
    int64_t ms = 0;
    const char *why;
    if (timefmt_parse_rfc3339(rfc3339, &ms, &why) != 0)
        fail_msg("bad timestamp in test: %s (%s)", rfc3339, why);
    return ms;
}

static inline const char *utc_of(int64_t ms, char buf[TIMEFMT_RFC3339_MAX])
{
    timefmt_rfc3339(ms, 0, 1, buf);
    return buf;
}

/* Asserts that walking next() (or prev()) from `from` in `zone` gives the UTC instants listed
 * (NULL-terminated), and that the walk in the other direction retraces them. */
static inline void check_walk(const char *text, const char *hash_key, const char *zone_name,
                              const char *from, int backwards, const char *const expected[])
{
    struct cron_expr *e;
    struct cron_zone *z;
    struct cron_error err;
    if (cron_parse(text, hash_key, &e, &err) != 0)
        fail_msg("\"%s\" did not parse: %s", text, err.message);
    if (cron_zone_open(zone_name, &z, &err) != 0)
        fail_msg("zone %s: %s", zone_name, err.message);
    int64_t t = ms_of(from);
    int64_t got[64];
    int n = 0;
    for (; expected[n]; n++) {
        struct cron_fire f;
        char a[TIMEFMT_RFC3339_MAX];
        const int rc = backwards ? cron_prev(e, z, t, &f) : cron_next(e, z, t, &f);
        if (rc != 0)
            fail_msg("\"%s\" in %s: fire %d from %s: %s, expected %s", text, zone_name, n,
                     utc_of(t, a), cron_strerror(rc), expected[n]);
        if (strcmp(utc_of(f.ms, a), expected[n]) != 0)
            fail_msg("\"%s\" in %s: fire %d is %s, expected %s", text, zone_name, n, a, expected[n]);
        got[n] = t = f.ms;
    }
    for (int i = n - 1; i > 0; i--) { /* retrace */
        struct cron_fire f;
        const int rc = backwards ? cron_next(e, z, got[i], &f) : cron_prev(e, z, got[i], &f);
        char a[TIMEFMT_RFC3339_MAX], b[TIMEFMT_RFC3339_MAX];
        if (rc != 0 || f.ms != got[i - 1])
            fail_msg("\"%s\" in %s: retracing from %s gave %s, expected %s", text, zone_name,
                     utc_of(got[i], a), rc ? cron_strerror(rc) : utc_of(f.ms, b), expected[i - 1]);
    }
    cron_zone_free(z);
    cron_free(e);
}

#define FIRES(text, zone, from, ...) \
    check_walk(text, NULL, zone, from, 0, (const char *const[]){__VA_ARGS__, NULL})
#define FIRES_BACK(text, zone, from, ...) \
    check_walk(text, NULL, zone, from, 1, (const char *const[]){__VA_ARGS__, NULL})

/* Asserts that `text` is rejected with `code` and exactly `message`. */
static inline void check_error(const char *text, const char *hash_key, int code, const char *message)
{
    struct cron_expr *e = (struct cron_expr *)1;
    struct cron_error err;
    const int rc = cron_parse(text, hash_key, &e, &err);
    text = text ? text : "(null)";
    message = message ? message : "";
    if (rc == 0)
        fail_msg("\"%s\" parsed but should fail with: %s", text, message);
    assert_null(e);
    if (rc != code || err.code != code)
        fail_msg("\"%s\": code %d (%s), expected %d; message: %s", text, rc, cron_strerror(rc),
                 code, err.message);
    if (*message && strcmp(err.message, message) != 0)
        fail_msg("\"%s\": message\n  got:      %s\n  expected: %s", text, err.message, message);
}

#endif
