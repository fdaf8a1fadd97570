/* SPDX-License-Identifier: MIT */
/* POSIX TZ strings (tz/posixtz.c): parsing, and the transitions a rule makes, including
 * the RFC 8536 extensions (times past 24:00 and negative) and permanent DST. */
#include "cron_test_util.h"
#include "posixtz.h"

/* Expands `text` from `after`, when DST is (in_dst) or is not in force, through last_year. */
static void expect_transitions(const char *text, const char *after, int in_dst, int last_year,
                               const char *const want[])
{
    struct posixtz tz;
    const char *why;
    if (posixtz_parse(text, &tz, &why) != 0)
        fail_msg("%s: %s", text, why);
    struct posixtz_transition out[16];
    const int64_t t = ms_of(after) / 1000;
    const size_t n = posixtz_expand(&tz, t, in_dst ? tz.dst_utoff : tz.std_utoff, (uint8_t)in_dst, last_year,
                                    out, 16);
    size_t i = 0;
    for (; want[i]; i++) {
        char got[TIMEFMT_RFC3339_MAX];
        if (i >= n)
            fail_msg("%s: only %zu transitions, expected %s next", text, n, want[i]);
        timefmt_rfc3339(out[i].at * 1000, out[i].utoff, 0, got);
        if (strcmp(got, want[i]) != 0)
            fail_msg("%s: transition %zu is %s, expected %s", text, i, got, want[i]);
    }
    if (n != i)
        fail_msg("%s: %zu transitions, expected %zu", text, n, i);
}

#define TRANSITIONS(text, after, year, ...) \
    expect_transitions(text, after, 0, year, (const char *const[]){__VA_ARGS__, NULL})
#define TRANSITIONS_FROM_DST(text, after, year, ...) \
    expect_transitions(text, after, 1, year, (const char *const[]){__VA_ARGS__, NULL})

static void test_rules(void **state)
{
    (void)state;
    /* local wall time of the instant, in the new offset */
    TRANSITIONS("EST5EDT,M3.2.0,M11.1.0", "2026-01-01T00:00:00Z", 2026, "2026-03-08T03:00:00-04:00",
                "2026-11-01T01:00:00-05:00");
    TRANSITIONS("GMT0BST,M3.5.0/1,M10.5.0", "2026-01-01T00:00:00Z", 2026, "2026-03-29T02:00:00+01:00",
                "2026-10-25T01:00:00+00:00");
    /* southern hemisphere: DST spans the new year */
    TRANSITIONS_FROM_DST("AEST-10AEDT,M10.1.0,M4.1.0/3", "2026-01-01T00:00:00Z", 2026, "2026-04-05T02:00:00+10:00",
                "2026-10-04T03:00:00+11:00");
    /* Lord Howe: half-hour DST */
    TRANSITIONS_FROM_DST("<+1030>-10:30<+11>-11,M10.1.0,M4.1.0", "2026-01-01T00:00:00Z", 2026,
                "2026-04-05T01:30:00+10:30", "2026-10-04T02:30:00+11:00");
    /* Jerusalem: 26:00 on the Thursday = 02:00 on the Friday (RFC 8536 extension) */
    TRANSITIONS("IST-2IDT,M3.4.4/26,M10.5.0", "2026-01-01T00:00:00Z", 2026, "2026-03-27T03:00:00+03:00",
                "2026-10-25T01:00:00+02:00");
    /* Nuuk: -1:00 on the last Sunday = 23:00 on the Saturday before */
    TRANSITIONS("<-02>2<-01>,M3.5.0/-1,M10.5.0/0", "2026-01-01T00:00:00Z", 2026, "2026-03-29T00:00:00-01:00",
                "2026-10-24T23:00:00-02:00");
    /* Julian days: J60 is always March 1; 59 counts Feb 29 in leap years */
    TRANSITIONS("XXX3YYY,J60/0,J300/0", "2028-01-01T00:00:00Z", 2028, "2028-03-01T01:00:00-02:00",
                "2028-10-26T23:00:00-03:00");
    TRANSITIONS("XXX3YYY,59/0,300/0", "2028-01-01T00:00:00Z", 2028, "2028-02-29T01:00:00-02:00",
                "2028-10-26T23:00:00-03:00");
    /* permanent DST: the switches cancel out; nothing changes after the first */
    TRANSITIONS("EST5EDT,0/0,J365/25", "2026-01-01T00:00:00Z", 2030, "2026-01-01T01:00:00-04:00");
}

static void test_no_dst(void **state)
{
    (void)state;
    struct posixtz tz;
    const char *why;
    assert_int_equal(posixtz_parse("<+0530>-5:30", &tz, &why), 0);
    assert_int_equal(tz.std_utoff, 5 * 3600 + 30 * 60);
    assert_int_equal(tz.has_dst, 0);
    struct posixtz_transition out[2];
    assert_int_equal(posixtz_expand(&tz, 0, tz.std_utoff, 0, 2100, out, 2), 0);
    assert_int_equal(posixtz_parse("UTC0", &tz, &why), 0);
    assert_int_equal(tz.std_utoff, 0);
}

static void test_bad_strings(void **state)
{
    (void)state;
    static const char *const bad[] = {"", "E5", "EST", "EST5EDT", "EST5EDT,M3.2.0", "EST5EDT,M13.2.0,M11.1.0",
                                      "EST5EDT,M3.6.0,M11.1.0", "EST5EDT,M3.2.7,M11.1.0", "EST5EDT,J0,J365",
                                      "EST5EDT,M3.2.0/168,M11.1.0", "<+03", "EST25", "EST5EDT,M3.2.0,M11.1.0x"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct posixtz tz;
        const char *why = NULL;
        if (posixtz_parse(bad[i], &tz, &why) != -1 || !why)
            fail_msg("\"%s\" was accepted", bad[i]);
    }
}

/* Found by fuzz_tzif: a TZif file whose last transition is in the year 2.9e11 made expansion
 * loop over every year up to it. Any `after` must return promptly. */
static void test_hostile_instants(void **state)
{
    (void)state;
    struct posixtz tz;
    const char *why;
    assert_int_equal(posixtz_parse("EST5EDT,M3.2.0,M11.1.0", &tz, &why), 0);
    struct posixtz_transition out[8];
    assert_int_equal(posixtz_expand(&tz, INT64_C(9079256850926403583), tz.std_utoff, 0, 2210, out, 8), 0);
    assert_int_equal(posixtz_expand(&tz, INT64_MAX, tz.std_utoff, 0, 2210, out, 8), 0);
    assert_int_equal(posixtz_expand(&tz, INT64_MIN, tz.std_utoff, 0, 1801, out, 8), 6); /* 1799-1801 */
    assert_int_equal(posixtz_expand(&tz, 0, tz.std_utoff, 0, INT32_MAX, out, 8), 0);
    assert_int_equal(posixtz_parse("UTC0", &tz, &why), 0);
    assert_int_equal(posixtz_expand(&tz, INT64_MAX, 3600, 0, 2210, out, 8), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rules),
        cmocka_unit_test(test_no_dst),
        cmocka_unit_test(test_bad_strings),
        cmocka_unit_test(test_hostile_instants),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
