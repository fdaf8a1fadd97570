/* SPDX-License-Identifier: MIT */
/* AGENTS_FILE: what loads, what is refused and how the refusal reads, task overrides, charges. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "agents.h"
#include "config.h"

static void loads_kinds_with_defaults(void **state)
{
    (void)state;
    struct agent_set set;
    struct agents_error err;
    const char *text = "{\"agents\": {"
                       " \"hook\": {\"kind\": \"http\", \"url\": \"https://a.example/x\", \"overridable\": [\"path\"]},"
                       " \"job\": {\"kind\": \"exec\", \"command\": [\"/bin/true\"], \"base_credits\": 3},"
                       " \"ai\": {\"kind\": \"llm\", \"model\": \"m\", \"estimate_credits\": 9, \"tokens_per_credit\": 10,"
                       "        \"rate_limit\": {\"max\": 5, \"period_s\": 60}}}}";
    assert_int_equal(agents_parse(&set, text, "test", &err), 0);
    assert_int_equal(set.count, 4); /* plus the built-in noop */
    const struct agent *hook = agents_find(&set, "hook"), *job = agents_find(&set, "job");
    const struct agent *ai = agents_find(&set, "ai"), *noop = agents_find(&set, "noop");
    assert_non_null(hook);
    assert_int_equal(hook->kind, AGENT_HTTP);
    assert_int_equal(hook->base_credits, 1);
    assert_int_equal(hook->tokens_per_credit, 1000);
    assert_int_equal(hook->estimate_credits, 1);
    assert_int_equal(job->estimate_credits, 3); /* defaults to base_credits */
    assert_int_equal(ai->rate_max, 5);
    assert_int_equal(ai->rate_period_ms, 60000);
    assert_int_equal(noop->kind, AGENT_NOOP);
    assert_int_equal(noop->base_credits, 0);
    assert_null(agents_find(&set, "missing"));
    assert_int_equal(agents_charge(ai, 0), 1);
    assert_int_equal(agents_charge(ai, 1), 2);
    assert_int_equal(agents_charge(ai, 10), 2);
    assert_int_equal(agents_charge(ai, 11), 3);
    agents_free(&set);
    assert_int_equal(agents_load(&set, NULL, &err), 0); /* no file: noop only */
    assert_int_equal(set.count, 1);
    agents_free(&set);
}

