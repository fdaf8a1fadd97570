/* SPDX-License-Identifier: MIT */
/* The scheduler's SQL, one statement per purpose, parameters only (style rule 16). Arrays are
 * passed as Postgres array literals and unnested, so a batch is one round trip. Times cross
 * the wire as ms since the epoch. Included by schedule.c only. */
#ifndef AGENTCRON_SCHEDULE_SQL_H
#define AGENTCRON_SCHEDULE_SQL_H

#include "runend.h"

/* $1 batch size, $2 lookahead (ms), $3 and $4 where the pass is: after the task of that
 * next_run_at (µs since the epoch) and id (both NULL: from the start). Due tasks, locked, in
 * (next_run_at, id) order; the rows another orchestrator holds are skipped. Tasks with the
 * `allow` overlap policy are due $2 ms before their slot (their runs are readied ahead,
 * delayed in the queue); the others only at it, as what they do depends on the runs live at
 * their slot. Both ends bound the tasks_due index scan: the start, so that a batch does not
 * step over the entries of the tasks the pass advanced already (a burst of 100,000 at one
 * instant made each claim walk all of them); the end, the time, read once as a subquery:
 * clock_timestamp() itself is volatile, and a volatile bound cannot bound the scan, which then
 * filtered every enabled task on every pass (2.6 s per call at 1,000,000 tasks;
 * test_claim_plan.sh checks the plan). The last column is the cursor for the next batch. */
static const char sql_claim_due[] =
    "SELECT id, user_id, schedule, timezone, (extract(epoch FROM next_run_at) * 1000)::bigint, priority,"
    " misfire_policy, catch_up_window_ms, overlap_policy, jitter_ms,"
    " (extract(epoch FROM clock_timestamp()) * 1000)::bigint, (extract(epoch FROM next_run_at) * 1000000)::bigint"
    " FROM tasks WHERE schedule_enabled AND status = 'active'"
    " AND (next_run_at, id) > (coalesce(timestamptz 'epoch' + $3::bigint * interval '1 microsecond', '-infinity'),"
    "                          coalesce($4::bigint, 0))"
    " AND next_run_at <= (SELECT clock_timestamp() + $2::bigint * interval '1 millisecond')"
    " AND (overlap_policy = 'allow' OR next_run_at <= (SELECT clock_timestamp()))"
    " ORDER BY next_run_at, id LIMIT $1 FOR UPDATE SKIP LOCKED";

/* $1 task ids. Runs of those tasks that are queued or running, for the overlap policies. */
static const char sql_active_runs[] =
    "SELECT r.task_id, count(*) FILTER (WHERE r.status = 'queued'), count(*) FILTER (WHERE r.status <> 'queued'),"
    " array_to_string(array_agg(r.id ORDER BY r.id), ',')"
    " FROM live_runs l JOIN task_runs r ON r.id = l.run_id WHERE l.task_id = ANY($1::bigint[])"
    " AND r.status IN ('queued', 'running', 'retrying')"
    " GROUP BY r.task_id";

/* $1 task ids, $2 user ids, $3 slots (ms), $4 priorities, $5 not-before (ms), $6 trigger.
 * New runs only: a slot that already has a run is left alone. A run readied ahead is queued as
 * of its slot (enqueued_at), which is when the queue starts to offer it. */
static const char sql_insert_runs[] =
    "INSERT INTO task_runs (task_id, user_id, scheduled_for, trigger, priority, not_before, enqueued_at, agent)"
    " SELECT t, u, to_timestamp(s / 1000.0), $6, p, CASE WHEN nb > s THEN to_timestamp(nb / 1000.0) END,"
    " greatest(clock_timestamp(), to_timestamp(s / 1000.0)), (SELECT agent_type FROM tasks WHERE id = t)"
    " FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::smallint[], $5::bigint[]) AS x(t, u, s, p, nb)"
    " ON CONFLICT (task_id, scheduled_for) DO NOTHING"
    " RETURNING id, task_id, priority, (extract(epoch FROM coalesce(not_before, scheduled_for)) * 1000)::bigint";

/* $1 ids, $2 next run (ms, -1 for none), $3 still enabled, $4 missed slots, $5 skipped slots;
 * and the slot ledger's rows: $6 task ids, $7 first and $8 last slot (ms), $9 count, $10 reason. */
static const char sql_advance_tasks[] =
    "WITH gaps AS (INSERT INTO slot_gaps (task_id, first_slot, last_slot, slots, reason)"
    " SELECT t, to_timestamp(f / 1000.0), to_timestamp(l / 1000.0), n, r"
    " FROM unnest($6::bigint[], $7::bigint[], $8::bigint[], $9::bigint[], $10::text[]) AS g(t, f, l, n, r))"
    " UPDATE tasks AS t SET next_run_at = CASE WHEN x.n >= 0 THEN to_timestamp(x.n / 1000.0) END,"
    " schedule_enabled = x.e, missed_slots = t.missed_slots + x.m, skipped_slots = t.skipped_slots + x.k,"
    " updated_at = clock_timestamp()"
    " FROM unnest($1::bigint[], $2::bigint[], $3::boolean[], $4::bigint[], $5::bigint[]) AS x(id, n, e, m, k)"
    " WHERE t.id = x.id";

/* $1 run ids. Queued runs replaced by a newer one (overlap policy cancel_previous). */
static const char sql_cancel_queued[] =
    "WITH c AS (UPDATE task_runs r SET status = 'cancelled', finished_at = clock_timestamp(),"
    " error = 'cancelled: a newer run of the task replaced it (overlap policy cancel_previous)'"
    " WHERE id = ANY($1::bigint[]) AND status = 'queued' RETURNING" RUN_ENDED_COLUMNS "),"
    RUN_ENDED_CTES("c")
    " SELECT count(*) FROM c";

/* $1 task id. What a backfill needs of the task. */
static const char sql_task_for_backfill[] =
    "SELECT user_id, schedule, timezone, priority FROM tasks WHERE id = $1::bigint AND status <> 'deleted'";

/* The earliest next_run_at of any enabled task (ms), or NULL. */
static const char sql_next_due[] =
    "SELECT (extract(epoch FROM min(next_run_at)) * 1000)::bigint FROM tasks"
    " WHERE schedule_enabled AND status = 'active'";

/* $1 after id, $2 page size. Runs that must have a job in Redis, for reconciliation: queued,
 * waiting for a retry, or running (a running run whose job Redis lost is run again). */
static const char sql_queued_runs[] =
    "SELECT r.id, r.task_id, r.priority, (extract(epoch FROM coalesce(r.not_before, r.scheduled_for)) * 1000)::bigint"
    " FROM live_runs l JOIN task_runs r ON r.id = l.run_id"
    " WHERE l.run_id > $1 AND r.status IN ('queued', 'retrying', 'running') ORDER BY l.run_id LIMIT $2";

/* Rows of live_runs whose run has ended without its writer removing them (a run ended by hand
 * in SQL): reconciliation removes them. */
static const char sql_live_cleanup[] =
    "DELETE FROM live_runs l USING task_runs r WHERE r.id = l.run_id AND r.finished_at IS NOT NULL";

/* The task API's idempotency keys are answered for 24 hours, then forgotten. */
static const char sql_expire_idempotency_keys[] =
    "DELETE FROM idempotency_keys WHERE created_at < now() - interval '24 hours'";

#endif
