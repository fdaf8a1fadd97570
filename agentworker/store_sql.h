/* SPDX-License-Identifier: MIT */
/* The worker's SQL, one statement per purpose, parameters only. A batch crosses the wire as
 * arrays and is unnested, so it is one round trip. Included by store.c only. */
#ifndef AGENTCRON_STORE_SQL_H
#define AGENTCRON_STORE_SQL_H

#include "runend.h"

/* $1 run ids. Releases the credit reservations that runs just begun still carried from an
 * attempt that never settled (taken over after a lapsed lease, re-queued after Redis lost
 * them). A statement of its own: a CTE that locked a row the same statement updates would
 * miss it. */
static const char sql_release_taken_over[] =
    "WITH prev AS (SELECT id, user_id, credits_reserved FROM task_runs"
    "              WHERE id = ANY($1::bigint[]) AND status = 'running' AND credits_reserved > 0 ORDER BY id FOR UPDATE),"
    " released AS (UPDATE users u SET credits_reserved = u.credits_reserved - p.amount"
    "              FROM (SELECT user_id, sum(credits_reserved) AS amount FROM prev GROUP BY user_id) p"
    "              WHERE u.id = p.user_id)"
    " UPDATE task_runs r SET credits_reserved = 0 FROM prev WHERE r.id = prev.id";

/* Whether a run has steps to hand its agent (steps.h): one probe of run_steps' key. */
#define HAS_STEPS "EXISTS (SELECT 1 FROM run_steps s WHERE s.run_id = r.id AND s.status <> 'reserved')"

/* The `running` mark is committed without waiting for the disk: losing it in a Postgres crash
 * is harmless (the run's settle then matches nothing, its job is not acknowledged, and it runs
 * again), and any later durable commit flushes it anyway. Waiting for it cost a third of the
 * worker's throughput on short runs. Said in the statement (a setting local to its implicit
 * transaction), not by a transaction around it: one round trip, not three. */
#define COMMIT_WITHOUT_FLUSH ", (SELECT set_config('synchronous_commit', 'off', true)) AS no_flush"

/* $1 run ids, $2 lease tokens, $3 worker id. Marks claimed runs running, only from queued or
 * retrying, or from running when the run is taken over. Returned per run, after the columns a
 * run needs: the credits still reserved from an attempt that never settled (to release, e.g.
 * a run re-queued after Redis lost it), and false: no takeover ends it. A run in any other
 * state (finished, cancelled) is not returned: a duplicate delivery to acknowledge and drop.
 * The statement of a batch in which no job's lease lapsed: almost every batch. */
static const char sql_begin_runs[] =
    "WITH c AS (SELECT * FROM unnest($1::bigint[], $2::text[]) AS c(id, token))"
    " UPDATE task_runs r SET status = 'running', lease_token = c.token, worker_id = $3,"
    " started_at = clock_timestamp(), finished_at = NULL"
    " FROM c, tasks t, users u" COMMIT_WITHOUT_FLUSH
    " WHERE r.id = c.id AND t.id = r.task_id AND u.id = r.user_id AND r.status IN ('queued', 'retrying', 'running')"
    " RETURNING r.id, r.task_id, r.user_id, (extract(epoch FROM r.scheduled_for) * 1000)::bigint, r.attempt,"
    " t.max_attempts, r.priority, t.timeout_ms, t.title, t.goal, t.agent_type, t.agent_config::text,"
    " coalesce(u.max_concurrent_runs, 0), r.credits_reserved, false,"
    " coalesce((extract(epoch FROM r.enqueued_at) * 1000)::bigint, -1), " HAS_STEPS;

/* The same for a batch in which some job's lease lapsed ($4 says which): a takeover after a
 * lapsed lease spends an attempt (the worker died or hung running it, perhaps because of it)
 * and records the lost attempt; the last column says whether it was taken over with no attempt
 * left (it then ends failed at once). */
