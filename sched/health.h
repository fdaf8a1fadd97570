/* SPDX-License-Identifier: MIT */
/* The system's health in one JSON document, as `agentcron status --json` prints it
 * (docs/status.md) and GET /api/overview answers it: the totals and the queue, every
 * orchestrator's and worker's last report (its age and its host's clock skew on Redis's clock),
 * the runs that died in the last 15 minutes, the next tasks due, and "problems": one sentence
 * each, naming what to do. Blocking. */
#ifndef AGENTCRON_HEALTH_H
#define AGENTCRON_HEALTH_H

#include <stdint.h>

#include "schedule.h"

struct json_t;
struct pg_conn;
struct redisContext;

#define HEALTH_STALE_AFTER_MS 90000    /* an orchestrator silent this long is gone */
#define HEALTH_SKEW_TOLERANCE_MS 2000  /* a host's clock this far from Redis's is a problem */
#define HEALTH_DEAD_WINDOW_MS 900000   /* runs that died this recently make the system unhealthy */

/* The status report's numbers from Postgres (live runs, today's usage, tasks) and Redis (the
 * queue). 0, or -1 with *err. */
int health_numbers(struct pg_conn *pg, struct redisContext *redis, struct status_numbers *n, char *err, size_t len);

/* Every instance's last report, from agentcron:{default}:status:<role>:<instance> (an array of the
 * documents, each with its age and its host's clock skew added); empty if Redis fails. */
struct json_t *health_instances(struct redisContext *redis);

/* Fills doc with "totals", "queue", "instances", "diedLast15m", "nextDue" from what answers,
 * and appends to its "problems" array (which the caller made, with any problem of its own,
 * e.g. a server it could not reach: pg or redis NULL). */
void health_report(struct pg_conn *pg, struct redisContext *redis, struct json_t *doc);

#endif
