/* SPDX-License-Identifier: MIT */
/* GET /api/schedule/preview?cron=EXPR&timezone=ZONE&count=N&from=TIME&task=ID: what a schedule would do
 * before it is saved (task: the id its H fields hash), as the dashboard's editor shows it while one types. Pure (no servers). */
#ifndef AGENTCRON_API_PREVIEW_H
#define AGENTCRON_API_PREVIEW_H

#include "response.h"

#define PREVIEW_COUNT_MAX 100

/* 200 {"cron", "timezone" (canonical), "description", "next": [{"at" (the zone's offset),
 * "utc", "dst": null | "gap" | "overlap-first" | "overlap-second", "note"}]}, or 400 with
 * field ("cron", "timezone", "count", "from") and, for a cron error, "column" (1-based) and
 * "cronField" (minute, hour, ...). now_ms: the default start. */
void api_schedule_preview(const char *query, int64_t now_ms, struct api_response *out);

#endif