static const char sql_begin_takeover[] =
    "WITH c AS (SELECT * FROM unnest($1::bigint[], $2::text[], $4::boolean[]) AS c(id, token, lapsed)),"
    " lost AS (INSERT INTO run_attempts (run_id, attempt, worker_id, started_at, outcome, error, retry_reason)"
    "          SELECT w.id, w.attempt, w.worker_id, w.started_at, 'lease_lost', 'its worker stopped (killed, crashed, or"
    " hung past WORKER_LEASE_S) while running it', 'lease_lost' FROM c JOIN task_runs w ON w.id = c.id"
    "          WHERE c.lapsed AND w.status = 'running')"
    " UPDATE task_runs r SET status = 'running', lease_token = c.token, worker_id = $3,"
    " attempt = r.attempt + (was.status = 'running' AND c.lapsed AND r.attempt < t.max_attempts)::int,"
    " started_at = clock_timestamp(), finished_at = NULL"
    " FROM c, task_runs was, tasks t, users u" COMMIT_WITHOUT_FLUSH
    " WHERE r.id = c.id AND was.id = c.id AND t.id = r.task_id AND u.id = r.user_id"
    " AND r.status IN ('queued', 'retrying', 'running')"
    " RETURNING r.id, r.task_id, r.user_id, (extract(epoch FROM r.scheduled_for) * 1000)::bigint, r.attempt,"
    " t.max_attempts, r.priority, t.timeout_ms, t.title, t.goal, t.agent_type, t.agent_config::text,"
    " coalesce(u.max_concurrent_runs, 0), r.credits_reserved,"
    " was.status = 'running' AND c.lapsed AND was.attempt >= t.max_attempts,"
    " coalesce((extract(epoch FROM r.enqueued_at) * 1000)::bigint, -1), " HAS_STEPS;

/* $1 run ids. What the limits need to know of claimed runs, before they are marked running. */
static const char sql_peek_limits[] =
    "SELECT r.id, r.user_id, coalesce(u.max_concurrent_runs, 0), t.agent_type FROM task_runs r"
    " JOIN tasks t ON t.id = r.task_id JOIN users u ON u.id = r.user_id WHERE r.id = ANY($1::bigint[])";

/* Whether any user has a concurrency limit (if none, admission is skipped). */
static const char sql_any_user_limit[] = "SELECT EXISTS (SELECT 1 FROM users WHERE max_concurrent_runs IS NOT NULL)";

/* $1 user ids. Starts a new credit period for users whose month has passed: credits_used
 * back to 0, recorded in the ledger. */
static const char sql_roll_periods[] =
    "WITH due AS (SELECT id, credits_used, period_start FROM users"
    "             WHERE id = ANY($1::bigint[]) AND period_start + interval '1 month' <= now() ORDER BY id FOR UPDATE),"
    " led AS (INSERT INTO credit_ledger (user_id, delta, reason, note)"
    "         SELECT id, -credits_used, 'period_reset', 'a new monthly period began' FROM due WHERE credits_used <> 0)"
    " UPDATE users u SET credits_used = 0, granted_credits = 0,"
    " period_start = (SELECT max(s) FROM generate_series(due.period_start, now(), interval '1 month') s)"
    " FROM due WHERE u.id = due.id";

/* $1 user id, $2 credits, $3 run id, $4 lease token. Reserves credits for a run, only if the
 * user's month still covers them and the run is still this lease's (else the user's row is left
 * alone too: a reservation no run holds would never be released). No row: insufficient credits,
 * or not this worker's run any more. */
static const char sql_reserve[] =
    "WITH r AS (SELECT id FROM task_runs WHERE id = $3::bigint AND lease_token = $4 FOR UPDATE),"
    " u AS (UPDATE users SET credits_reserved = credits_reserved + $2::bigint"
    "       WHERE id = $1::bigint AND EXISTS (SELECT 1 FROM r)"
    "       AND credits_used + credits_reserved + $2::bigint <= monthly_credits + granted_credits RETURNING id)"
    " UPDATE task_runs SET credits_reserved = $2::bigint"
    " WHERE id IN (SELECT id FROM r) AND EXISTS (SELECT 1 FROM u) RETURNING id";

/* $1 user id. What a refused reservation is measured against. */
static const char sql_user_credits[] =
    "SELECT credits_used, credits_reserved, monthly_credits + granted_credits,"
    " to_char(period_start AT TIME ZONE 'UTC', 'YYYY-MM-DD')"
    " FROM users WHERE id = $1::bigint";

/* The status a settled run takes: the worker's, except that a run refused a step reservation
 * for its budget (steps.h) ends insufficient_credits unless it was cancelled. */
#define SETTLE_STATUS "(CASE WHEN r.out_of_budget AND x.status <> 'cancelled' THEN 'insufficient_credits' ELSE x.status END)"

