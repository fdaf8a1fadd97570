/* SPDX-License-Identifier: MIT */
/* Checking a task's schedule before it is written (by the CLI now, the HTTP API next): the cron
 * expression by the contract, the IANA zone (canonicalised; a `TZ=` prefix in the expression
 * must agree with it), and the first slot to come, so that next_run_at is always a real slot.
 * Also the priority names users type. Thread-safe. */
#ifndef AGENTCRON_TASKDEF_H
#define AGENTCRON_TASKDEF_H

#include <stdint.h>

struct taskdef_error {
    char field[32];    /* "schedule", "timezone", "priority", ... */
    char message[512]; /* names the value and what is accepted */
};

/* Checks cron in zone (NULL or "": the expression's TZ= prefix, else UTC), with the task's id as
 * the H hash key (as the orchestrator uses it). Stores the zone's canonical name in zone_out
 * (128 bytes) and the first slot strictly after after_ms in *next_ms. 0, or -1 with *err (also
 * when it never fires again). */
int taskdef_schedule(const char *cron, const char *zone, int64_t task_id, int64_t after_ms, char zone_out[128],
                     int64_t *next_ms, struct taskdef_error *err);

/* Checks a zone name alone; its canonical name in zone_out (128 bytes). 0 or -1 with *err. */
int taskdef_zone(const char *zone, char zone_out[128], struct taskdef_error *err);

/* "urgent"/"critical" 1, "high" 2, "normal"/"medium" 3, "low" 4, or the digits 1-4; -1 with
 * *err otherwise. */
int taskdef_priority(const char *text, struct taskdef_error *err);

/* The name of priority 1-4. */
const char *taskdef_priority_name(int priority);

#endif
