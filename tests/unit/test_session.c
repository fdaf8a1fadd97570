/* SPDX-License-Identifier: MIT */
/* The session cookie's parsing and the CSRF token (api/session.h): hostile Cookie headers,
 * lengths at the edge, and a token that depends on the session and on nothing else. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "session.h"

static void finds_the_cookie_among_others(void **state)
{
    (void)state;
    char v[80];
    assert_int_equal(session_cookie_get("a=1; agentcron_session=abc; b=2", SESSION_COOKIE, v, sizeof v), 1);
    assert_string_equal(v, "abc");
    assert_int_equal(session_cookie_get("agentcron_session=xyz", SESSION_COOKIE, v, sizeof v), 1);
    assert_string_equal(v, "xyz");
    assert_int_equal(session_cookie_get("a=1;agentcron_session=tight", SESSION_COOKIE, v, sizeof v), 1);
    assert_string_equal(v, "tight");
}

static void a_name_is_matched_whole(void **state)
{
    (void)state;
    char v[80];
    assert_int_equal(session_cookie_get("xagentcron_session=1; agentcron_sessionx=2", SESSION_COOKIE, v, sizeof v), 0);
    assert_int_equal(session_cookie_get("agentcron_session", SESSION_COOKIE, v, sizeof v), 0);
    assert_int_equal(session_cookie_get("", SESSION_COOKIE, v, sizeof v), 0);
    assert_int_equal(session_cookie_get(";;; ;", SESSION_COOKIE, v, sizeof v), 0);
    assert_int_equal(session_cookie_get("agentcron_session=", SESSION_COOKIE, v, sizeof v), 1);
    assert_string_equal(v, "");
}

static void a_value_too_long_is_refused_not_cut(void **state)
{
    (void)state;
    char v[8], header[64];
    snprintf(header, sizeof header, "agentcron_session=%s", "1234567");
    assert_int_equal(session_cookie_get(header, SESSION_COOKIE, v, sizeof v), 1);
    snprintf(header, sizeof header, "agentcron_session=%s", "12345678");
    assert_int_equal(session_cookie_get(header, SESSION_COOKIE, v, sizeof v), -1);
}

static void the_csrf_token_follows_the_session(void **state)
{
    (void)state;
    char a[65], b[65], c[65];
    session_csrf_of("aaaa", a);
    session_csrf_of("aaaa", b);
    session_csrf_of("aaab", c);
    assert_int_equal(strlen(a), 64);
    assert_string_equal(a, b);
    assert_string_not_equal(a, c);
    assert_int_equal(strspn(a, "0123456789abcdef"), 64);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(finds_the_cookie_among_others),
        cmocka_unit_test(a_name_is_matched_whole),
        cmocka_unit_test(a_value_too_long_is_refused_not_cut),
        cmocka_unit_test(the_csrf_token_follows_the_session),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
