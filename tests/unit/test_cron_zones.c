/* SPDX-License-Identifier: MIT */
/* The timezone rules of the cron contract (section 3) in the zones that stress them: one-hour
 * shifts both ways, a 30-minute shift, a +12:45 zone, transitions at midnight, and no DST.
 * Expected instants come from the contract's worked examples and `zdump -v` of each zone. */
#include "cron_test_util.h"

static void test_new_york_worked_examples(void **state)
{
    (void)state;
    FIRES("30 2 * * *", "America/New_York", "2026-03-07T00:00:00Z", "2026-03-07T07:30:00Z",
          "2026-03-08T07:00:00Z", "2026-03-09T06:30:00Z");
    FIRES("30 1 * * *", "America/New_York", "2026-10-31T00:00:00Z", "2026-10-31T05:30:00Z",
          "2026-11-01T05:30:00Z", "2026-11-02T06:30:00Z");
    FIRES("*/30 * * * *", "America/New_York", "2026-11-01T04:59:00Z", "2026-11-01T05:00:00Z",
          "2026-11-01T05:30:00Z", "2026-11-01T06:00:00Z", "2026-11-01T06:30:00Z", "2026-11-01T07:00:00Z");
    FIRES("0 * * * *", "America/New_York", "2026-03-08T05:59:00Z", "2026-03-08T06:00:00Z",
          "2026-03-08T07:00:00Z");
    /* the same walks backwards */
    FIRES_BACK("30 2 * * *", "America/New_York", "2026-03-09T06:30:01Z", "2026-03-09T06:30:00Z",
               "2026-03-08T07:00:00Z", "2026-03-07T07:30:00Z");
    FIRES_BACK("*/30 * * * *", "America/New_York", "2026-11-01T07:00:00Z", "2026-11-01T06:30:00Z",
               "2026-11-01T06:00:00Z", "2026-11-01T05:30:00Z", "2026-11-01T05:00:00Z");
}

static void test_new_york_more(void **state)
{
    (void)state;
    /* only the hour field decides "interval": `* 2 * * *` fires once at the gap's end */
    FIRES("* 2 * * *", "America/New_York", "2026-03-08T06:58:00Z", "2026-03-08T07:00:00Z",
          "2026-03-09T06:00:00Z");
    /* several wall times in one gap fire once (rule 4) */
    FIRES("*/15 2 * * *", "America/New_York", "2026-03-08T00:00:00Z", "2026-03-08T07:00:00Z",
          "2026-03-09T06:00:00Z", "2026-03-09T06:15:00Z");
    /* interval schedules skip gap times and fire twice in overlaps */
    FIRES("0 */2 * * *", "America/New_York", "2026-03-08T04:30:00Z", "2026-03-08T05:00:00Z",
          "2026-03-08T08:00:00Z");
    FIRES("0 * * * *", "America/New_York", "2026-11-01T04:30:00Z", "2026-11-01T05:00:00Z",
          "2026-11-01T06:00:00Z", "2026-11-01T07:00:00Z");
    FIRES("30 * * * * *", "America/New_York", "2026-11-01T05:59:00Z", "2026-11-01T05:59:30Z",
          "2026-11-01T06:00:30Z");
    /* a fixed-time job during the overlap itself: from between the two 01:30s */
    FIRES("30 1 * * *", "America/New_York", "2026-11-01T06:00:00Z", "2026-11-02T06:30:00Z");
    /* the US zone link resolves to the same schedule */
    FIRES("30 2 * * *", "US/Eastern", "2026-03-07T08:00:00Z", "2026-03-08T07:00:00Z");
}

static void test_london(void **state)
{
    (void)state;
    FIRES("30 1 * * *", "Europe/London", "2026-03-28T00:00:00Z", "2026-03-28T01:30:00Z",
          "2026-03-29T01:00:00Z", "2026-03-30T00:30:00Z");
    FIRES("30 1 * * *", "Europe/London", "2026-10-24T00:00:00Z", "2026-10-24T00:30:00Z",
          "2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z");
    FIRES("15 * * * *", "Europe/London", "2026-10-24T23:00:00Z", "2026-10-24T23:15:00Z",
          "2026-10-25T00:15:00Z", "2026-10-25T01:15:00Z", "2026-10-25T02:15:00Z");
}

