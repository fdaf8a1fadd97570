/* SPDX-License-Identifier: MIT */
/* cronparse syntax: every element of the contract's section 1 and the day rule of section 2,
 * checked through the fire times it produces (in UTC), and every error with its message. */
#include "cron_test_util.h"

static void test_five_and_six_fields(void **state)
{
    (void)state;
    FIRES("5 4 * * *", "UTC", "2026-01-01T00:00:00Z", "2026-01-01T04:05:00Z", "2026-01-02T04:05:00Z");
    FIRES("30 5 4 * * *", "UTC", "2026-01-01T00:00:00Z", "2026-01-01T04:05:30Z", "2026-01-02T04:05:30Z");
    FIRES("*/20 * * * * *", "UTC", "2026-01-01T00:00:00Z", "2026-01-01T00:00:20Z",
          "2026-01-01T00:00:40Z", "2026-01-01T00:01:00Z");
    FIRES("  0\t12  * *   *  ", "UTC", "2026-01-01T00:00:00Z", "2026-01-01T12:00:00Z");
}

static void test_lists_ranges_steps(void **state)
{
    (void)state;
    FIRES("0,30 9 * * *", "UTC", "2026-01-01T00:00:00Z", "2026-01-01T09:00:00Z", "2026-01-01T09:30:00Z",
          "2026-01-02T09:00:00Z");
    FIRES("0 9-11 * * *", "UTC", "2026-01-01T00:00:00Z", "2026-01-01T09:00:00Z", "2026-01-01T10:00:00Z",
          "2026-01-01T11:00:00Z", "2026-01-02T09:00:00Z");
    FIRES("0 8-18/5 * * *", "UTC", "2026-01-01T00:00:00Z", "2026-01-01T08:00:00Z",
          "2026-01-01T13:00:00Z", "2026-01-01T18:00:00Z", "2026-01-02T08:00:00Z");
    /* N/S means N..max every S */
    FIRES("0 20/2 * * *", "UTC", "2026-01-01T00:00:00Z", "2026-01-01T20:00:00Z", "2026-01-01T22:00:00Z",
          "2026-01-02T20:00:00Z");
    /* wrapping ranges: A..max then min..B */
    FIRES("0 22-1 * * *", "UTC", "2026-01-01T00:30:00Z", "2026-01-01T01:00:00Z", "2026-01-01T22:00:00Z",
          "2026-01-01T23:00:00Z", "2026-01-02T00:00:00Z", "2026-01-02T01:00:00Z");
    FIRES("0 22-2/2 * * *", "UTC", "2026-01-01T03:00:00Z", "2026-01-01T22:00:00Z", "2026-01-02T00:00:00Z",
          "2026-01-02T02:00:00Z", "2026-01-02T22:00:00Z");
    /* FRI-MON: Fri, Sat, Sun, Mon. 2026-01-01 is a Thursday. */
    FIRES("0 0 * * FRI-MON", "UTC", "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z", "2026-01-03T00:00:00Z",
          "2026-01-04T00:00:00Z", "2026-01-05T00:00:00Z", "2026-01-09T00:00:00Z");
    FIRES("0 0 1 NOV-FEB *", "UTC", "2026-01-15T00:00:00Z", "2026-02-01T00:00:00Z", "2026-11-01T00:00:00Z",
          "2026-12-01T00:00:00Z", "2027-01-01T00:00:00Z");
}

static void test_names_any_case(void **state)
{
    (void)state;
    FIRES("0 0 1 jan,Jul *", "UTC", "2026-01-01T00:00:00Z", "2026-07-01T00:00:00Z", "2027-01-01T00:00:00Z");
    FIRES("0 0 * * sun", "UTC", "2026-01-01T00:00:00Z", "2026-01-04T00:00:00Z");
    FIRES("0 0 * * 7", "UTC", "2026-01-01T00:00:00Z", "2026-01-04T00:00:00Z"); /* 7 is Sunday */
    FIRES("0 0 * * 0", "UTC", "2026-01-01T00:00:00Z", "2026-01-04T00:00:00Z");
    FIRES("0 0 * * 5-7", "UTC", "2026-01-03T12:00:00Z", "2026-01-04T00:00:00Z", "2026-01-09T00:00:00Z");
}

