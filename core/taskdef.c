/* SPDX-License-Identifier: MIT */
#include "taskdef.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "cronparse.h"

static int fail(struct taskdef_error *err, const char *field, const char *message)
{
    snprintf(err->field, sizeof err->field, "%s", field);
    snprintf(err->message, sizeof err->message, "%s", message);
    return -1;
}

int taskdef_zone(const char *zone, char zone_out[128], struct taskdef_error *err)
{
    struct cron_zone *z;
    struct cron_error cerr;
    if (cron_zone_open(zone, &z, &cerr) != 0) {
        char msg[512];
        snprintf(msg, sizeof msg, "timezone \"%.100s\" is not an IANA zone (e.g. America/New_York, Europe/London, UTC)",
                 zone);
        return fail(err, "timezone", msg);
    }
    snprintf(zone_out, 128, "%s", cron_zone_name(z));
    cron_zone_free(z);
    return 0;
}

int taskdef_schedule(const char *cron, const char *zone, int64_t task_id, int64_t after_ms, char zone_out[128],
                     int64_t *next_ms, struct taskdef_error *err)
{
    struct cron_expr *expr;
    struct cron_error cerr;
    char msg[512], key[24];
    snprintf(key, sizeof key, "%" PRId64, task_id);
    if (cron_parse(cron, key, &expr, &cerr) != 0) {
        snprintf(msg, sizeof msg, "schedule \"%.200s\": %s", cron, cerr.message);
        return fail(err, "schedule", msg);
    }
    const char *prefix = cron_expr_timezone(expr);
    int rc = 0;
    char from_prefix[128];
    if (prefix && (rc = taskdef_zone(prefix, from_prefix, err)) == 0 && zone && zone[0]) {
        char given[128];
        if ((rc = taskdef_zone(zone, given, err)) == 0 && strcmp(given, from_prefix) != 0) {
            snprintf(msg, sizeof msg, "the schedule says TZ=%.100s but the timezone is %.100s: give one of them", prefix,
                     zone);
            rc = fail(err, "timezone", msg);
        }
    }
    if (rc == 0)
        rc = taskdef_zone(prefix ? prefix : zone && zone[0] ? zone : "UTC", zone_out, err);
    if (rc == 0) {
        struct cron_zone *z;
        struct cron_fire f;
        cron_zone_open(zone_out, &z, &cerr);
        *next_ms = cron_next(expr, z, after_ms, &f) == 0 ? f.ms : -1;
        cron_zone_free(z);
        if (*next_ms < 0) {
            snprintf(msg, sizeof msg, "schedule \"%.200s\" never fires again", cron);
            rc = fail(err, "schedule", msg);
        }
    }
    cron_free(expr);
    return rc;
}

static const char *const names[] = {NULL, "urgent", "high", "normal", "low"};

int taskdef_priority(const char *text, struct taskdef_error *err)
{
    if (text[0] >= '1' && text[0] <= '4' && !text[1])
        return text[0] - '0';
    for (int p = 1; p <= 4; p++)
        if (!strcasecmp(text, names[p]))
            return p;
    if (!strcasecmp(text, "critical"))
        return 1;
    if (!strcasecmp(text, "medium"))
        return 3;
    char msg[512];
    snprintf(msg, sizeof msg, "priority \"%.50s\" must be urgent, high, normal or low (or 1-4)", text);
    return fail(err, "priority", msg);
}

const char *taskdef_priority_name(int priority)
{
    return priority >= 1 && priority <= 4 ? names[priority] : "?";
}
