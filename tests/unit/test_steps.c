/* SPDX-License-Identifier: MIT */
/* Run tokens (what each wrong one is refused as), step ids, and the agent settings of steps:
 * llm tools and max_credits_per_run. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "agents.h"
#include "steps.h"

static const unsigned char key[RUN_TOKEN_KEY_LEN] = "0123456789abcdef0123456789abcdef";

static void tokens_are_scoped_and_expire(void **state)
{
    (void)state;
    char token[RUN_TOKEN_MAX];
    int attempt = 0;
    steps_token_make(key, 42, 3, 2000000000, token);
    assert_true(strncmp(token, "act1.42.3.2000000000.", 21) == 0);
    assert_int_equal(strlen(token), 21 + 64);
    assert_int_equal(steps_token_check(key, token, 42, 1900000000, &attempt), STEP_TOKEN_OK);
    assert_int_equal(attempt, 3);
    assert_int_equal(steps_token_check(key, token, 43, 1900000000, &attempt), STEP_TOKEN_OTHER_RUN);
    assert_int_equal(steps_token_check(key, token, 42, 2000000001, &attempt), STEP_TOKEN_EXPIRED);
    char forged[RUN_TOKEN_MAX];
    snprintf(forged, sizeof forged, "%s", token);
    forged[strlen(forged) - 1] = forged[strlen(forged) - 1] == '0' ? '1' : '0'; /* one hex digit off */
    assert_int_equal(steps_token_check(key, forged, 42, 1900000000, &attempt), STEP_TOKEN_FORGED);
    snprintf(forged, sizeof forged, "%s", token);
    forged[5] = '9'; /* another run's number under this run's MAC */
    assert_int_equal(steps_token_check(key, forged, 92, 1900000000, &attempt), STEP_TOKEN_FORGED);
    unsigned char other_key[RUN_TOKEN_KEY_LEN];
    memcpy(other_key, key, sizeof other_key);
    other_key[0] ^= 1;
    assert_int_equal(steps_token_check(other_key, token, 42, 1900000000, &attempt), STEP_TOKEN_FORGED);
    static const char *const malformed[] = {
        "", "act1.", "act2.42.3.2000000000.0000000000000000000000000000000000000000000000000000000000000000",
        "act1.42.3.0000000000000000000000000000000000000000000000000000000000000000",
        "act1.42.x.2000000000.0000000000000000000000000000000000000000000000000000000000000000",
        "act1.42.3.2000000000.000000000000000000000000000000000000000000000000000000000000000G",
        "act1.42.3.2000000000.0000000000000000000000000000000000000000000000000000000000000000A",
        "act1.42.0.2000000000.0000000000000000000000000000000000000000000000000000000000000000",
        "act1..3.2000000000.0000000000000000000000000000000000000000000000000000000000000000",
        "act1.42.3.2000000000.",
    };
    for (size_t i = 0; i < sizeof malformed / sizeof malformed[0]; i++)
        if (steps_token_check(key, malformed[i], 42, 1900000000, &attempt) != STEP_TOKEN_MALFORMED)
            fail_msg("token %zu \"%s\" should be malformed", i, malformed[i]);
    char long_token[400];
    memset(long_token, '1', sizeof long_token - 1);
    long_token[sizeof long_token - 1] = 0;
    memcpy(long_token, "act1.", 5);
    assert_int_equal(steps_token_check(key, long_token, 42, 1900000000, &attempt), STEP_TOKEN_MALFORMED);
}

static void step_ids(void **state)
{
    (void)state;
    char why[200];
    assert_true(steps_valid_id("model-1", why, sizeof why));
    assert_true(steps_valid_id("tool-call_AbC.9:x", why, sizeof why));
    assert_false(steps_valid_id("", why, sizeof why));
    assert_string_equal(why, "a step id is 1-200 bytes");
    assert_false(steps_valid_id("a/b", why, sizeof why));
    assert_string_equal(why, "step id \"a/b\" has a character other than letters, digits and ._:-_ at byte 1");
    char big[STEP_ID_MAX + 2];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = 0;
    assert_false(steps_valid_id(big, why, sizeof why));
    big[STEP_ID_MAX] = 0;
    assert_true(steps_valid_id(big, why, sizeof why));
}

