/* SPDX-License-Identifier: MIT */
/* The checks every writer of tasks shares (core/tasks.c, tasks_check): each bad value is
 * refused naming its field, good ones pass, and nothing needs a server. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "tasks.h"

#define NOW 1764316800000 /* 2025-11-28T08:00:00Z */

static void refused(struct task_fields f, const char *field)
{
    struct taskdef_error err;
    if (tasks_check(&f, NOW, &err) != AC_EINVAL)
        fail_msg("accepted, expected a refusal naming %s", field);
    if (strcmp(err.field, field) != 0)
        fail_msg("named \"%s\" (%s), expected %s", err.field, err.message, field);
    assert_true(err.message[0] != 0);
}

/* Refused(FIELD, assignments to f): fields otherwise unset must be refused naming FIELD. */
#define REFUSED(field, ...)                          \
    do {                                             \
        struct task_fields f = TASK_FIELDS_UNSET;    \
        __VA_ARGS__;                                 \
        refused(f, field);                           \
    } while (0)

static void bad_values_name_their_field(void **state)
{
    (void)state;
    char long_title[202];
    memset(long_title, 'x', sizeof long_title - 1);
    long_title[sizeof long_title - 1] = 0;
    REFUSED("title", f.title = "");
    REFUSED("title", f.title = long_title);
    REFUSED("agent", f.agent = "");
    REFUSED("config", f.config = "[1]");
    REFUSED("misfire", f.misfire = "later");
    REFUSED("overlap", f.overlap = "never");
    REFUSED("priority", f.priority = 5);
    REFUSED("maxAttempts", f.max_attempts = 0);
    REFUSED("timeoutMs", f.timeout_ms = 999);
    REFUSED("jitterMs", f.jitter_ms = 3600001);
    REFUSED("schedule", f.cron = "61 * * * *");
    REFUSED("schedule", f.cron = "0 9 30 2 *"); /* never fires */
    REFUSED("timezone", f.cron = "* * * * *"; f.timezone = "Mars/Base");
    REFUSED("timezone", f.timezone = "Mars/Base");
    REFUSED("schedule", f.cron = "* * * * *"; f.no_cron = 1);
}

static void good_values_pass(void **state)
{
    (void)state;
    struct taskdef_error err;
    const struct task_fields nothing = TASK_FIELDS_UNSET;
    assert_int_equal(tasks_check(&nothing, NOW, &err), 0);
    struct task_fields all = TASK_FIELDS_UNSET;
    all.title = "daily report", all.goal = "", all.agent = "report", all.config = "{\"path\": \"/api/cron\"}";
    all.misfire = "catch_up", all.overlap = "cancel_previous", all.priority = 1;
    all.max_attempts = 100, all.timeout_ms = 1000, all.jitter_ms = 0;
    all.cron = "TZ=Europe/Paris 0 9 * * 1-5", all.timezone = "Europe/Paris", all.enabled = 1;
    if (tasks_check(&all, NOW, &err) != 0)
        fail_msg("refused: %s (%s)", err.message, err.field);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(bad_values_name_their_field),
        cmocka_unit_test(good_values_pass),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
