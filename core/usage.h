/* SPDX-License-Identifier: MIT */
/* Usage from the daily summaries (usage_daily, kept by a trigger as runs end): runs by outcome,
 * attempts, tokens, credits, total and p95 duration, per user, task, agent and day, without
 * reading the runs. Blocking. */
#ifndef AGENTCRON_USAGE_H
#define AGENTCRON_USAGE_H

#include <stddef.h>
#include <stdint.h>

struct pg_conn;
struct json_t;

/* The SQL that adds runs a statement just ended to usage_daily, as a CTE of that statement:
 * every writer that ends a run (the worker's settle, a cancel, the scheduler's cancel_previous)
 * returns the runs it changed from a CTE (src) with these columns, their values after the change:
 * u_task, u_agent, u_user, u_status, u_attempts, u_pt, u_ct, u_credits, u_started, u_finished.
 * One upsert per task, day and writer for the whole statement, and no function called per run
 * (an SQL function that is not inlined is parsed again at each execution of the statement);
 * rows still going on (retrying, queued) are left out. Kept by the writers, not by a trigger: a
 * statement-level trigger with transition tables cost every UPDATE of task_runs (the worker
 * marks runs running in one too). */
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
    "         FROM " src ") e"                                                                                      \
    "   WHERE u_status IN ('succeeded', 'failed', 'timed_out', 'cancelled', 'insufficient_credits')"               \
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

/* The columns of `ended` for a run r of task_runs after its change (a RETURNING list). */
#define USAGE_ENDED_COLUMNS                                                                                         \
    " r.task_id AS u_task, r.agent AS u_agent, r.user_id AS u_user, r.status AS u_status, r.attempt AS u_attempts," \
    " r.prompt_tokens AS u_pt, r.completion_tokens AS u_ct, r.credits_charged AS u_credits,"                       \
    " r.started_at AS u_started, r.finished_at AS u_finished"

/* The duration buckets of migrations/0007 (agentcron_duration_buckets). */
#define USAGE_BUCKETS 20

/* {"from", "to", "total": {...}, "byTask": [...], "byAgent": [...], "byDay": [...]} for the runs
 * that ended in the UTC days [from_day, to_day] ("YYYY-MM-DD"), of user_id (0: every user).
 * scope: 0 for an operator, else the only user it may see (user_id must then be that user or
 * 0). 0 with *out, AC_EINVAL (a bad day; err says which), or AC_EIO. */
int usage_report(struct pg_conn *pg, int64_t scope, int64_t user_id, const char *from_day, const char *to_day,
                 struct json_t **out, char *err, size_t len);

/* The quantile q in (0, 1] of a duration histogram (counts per bucket), interpolated within
 * its bucket as Prometheus does; -1 if it is empty. */
int64_t usage_quantile(const int64_t counts[USAGE_BUCKETS], double q);

#endif
