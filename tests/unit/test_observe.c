/* SPDX-License-Identifier: MIT */
/* The small pure parts of alerts and traces: durations as rules take them
 * (alerts/rules.h), and a run's trace ids and traceparent (agentworker/traces.h): derived from
 * the run alone, the same on every worker, different for every run and part. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "rules.h"
#include "traces.h"

static void durations_with_and_without_units(void **state)
{
    (void)state;
    int64_t s = 0;
    assert_int_equal(alert_duration_parse("90", &s), 0);
    assert_int_equal(s, 90);
    assert_int_equal(alert_duration_parse("90s", &s), 0);
    assert_int_equal(s, 90);
    assert_int_equal(alert_duration_parse("15m", &s), 0);
    assert_int_equal(s, 900);
    assert_int_equal(alert_duration_parse("2h", &s), 0);
    assert_int_equal(s, 7200);
    assert_int_equal(alert_duration_parse("366d", &s), 0);
    assert_int_equal(s, 31622400);
}

static void bad_durations_are_refused(void **state)
{
    (void)state;
    int64_t s = 42;
    static const char *const bad[] = {"", "0", "0m", "-5", "5x", "5 m", "m", "1.5h", "367d", "31622401",
                                      "99999999999999999999999", "5mm", " 5"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        assert_int_equal(alert_duration_parse(bad[i], &s), -1);
        assert_int_equal(s, 42);
    }
    assert_int_equal(alert_duration_parse(NULL, &s), -1);
}

static void a_run_has_one_trace_wherever_it_runs(void **state)
{
    (void)state;
    struct trace_ids a, b, other_run, other_slot;
    trace_ids_of(42, 1767225600000, &a);
    trace_ids_of(42, 1767225600000, &b);
    trace_ids_of(43, 1767225600000, &other_run);
    trace_ids_of(42, 1767225660000, &other_slot);
    assert_memory_equal(&a, &b, sizeof a);
    assert_memory_not_equal(a.trace, other_run.trace, 16);
    assert_memory_not_equal(a.trace, other_slot.trace, 16);
    unsigned char p1[8], p2[8], p1again[8];
    trace_span_id(&a, "attempt:1:100", p1);
    trace_span_id(&a, "attempt:2:200", p2);
    trace_span_id(&b, "attempt:1:100", p1again);
    assert_memory_equal(p1, p1again, 8);
    assert_memory_not_equal(p1, p2, 8);
    assert_memory_not_equal(p1, a.run, 8);
}

static void traceparent_is_w3c(void **state)
{
    (void)state;
    struct trace_ids ids;
    unsigned char span[8];
    char tp[56];
    trace_ids_of(7, 0, &ids);
    trace_span_id(&ids, "http:1:5", span);
    trace_parent_header(&ids, span, tp);
    assert_int_equal(strlen(tp), 55);
    assert_memory_equal(tp, "00-", 3);
    assert_int_equal(tp[35], '-');
    assert_string_equal(tp + 52, "-01");
    for (int i = 3; i < 52; i++)
        if (i != 35)
            assert_non_null(strchr("0123456789abcdef", tp[i]));
    assert_memory_not_equal(tp + 3, "00000000000000000000000000000000", 32);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(durations_with_and_without_units),
        cmocka_unit_test(bad_durations_are_refused),
        cmocka_unit_test(a_run_has_one_trace_wherever_it_runs),
        cmocka_unit_test(traceparent_is_w3c),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
