/* SPDX-License-Identifier: MIT */
/* Controlling runs from outside the workers (CLI, HTTP API): cancelling one. A queued run is
 * taken out of the queue and ends `cancelled` at once; a running one is signalled through the
 * queue and its worker stops it within a second and records it `cancelled`. Blocking; one
 * thread at a time per connection pair. Also starting a run of a task now. */
#ifndef AGENTCRON_RUNCTL_H
#define AGENTCRON_RUNCTL_H

#include <stddef.h>
#include <stdint.h>

struct pg_conn;
struct redisContext;

enum runctl_cancel_result {
    RUNCTL_CANCELLED,   /* it had not started: cancelled now */
    RUNCTL_STOPPING,    /* it is running: its worker stops it and records it cancelled */
    RUNCTL_FINISHED,    /* it had already ended (status says how): nothing to do */
    RUNCTL_NOT_FOUND,   /* no such run (for this user) */
};

/* Cancels run id; user_id > 0 restricts it to that user's runs. Stores the run's status as
 * found (or after cancelling) in status. Returns an enum runctl_cancel_result, or -1 with *err
 * when Postgres or Redis failed. */
int runctl_cancel(struct pg_conn *pg, struct redisContext *redis, int64_t id, int64_t user_id, char status[32],
                  char *err, size_t len);

/* Cancels every queued, retrying or running run of task task_id (user_id > 0: only that user's),
 * as runctl_cancel does for each; counts those cancelled at once and those stopping. 0, or -1
 * with *err (the runs handled before the failure stay handled). */
int runctl_cancel_task(struct pg_conn *pg, struct redisContext *redis, int64_t task_id, int64_t user_id,
                       int *cancelled, int *stopping, char *err, size_t len);

/* Creates a run of task task_id now and queues it; trigger says who asked, "manual" (the CLI)
 * or "api" (the task API), as the run history shows it; user_id > 0 restricts it to that
 * user's tasks. RUNCTL_TRIGGERED with the run's id and slot, RUNCTL_NOT_FOUND (no such
 * task, or it is deleted), RUNCTL_NOT_QUEUED (recorded, but Redis failed: *err says so, and
 * the orchestrator's reconciliation queues it within 30 s), or -1 with *err. */
enum { RUNCTL_TRIGGERED = 0, RUNCTL_NOT_QUEUED = 10 };
int runctl_trigger(struct pg_conn *pg, struct redisContext *redis, int64_t task_id, int64_t user_id, const char *trigger,
                   int64_t *run_id, int64_t *at_ms, char *err, size_t len);

/* Queues run run_id (attempt 1) of task task_id, recorded as queued, ready at at_ms:
 * RUNCTL_TRIGGERED, or RUNCTL_NOT_QUEUED with *err. */
int runctl_enqueue(struct redisContext *redis, int64_t run_id, int64_t task_id, int priority, int64_t at_ms, char *err,
                   size_t len);

#endif
