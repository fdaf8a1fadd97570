/* SPDX-License-Identifier: MIT */
/* The misfire and overlap policies (core/plan.c) on a controlled clock. */
#include "cron_test_util.h"
#include "plan.h"

static struct cron_expr *parse(const char *text)
{
    struct cron_expr *e;
    struct cron_error err;
    if (cron_parse(text, NULL, &e, &err) != 0)
        fail_msg("%s: %s", text, err.message);
    return e;
}

static struct cron_zone *zone(const char *name)
{
    struct cron_zone *z;
    struct cron_error err;
    assert_int_equal(cron_zone_open(name, &z, &err), 0);
    return z;
}

static void test_on_time(void **state)
{
    (void)state;
    struct cron_expr *e = parse("*/5 * * * *");
    struct cron_zone *z = zone("UTC");
    static struct plan p;
    const int64_t slot = ms_of("2026-01-01T10:05:00Z");
    for (int policy = MISFIRE_COALESCE; policy <= MISFIRE_CATCH_UP; policy++) {
        plan_due(e, z, slot, slot + 7, (enum misfire_policy)policy, 3600000, &p);
        assert_int_equal(p.count, 1);
        assert_int_equal(p.slots[0], slot);
        assert_int_equal(p.missed, 0);
        assert_int_equal(p.next, ms_of("2026-01-01T10:10:00Z"));
    }
    cron_free(e);
    cron_zone_free(z);
}

static void test_outage(void **state)
{
    (void)state;
    struct cron_expr *e = parse("*/5 * * * *");
    struct cron_zone *z = zone("UTC");
    static struct plan p;
    const int64_t first = ms_of("2026-01-01T10:00:00Z"), now = ms_of("2026-01-01T10:47:30Z"); /* 10 slots due */
    plan_due(e, z, first, now, MISFIRE_COALESCE, 0, &p);
    assert_int_equal(p.count, 1);
    assert_int_equal(p.slots[0], ms_of("2026-01-01T10:45:00Z"));
    assert_int_equal(p.missed, 9);
    assert_string_equal(p.missed_reason, "coalesced");
    assert_int_equal(p.next, ms_of("2026-01-01T10:50:00Z"));
    /* skip: the latest slot is 2.5 minutes late, beyond the grace: nothing runs */
    plan_due(e, z, first, now, MISFIRE_SKIP, 0, &p);
    assert_int_equal(p.count, 0);
    assert_int_equal(p.missed, 10);
    assert_string_equal(p.missed_reason, "misfire_skip");
    /* skip within the grace: the latest slot runs */
    plan_due(e, z, first, ms_of("2026-01-01T10:45:30Z"), MISFIRE_SKIP, 0, &p);
    assert_int_equal(p.count, 1);
    assert_int_equal(p.missed, 9);
    /* catch_up within a 16-minute window: 10:35, 10:40, 10:45 */
    plan_due(e, z, first, now, MISFIRE_CATCH_UP, 16 * 60000, &p);
    assert_int_equal(p.count, 3);
    assert_int_equal(p.slots[0], ms_of("2026-01-01T10:35:00Z"));
    assert_int_equal(p.slots[2], ms_of("2026-01-01T10:45:00Z"));
    assert_int_equal(p.missed, 7);
    assert_string_equal(p.missed_reason, "outside_catch_up_window");
    plan_due(e, z, first, now, MISFIRE_CATCH_UP, 3600000, &p);
    assert_int_equal(p.count, 10);
    assert_int_equal(p.missed, 0);
    cron_free(e);
    cron_zone_free(z);
}

static void test_long_outage_is_bounded(void **state)
{
    (void)state;
    struct cron_expr *e = parse("* * * * * *"); /* every second, paused for a week */
    struct cron_zone *z = zone("UTC");
    static struct plan p;
    const int64_t first = ms_of("2026-01-01T00:00:00Z"), now = ms_of("2026-01-08T00:00:00Z");
    plan_due(e, z, first, now, MISFIRE_CATCH_UP, 7 * 86400000LL, &p);
    assert_int_equal(p.count, PLAN_MAX_RUNS); /* the most recent ones */
    assert_int_equal(p.slots[PLAN_MAX_RUNS - 1], now);
    plan_due(e, z, first, now, MISFIRE_COALESCE, 0, &p);
    assert_int_equal(p.count, 1);
    assert_int_equal(p.missed, PLAN_MAX_COUNTED - 1); /* counting stops at the cap */
    cron_free(e);
    cron_zone_free(z);
}

