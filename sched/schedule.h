/* SPDX-License-Identifier: MIT */
/* The orchestrator's work against Postgres and Redis: the scheduling pass (due tasks become
 * runs and queue entries), reconciliation (Postgres is the truth; Redis is repaired), and the
 * status numbers. Blocking: called on a libuv work thread, one call at a time per scheduler. */
#ifndef AGENTCRON_SCHEDULE_H
#define AGENTCRON_SCHEDULE_H

#include <stddef.h>
#include <stdint.h>

struct scheduler;

struct scheduler_options {
    const char *database_url, *redis_url;
    const char *queue;  /* queue name, "default" */
    int batch;          /* tasks per transaction */
    int lookahead_ms;   /* a run of an `allow` task is written and queued this long before its slot
                           (delayed in the queue until the slot); 0: at its slot */
};

/* A new scheduler (connections are opened lazily and reopened after failures). */
struct scheduler *scheduler_new(const struct scheduler_options *opt);
void scheduler_free(struct scheduler *s);

struct tick_result {
    int64_t tasks;          /* due tasks handled */
    int64_t runs;           /* runs created */
    int64_t enqueued;       /* of which now in Redis */
    int64_t missed, skipped; /* slots without a run, by misfire and overlap policy */
    int64_t next_due_ms;    /* earliest next_run_at of any task, or -1 (see scheduler_wake_ms) */
    int64_t next_delayed_ms; /* earliest delayed queue entry, or -1 */
    int64_t lateness_max_ms; /* the latest a run was created after its slot */
};

/* One scheduling pass: every due task, in batches. 0, or -1 with a message in err (the pass
 * stopped; what was committed stays committed; the caller retries). */
int scheduler_tick(struct scheduler *s, struct tick_result *r, char *err, size_t errlen);

/* When the next pass should start, after a pass that returned next_due_ms (>= 0): lookahead_ms
 * before it, unless that is already past (the earliest task then is one the pass could not
 * ready ahead, its overlap policy not `allow`), when it is next_due_ms itself. */
int64_t scheduler_wake_ms(int64_t next_due_ms, int64_t now_ms, int lookahead_ms);

/* The most slots one backfill may create: ask for a narrower range beyond it. */
#define BACKFILL_MAX_SLOTS 10000

struct backfill_result {
    int64_t slots;    /* schedule slots in the range */
    int64_t created;  /* new runs */
    int64_t existing; /* slots that already had a run (left alone) */
    int64_t enqueued;
};

/* Creates a run (trigger 'backfill') for every slot of task_id's schedule in [from_ms, to_ms]
 * that has none yet, and queues them: the same slot keys as scheduled runs, so a backfill
 * never duplicates a run. 0; -1 with err (unknown task, no schedule, too many slots, or a
 * Postgres/Redis failure: then nothing was created). */
int scheduler_backfill(struct scheduler *s, int64_t task_id, int64_t from_ms, int64_t to_ms,
                       struct backfill_result *r, char *err, size_t errlen);

struct reconcile_result {
    int64_t queued_checked, reenqueued, leases_requeued, promoted, keys_expired;
};

/* Puts every queued run that Redis lacks back in the queue, returns expired leases to it,
 * promotes due delayed entries, and forgets the task API's idempotency keys past 24 hours.
 * 0, or -1 with err. */
int scheduler_reconcile(struct scheduler *s, struct reconcile_result *r, char *err, size_t errlen);

struct status_numbers {
    int64_t running, queued, completed_today, failed_today, active_agents, tokens_today, credits_today;
    int64_t scheduled_tasks, due_tasks;
    int64_t q_waiting, q_active, q_delayed, q_dead, q_completed, q_failed;
};

/* Reads the status report's numbers, and publishes `json` (the caller's report) under
 * agentcron:{default}:status:orchestrator:<instance> for ttl_s seconds. 0, or -1 with err. */
int scheduler_status(struct scheduler *s, struct status_numbers *n, char *err, size_t errlen);
int scheduler_publish_status(struct scheduler *s, const char *instance, const char *json, int ttl_s, char *err,
                             size_t errlen);

/* Removes instance's report (on a clean stop), if Redis answers; best effort. */
void scheduler_unpublish_status(struct scheduler *s, const char *instance);

#endif