static void test_day_rule(void **state)
{
    (void)state;
    /* both restricted: either matches. 2026-02-13 is a Friday; Fridays are 2, 9, 16... */
    FIRES("0 0 13 * 5", "UTC", "2026-01-08T00:00:00Z", "2026-01-09T00:00:00Z", "2026-01-13T00:00:00Z",
          "2026-01-16T00:00:00Z");
    /* a field beginning with * is a restriction joined by AND: odd days that are Fridays */
    FIRES("0 0 */2 * 5", "UTC", "2026-01-01T00:00:00Z", "2026-01-09T00:00:00Z", "2026-01-23T00:00:00Z",
          "2026-02-13T00:00:00Z");
    /* ? is * in the day fields */
    FIRES("0 0 ? * 1", "UTC", "2026-01-01T00:00:00Z", "2026-01-05T00:00:00Z", "2026-01-12T00:00:00Z");
    FIRES("0 0 1 * ?", "UTC", "2026-01-15T00:00:00Z", "2026-02-01T00:00:00Z");
    FIRES("0 0 1,15 * *", "UTC", "2026-01-02T00:00:00Z", "2026-01-15T00:00:00Z", "2026-02-01T00:00:00Z");
}

static void test_last_and_nearest_weekday(void **state)
{
    (void)state;
    FIRES("0 0 L * *", "UTC", "2026-01-01T00:00:00Z", "2026-01-31T00:00:00Z", "2026-02-28T00:00:00Z",
          "2026-03-31T00:00:00Z");
    FIRES("0 0 L 2 *", "UTC", "2027-06-01T00:00:00Z", "2028-02-29T00:00:00Z", "2029-02-28T00:00:00Z");
    FIRES("0 0 L-2 * *", "UTC", "2026-01-01T00:00:00Z", "2026-01-29T00:00:00Z", "2026-02-26T00:00:00Z");
    /* 2026-02-15 is a Sunday -> Monday 16th; 2026-08-15 is a Saturday -> Friday 14th */
    FIRES("0 0 15W * *", "UTC", "2026-02-01T00:00:00Z", "2026-02-16T00:00:00Z", "2026-03-16T00:00:00Z");
    FIRES("0 0 15W 8 *", "UTC", "2026-01-01T00:00:00Z", "2026-08-14T00:00:00Z");
    /* 1W on a Saturday never crosses into the previous month: 2026-08-01 is a Saturday -> 3rd */
    FIRES("0 0 1W 8 *", "UTC", "2026-01-01T00:00:00Z", "2026-08-03T00:00:00Z");
    /* 31W on a Sunday stays in the month: 2026-05-31 is a Sunday -> Friday 29th */
    FIRES("0 0 31W 5 *", "UTC", "2026-01-01T00:00:00Z", "2026-05-29T00:00:00Z");
    /* NW beyond the month's length does not match that month */
    FIRES("0 0 31W * *", "UTC", "2026-02-01T00:00:00Z", "2026-03-31T00:00:00Z", "2026-05-29T00:00:00Z",
          "2026-07-31T00:00:00Z");
    /* LW: 2026-05-31 is a Sunday -> 29th; 2026-01-31 is a Saturday -> 30th */
    FIRES("0 0 LW * *", "UTC", "2026-01-01T00:00:00Z", "2026-01-30T00:00:00Z", "2026-02-27T00:00:00Z");
    FIRES("0 0 LW 5 *", "UTC", "2026-01-01T00:00:00Z", "2026-05-29T00:00:00Z");
}

