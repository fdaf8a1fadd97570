/* SPDX-License-Identifier: MIT */
/* Configuration (base/config.c): defaults, env file parsing as systemd does it, the
 * environment winning over the file, and an error naming the setting for each bad input. */
#include <stdlib.h>
#include <unistd.h>

#include "config.h"
#include "cron_test_util.h"

static const char *const vars[] = {"DATABASE_URL", "REDIS_URL", "REDIS_HOST", "REDIS_PORT", "REDIS_PASSWORD",
                                   "POLL_INTERVAL_MS", "LOG_FORMAT", "LOG_LEVEL", "HTTP_LISTEN",
                                   "AGENT_WORKER_CONCURRENCY", "CRON_SECRET", "SCHEDULE_LOOKAHEAD_MS", NULL};

static int clean_env(void **state)
{
    (void)state;
    for (size_t i = 0; vars[i]; i++)
        unsetenv(vars[i]);
    return 0;
}

static const char *write_file(const char *text)
{
    static char path[64];
    snprintf(path, sizeof path, "/tmp/agentcron-config-test-%d.env", (int)getpid());
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
    return path;
}

static void expect_error(const char *file_text, const char *want)
{
    struct config cfg;
    struct config_error err;
    const char *path = file_text ? write_file(file_text) : "/nonexistent/agentcron.env";
    if (config_load(&cfg, path, &err) != -1)
        fail_msg("accepted: %s", file_text ? file_text : path);
    if (!strstr(err.message, want))
        fail_msg("message \"%s\" does not contain \"%s\"", err.message, want);
}

static void test_defaults(void **state)
{
    (void)state;
    struct config cfg;
    struct config_error err;
    assert_int_equal(config_load(&cfg, write_file("# nothing\n"), &err), 0);
    assert_int_equal(cfg.worker_concurrency, 5);
    assert_int_equal(cfg.poll_interval_ms, 10000);
    assert_int_equal(cfg.schedule_lookahead_ms, 5000);
    assert_int_equal(cfg.status_interval_s, 30);
    assert_int_equal(cfg.shutdown_grace_s, 30);
    assert_string_equal(cfg.http_listen, "127.0.0.1:8080");
    assert_int_equal(cfg.log_format, LOG_FORMAT_TEXT);
    assert_string_equal(cfg.log_level, "info");
    assert_string_equal(cfg.database_url, "");
    const char *const need[] = {"DATABASE_URL", NULL};
    assert_int_equal(config_require(&cfg, need, &err), -1);
    assert_non_null(strstr(err.message, "DATABASE_URL is not set"));
}

static void test_env_file_syntax(void **state)
{
    (void)state;
    struct config cfg;
    struct config_error err;
    const char *path = write_file("# comment\n; another\n\n  DATABASE_URL = postgresql://a@127.0.0.1:5432/db  \n"
                                  "CRON_SECRET=\"quoted \\\"secret\\\" value\"\nLOG_FORMAT='json'\n"
                                  "POLL_INTERVAL_MS=250\nPOLL_INTERVAL_MS=500\nHTTP_LISTEN=[::1]:9090\n");
    assert_int_equal(config_load(&cfg, path, &err), 0);
    assert_string_equal(cfg.database_url, "postgresql://a@127.0.0.1:5432/db");
    assert_string_equal(cfg.cron_secret, "quoted \"secret\" value");
    assert_int_equal(cfg.log_format, LOG_FORMAT_JSON);
    assert_int_equal(cfg.poll_interval_ms, 500); /* the last one wins, as in systemd */
    assert_string_equal(cfg.http_listen, "[::1]:9090");
    const char *const need[] = {"DATABASE_URL", "CRON_SECRET", NULL};
    assert_int_equal(config_require(&cfg, need, &err), 0);
}

static void test_environment_wins(void **state)
{
    (void)state;
    struct config cfg;
    struct config_error err;
    setenv("POLL_INTERVAL_MS", "75", 1);
    assert_int_equal(config_load(&cfg, write_file("POLL_INTERVAL_MS=500\n"), &err), 0);
    assert_int_equal(cfg.poll_interval_ms, 75);
    setenv("POLL_INTERVAL_MS", "5", 1);
    assert_int_equal(config_load(&cfg, write_file("POLL_INTERVAL_MS=500\n"), &err), -1);
    assert_non_null(strstr(err.message, "POLL_INTERVAL_MS=\"5\" (from the environment) is not a whole number from 10"));
    unsetenv("POLL_INTERVAL_MS");
}

static void test_redis_parts(void **state)
{
    (void)state;
    struct config cfg;
    struct config_error err;
    assert_int_equal(config_load(&cfg, write_file("REDIS_HOST=10.0.0.5\nREDIS_PORT=6380\nREDIS_PASSWORD=pw\n"), &err), 0);
    assert_string_equal(cfg.redis_url, "redis://:pw@10.0.0.5:6380/0");
    assert_int_equal(config_load(&cfg, write_file("REDIS_URL=redis://h:1/2\nREDIS_HOST=ignored\n"), &err), 0);
    assert_string_equal(cfg.redis_url, "redis://h:1/2");
    assert_int_equal(config_load(&cfg, write_file("REDIS_PORT=99999\n"), &err), -1);
    assert_non_null(strstr(err.message, "REDIS_PORT"));
}

