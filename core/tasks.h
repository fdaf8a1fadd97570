/* SPDX-License-Identifier: MIT */
/* The one writer of a task's definition, for the CLI and the task API alike: creating a task,
 * editing it, and pausing, resuming or deleting it. Every change checks its values by the same
 * rules (taskdef.h for the schedule), is one transaction, names the caller's user in every
 * statement (user_id 0: an operator, any user's task), and leaves next_run_at on a real slot.
 * A change made while the caller has a transaction open joins it (so `agentcron import` stays
 * all or nothing). The orchestrator advancing next_run_at is the scheduler's (sched/), not this.
 * Blocking; one thread at a time per connection. */
#ifndef AGENTCRON_TASKS_H
#define AGENTCRON_TASKS_H

#include <stdint.h>

#include "errors.h"
#include "taskdef.h"

struct pg_conn;
struct redisContext;

/* What a create or an edit sets. Unset fields (NULL, 0, -1) stay as they are on an edit and take
 * the defaults on a create (priority normal, 3 attempts, 300 s timeout, no jitter, policies
 * coalesce and allow, UTC). */
struct task_fields {
    const char *title, *goal, *agent;
    const char *config;                           /* the agent settings the task overrides: a JSON object */
    const char *misfire, *overlap;                /* policy names (plan.h) */
    int priority;                                 /* 1-4; 0 unset */
    int64_t max_attempts, timeout_ms, jitter_ms;  /* -1 unset */
    int64_t retention_days;                       /* 1-3650, 0 RUN_RETENTION_DAYS (no override), -1 unset */
    const char *cron;                             /* a new schedule */
    const char *timezone;                         /* a new zone for the new or the present schedule */
    int no_cron;                                  /* edit: remove the schedule */
    int enabled;                                  /* -1 unset (a new cron switches it on), 0 off, 1 on */
    const char *source;                           /* create: what made it ("import"), NULL a person */
};
#define TASK_FIELDS_UNSET {.max_attempts = -1, .timeout_ms = -1, .jitter_ms = -1, .retention_days = -1, .enabled = -1}

/* What became of a change, besides failing. */
enum { TASKS_NOT_FOUND = 1 /* no such task for this user, or it is deleted */ };

/* Checks every value set in f (lengths, ranges, policy names, the schedule by the cron contract
 * with a provisional hash key, firing again after now_ms) without any server. 0, or AC_EINVAL
 * with *err naming the field, the value and what is accepted. Pure; thread-safe. */
int tasks_check(const struct task_fields *f, int64_t now_ms, struct taskdef_error *err);

/* Creates a task of user_id with f (title and agent required; the agent is the caller's to
 * check against AGENTS_FILE) and, with a cron, its first slot after now_ms (the task's id as the
 * H hash key). 0 with *id and *next_ms (-1 unscheduled); AC_EINVAL with *err (nothing
 * created); AC_EIO with *err when Postgres failed (nothing created: retry). */
int tasks_create(struct pg_conn *pg, int64_t user_id, const struct task_fields *f, int64_t now_ms, int64_t *id,
                 int64_t *next_ms, struct taskdef_error *err);

/* Changes what f sets on task id. A new cron or zone, enabling or disabling recomputes the
 * next slot from now_ms; enabling or a zone on a task with no schedule is AC_EINVAL. 0,
 * TASKS_NOT_FOUND, AC_EINVAL or AC_EIO (with *err; nothing changed). */
int tasks_edit(struct pg_conn *pg, int64_t user_id, int64_t id, const struct task_fields *f, int64_t now_ms,
               struct taskdef_error *err);

/* Pauses ("paused") or resumes ("active": firing again from the next slot after now_ms, not the
 * missed ones) task id. 0, TASKS_NOT_FOUND, AC_EINVAL (another status) or AC_EIO. */
int tasks_set_status(struct pg_conn *pg, int64_t user_id, int64_t id, const char *status, int64_t now_ms,
                     struct taskdef_error *err);

/* Deletes task id (its history stays) and cancels its queued and running runs (runctl.h),
 * counting them in *cancelled and *stopping. 0, TASKS_NOT_FOUND or AC_EIO; when only the
 * cancelling failed the task is deleted, 0 is returned and *err says what was left running. */
int tasks_delete(struct pg_conn *pg, struct redisContext *redis, int64_t user_id, int64_t id, int *cancelled,
                 int *stopping, struct taskdef_error *err);

#endif