static void test_sydney(void **state)
{
    (void)state;
    FIRES("30 2 * * *", "Australia/Sydney", "2026-04-03T00:00:00Z", "2026-04-03T15:30:00Z",
          "2026-04-04T15:30:00Z", "2026-04-05T16:30:00Z");
    FIRES("30 2 * * *", "Australia/Sydney", "2026-10-02T00:00:00Z", "2026-10-02T16:30:00Z",
          "2026-10-03T16:00:00Z", "2026-10-04T15:30:00Z");
}

static void test_lord_howe_half_hour(void **state)
{
    (void)state;
    /* fall back 02:00 (+11) -> 01:30 (+10:30): 01:30-01:59 happens twice */
    FIRES("45 1 * * *", "Australia/Lord_Howe", "2026-04-03T00:00:00Z", "2026-04-03T14:45:00Z",
          "2026-04-04T14:45:00Z", "2026-04-05T15:15:00Z");
    FIRES("*/15 * * * *", "Australia/Lord_Howe", "2026-04-04T14:29:00Z", "2026-04-04T14:30:00Z",
          "2026-04-04T14:45:00Z", "2026-04-04T15:00:00Z", "2026-04-04T15:15:00Z", "2026-04-04T15:30:00Z");
    /* spring forward 02:00 (+10:30) -> 02:30 (+11): 02:00-02:29 does not exist */
    FIRES("15 2 * * *", "Australia/Lord_Howe", "2026-10-02T00:00:00Z", "2026-10-02T15:45:00Z",
          "2026-10-03T15:30:00Z", "2026-10-04T15:15:00Z");
    FIRES("*/15 * * * *", "Australia/Lord_Howe", "2026-10-03T15:14:00Z", "2026-10-03T15:15:00Z",
          "2026-10-03T15:30:00Z", "2026-10-03T15:45:00Z");
    /* 02:30 exists on the spring-forward day: no day is skipped */
    FIRES("30 2 * * *", "Australia/Lord_Howe", "2026-10-02T00:00:00Z", "2026-10-02T16:00:00Z",
          "2026-10-03T15:30:00Z", "2026-10-04T15:30:00Z");
}

static void test_chatham(void **state)
{
    (void)state;
    FIRES("0 3 * * *", "Pacific/Chatham", "2026-04-03T00:00:00Z", "2026-04-03T13:15:00Z",
          "2026-04-04T13:15:00Z", "2026-04-05T14:15:00Z");
    FIRES("0 3 * * *", "Pacific/Chatham", "2026-09-25T00:00:00Z", "2026-09-25T14:15:00Z",
          "2026-09-26T14:00:00Z", "2026-09-27T13:15:00Z");
}

static void test_midnight_transitions(void **state)
{
    (void)state;
    /* Havana springs forward at midnight: the 00:00 job still runs, at 01:00 CDT */
    FIRES("0 0 * * *", "America/Havana", "2026-03-06T12:00:00Z", "2026-03-07T05:00:00Z",
          "2026-03-08T05:00:00Z", "2026-03-09T04:00:00Z");
    FIRES("30 0 * * *", "America/Havana", "2026-10-30T12:00:00Z", "2026-10-31T04:30:00Z",
          "2026-11-01T04:30:00Z", "2026-11-02T05:30:00Z");
    FIRES("0 0 * * *", "America/Havana", "2026-10-31T12:00:00Z", "2026-11-01T04:00:00Z",
          "2026-11-02T05:00:00Z");
    /* Santiago falls back from 24:00 to 23:00 and springs forward at midnight */
    FIRES("30 23 * * *", "America/Santiago", "2026-04-03T12:00:00Z", "2026-04-04T02:30:00Z",
          "2026-04-05T02:30:00Z", "2026-04-06T03:30:00Z");
    FIRES("0 0 * * *", "America/Santiago", "2026-09-04T12:00:00Z", "2026-09-05T04:00:00Z",
          "2026-09-06T04:00:00Z", "2026-09-07T03:00:00Z");
    /* a job only on the transition day is never lost */
    FIRES("0 0 6 9 *", "America/Santiago", "2026-01-01T00:00:00Z", "2026-09-06T04:00:00Z");
}