static void test_nth_and_last_weekday(void **state)
{
    (void)state;
    FIRES("0 0 * * 5L", "UTC", "2026-01-01T00:00:00Z", "2026-01-30T00:00:00Z", "2026-02-27T00:00:00Z");
    FIRES("0 0 * * FRIL", "UTC", "2026-01-01T00:00:00Z", "2026-01-30T00:00:00Z");
    FIRES("0 0 * * 5#3", "UTC", "2026-01-01T00:00:00Z", "2026-01-16T00:00:00Z", "2026-02-20T00:00:00Z");
    FIRES("0 0 * * 0#1", "UTC", "2026-01-01T00:00:00Z", "2026-01-04T00:00:00Z", "2026-02-01T00:00:00Z");
    FIRES("0 0 * * 7#1", "UTC", "2026-01-01T00:00:00Z", "2026-01-04T00:00:00Z");
    /* fifth Friday: only months that have one (Jan 2026 has 5: 2,9,16,23,30; May 2026: 1..29) */
    FIRES("0 0 * * 5#5", "UTC", "2026-01-01T00:00:00Z", "2026-01-30T00:00:00Z", "2026-05-29T00:00:00Z",
          "2026-07-31T00:00:00Z");
    /* specials in the day rule: both restricted, so either */
    FIRES("0 0 1 * 5#3", "UTC", "2026-01-02T00:00:00Z", "2026-01-16T00:00:00Z", "2026-02-01T00:00:00Z");
}

static void test_macros(void **state)
{
    (void)state;
    FIRES("@yearly", "UTC", "2026-06-01T00:00:00Z", "2027-01-01T00:00:00Z");
    FIRES("@annually", "UTC", "2026-06-01T00:00:00Z", "2027-01-01T00:00:00Z");
    FIRES("@monthly", "UTC", "2026-06-15T00:00:00Z", "2026-07-01T00:00:00Z");
    FIRES("@weekly", "UTC", "2026-01-01T00:00:00Z", "2026-01-04T00:00:00Z");
    FIRES("@daily", "UTC", "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z");
    FIRES("@MIDNIGHT", "UTC", "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z");
    FIRES(" @hourly ", "UTC", "2026-01-01T00:00:00Z", "2026-01-01T01:00:00Z");
}

static void test_hash(void **state)
{
    (void)state;
    struct cron_expr *a, *b, *c;
    struct cron_error err;
    assert_int_equal(cron_parse("H H * * *", "task-1", &a, &err), 0);
    assert_int_equal(cron_parse("H H * * *", "task-1", &b, &err), 0);
    assert_int_equal(cron_parse("H H * * *", "task-2", &c, &err), 0);
    struct cron_zone *z;
    assert_int_equal(cron_zone_open("UTC", &z, &err), 0);
    struct cron_fire fa, fb, fc;
    const int64_t t = ms_of("2026-01-01T00:00:00Z");
    assert_int_equal(cron_next(a, z, t, &fa), 0);
    assert_int_equal(cron_next(b, z, t, &fb), 0);
    assert_int_equal(cron_next(c, z, t, &fc), 0);
    assert_int_equal(fa.ms, fb.ms); /* same key, same schedule */
    assert_true(fa.ms != fc.ms);     /* a different key spreads (for these two keys) */
    cron_free(a), cron_free(b), cron_free(c);

    /* The hash is part of the contract: these values must never change between versions. */
    check_walk("H 9 * * *", "task-1", "UTC", "2026-01-01T00:00:00Z", 0,
               (const char *const[]){"2026-01-01T09:36:00Z", NULL});
    check_walk("H(0-29)/10 * * * *", "task-1", "UTC", "2026-01-01T00:00:00Z", 0,
               (const char *const[]){"2026-01-01T00:06:00Z", "2026-01-01T00:16:00Z",
                                     "2026-01-01T00:26:00Z", "2026-01-01T01:06:00Z", NULL});
    check_walk("0 0 H * *", "task-1", "UTC", "2026-01-01T00:00:00Z", 0,
               (const char *const[]){"2026-01-24T00:00:00Z", NULL});

    /* spreading: 1,000 keys over `H 9 * * *` use most of the 60 minutes */
    uint64_t minutes = 0;
    for (int i = 0; i < 1000; i++) {
        char key[32];
        snprintf(key, sizeof key, "%d", i);
        struct cron_expr *e;
        struct cron_fire f;
        assert_int_equal(cron_parse("H 9 * * *", key, &e, &err), 0);
        assert_int_equal(cron_next(e, z, t, &f), 0);
        minutes |= UINT64_C(1) << ((f.ms / 60000) % 60);
        cron_free(e);
    }
    assert_int_equal(__builtin_popcountll(minutes), 60);
    cron_zone_free(z);
}

