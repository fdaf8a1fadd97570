/* SPDX-License-Identifier: MIT */
/* RFC 3339 parsing and formatting (base/timefmt). */
#include "cron_test_util.h"

static void test_parse(void **state)
{
    (void)state;
    int64_t ms;
    const char *why;
    assert_int_equal(timefmt_parse_rfc3339("2026-03-08T05:30:00Z", &ms, &why), 0);
    assert_int_equal(ms, INT64_C(1772947800000));
    assert_int_equal(timefmt_parse_rfc3339("2026-03-08T01:30:00-05:00", &ms, &why), 0);
    assert_int_equal(ms, INT64_C(1772951400000));
    assert_int_equal(timefmt_parse_rfc3339("2026-03-08t05:30:00.1234z", &ms, &why), 0);
    assert_int_equal(ms, INT64_C(1772947800123));
    assert_int_equal(timefmt_parse_rfc3339("2026-03-08 11:00:00+05:30", &ms, &why), 0);
    assert_int_equal(ms, INT64_C(1772947800000));
    assert_int_equal(timefmt_parse_rfc3339("1970-01-01T00:00:00Z", &ms, &why), 0);
    assert_int_equal(ms, 0);
    assert_int_equal(timefmt_parse_rfc3339("2028-02-29T00:00:00Z", &ms, &why), 0);

    const char *bad[] = {"", "2026-03-08", "2026-03-08T05:30:00", "2026-02-29T00:00:00Z",
                         "2026-13-01T00:00:00Z", "2026-03-08T24:00:00Z", "2026-03-08T05:60:00Z",
                         "2026-03-08T05:30:60Z", "2026-03-08T05:30:00+5:00", "2026-03-08T05:30:00Zjunk",
                         "2026-03-08T05:30:00.Z", "2026/03/08T05:30:00Z", "2026-03-08T05:30:00+24:00",
                         "abcd-ef-ghTij:kl:mnZ"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        why = NULL;
        if (timefmt_parse_rfc3339(bad[i], &ms, &why) != -1 || !why)
            fail_msg("\"%s\" was accepted", bad[i]);
    }
}

static void test_format(void **state)
{
    (void)state;
    char buf[TIMEFMT_RFC3339_MAX];
    timefmt_rfc3339(INT64_C(1772953200000), -4 * 3600, 0, buf);
    assert_string_equal(buf, "2026-03-08T03:00:00-04:00");
    timefmt_rfc3339(INT64_C(1772953200000), 0, 1, buf);
    assert_string_equal(buf, "2026-03-08T07:00:00Z");
    timefmt_rfc3339(INT64_C(1772953200000), 0, 0, buf);
    assert_string_equal(buf, "2026-03-08T07:00:00+00:00");
    timefmt_rfc3339(INT64_C(1772953200250), 12 * 3600 + 45 * 60, 0, buf);
    assert_string_equal(buf, "2026-03-08T19:45:00.250+12:45");
    timefmt_rfc3339(INT64_C(-1), 0, 1, buf);
    assert_string_equal(buf, "1969-12-31T23:59:59.999Z");
    timefmt_rfc3339(INT64_C(7258118399000), 0, 1, buf);
    assert_string_equal(buf, "2199-12-31T23:59:59Z");
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_parse), cmocka_unit_test(test_format)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
