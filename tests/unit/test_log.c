/* SPDX-License-Identifier: MIT */
/* The event logger: one line per event, text and JSON, levels, journald priorities, and
 * values that try to forge fields or lines. */
#include <jansson.h>
#include <stdlib.h>
#include <unistd.h>

#include "cron_test_util.h"
#include "log.h"

/* Captures what log_event writes to stderr. */
static char *capture(int json, const char *level, void (*emit)(void))
{
    static char buf[65536];
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    const int saved = dup(2);
    dup2(fds[1], 2);
    log_setup(json, level);
    emit();
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    close(fds[1]);
    const ssize_t n = read(fds[0], buf, sizeof buf - 1);
    close(fds[0]);
    buf[n > 0 ? n : 0] = 0;
    return buf;
}

static void emit_sample(void)
{
    LOG(LOG_INFO, "run.enqueued", LOG_I("run", 12), LOG_S("task", "daily report"), LOG_D("lag_ms", 1.5));
    LOG(LOG_DEBUG, "hidden", LOG_I("x", 1));
    LOG(LOG_WARN, "hostile", LOG_S("value", "a\" forged=1\nts=x level=error"), LOG_S("empty", ""));
    log_event(LOG_ERROR, "bare", NULL);
}

static void test_text(void **state)
{
    (void)state;
    unsetenv("JOURNAL_STREAM");
    const char *out = capture(0, "info", emit_sample);
    int lines = 0;
    for (const char *c = out; *c; c++)
        lines += *c == '\n';
    assert_int_equal(lines, 3); /* debug is below info */
    assert_non_null(strstr(out, " level=info event=run.enqueued run=12 task=\"daily report\" lag_ms=1.500\n"));
    assert_non_null(strstr(out, "value=\"a\\\" forged=1\\nts=x level=error\" empty=\"\"\n"));
    assert_non_null(strstr(out, "level=error event=bare\n"));
    assert_true(strncmp(out, "ts=20", 5) == 0);
}

static void test_json(void **state)
{
    (void)state;
    unsetenv("JOURNAL_STREAM");
    char *out = capture(1, "debug", emit_sample);
    int lines = 0;
    for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n"), lines++) {
        json_error_t e;
        json_t *doc = json_loads(line, 0, &e);
        if (!doc)
            fail_msg("not JSON: %s (%s)", line, e.text);
        assert_non_null(json_object_get(doc, "ts"));
        if (!strcmp(json_string_value(json_object_get(doc, "event")), "hostile"))
            assert_string_equal(json_string_value(json_object_get(doc, "value")), "a\" forged=1\nts=x level=error");
        if (!strcmp(json_string_value(json_object_get(doc, "event")), "run.enqueued"))
            assert_int_equal(json_integer_value(json_object_get(doc, "run")), 12);
        json_decref(doc);
    }
    assert_int_equal(lines, 4);
}

static void test_journald_priorities(void **state)
{
    (void)state;
    setenv("JOURNAL_STREAM", "8:1234", 1);
    const char *out = capture(0, "info", emit_sample);
    assert_non_null(strstr(out, "<6>ts="));
    assert_non_null(strstr(out, "<4>ts="));
    assert_non_null(strstr(out, "<3>ts="));
    unsetenv("JOURNAL_STREAM");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_text),
        cmocka_unit_test(test_json),
        cmocka_unit_test(test_journald_priorities),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
