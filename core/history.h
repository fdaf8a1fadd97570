/* SPDX-License-Identifier: MIT */
/* Reading the run history: filtered run lists paged by keyset, one run with every attempt, an
 * attempt's output, the slots of a task and what became of each (usage: usage.h). The one
 * definition of a run's JSON that the CLI and the API print.
 *
 * Every function takes a scope: 0 for an operator (everything), or a user id (that user's
 * runs and tasks only; anything else is "not found"). Each returns 0 with *out (a new
 * reference), HISTORY_NOT_FOUND, AC_EINVAL for a bad argument, or AC_EIO when Postgres failed;
 * err says which and why. Blocking; one connection, one thread at a time. */
#ifndef AGENTCRON_HISTORY_H
#define AGENTCRON_HISTORY_H

#include <stddef.h>
#include <stdint.h>

struct pg_conn;
struct json_t;

#define HISTORY_NOT_FOUND 1
#define HISTORY_PAGE_MAX 1000   /* runs per page */
#define HISTORY_SLOTS_MAX 10000 /* slots per answer of history_slots */

/* What a run list shows; zero and NULL fields filter nothing. */
struct history_filter {
    int64_t task_id;
    const char *user;    /* email or id (operators) */
    const char *status;  /* queued running retrying succeeded failed timed_out cancelled insufficient_credits */
    const char *agent;   /* the agent the run ran with */
    const char *trigger; /* schedule backfill manual api */
    int64_t since_ms, until_ms; /* the slot's time, inclusive; 0: open */
    const char *cursor;  /* `next` of the page before, or NULL for the newest */
    int limit;           /* 1..HISTORY_PAGE_MAX; 0: 50 */
};

/* {"runs": [...], "next": cursor or null}: the newest slots first. */
int history_list(struct pg_conn *pg, int64_t scope, const struct history_filter *f, struct json_t **out, char *err,
                 size_t len);

/* The task of run run_id, when scope may see the run (no more of it read). */
int history_run_task(struct pg_conn *pg, int64_t scope, int64_t run_id, int64_t *task_id, char *err, size_t len);

/* One run whole: output, stderr and "attempts", oldest first. */
int history_run(struct pg_conn *pg, int64_t scope, int64_t run_id, struct json_t **out, char *err, size_t len);

/* The runs (each as history_run shows it, without attempts) that condition selects: SQL over
 * task_runs r with parameters $1..$nparams, for callers that answer many at once. An array. */
int history_select(struct pg_conn *pg, const char *condition, int nparams, const char *const *params,
                   struct json_t **out, char *err, size_t len);

/* {"run", "attempt", "outcome", "output", "stderr", "final"}: what attempt (0: the latest) printed.
 * A run's last attempt shows the run's own output and stderr; an earlier one, its own tails. */
int history_logs(struct pg_conn *pg, int64_t scope, int64_t run_id, int attempt, struct json_t **out, char *err,
                 size_t len);

/* {"task", "timezone", "slots": [{"slot", "run", "status"} or {"slot", "reason"}]}: each slot
 * of the task's schedule in [from_ms, to_ms], and each run whose slot is in it, with its run or
 * why it has none: coalesced, misfire_skip, outside_catch_up_window, overlap_skip,
 * overlap_queue_one, overlap_cancel_previous, paused, upcoming, unrecorded (before the task
 * existed, or removed by retention). AC_EINVAL when the range holds over HISTORY_SLOTS_MAX. */
int history_slots(struct pg_conn *pg, int64_t scope, int64_t task_id, int64_t from_ms, int64_t to_ms,
                  struct json_t **out, char *err, size_t len);

#endif
