/* SPDX-License-Identifier: MIT */
/* The one list of error codes (base/errors.h): distinct negative values, each with a name and
 * a text, and an answer for a value not in the list. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "errors.h"

static void codes_are_distinct_and_named(void **state)
{
    (void)state;
#define AC_ERRNO_VALUE(name, value, text) value,
    static const int codes[] = {AC_ERRNO_MAP(AC_ERRNO_VALUE)};
#undef AC_ERRNO_VALUE
    const size_t n = sizeof codes / sizeof codes[0];
    for (size_t i = 0; i < n; i++) {
        assert_true(codes[i] < 0);
        assert_string_not_equal(ac_errname(codes[i]), "E?");
        assert_string_not_equal(ac_strerror(codes[i]), "unknown error");
        for (size_t j = i + 1; j < n; j++)
            assert_int_not_equal(codes[i], codes[j]);
    }
    assert_string_equal(ac_errname(AC_EIO), "EIO");
    assert_string_equal(ac_errname(0), "E?");
    assert_string_equal(ac_strerror(-9999), "unknown error");
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(codes_are_distinct_and_named)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
