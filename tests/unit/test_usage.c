/* SPDX-License-Identifier: MIT */
/* The p95 of a usage summary's duration histogram: interpolated within its bucket, the open
 * last bucket answered by its lower bound, an empty one by -1. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "usage.h"

static void quantiles(void **state)
{
    (void)state;
    int64_t h[USAGE_BUCKETS] = {0};
    assert_int_equal(usage_quantile(h, 0.95), -1);
    h[0] = 100; /* 100 runs under 10 ms */
    assert_int_equal(usage_quantile(h, 0.5), 5);
    assert_int_equal(usage_quantile(h, 1.0), 10);
    h[0] = 0, h[7] = 10; /* bucket 8: [1000, 2000) ms */
    assert_int_equal(usage_quantile(h, 0.5), 1500);
    assert_int_equal(usage_quantile(h, 0.95), 1950);
    h[0] = 90, h[7] = 10; /* p95 falls in the slow bucket: half of its 10 runs */
    assert_int_equal(usage_quantile(h, 0.95), 1500);
    assert_int_equal(usage_quantile(h, 0.5), 5);
    int64_t open[USAGE_BUCKETS] = {0};
    open[USAGE_BUCKETS - 1] = 3; /* over 10,000 s: at least that */
    assert_int_equal(usage_quantile(open, 0.95), 10000000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(quantiles)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
