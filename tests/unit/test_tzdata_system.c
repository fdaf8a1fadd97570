/* SPDX-License-Identifier: MIT */
/* cronparse computes with the system's tz data: for every zone of zone1970.tab, every change
 * of UTC offset from 1970 to 2060 and the offset in the middle of each month of 2038-2060
 * agree with `zdump -v`, which reads the system's compiled zones directly. Run with
 * ICU_TIMEZONE_FILES_DIR pointing at the generated data (CTest sets it). */
#include <stdlib.h>
#include <time.h>

#include "cron_test_util.h"

#define MAX_CHANGES 4096

struct change {
    int64_t at;     /* seconds */
    int32_t offset; /* after the change */
};

/* Offset changes of `zone` per zdump, and the offset in force at 1970-01-01. */
static size_t zdump_changes(const char *zone, struct change *out, int32_t *at_1970)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "zdump -v -c 1800,2061 '%s'", zone);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    char line[512];
    int64_t prev_at = INT64_MIN;
    int32_t prev_off = 0;
    int have_prev = 0;
    size_t n = 0;
    *at_1970 = INT32_MIN;
    while (fgets(line, sizeof line, p)) {
        const char *ut = strchr(line, ' ');
        const char *g = strstr(line, "gmtoff=");
        struct tm tm = {0};
        if (!ut || !g || strstr(line, "NULL"))
            continue;
        while (*ut == ' ')
            ut++;
        if (!strptime(ut, "%a %b %d %H:%M:%S %Y UT", &tm))
            continue;
        const int64_t at = (int64_t)timegm(&tm);
        const int32_t off = (int32_t)strtol(g + 7, NULL, 10);
        if (have_prev && at == prev_at + 1 && off != prev_off) {
            if (at <= 0)
                *at_1970 = off;
            else if (n < MAX_CHANGES)
                out[n++] = (struct change){at, off};
        }
        if (at <= 0)
            *at_1970 = off;
        prev_at = at, prev_off = off, have_prev = 1;
    }
    pclose(p);
    return n;
}

static size_t cron_changes(const struct cron_zone *z, struct change *out)
{
    size_t n = 0;
    int64_t at = 0;
    int32_t off;
    while (n < MAX_CHANGES && cron_zone_next_transition(z, at, &at, &off) == 0 && at < INT64_C(2871763200000))
        out[n++] = (struct change){at / 1000, off};
    return n;
}

static int32_t offset_at(const struct change *c, size_t n, int32_t initial, int64_t t)
{
    int32_t off = initial;
    for (size_t i = 0; i < n && c[i].at <= t; i++)
        off = c[i].offset;
    return off;
}

static void test_every_zone_agrees_with_zdump(void **state)
{
    (void)state;
    const char *dir = getenv("TZDIR") ? getenv("TZDIR") : "/usr/share/zoneinfo";
    char path[512];
    snprintf(path, sizeof path, "%s/zone1970.tab", dir);
    FILE *tab = fopen(path, "r");
    assert_non_null(tab);
    static struct change want[MAX_CHANGES], got[MAX_CHANGES];
    char line[1024], codes[256], coords[64], zone[256];
    int zones = 0, changes = 0;
    while (fgets(line, sizeof line, tab)) {
        if (line[0] == '#' || sscanf(line, "%255s %63s %255s", codes, coords, zone) != 3)
            continue;
        struct cron_zone *z;
        struct cron_error err;
        if (cron_zone_open(zone, &z, &err) != 0)
            fail_msg("%s: %s", zone, err.message);
        int32_t initial;
        const size_t nw = zdump_changes(zone, want, &initial);
        const size_t ng = cron_changes(z, got);
        char a[TIMEFMT_RFC3339_MAX];
        if (initial != INT32_MIN && cron_zone_offset(z, 0) != initial)
            fail_msg("%s: offset at 1970-01-01 is %d, zdump says %d", zone, cron_zone_offset(z, 0), initial);
        for (size_t i = 0; i < nw || i < ng; i++) {
            if (i >= nw || i >= ng || want[i].at != got[i].at || want[i].offset != got[i].offset)
                fail_msg("%s: change %zu: cronparse %s -> %d, zdump %s -> %d", zone, i,
                         i < ng ? utc_of(got[i].at * 1000, a) : "none", i < ng ? got[i].offset : 0,
                         i < nw ? utc_of(want[i].at * 1000, (char[TIMEFMT_RFC3339_MAX]){0}) : "none",
                         i < nw ? want[i].offset : 0);
        }
        for (int y = 2038; y <= 2060; y++)
            for (int m = 1; m <= 12; m++) {
                struct tm tm = {.tm_year = y - 1900, .tm_mon = m - 1, .tm_mday = 15, .tm_hour = 12};
                const int64_t t = (int64_t)timegm(&tm);
                const int32_t expect = offset_at(want, nw, initial, t);
                if (cron_zone_offset(z, t * 1000) != expect)
                    fail_msg("%s: offset on %04d-%02d-15 is %d, zdump says %d", zone, y, m,
                             cron_zone_offset(z, t * 1000), expect);
            }
        cron_zone_free(z);
        zones++;
        changes += (int)nw;
    }
    fclose(tab);
    assert_true(zones > 300);
    print_message("compared %d zones and %d offset changes with zdump\n", zones, changes);
}

/* The zones whose rules changed after ICU's built-in 2022e, in July 2026. */
static void test_changed_zones(void **state)
{
    (void)state;
    static const struct {
        const char *zone;
        int32_t july_2026;
    } cases[] = {
        {"America/Mexico_City", -6 * 3600}, {"Africa/Cairo", 3 * 3600}, {"Asia/Almaty", 5 * 3600},
        {"America/Nuuk", -1 * 3600},        {"America/Asuncion", -3 * 3600},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct cron_zone *z;
        struct cron_error err;
        assert_int_equal(cron_zone_open(cases[i].zone, &z, &err), 0);
        if (cron_zone_offset(z, ms_of("2026-07-15T12:00:00Z")) != cases[i].july_2026)
            fail_msg("%s: July 2026 offset %d, expected %d (is ICU on the system's data?)", cases[i].zone,
                     cron_zone_offset(z, ms_of("2026-07-15T12:00:00Z")), cases[i].july_2026);
        cron_zone_free(z);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_changed_zones),
        cmocka_unit_test(test_every_zone_agrees_with_zdump),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