static void test_tz_prefix(void **state)
{
    (void)state;
    struct cron_expr *e;
    struct cron_error err;
    assert_int_equal(cron_parse("TZ=America/New_York 30 2 * * *", NULL, &e, &err), 0);
    assert_string_equal(cron_expr_timezone(e), "America/New_York");
    cron_free(e);
    assert_int_equal(cron_parse("CRON_TZ=Asia/Kolkata 0 9 * * *", NULL, &e, &err), 0);
    assert_string_equal(cron_expr_timezone(e), "Asia/Kolkata");
    cron_free(e);
    assert_int_equal(cron_parse("0 9 * * *", NULL, &e, &err), 0);
    assert_null(cron_expr_timezone(e));
    assert_int_equal(cron_expr_is_interval(e), 0);
    cron_free(e);
    assert_int_equal(cron_parse("TZ=UTC @hourly", NULL, &e, &err), 0);
    assert_int_equal(cron_expr_is_interval(e), 1);
    cron_free(e);
}

static void test_errors(void **state)
{
    (void)state;
    check_error("0 24 * * *", NULL, CRON_ERANGE, "hour: \"24\" out of range 0-23 (column 3)");
    check_error("60 * * * *", NULL, CRON_ERANGE, "minute: \"60\" out of range 0-59 (column 1)");
    check_error("0 0 0 * *", NULL, CRON_ERANGE, "day-of-month: \"0\" out of range 1-31 (column 5)");
    check_error("0 0 32 * *", NULL, CRON_ERANGE, "day-of-month: \"32\" out of range 1-31 (column 5)");
    check_error("0 0 * 13 *", NULL, CRON_ERANGE, "month: \"13\" out of range 1-12 (column 7)");
    check_error("0 0 * * 8", NULL, CRON_ERANGE, "day-of-week: \"8\" out of range 0-7 (column 9)");
    check_error("60 0 0 * * *", NULL, CRON_ERANGE, "second: \"60\" out of range 0-59 (column 1)");
    check_error("99999999999999999999 * * * *", NULL, CRON_ERANGE,
                "minute: \"99999999999999999999\" out of range 0-59 (column 1)");
    check_error("*/0 * * * *", NULL, CRON_ERANGE, "minute: step \"0\" out of range 1-59 (column 3)");
    check_error("*/60 * * * *", NULL, CRON_ERANGE, "minute: step \"60\" out of range 1-59 (column 3)");
    check_error("*/ * * * *", NULL, CRON_ESYNTAX, "minute: a step number must follow \"/\" (column 3)");
    check_error("1-/2 * * * *", NULL, CRON_ESYNTAX, "minute: unexpected \"/\"; expected a value (column 3)");
    check_error("1,,2 * * * *", NULL, CRON_ESYNTAX, "minute: empty list item (column 3)");
    check_error("1, * * * *", NULL, CRON_ESYNTAX, "minute: empty list item (column 3)");
    check_error("5x * * * *", NULL, CRON_ESYNTAX, "minute: unexpected \"x\" (column 2)");
    check_error("MON * * * *", NULL, CRON_ESYNTAX,
                "minute: \"MON\" is not a number (minute takes 0-59) (column 1)");
    check_error("0 0 * FOO *", NULL, CRON_ESYNTAX,
                "month: \"FOO\" is not a month name (JAN-DEC) (column 7)");
    check_error("0 0 * * MONDAY", NULL, CRON_ESYNTAX,
                "day-of-week: \"MONDAY\" is not a weekday name (SUN-SAT) (column 9)");
    check_error("0 0 * MON *", NULL, CRON_ESYNTAX,
                "month: \"MON\" is not a month name (JAN-DEC) (column 7)");
    check_error("0 0 * *", NULL, CRON_ESYNTAX, "expression: expected 5 or 6 fields, got 4 (column 1)");
    check_error("0 0 * * * * *", NULL, CRON_ESYNTAX,
                "expression: expected 5 or 6 fields, got more than 6 (column 1)");
    check_error("", NULL, CRON_ESYNTAX, "expression: empty expression");
    check_error("   ", NULL, CRON_ESYNTAX, "expression: empty expression");
    check_error("? * * * *", NULL, CRON_ESYNTAX,
                "minute: \"?\" is allowed only in day-of-month and day-of-week (column 1)");
    check_error("0 0 * * L", NULL, CRON_ESYNTAX,
                "day-of-week: a bare \"L\" is ambiguous: write 6 or SAT for Saturday, or DL (e.g. 5L) "
                "for the last weekday D of the month (column 9)");
    check_error("0 0 * * 5#6", NULL, CRON_ERANGE, "day-of-week: \"#6\" out of range #1-#5 (column 11)");
    check_error("0 0 * * 5#0", NULL, CRON_ERANGE, "day-of-week: \"#0\" out of range #1-#5 (column 11)");
    check_error("0 0 * * 5#", NULL, CRON_ESYNTAX,
                "day-of-week: \"#\" must be followed by one digit 1-5 (column 11)");
    check_error("0 0 * * 9L", NULL, CRON_ERANGE, "day-of-week: \"9\" out of range 0-7 (column 9)");
    check_error("0 0 L-31 * *", NULL, CRON_ERANGE,
                "day-of-month: \"L-31\" out of range L-0 to L-30 (column 7)");
    check_error("0 0 LX * *", NULL, CRON_ESYNTAX, "day-of-month: \"LX\" is not L, L-N or LW (column 5)");
    check_error("0 0 32W * *", NULL, CRON_ERANGE, "day-of-month: \"32\" out of range 1-31 (column 5)");
    check_error("0 0 1-5W * *", NULL, CRON_ESYNTAX,
                "day-of-month: \"1-5W\" is not NW (the weekday nearest day N) (column 5)");
    check_error("0 0 30 2 *", NULL, CRON_ENEVER,
                "expression: can never fire: no month in \"2\" has a day matching day-of-month \"30\" "
                "and day-of-week \"*\" (column 5)");
    check_error("0 0 31 4,6,9,11 *", NULL, CRON_ENEVER, NULL);
    check_error("0 0 */30 * 5#4", NULL, CRON_ENEVER, NULL); /* days 1 and 31 are never 4th Fridays */
    check_error("0 0 31W 2 *", NULL, CRON_ENEVER, NULL);
    check_error("H * * * *", NULL, CRON_ENOKEY,
                "minute: \"H\" needs a hash key (the task id) and none was given (column 1)");
    check_error("H(30-10) * * * *", "k", CRON_ERANGE,
                "minute: H range \"30-10\" must not wrap (A <= B) (column 3)");
    check_error("H(0-10 * * * *", "k", CRON_ESYNTAX,
                "minute: expected \")\" to close H(A-B) (column 7)");
    check_error("@reboot", NULL, CRON_ESYNTAX,
                "expression: \"@reboot\" is not supported: a fleet scheduler has no reboot; trigger "
                "the task instead (column 1)");
    check_error("@often", NULL, CRON_ESYNTAX,
                "expression: unknown macro \"@often\" (use @yearly, @annually, @monthly, @weekly, "
                "@daily, @midnight or @hourly) (column 1)");
    check_error("@daily 5", NULL, CRON_ESYNTAX, "expression: nothing may follow a macro (column 8)");
    check_error("TZ=Mars/Olympus 0 0 * * *", NULL, CRON_EZONE,
                "timezone: \"Mars/Olympus\" is not an IANA timezone (e.g. America/New_York) (column 4)");
    check_error("TZ= 0 0 * * *", NULL, CRON_EZONE,
                "timezone: a zone name must follow \"TZ=\" (column 4)");
    check_error("TZ=UTC", NULL, CRON_ESYNTAX, "expression: empty expression");
    check_error("0 0 * * *\n", NULL, CRON_ESYNTAX, "expression: control character 0x0a (column 10)");
    check_error("0 0 * * \xc3\xa9", NULL, CRON_ESYNTAX,
                "expression: non-ASCII byte 0xc3 (cron expressions are ASCII) (column 9)");
    check_error(NULL, NULL, CRON_ESYNTAX, "expression: no expression given");

    char longer[CRON_MAX_EXPR_LEN + 16];
    memset(longer, ' ', sizeof longer);
    memcpy(longer + sizeof longer - 10, "0 0 * * *", 10);
    check_error(longer, NULL, CRON_ETOOLONG, "expression: longer than 1024 bytes");
}