static void test_no_dst(void **state)
{
    (void)state;
    FIRES("0 9 * * *", "Asia/Kolkata", "2026-03-01T00:00:00Z", "2026-03-01T03:30:00Z",
          "2026-03-02T03:30:00Z");
    FIRES("0 9 * * *", "Asia/Calcutta", "2026-11-01T00:00:00Z", "2026-11-01T03:30:00Z");
}

static void test_fire_kinds(void **state)
{
    (void)state;
    struct cron_expr *fixed, *interval;
    struct cron_zone *z;
    struct cron_error err;
    struct cron_fire f;
    assert_int_equal(cron_parse("30 1,2 * * *", NULL, &fixed, &err), 0);
    assert_int_equal(cron_parse("30 * * * *", NULL, &interval, &err), 0);
    assert_int_equal(cron_zone_open("America/New_York", &z, &err), 0);
    assert_int_equal(cron_next(fixed, z, ms_of("2026-03-08T06:00:00Z"), &f), 0);
    assert_int_equal(f.kind, CRON_FIRE_NORMAL);
    assert_int_equal(cron_next(fixed, z, f.ms, &f), 0);
    assert_int_equal(f.kind, CRON_FIRE_GAP);
    assert_int_equal(f.ms, ms_of("2026-03-08T07:00:00Z"));
    assert_int_equal(f.wall_s % 86400, 2 * 3600 + 30 * 60); /* the wall time that matched: 02:30 */
    assert_int_equal(cron_next(interval, z, ms_of("2026-11-01T05:00:00Z"), &f), 0);
    assert_int_equal(f.kind, CRON_FIRE_OVERLAP_1);
    assert_int_equal(cron_next(interval, z, f.ms, &f), 0);
    assert_int_equal(f.kind, CRON_FIRE_OVERLAP_2);
    assert_int_equal(f.ms, ms_of("2026-11-01T06:30:00Z"));
    cron_free(fixed);
    cron_free(interval);
    cron_zone_free(z);
}

static void test_zone_names(void **state)
{
    (void)state;
    struct cron_zone *z;
    struct cron_error err;
    assert_int_equal(cron_zone_open("US/Eastern", &z, &err), 0);
    assert_string_equal(cron_zone_name(z), "America/New_York");
    assert_int_equal(cron_zone_offset(z, ms_of("2026-07-01T00:00:00Z")), -4 * 3600);
    cron_zone_free(z);
    assert_int_equal(cron_zone_open(NULL, &z, &err), 0);
    assert_string_equal(cron_zone_name(z), "UTC");
    cron_zone_free(z);
    assert_int_equal(cron_zone_open("Etc/UTC", &z, &err), 0);
    assert_string_equal(cron_zone_name(z), "UTC");
    cron_zone_free(z);
    const char *bad[] = {"Mars/Olympus", "America/New York", "../../etc/passwd", "GMT+05:00",
                         "\xff\xfe", "America/New_York\n"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        z = (struct cron_zone *)1;
        assert_int_equal(cron_zone_open(bad[i], &z, &err), CRON_EZONE);
        assert_null(z);
        assert_int_equal(err.code, CRON_EZONE);
        assert_string_equal(err.field, "timezone");
        assert_non_null(strstr(err.message, "is not an IANA timezone"));
    }
    char longname[400];
    memset(longname, 'A', sizeof longname - 1);
    longname[sizeof longname - 1] = 0;
    assert_int_equal(cron_zone_open(longname, &z, &err), CRON_EZONE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_new_york_worked_examples), cmocka_unit_test(test_new_york_more),
        cmocka_unit_test(test_london),                   cmocka_unit_test(test_sydney),
        cmocka_unit_test(test_lord_howe_half_hour),      cmocka_unit_test(test_chatham),
        cmocka_unit_test(test_midnight_transitions),     cmocka_unit_test(test_no_dst),
        cmocka_unit_test(test_fire_kinds),               cmocka_unit_test(test_zone_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
