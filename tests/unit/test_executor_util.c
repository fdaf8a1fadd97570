/* SPDX-License-Identifier: MIT */
/* The executors' pure helpers: clean UTF-8, token usage, output tails. (The HTTP client has
 * its own tests: test_http_client.c.) */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "exec_child.h"
#include "executor_int.h"

static void clean_text(void **state)
{
    (void)state;
    char *t = executor_clean_text("ok \xc3\xa9 \xff\x00z", 9, 100);
    assert_string_equal(t, "ok \xc3\xa9 \xef\xbf\xbd\xef\xbf\xbdz");
    free(t);
    t = executor_clean_text("ab\xc3\xa9", 4, 3); /* the cut falls inside é: dropped whole */
    assert_string_equal(t, "ab");
    free(t);
    t = executor_clean_text("\xed\xa0\x80\xc0\xaf", 5, 100); /* a surrogate, an overlong '/' */
    assert_string_equal(t, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
    free(t);
}

static void usage_numbers(void **state)
{
    (void)state;
    static const struct {
        const char *json;
        int has;
        int64_t p, c;
    } cases[] = {
        {"{\"usage\": {\"prompt_tokens\": 10, \"completion_tokens\": 5}}", 1, 10, 5},
        {"{\"usage\": {\"total_tokens\": 42}}", 1, 0, 42},
        {"{\"usage\": {\"prompt_tokens\": 10, \"total_tokens\": 42}}", 1, 10, 32},
        {"{\"usage\": {\"prompt_tokens\": -3, \"completion_tokens\": \"7\"}}", 1, 0, 0},
        {"{\"usage\": {\"prompt_tokens\": 9223372036854775807}}", 1, (int64_t)1 << 40, 0},
        {"{\"usage\": 5}", 0, 0, 0},
        {"{}", 0, 0, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *doc = json_loads(cases[i].json, 0, NULL);
        struct run_result r = {0};
        assert_int_equal(executor_usage(doc, &r), cases[i].has);
        assert_int_equal(r.prompt_tokens, cases[i].p);
        assert_int_equal(r.completion_tokens, cases[i].c);
        assert_int_equal(r.total_tokens, cases[i].p + cases[i].c);
        json_decref(doc);
    }
}

static void tails(void **state)
{
    (void)state;
    struct tail t = {.max = 8};
    tail_append(&t, "abc", 3);
    tail_append(&t, "defgh", 5);
    assert_int_equal(t.len, 8);
    assert_false(t.truncated);
    tail_append(&t, "ij", 2);
    assert_memory_equal(t.buf, "cdefghij", 8);
    assert_true(t.truncated);
    tail_append(&t, "0123456789", 10);
    assert_memory_equal(t.buf, "23456789", 8);
    tail_free(&t);
}

/* Finding the program of an exec agent as execvp would, before anything is spawned. */
static void program_resolution(void **state)
{
    (void)state;
    char out[256];
    assert_int_equal(exec_child_resolve("sh", "/nonexistent:/bin", out, sizeof out), 0);
    assert_string_equal(out, "/bin/sh");
    assert_int_equal(exec_child_resolve("/bin/sh", "", out, sizeof out), 0);
    assert_int_equal(exec_child_resolve("no-such-program-here", "/usr/bin:/bin", out, sizeof out), -ENOENT);
    char plain[] = "/tmp/agentcron-not-executable-XXXXXX"; /* a file no one may execute, even root */
    const int fd = mkstemp(plain);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(exec_child_resolve(plain, "", out, sizeof out), -EACCES);
    unlink(plain);
    assert_int_equal(exec_child_resolve("", "/bin", out, sizeof out), -ENOENT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(clean_text),
        cmocka_unit_test(usage_numbers),
        cmocka_unit_test(tails),
        cmocka_unit_test(program_resolution),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