static void test_limits(void **state)
{
    (void)state;
    /* exactly 1024 bytes is accepted */
    char text[CRON_MAX_EXPR_LEN + 1];
    memset(text, ' ', CRON_MAX_EXPR_LEN);
    memcpy(text, "0 0 * * *", 9);
    text[CRON_MAX_EXPR_LEN] = 0;
    struct cron_expr *e;
    struct cron_error err;
    assert_int_equal(cron_parse(text, NULL, &e, &err), 0);
    cron_free(e);
    /* the end of the supported range */
    FIRES_BACK("0 0 1 1 *", "UTC", "1971-06-01T00:00:00Z", "1971-01-01T00:00:00Z", "1970-01-01T00:00:00Z");
    FIRES("59 23 31 12 *", "UTC", "2199-01-01T00:00:00Z", "2199-12-31T23:59:00Z");
    struct cron_zone *z;
    struct cron_fire f;
    assert_int_equal(cron_parse("59 23 31 12 *", NULL, &e, &err), 0);
    assert_int_equal(cron_zone_open("UTC", &z, &err), 0);
    assert_int_equal(cron_next(e, z, ms_of("2199-12-31T23:59:00Z"), &f), CRON_ENOFIRE);
    assert_int_equal(cron_next(e, z, INT64_MAX, &f), CRON_ENOFIRE);
    assert_int_equal(cron_prev(e, z, ms_of("1970-12-31T23:59:00Z"), &f), CRON_ENOFIRE);
    assert_int_equal(cron_prev(e, z, INT64_MIN, &f), CRON_ENOFIRE);
    assert_int_equal(cron_prev(e, z, INT64_MAX, &f), 0);
    assert_int_equal(f.ms, ms_of("2199-12-31T23:59:00Z"));
    assert_int_equal(cron_next(e, z, INT64_MIN, &f), 0);
    assert_int_equal(f.ms, ms_of("1970-12-31T23:59:00Z"));
    cron_free(e);
    /* Feb 29 on a Monday: rare but reachable */
    FIRES("0 0 29 2 1", "UTC", "2026-01-01T00:00:00Z", "2026-02-02T00:00:00Z");
    assert_int_equal(cron_parse("0 0 */2 2 1#5", NULL, &e, &err), 0); /* 5th Monday of Feb on an odd day */
    assert_int_equal(cron_next(e, z, ms_of("2026-01-01T00:00:00Z"), &f), 0);
    char buf[TIMEFMT_RFC3339_MAX];
    assert_string_equal(utc_of(f.ms, buf), "2044-02-29T00:00:00Z");
    cron_free(e);
    cron_zone_free(z);
    /* milliseconds: strictly after / before */
    FIRES("* * * * * *", "UTC", "2026-01-01T00:00:00.500Z", "2026-01-01T00:00:01Z", "2026-01-01T00:00:02Z");
    FIRES_BACK("* * * * * *", "UTC", "2026-01-01T00:00:01.500Z", "2026-01-01T00:00:01Z", "2026-01-01T00:00:00Z");
}

static void test_strerror(void **state)
{
    (void)state;
    assert_string_equal(cron_strerror(CRON_ERANGE), "value out of range");
    assert_string_equal(cron_strerror(0), "success");
    assert_string_equal(cron_strerror(-1000), "unknown error");
    cron_free(NULL);
    cron_zone_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_five_and_six_fields), cmocka_unit_test(test_lists_ranges_steps),
        cmocka_unit_test(test_names_any_case),      cmocka_unit_test(test_day_rule),
        cmocka_unit_test(test_last_and_nearest_weekday), cmocka_unit_test(test_nth_and_last_weekday),
        cmocka_unit_test(test_macros),              cmocka_unit_test(test_hash),
        cmocka_unit_test(test_tz_prefix),           cmocka_unit_test(test_errors),
        cmocka_unit_test(test_limits),              cmocka_unit_test(test_strerror),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
