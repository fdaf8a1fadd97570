/* SPDX-License-Identifier: MIT */
/* What every statement that ends runs (sets finished_at) does in the same statement, as CTEs:
 * adds them to their task's usage summary (usage_daily) and drops them from live_runs. The
 * writers are the worker's settle, a cancel (runctl), the scheduler's cancel_previous (and the
 * tests' stand-in consumer). Kept by the writers, not by triggers on task_runs: a trigger with
 * transition tables costs every UPDATE of task_runs, and the worker updates each run twice.
 *
 * A writer returns the runs it changed, their values after the change, from a CTE (src) with
 * RUN_ENDED_COLUMNS, and adds RUN_ENDED_CTES(src); runs that go on (retrying, queued) are left
 * out of both. */
#ifndef AGENTCRON_RUNEND_H
#define AGENTCRON_RUNEND_H

#define RUN_ENDED_STATUSES "('succeeded', 'failed', 'timed_out', 'cancelled', 'insufficient_credits')"

/* The usage: one upsert per task, day and writer (shard) for the whole statement, and no
 * function called per run (an SQL function that is not inlined is parsed again at each
 * execution of the statement). The runs are read through OFFSET 0, a fence: without it the
 * planner pulls the subquery up and computes each run's duration bucket again in each of the 20
 * filters (two thirds of the upsert's time, a sixth of the worker's settle). */
#define USAGE_IN_BUCKET(n) "count(*) FILTER (WHERE u_b = " #n ")::int"
#define USAGE_COUNT_CTE(src)                                                                                        \
    " counted AS (INSERT INTO usage_daily AS d (day, task_id, agent, shard, user_id, succeeded, failed, timed_out,"  \
    "   cancelled, insufficient_credits, attempts, prompt_tokens, completion_tokens, credits, duration_ms,"         \
    "   duration_hist)"                                                                                             \
    "   SELECT (u_finished AT TIME ZONE 'UTC')::date, u_task, coalesce(u_agent, ''), pg_backend_pid() % 16,"      \
    "   min(u_user), count(*) FILTER (WHERE u_status = 'succeeded'), count(*) FILTER (WHERE u_status = 'failed'),"  \
    "   count(*) FILTER (WHERE u_status = 'timed_out'), count(*) FILTER (WHERE u_status = 'cancelled'),"            \
    "   count(*) FILTER (WHERE u_status = 'insufficient_credits'), sum(u_attempts), sum(u_pt), sum(u_ct),"          \
    "   sum(u_credits), coalesce(sum(u_ms), 0), ARRAY["                                                             \
    USAGE_IN_BUCKET(1) "," USAGE_IN_BUCKET(2) "," USAGE_IN_BUCKET(3) "," USAGE_IN_BUCKET(4) ","                     \
    USAGE_IN_BUCKET(5) "," USAGE_IN_BUCKET(6) "," USAGE_IN_BUCKET(7) "," USAGE_IN_BUCKET(8) ","                     \
    USAGE_IN_BUCKET(9) "," USAGE_IN_BUCKET(10) "," USAGE_IN_BUCKET(11) "," USAGE_IN_BUCKET(12) ","                  \
    USAGE_IN_BUCKET(13) "," USAGE_IN_BUCKET(14) "," USAGE_IN_BUCKET(15) "," USAGE_IN_BUCKET(16) ","                 \
    USAGE_IN_BUCKET(17) "," USAGE_IN_BUCKET(18) "," USAGE_IN_BUCKET(19) "," USAGE_IN_BUCKET(20) "]"                 \
    "   FROM (SELECT *, agentcron_run_ms(u_started, u_finished) AS u_ms,"                                           \
    "         width_bucket(agentcron_run_ms(u_started, u_finished), agentcron_duration_buckets()) AS u_b"             \
    "         FROM " src " OFFSET 0) e"                                                                             \
    "   WHERE u_status IN " RUN_ENDED_STATUSES                                                                      \
    "   GROUP BY 1, 2, 3, 4"                                                                                        \
    "   ON CONFLICT (task_id, day, agent, shard) DO UPDATE SET succeeded = d.succeeded + excluded.succeeded,"       \
    "   failed = d.failed + excluded.failed, timed_out = d.timed_out + excluded.timed_out,"                         \
    "   cancelled = d.cancelled + excluded.cancelled,"                                                              \
    "   insufficient_credits = d.insufficient_credits + excluded.insufficient_credits,"                             \
    "   attempts = d.attempts + excluded.attempts, prompt_tokens = d.prompt_tokens + excluded.prompt_tokens,"       \
    "   completion_tokens = d.completion_tokens + excluded.completion_tokens, credits = d.credits + excluded.credits," \
    "   duration_ms = d.duration_ms + excluded.duration_ms,"                                                        \
    "   duration_hist = ARRAY(SELECT coalesce(x, 0) + coalesce(y, 0)"                                              \
    "     FROM unnest(d.duration_hist, excluded.duration_hist) WITH ORDINALITY AS h(x, y, i) ORDER BY i))"

/* The columns of src for a run r of task_runs after its change (a RETURNING list). */
#define RUN_ENDED_COLUMNS                                                                                         \
    " r.id AS u_id, r.task_id AS u_task, r.agent AS u_agent, r.user_id AS u_user, r.status AS u_status, r.attempt AS u_attempts," \
    " r.prompt_tokens AS u_pt, r.completion_tokens AS u_ct, r.credits_charged AS u_credits,"                       \
    " r.started_at AS u_started, r.finished_at AS u_finished"

/* live_runs: the runs not ended yet (inserted by a trigger when a run is created). */
#define LIVE_GONE_CTE(src)                                                                                          \
    " gone AS (DELETE FROM live_runs WHERE run_id IN (SELECT u_id FROM " src " WHERE u_status IN " RUN_ENDED_STATUSES "))"

#define RUN_ENDED_CTES(src) USAGE_COUNT_CTE(src) "," LIVE_GONE_CTE(src)

#endif
