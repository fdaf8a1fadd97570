/* SPDX-License-Identifier: MIT */
/* Which of a task's due schedule slots become runs: the misfire policies (README: the orchestrator)
 * and the overlap policies, as pure functions of the task, the clock and its live runs. */
#ifndef AGENTCRON_PLAN_H
#define AGENTCRON_PLAN_H

#include <stdint.h>

struct cron_expr;
struct cron_zone;

/* The most runs one task gets in one pass (catch_up after a long outage). */
#define PLAN_MAX_RUNS 1000
/* Slots counted at most per pass (an every-second task paused for a week has 604,800). */
#define PLAN_MAX_COUNTED 100000
/* A slot this late or less is on time for the skip policy. */
#define PLAN_GRACE_MS 60000

enum misfire_policy { MISFIRE_COALESCE, MISFIRE_SKIP, MISFIRE_CATCH_UP };
enum overlap_policy { OVERLAP_ALLOW, OVERLAP_SKIP, OVERLAP_QUEUE_ONE, OVERLAP_CANCEL_PREVIOUS };

/* Parses "coalesce"/"skip"/"catch_up" and "allow"/"skip"/"queue_one"/"cancel_previous";
 * -1 for anything else. */
int plan_misfire_policy(const char *name);
int plan_overlap_policy(const char *name);

struct plan {
    int64_t slots[PLAN_MAX_RUNS]; /* the slots that become runs, ascending (ms) */
    int count;
    int64_t missed;        /* due slots that become no run, by the misfire policy */
    const char *missed_reason;
    int64_t missed_first, missed_last; /* the first and last of them (ms), when missed > 0 */
    int64_t skipped;       /* slots dropped by the overlap policy */
    const char *skipped_reason;
    int64_t skipped_first, skipped_last; /* likewise */
    int cancel_previous;   /* the task's live runs must be cancelled */
    int64_t next;          /* the next slot after now (ms), or -1: the schedule has ended */
};

/* Plans the slots in [next_run_at, now] of a task whose next_run_at is due. */
void plan_due(const struct cron_expr *expr, const struct cron_zone *zone, int64_t next_run_at, int64_t now,
              enum misfire_policy misfire, int64_t catch_up_window_ms, struct plan *out);

/* Applies the overlap policy, given how many runs of the task are queued and running. */
void plan_overlap(struct plan *p, enum overlap_policy overlap, int64_t queued, int64_t running);

/* The run's start delay for jitter: stable for a task and slot, in [0, jitter_ms]. */
int64_t plan_jitter(int64_t task_id, int64_t slot, int64_t jitter_ms);

#endif
