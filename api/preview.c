/* SPDX-License-Identifier: MIT */
#include "preview.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cronparse.h"
#include "taskdef.h"
#include "timefmt.h"
#include "url.h"

/* What the DST marks of a fire time mean, in words. */
static void dst_note(const struct cron_fire *f, json_t *item)
{
    const int64_t wall = f->wall_s % 86400;
    char hms[16], note[160];
    snprintf(hms, sizeof hms, "%02d:%02d:%02d", (int)(wall / 3600), (int)(wall / 60 % 60), (int)(wall % 60));
    const char *kind = NULL;
    if (f->kind == CRON_FIRE_GAP) {
        kind = "gap";
        snprintf(note, sizeof note, "%s does not exist that day (DST gap): fires as the clocks move", hms);
    } else if (f->kind == CRON_FIRE_OVERLAP_1) {
        kind = "overlap-first";
        snprintf(note, sizeof note, "the first %s: the clocks go back later and it does not fire again", hms);
    } else if (f->kind == CRON_FIRE_OVERLAP_2) {
        kind = "overlap-second";
        snprintf(note, sizeof note, "the second %s, after the clocks went back", hms);
    }
    json_object_set_new(item, "dst", kind ? json_string(kind) : json_null());
    if (kind)
        json_object_set_new(item, "note", json_string(note));
}

void api_schedule_preview(const char *query, int64_t now_ms, struct api_response *out)
{
    char cron[CRON_MAX_EXPR_LEN + 1], tz[129], count_text[16], from_text[64];
    const int got_cron = http_query_get(query, "cron", cron, sizeof cron);
    const int got_tz = http_query_get(query, "timezone", tz, sizeof tz);
    const int got_count = http_query_get(query, "count", count_text, sizeof count_text);
    const int got_from = http_query_get(query, "from", from_text, sizeof from_text);
    char task_text[24];
    const int got_task = http_query_get(query, "task", task_text, sizeof task_text);
    if (got_cron <= 0) {
        api_error(out, 400, "cron", got_cron < 0 ? "cron is longer than %d bytes or malformed" : "cron is missing%.0d",
                  CRON_MAX_EXPR_LEN);
        return;
    }
    if (got_tz < 0) {
        api_error(out, 400, "timezone", "timezone is malformed or longer than 128 bytes");
        return;
    }
    char *end;
    long count = 10;
    if (got_count && ((count = strtol(count_text, &end, 10)) < 1 || count > PREVIEW_COUNT_MAX || *end)) {
        api_error(out, 400, "count", "count must be 1-%d, not \"%.15s\"", PREVIEW_COUNT_MAX, count_text);
        return;
    }
    long long task = 0;
    if (got_task && (got_task < 0 || (task = strtoll(task_text, &end, 10)) < 1 || *end)) {
        api_error(out, 400, "task", "task (the id whose H fields are meant) must be a task id");
        return;
    }
    int64_t from = now_ms;
    const char *why = "malformed";
    if (got_from && (got_from < 0 || timefmt_parse_rfc3339(from_text, &from, &why) != 0)) {
        api_error(out, 400, "from", "from must be an RFC 3339 time (2026-03-08T05:30:00Z): %s", why);
        return;
    }
    struct cron_expr *expr = NULL;
    struct cron_zone *zone = NULL;
    struct cron_error err;
    if (cron_parse(cron, got_task ? task_text : NULL, &expr, &err) != 0) {
        api_error(out, 400, "cron", "%s", err.message);
        json_object_set_new(out->doc, "column", json_integer(err.column));
        json_object_set_new(out->doc, "cronField", json_string(err.field));
        return;
    }
    char canonical[128];
    struct taskdef_error terr;
    int64_t first;
    /* the task rules too: the zone, a TZ= prefix that must agree with it, a schedule that fires */
    if (taskdef_schedule(cron, got_tz ? tz : NULL, task, from, canonical, &first, &terr) != 0) {
        api_error(out, 400, !strcmp(terr.field, "timezone") ? "timezone" : "cron", "%s", terr.message);
        cron_free(expr);
        return;
    }
    if (cron_zone_open(canonical, &zone, &err) != 0) {
        api_error(out, 400, "timezone", "%s", err.message);
        cron_free(expr);
        return;
    }
    char words[512], at[TIMEFMT_RFC3339_MAX], utc[TIMEFMT_RFC3339_MAX];
    cron_describe(expr, words, sizeof words);
    json_t *list = json_array();
    struct cron_fire f;
    for (int64_t t = from; json_array_size(list) < (size_t)count && cron_next(expr, zone, t, &f) == 0; t = f.ms) {
        timefmt_rfc3339(f.ms, cron_zone_offset(zone, f.ms), 0, at);
        timefmt_rfc3339(f.ms, 0, 1, utc);
        json_t *item = json_pack("{s:s, s:s}", "at", at, "utc", utc);
        dst_note(&f, item);
        json_array_append_new(list, item);
    }
    api_reply(out, 200, json_pack("{s:s, s:s, s:s, s:o}", "cron", cron, "timezone", canonical, "description", words,
                                  "next", list));
    cron_zone_free(zone);
    cron_free(expr);
}
