/* SPDX-License-Identifier: MIT */
/* cron_describe: English sentences for common and unusual expressions, and truncation. */
#include "cron_test_util.h"

static void expect(const char *text, const char *hash_key, const char *sentence)
{
    struct cron_expr *e;
    struct cron_error err;
    if (cron_parse(text, hash_key, &e, &err) != 0)
        fail_msg("\"%s\": %s", text, err.message);
    char buf[512];
    const size_t n = cron_describe(e, buf, sizeof buf);
    cron_free(e);
    if (strcmp(buf, sentence) != 0 || n != strlen(sentence))
        fail_msg("\"%s\"\n  described: %s\n  expected:  %s", text, buf, sentence);
}

static void test_sentences(void **state)
{
    (void)state;
    expect("0 9 * * 1-5", NULL, "At 09:00, Monday through Friday");
    expect("* * * * *", NULL, "Every minute");
    expect("* * * * * *", NULL, "Every second");
    expect("*/15 * * * *", NULL, "Every 15 minutes");
    expect("0 * * * *", NULL, "Every hour");
    expect("@hourly", NULL, "Every hour");
    expect("5 * * * *", NULL, "At minute 5 past every hour");
    expect("0 */2 * * *", NULL, "At minute 0, every 2 hours");
    expect("*/10 9-17 * * 1-5", NULL, "Every 10 minutes, between 09:00 and 17:59, Monday through Friday");
    expect("30 8,12,18 * * *", NULL, "At 08:30, 12:30 and 18:30");
    expect("15 30 2 * * *", NULL, "At 02:30:15");
    expect("0 0 1 1 *", NULL, "At 00:00, on day 1 of the month, in January");
    expect("@weekly", NULL, "At 00:00, on Sunday");
    expect("0 0 * * 1,3,5", NULL, "At 00:00, on Monday, Wednesday and Friday");
    expect("0 0 13 * 5", NULL, "At 00:00, on day 13 of the month, or on Friday");
    expect("0 0 L * *", NULL, "At 00:00, on the last day of the month");
    expect("0 0 L-2 * *", NULL, "At 00:00, on the 2nd day before the last day of the month");
    expect("0 0 LW * *", NULL, "At 00:00, on the last weekday of the month");
    expect("0 0 15W * *", NULL, "At 00:00, on the weekday nearest day 15 of the month");
    expect("0 0 * * 5L", NULL, "At 00:00, on the last Friday of the month");
    expect("0 0 * * 1#2", NULL, "At 00:00, on the second Monday of the month");
    expect("0 0 1 JAN-MAR *", NULL, "At 00:00, on day 1 of the month, January through March");
    expect("0 0 1-7 * *", NULL, "At 00:00, on days 1 through 7 of the month");
    expect("TZ=Europe/Paris 0 7 * * *", NULL, "At 07:00, in the Europe/Paris timezone");
    expect("H 9 * * *", "task-1", "At 09:36");
    expect("0,20,45 * * * *", NULL, "At minutes 0, 20 and 45");
}

static void test_truncation(void **state)
{
    (void)state;
    struct cron_expr *e;
    struct cron_error err;
    assert_int_equal(cron_parse("0 9 * * 1-5", NULL, &e, &err), 0);
    char small[8];
    const size_t need = cron_describe(e, small, sizeof small);
    assert_int_equal(need, strlen("At 09:00, Monday through Friday"));
    assert_string_equal(small, "At 09:0");
    assert_int_equal(cron_describe(e, NULL, 0), need);
    cron_free(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sentences),
        cmocka_unit_test(test_truncation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