static void refuses_with_a_clear_message(void **state)
{
    (void)state;
    static const struct {
        const char *text, *message;
    } cases[] = {
        {"{\"agents\": {", "f: line 1 column 12: string or '}' expected near end of file"},
        {"[]", "f: must be {\"agents\": {\"NAME\": {\"kind\": ...}, ...}}"},
        {"{\"agents\": {}, \"x\": 1}", "f: must be {\"agents\""},
        {"{\"agents\": {\"a\": 1}}", "f: agent \"a\": must be an object with at least \"kind\""},
        {"{\"agents\": {\"a\": {}}}", "f: agent \"a\": kind (missing) is not one of http, exec, llm, noop"},
        {"{\"agents\": {\"a\": {\"kind\": \"ftp\"}}}", "f: agent \"a\": kind \"ftp\" is not one of http, exec, llm, noop"},
        {"{\"agents\": {\"a\": {\"kind\": \"noop\", \"url\": \"x\"}}}", "f: agent \"a\": unknown setting \"url\" for a noop agent"},
        {"{\"agents\": {\"a\": {\"kind\": \"http\"}}}", "f: agent \"a\": a http agent needs \"url\""},
        {"{\"agents\": {\"a\": {\"kind\": \"http\", \"url\": 5}}}", "f: agent \"a\": url must be a string"},
        {"{\"agents\": {\"a\": {\"kind\": \"http\", \"url\": \"ftp://x\"}}}", "f: agent \"a\": url \"ftp://x\" must start with http:// or https://"},
        {"{\"agents\": {\"a\": {\"kind\": \"http\", \"url\": \"http://x\", \"method\": \"PUT\"}}}", "f: agent \"a\": method \"PUT\" is not supported; use GET or POST"},
        {"{\"agents\": {\"a\": {\"kind\": \"http\", \"url\": \"http://x\", \"overridable\": [\"url\"]}}}",
         "f: agent \"a\": overridable[0] \"url\" cannot be overridden by a task (a http agent allows: path, method, headers)"},
        {"{\"agents\": {\"a\": {\"kind\": \"http\", \"url\": \"http://x\", \"headers\": {\"X\": 1}}}}", "f: agent \"a\": every value in headers must be a string"},
        {"{\"agents\": {\"a\": {\"kind\": \"exec\", \"command\": []}}}", "f: agent \"a\": command must list the program"},
        {"{\"agents\": {\"a\": {\"kind\": \"exec\", \"command\": [\"ls\"]}}}", "f: agent \"a\": command[0] \"ls\" must be an absolute path"},
        {"{\"agents\": {\"a\": {\"kind\": \"exec\", \"command\": [\"/bin/ls\", 1]}}}", "f: agent \"a\": command[1] must be a string"},
        {"{\"agents\": {\"a\": {\"kind\": \"exec\", \"command\": [\"/bin/ls\"], \"overridable\": [\"command\"]}}}",
         "f: agent \"a\": overridable[0] \"command\" cannot be overridden by a task (a exec agent allows: nothing)"},
        {"{\"agents\": {\"a\": {\"kind\": \"exec\", \"command\": [\"/bin/ls\"], \"kill_grace_ms\": 0}}}", "f: agent \"a\": kill_grace_ms must be a positive integer"},
        {"{\"agents\": {\"a\": {\"kind\": \"noop\", \"base_credits\": 5, \"estimate_credits\": 2}}}",
         "f: agent \"a\": estimate_credits (2) must be at least base_credits (5)"},
        {"{\"agents\": {\"a\": {\"kind\": \"noop\", \"tokens_per_credit\": 0}}}", "f: agent \"a\": base_credits and estimate_credits must be >= 0 and tokens_per_credit > 0"},
        {"{\"agents\": {\"a\": {\"kind\": \"noop\", \"rate_limit\": {\"max\": 0, \"period_s\": 1}}}}", "f: agent \"a\": rate_limit must be"},
        {"{\"agents\": {\"a\": {\"kind\": \"noop\"}, \"a\": {\"kind\": \"noop\"}}}", "f: line 1 column"},
        {"{\"agents\": {\"\": {\"kind\": \"noop\"}}}", "f: agent names must be 1-100 characters"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct agent_set set;
        struct agents_error err;
        assert_int_equal(agents_parse(&set, cases[i].text, "f", &err), -1);
        if (strncmp(err.message, cases[i].message, strlen(cases[i].message)) != 0)
            fail_msg("case %zu: got \"%s\", want \"%s...\"", i, err.message, cases[i].message);
        assert_int_equal(set.count, 0);
    }
    struct agent_set set;
    struct agents_error err;
    assert_int_equal(agents_load(&set, "/nonexistent/agents.json", &err), -1);
    assert_string_equal(err.message,
                        "AGENTS_FILE /nonexistent/agents.json: No such file or directory; fix the path or unset AGENTS_FILE");
}

static void task_overrides_only_what_is_allowed(void **state)
{
    (void)state;
    struct agent_set set;
    struct agents_error err;
    const char *text = "{\"agents\": {\"hook\": {\"kind\": \"http\", \"url\": \"https://a.example/x\", \"method\": \"POST\","
                       " \"overridable\": [\"path\", \"method\"]}}}";
    assert_int_equal(agents_parse(&set, text, "t", &err), 0);
    const struct agent *a = agents_find(&set, "hook");
    json_t *eff = agents_effective(a, "{\"path\": \"/api/cron/daily\", \"method\": \"GET\"}", &err);
    assert_non_null(eff);
    assert_string_equal(json_string_value(json_object_get(eff, "path")), "/api/cron/daily");
    assert_string_equal(json_string_value(json_object_get(eff, "method")), "GET");
    assert_string_equal(json_string_value(json_object_get(eff, "url")), "https://a.example/x");
    json_decref(eff);
    eff = agents_effective(a, "{}", &err);
    assert_non_null(eff);
    json_decref(eff);
    eff = agents_effective(a, NULL, &err);
    assert_non_null(eff);
    json_decref(eff);
    static const struct {
        const char *config, *message;
    } refused[] = {
        {"{\"url\": \"https://evil.example/\"}", "the task's agent_config sets \"url\", which agent \"hook\" does not let tasks override"},
        {"{\"bearer_env\": \"HOME\"}", "the task's agent_config sets \"bearer_env\", which agent \"hook\" does not let tasks override"},
        {"{\"path\": 7}", "the task's agent_config.path must be a string"},
        {"{\"path\": \"no-slash\"}", "the task's agent_config: path \"no-slash\" must start with /"},
        {"{\"method\": \"DELETE\"}", "the task's agent_config: method \"DELETE\" is not supported; use GET or POST"},
        {"[1]", "the task's agent_config is not a JSON object"},
        {"{", "the task's agent_config is not a JSON object"},
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        assert_null(agents_effective(a, refused[i].config, &err));
        assert_string_equal(err.message, refused[i].message);
    }
    agents_free(&set);
}

/* The example shipped for operators must load as it is. */
static void example_file_loads(void **state)
{
    (void)state;
    struct agent_set set;
    struct agents_error err;
    if (agents_load(&set, AGENTCRON_SOURCE_DIR "/deploy/agents.example.json", &err) != 0)
        fail_msg("%s", err.message);
    assert_int_equal(set.count, 5);
    assert_int_equal(agents_find(&set, "research_agent")->kind, AGENT_LLM);
    assert_int_equal(agents_find(&set, "report-webhook")->rate_max, 60);
    agents_free(&set);
}

/* The env file's secrets against the agents: a name no agent uses is a typo, an agent's variable
 * that is set nowhere stops a process that runs agents. */
static void secrets_match_the_agents(void **state)
{
    (void)state;
    struct agent_set set;
    struct agents_error err;
    assert_int_equal(agents_parse(&set,
                                  "{\"agents\": {\"report\": {\"kind\": \"http\", \"url\": \"https://a.example/x\","
                                  " \"bearer_env\": \"REPORT_WEBHOOK_TOKEN\"}}}",
                                  "test", &err),
                     0);
    static struct config cfg; /* large: not on the stack */
    memset(&cfg, 0, sizeof cfg);
    snprintf(cfg.env_file, sizeof cfg.env_file, "/etc/agentcron/agentcron.env");
    cfg.nsecrets = 1;
    snprintf(cfg.secrets[0].name, sizeof cfg.secrets[0].name, "REPORT_WEBHOOK_TOKNE"); /* misspelt */
    cfg.secrets[0].line = 8;
    assert_int_equal(agents_check_secrets(&set, &cfg, 0, &err), -1);
    assert_non_null(strstr(err.message, "agentcron.env line 8 sets REPORT_WEBHOOK_TOKNE"));
    snprintf(cfg.secrets[0].name, sizeof cfg.secrets[0].name, "REPORT_WEBHOOK_TOKEN");
    assert_int_equal(agents_check_secrets(&set, &cfg, 0, &err), 0);
    cfg.nsecrets = 0;
    unsetenv("REPORT_WEBHOOK_TOKEN");
    assert_int_equal(agents_check_secrets(&set, &cfg, 1, &err), -1); /* named, but set nowhere */
    assert_non_null(strstr(err.message, "agent \"report\": bearer_env names REPORT_WEBHOOK_TOKEN, which is not set"));
    setenv("REPORT_WEBHOOK_TOKEN", "s3cret", 1); /* in the environment */
    assert_int_equal(agents_check_secrets(&set, &cfg, 1, &err), 0);
    unsetenv("REPORT_WEBHOOK_TOKEN");
    cfg.nsecrets = 1; /* in the env file */
    snprintf(cfg.secrets[0].value, sizeof cfg.secrets[0].value, "s3cret");
    assert_int_equal(agents_check_secrets(&set, &cfg, 1, &err), 0);
    agents_free(&set);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(loads_kinds_with_defaults),
        cmocka_unit_test(refuses_with_a_clear_message),
        cmocka_unit_test(task_overrides_only_what_is_allowed),
        cmocka_unit_test(example_file_loads),
        cmocka_unit_test(secrets_match_the_agents),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