static void llm_tools_are_checked(void **state)
{
    (void)state;
    struct agent_set set;
    struct agents_error err;
    const char *ok = "{\"agents\": {\"r\": {\"kind\": \"llm\", \"model\": \"m\", \"max_steps\": 4, \"tools\": {"
                     "\"search\": {\"url\": \"https://t.example/s\", \"parameters\": {\"type\": \"object\"},"
                     " \"description\": \"d\", \"bearer_env\": \"T\", \"timeout_ms\": 500}}}}}";
    assert_int_equal(agents_parse(&set, ok, "f", &err), 0);
    agents_free(&set);
    static const struct {
        const char *tools, *message;
    } cases[] = {
        {"{\"bad name\": {\"url\": \"https://t/\", \"parameters\": {}}}", "tool name \"bad name\" must be 1-64 letters"},
        {"{\"t\": 1}", "tools.t must be an object"},
        {"{\"t\": {\"parameters\": {}}}", "tools.t needs a url starting with http:// or https://"},
        {"{\"t\": {\"url\": \"file:///etc/passwd\", \"parameters\": {}}}", "tools.t needs a url starting with http://"},
        {"{\"t\": {\"url\": \"https://t/\"}}", "tools.t needs parameters"},
        {"{\"t\": {\"url\": \"https://t/\", \"parameters\": {}, \"headers\": {}}}", "tools.t has an unknown setting \"headers\""},
        {"{\"t\": {\"url\": \"https://t/\", \"parameters\": {}, \"timeout_ms\": 0}}", "tools.t.timeout_ms has the wrong type"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char text[600];
        snprintf(text, sizeof text, "{\"agents\": {\"r\": {\"kind\": \"llm\", \"model\": \"m\", \"tools\": %s}}}",
                 cases[i].tools);
        assert_int_equal(agents_parse(&set, text, "f", &err), -1);
        if (!strstr(err.message, cases[i].message))
            fail_msg("case %zu: got \"%s\", want \"...%s...\"", i, err.message, cases[i].message);
    }
    /* a task cannot bring its own tools, even when the operator lists everything else */
    const char *text = "{\"agents\": {\"r\": {\"kind\": \"llm\", \"model\": \"m\", \"overridable\": [\"tools\"]}}}";
    assert_int_equal(agents_parse(&set, text, "f", &err), -1);
    assert_non_null(strstr(err.message, "overridable[0] \"tools\" cannot be overridden by a task"));
}

static void tasks_may_lower_the_cap(void **state)
{
    (void)state;
    struct agent_set set;
    struct agents_error err;
    assert_int_equal(agents_parse(&set, "{\"agents\": {\"a\": {\"kind\": \"noop\", \"max_credits_per_run\": 10},"
                                        " \"b\": {\"kind\": \"noop\"}}}", "f", &err), 0);
    json_t *eff = agents_effective(agents_find(&set, "a"), "{\"max_credits_per_run\": 4}", &err);
    assert_int_equal(json_integer_value(json_object_get(eff, "max_credits_per_run")), 4);
    json_decref(eff);
    assert_null(agents_effective(agents_find(&set, "a"), "{\"max_credits_per_run\": 11}", &err));
    assert_string_equal(err.message, "the task's agent_config.max_credits_per_run must be a positive integer no larger "
                                     "than the agent's 10");
    assert_null(agents_effective(agents_find(&set, "b"), "{\"max_credits_per_run\": 0}", &err));
    assert_string_equal(err.message, "the task's agent_config.max_credits_per_run must be a positive integer");
    eff = agents_effective(agents_find(&set, "b"), "{\"max_credits_per_run\": 1000}", &err);
    assert_non_null(eff);
    json_decref(eff);
    agents_free(&set);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(tokens_are_scoped_and_expire),
        cmocka_unit_test(step_ids),
        cmocka_unit_test(llm_tools_are_checked),
        cmocka_unit_test(tasks_may_lower_the_cap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