/* $1 ids, $2 tokens, $3 statuses, $4 not-before (ms, -1 none), $5 prompt tokens, $6 completion
 * tokens, $7 base credits, $8 tokens per credit (0: no charge), $9 attempt increments, $10
 * errors, $11 outputs, $12 stderr tails, and of the attempt: $13 HTTP status, $14 exit code,
 * $15 signal, $16 why it goes back to the queue, $17 duration (ms).
 * Ends (or returns to the queue) runs this worker holds, in one statement: the run, the
 * attempt's row, its charge in the ledger, the user's credits_used, the release of what is
 * reserved for it (the start's estimate and step reservations not settled), and the usage
 * summary of its task and day. A run is charged once, when it ends, for the tokens of all its
 * attempts that no step paid for (steps are charged as they complete: credits_charged counts
 * them too, the ledger has them already). Runs whose lease token changed (taken over) are left
 * alone: their reservation was released by the takeover. Values of the row are read as it is
 * when locked, so a step settled meanwhile is counted. Written so that the generic plan
 * (prepared once) walks the arrays and finds each run by primary key. Returns what it changed:
 * each run's id and the status it took. */
static const char sql_settle[] =
    "WITH x AS (SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::bigint[], $5::bigint[], $6::bigint[],"
    "           $7::bigint[], $8::bigint[], $9::int[], $10::text[], $11::text[], $12::text[],"
    "           $13::int[], $14::int[], $15::int[], $16::text[], $17::bigint[])"
    "           AS x(id, token, status, not_before, p, c, base, tpc, inc, error, output, stderr_tail,"
    "                http, exit_code, sig, retry_reason, ms)),"
    " upd AS (UPDATE task_runs r SET status = " SETTLE_STATUS ","
    "         prompt_tokens = r.prompt_tokens + x.p, completion_tokens = r.completion_tokens + x.c,"
    "         credits_charged = r.step_credits + CASE WHEN " SETTLE_STATUS " IN ('queued', 'retrying') OR x.tpc <= 0 THEN 0"
    "              ELSE x.base + ceil(greatest(r.prompt_tokens + x.p + r.completion_tokens + x.c - r.step_tokens, 0)::numeric"
    "                                 / x.tpc)::bigint END,"
    "         credits_reserved = 0, credits_released = r.credits_reserved, attempt = r.attempt + x.inc, lease_token = NULL,"
    "         not_before = CASE WHEN x.not_before >= 0 THEN to_timestamp(x.not_before / 1000.0) ELSE r.not_before END,"
    "         finished_at = CASE WHEN " SETTLE_STATUS " IN ('queued', 'retrying') THEN NULL ELSE clock_timestamp() END,"
    "         error = CASE WHEN r.out_of_budget AND x.status <> 'cancelled' THEN r.error"
    "              WHEN x.status IN ('succeeded', 'queued', 'retrying') THEN x.error ELSE coalesce(x.error, x.status) END,"
    "         output = coalesce(x.output, r.output), stderr_tail = coalesce(x.stderr_tail, r.stderr_tail)"
    "         FROM x WHERE r.id = x.id AND r.status = 'running' AND r.lease_token = x.token"
    "         RETURNING r.id, r.user_id, r.credits_charged - r.step_credits AS charged, r.credits_released AS released,"
    "         r.attempt - x.inc AS attempt, r.worker_id, r.started_at, r.status AS outcome, r.error AS run_error, x.p, x.c,"
    "         r.not_before, x.http, x.exit_code, x.sig, x.retry_reason, x.ms, x.output, x.stderr_tail," RUN_ENDED_COLUMNS "),"
    " att AS (INSERT INTO run_attempts (run_id, attempt, worker_id, started_at, outcome, error, prompt_tokens,"
    "         completion_tokens, retry_at, http_status, exit_code, exit_signal, retry_reason, duration_ms,"
    "         output_tail, stderr_tail)"
    "         SELECT id, attempt, worker_id, CASE WHEN ms IS NOT NULL THEN started_at END, outcome, run_error, p, c,"
    "         CASE WHEN outcome IN ('queued', 'retrying') THEN not_before END, http, exit_code, sig,"
    "         CASE WHEN outcome IN ('queued', 'retrying') THEN retry_reason END, ms,"
    "         CASE WHEN outcome IN ('queued', 'retrying') THEN right(output, 65536) END,"
    "         CASE WHEN outcome IN ('queued', 'retrying') THEN right(stderr_tail, 65536) END FROM upd),"
    RUN_ENDED_CTES("upd") ","
    " led AS (INSERT INTO credit_ledger (user_id, run_id, delta, reason)"
    "         SELECT user_id, id, charged, 'charge' FROM upd WHERE charged > 0),"
    " usr AS (UPDATE users u SET credits_used = u.credits_used + s.charged,"
    "         credits_reserved = u.credits_reserved - s.released"
    "         FROM (SELECT user_id, sum(charged) AS charged, sum(released) AS released FROM upd GROUP BY user_id) s"
    "         WHERE u.id = s.user_id AND (s.charged <> 0 OR s.released <> 0))"
    " SELECT id, outcome FROM upd";

#endif