static void test_errors(void **state)
{
    (void)state;
    expect_error(NULL, "cannot read the env file /nonexistent/agentcron.env");
    expect_error("POLL-INTERVAL=5\n", "line 1: \"POLL-INTERVAL\" is not a variable name");
    expect_error("# ok\nJUST TEXT\n", "line 2 is not KEY=value");
    expect_error("POLL_INTERVAL_MS=abc\n", "POLL_INTERVAL_MS=\"abc\" (from");
    expect_error("POLL_INTERVAL_MS=10x\n", "is not a whole number from 10 to 3600000");
    expect_error("AGENT_WORKER_CONCURRENCY=0\n", "AGENT_WORKER_CONCURRENCY=\"0\"");
    expect_error("SCHEDULE_LOOKAHEAD_MS=60001\n", "is not a whole number from 0 to 60000");
    expect_error("LOG_FORMAT=xml\n", "LOG_FORMAT=\"xml\"");
    expect_error("LOG_LEVEL=loud\n", "must be debug, info, warn or error");
    expect_error("DATABASE_URL=mysql://x\n", "DATABASE_URL (from");
    expect_error("REDIS_URL=http://x\n", "REDIS_URL (from");
    expect_error("REDIS_URL=tcp://user:pw@h:6380/0\n", "must start with redis://, rediss:// (TLS) or unix://");
    expect_error("HTTP_LISTEN=8080\n", "must be HOST:PORT");
    expect_error("HTTP_LISTEN=host:0\n", "must be HOST:PORT");
    expect_error("CRON_SECRET=\"unterminated\n", "quotes around CRON_SECRET's value do not match");
    char longline[5000];
    memset(longline, 'x', sizeof longline);
    memcpy(longline, "CRON_SECRET=", 12);
    longline[sizeof longline - 2] = '\n';
    longline[sizeof longline - 1] = 0;
    expect_error(longline, "longer than");
    /* a too-long secret is reported without echoing it */
    char secret[700] = "CRON_SECRET=";
    memset(secret + 12, 's', 600);
    secret[612] = '\n', secret[613] = 0;
    struct config cfg;
    struct config_error err;
    assert_int_equal(config_load(&cfg, write_file(secret), &err), -1);
    assert_null(strstr(err.message, "ssss"));
}

/* Variables that are not settings are kept as secrets for agents (whether an agent names them
 * is agents_check_secrets'); an agent's variable is read from the file first, then the
 * environment. */
static void test_secrets(void **state)
{
    (void)state;
    struct config cfg;
    struct config_error err;
    unsetenv("REPORT_TOKEN"), unsetenv("OTHER_TOKEN");
    const char *path = write_file("DATABASE_URL=postgresql://a@h/db\nREPORT_TOKEN='t0 ken'\n# x\nOTHER_TOKEN=first\n"
                                  "OTHER_TOKEN=second\n");
    assert_int_equal(config_load(&cfg, path, &err), 0);
    assert_string_equal(cfg.env_file, path);
    assert_int_equal(cfg.nsecrets, 2);
    assert_string_equal(cfg.secrets[0].name, "REPORT_TOKEN");
    assert_string_equal(cfg.secrets[0].value, "t0 ken");
    assert_int_equal(cfg.secrets[0].line, 2);
    assert_string_equal(cfg.secrets[1].value, "second"); /* the last one wins, as in systemd */
    assert_int_equal(cfg.secrets[1].line, 5);
    assert_null(getenv("REPORT_TOKEN")); /* loading changes no environment */
    setenv("OTHER_TOKEN", "exported by systemd at start", 1);
    setenv("ONLY_IN_ENV", "from the environment", 1);
    assert_string_equal(config_secret(&cfg, "REPORT_TOKEN"), "t0 ken");
    assert_string_equal(config_secret(&cfg, "OTHER_TOKEN"), "second"); /* the file as it is now wins */
    assert_string_equal(config_secret(&cfg, "ONLY_IN_ENV"), "from the environment");
    assert_null(config_secret(&cfg, "SET_NOWHERE"));
    assert_string_equal(config_secret(&cfg, "DATABASE_URL") ? "leaked" : "none", "none"); /* not a server's URL */
    path = write_file("CRON_SECRET=the-webhook-secret\n");
    assert_int_equal(config_load(&cfg, path, &err), 0);
    assert_string_equal(config_secret(&cfg, "CRON_SECRET"), "the-webhook-secret"); /* a setting an agent names */
    unsetenv("OTHER_TOKEN"), unsetenv("ONLY_IN_ENV");
}

/* The documented example must load as it is: it cannot drift from the loader. */
static void test_example_file_loads(void **state)
{
    (void)state;
    struct config cfg;
    struct config_error err;
    if (config_load(&cfg, AGENTCRON_SOURCE_DIR "/deploy/agentcron.env.example", &err) != 0)
        fail_msg("deploy/agentcron.env.example: %s", err.message);
    assert_string_equal(cfg.redis_url, "redis://127.0.0.1:6379/0");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_defaults, clean_env),      cmocka_unit_test_setup(test_env_file_syntax, clean_env),
        cmocka_unit_test_setup(test_environment_wins, clean_env), cmocka_unit_test_setup(test_redis_parts, clean_env),
        cmocka_unit_test_setup(test_errors, clean_env), cmocka_unit_test_setup(test_example_file_loads, clean_env),
        cmocka_unit_test_setup(test_secrets, clean_env),
    };
    const int rc = cmocka_run_group_tests(tests, NULL, NULL);
    char path[64];
    snprintf(path, sizeof path, "/tmp/agentcron-config-test-%d.env", (int)getpid());
    unlink(path);
    return rc;
}