static void test_dst_and_changes(void **state)
{
    (void)state;
    struct cron_expr *e = parse("30 2 * * *");
    struct cron_zone *z = zone("America/New_York");
    static struct plan p;
    /* spring forward: 02:30 does not exist; the slot is 03:00 EDT = 07:00Z */
    plan_due(e, z, ms_of("2026-03-08T07:00:00Z"), ms_of("2026-03-08T07:00:00.004Z"), MISFIRE_COALESCE, 0, &p);
    assert_int_equal(p.count, 1);
    assert_int_equal(p.slots[0], ms_of("2026-03-08T07:00:00Z"));
    assert_int_equal(p.next, ms_of("2026-03-09T06:30:00Z"));
    /* next_run_at after the due slot (the schedule was edited): nothing runs, next advances */
    plan_due(e, z, ms_of("2026-03-09T06:00:00Z"), ms_of("2026-03-09T06:10:00Z"), MISFIRE_COALESCE, 0, &p);
    assert_int_equal(p.count, 0);
    assert_int_equal(p.missed, 0);
    assert_int_equal(p.next, ms_of("2026-03-09T06:30:00Z"));
    cron_free(e);
    /* a schedule that ends */
    e = parse("0 0 1 1 *");
    plan_due(e, z, ms_of("2199-01-01T05:00:00Z"), ms_of("2199-06-01T00:00:00Z"), MISFIRE_COALESCE, 0, &p);
    assert_int_equal(p.count, 1);
    assert_int_equal(p.next, -1);
    cron_free(e);
    cron_zone_free(z);
}

static void test_overlap(void **state)
{
    (void)state;
    static struct plan p;
    const struct plan three = {.slots = {1000, 2000, 3000}, .count = 3};
    p = three, plan_overlap(&p, OVERLAP_ALLOW, 5, 5);
    assert_int_equal(p.count, 3);
    p = three, plan_overlap(&p, OVERLAP_SKIP, 0, 1);
    assert_int_equal(p.count, 0);
    assert_int_equal(p.skipped, 3);
    assert_string_equal(p.skipped_reason, "overlap_skip");
    p = three, plan_overlap(&p, OVERLAP_SKIP, 0, 0);
    assert_int_equal(p.count, 1); /* new runs would overlap each other: the latest only */
    assert_int_equal(p.slots[0], 3000);
    assert_int_equal(p.skipped, 2);
    p = three, plan_overlap(&p, OVERLAP_QUEUE_ONE, 0, 1);
    assert_int_equal(p.count, 1); /* one may wait behind the running one */
    p = three, plan_overlap(&p, OVERLAP_QUEUE_ONE, 1, 1);
    assert_int_equal(p.count, 0);
    assert_string_equal(p.skipped_reason, "overlap_queue_one");
    p = three, plan_overlap(&p, OVERLAP_CANCEL_PREVIOUS, 1, 0);
    assert_int_equal(p.count, 1);
    assert_int_equal(p.cancel_previous, 1);
    p = three, plan_overlap(&p, OVERLAP_CANCEL_PREVIOUS, 0, 0);
    assert_int_equal(p.cancel_previous, 0);
    assert_int_equal(plan_misfire_policy("catch_up"), MISFIRE_CATCH_UP);
    assert_int_equal(plan_misfire_policy("later"), -1);
    assert_int_equal(plan_overlap_policy("queue_one"), OVERLAP_QUEUE_ONE);
    assert_int_equal(plan_overlap_policy(""), -1);
}

static void test_jitter(void **state)
{
    (void)state;
    assert_int_equal(plan_jitter(1, 1000, 0), 0);
    int64_t seen_low = 0, seen_high = 0;
    for (int64_t task = 1; task <= 1000; task++) {
        const int64_t j = plan_jitter(task, 1767225600000, 60000);
        assert_true(j >= 0 && j <= 60000);
        assert_int_equal(j, plan_jitter(task, 1767225600000, 60000)); /* stable */
        seen_low += j < 30000, seen_high += j >= 30000;
    }
    assert_true(seen_low > 400 && seen_high > 400); /* spread */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_on_time),        cmocka_unit_test(test_outage),
        cmocka_unit_test(test_long_outage_is_bounded), cmocka_unit_test(test_dst_and_changes),
        cmocka_unit_test(test_overlap),        cmocka_unit_test(test_jitter),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
