/* SPDX-License-Identifier: MIT */
/* The statements that evaluate alert conditions (evaluate.h), apart so that a test can look at
 * their plans (tests/integration/test_alert_plans.sh, through tests/tools/print_sql). Each
 * takes the same nine parameters:
 * $1 rule, $2 owner (0: an operator's), $3 scope user, $4 scope agent (''), $5 scope task,
 * $6 threshold, $7 duration (s), $8 events from, $9 events up to. */
#ifndef AGENTCRON_ALERT_EVALUATE_SQL_H
#define AGENTCRON_ALERT_EVALUATE_SQL_H

#define TASK_SCOPE                                                                                          \
    " ($2::bigint = 0 OR t.user_id = $2::bigint) AND ($3::bigint = 0 OR t.user_id = $3::bigint)"            \
    " AND ($4::text = '' OR t.agent_type = $4::text) AND ($5::bigint = 0 OR t.id = $5::bigint)"
#define OPEN_TASKS                                                                                          \
    " SELECT substr(subject, 6)::bigint FROM alert_incidents WHERE rule_id = $1::bigint AND resolved_at IS NULL" \
    " AND subject LIKE 'task:%'"
#define IS_OPEN(subject)                                                                                    \
    " EXISTS (SELECT 1 FROM alert_incidents i WHERE i.rule_id = $1::bigint AND i.subject = " subject        \
    " AND i.resolved_at IS NULL)"
#define BAD "('failed', 'timed_out', 'insufficient_credits')"
#define TASK_JSON "jsonb_build_object('id', t.id, 'title', t.title, 'agent', t.agent_type, 'user', t.user_id)"
/* The attempts that ended a run badly in the event window (run_attempts_ended_badly: task_runs
 * has no index on when a run ended, so that the worker's writes stay HOT updates). */
#define BAD_IN_WINDOW                                                                                       \
    " FROM run_attempts a JOIN task_runs r ON r.id = a.run_id WHERE a.finished_at > $8 AND a.finished_at <= $9" \
    " AND a.outcome IN " BAD
/* the newest run of task t that ended badly in the event window, or NULL */
#define NEW_BAD_RUN                                                                                         \
    " (SELECT jsonb_build_object('id', r.id, 'status', r.status, 'attempt', r.attempt, 'error', left(r.error, 1000),"\
    " 'scheduledFor', r.scheduled_for, 'finishedAt', r.finished_at)" BAD_IN_WINDOW " AND r.task_id = t.id"     \
    " ORDER BY a.finished_at DESC LIMIT 1)"

/* The run conditions read the attempts that ended a run badly in the window and the tasks of
 * open incidents: a streak can only start with a failure, and only an open incident can clear.
 * Each query returns the subjects to act on: (subject, holds, open, detail) for those that hold
 * or have an open incident. */
static const char sql_run_failed[] =
    "WITH cand AS (SELECT DISTINCT r.task_id AS id" BAD_IN_WINDOW " UNION" OPEN_TASKS "),"
    " s AS (SELECT 'task:' || t.id AS subject, " NEW_BAD_RUN " AS run, " TASK_JSON " AS task,"
    "         (SELECT r.status FROM task_runs r WHERE r.task_id = t.id AND r.finished_at IS NOT NULL"
    "          AND r.finished_at <= $9 AND r.status <> 'cancelled' ORDER BY r.scheduled_for DESC LIMIT 1) AS last"
    "       FROM tasks t JOIN cand ON cand.id = t.id WHERE" TASK_SCOPE ")"
    " SELECT subject, run IS NOT NULL OR coalesce(last IN " BAD ", false),"
    IS_OPEN("s.subject") ", jsonb_strip_nulls(jsonb_build_object('task', task, 'run', run))::text FROM s";

static const char sql_failures_in_row[] =
    "WITH cand AS (SELECT DISTINCT r.task_id AS id" BAD_IN_WINDOW " UNION" OPEN_TASKS "),"
    " s AS (SELECT 'task:' || t.id AS subject, " NEW_BAD_RUN " AS run, " TASK_JSON " AS task,"
    "         (SELECT count(*) = $6::bigint AND bool_and(x.status IN " BAD ") FROM (SELECT r.status FROM task_runs r"
    "          WHERE r.task_id = t.id AND r.finished_at IS NOT NULL AND r.finished_at <= $9 AND r.status <> 'cancelled'"
    "          ORDER BY r.scheduled_for DESC LIMIT $6::bigint) x) AS streak"
    "       FROM tasks t JOIN cand ON cand.id = t.id WHERE" TASK_SCOPE ")"
    " SELECT subject, coalesce(streak, false)," IS_OPEN("s.subject") ","
    " jsonb_strip_nulls(jsonb_build_object('task', task, 'run', run, 'inARow', $6::bigint))::text FROM s";

static const char sql_slot_missed[] =
    "WITH cand AS (SELECT DISTINCT task_id AS id FROM slot_gaps WHERE decided_at > $8 AND decided_at <= $9"
    "              AND reason <> 'paused' UNION" OPEN_TASKS "),"
    " s AS (SELECT 'task:' || t.id AS subject, " TASK_JSON " AS task, g.*,"
    "         EXISTS (SELECT 1 FROM slot_gaps n WHERE n.task_id = t.id AND n.decided_at > $8 AND n.decided_at <= $9"
    "                 AND n.reason <> 'paused') AS new_gap,"
    "         (SELECT max(r.scheduled_for) FROM task_runs r WHERE r.task_id = t.id) AS last_run"
    "       FROM tasks t JOIN cand ON cand.id = t.id"
    "       LEFT JOIN LATERAL (SELECT first_slot, last_slot, slots, reason FROM slot_gaps g WHERE g.task_id = t.id"
    "                          AND g.reason <> 'paused' ORDER BY g.last_slot DESC LIMIT 1) g ON true"
    "       WHERE" TASK_SCOPE ")"
    " SELECT subject, new_gap OR coalesce(last_slot > coalesce(last_run, '-infinity'), false)," IS_OPEN("s.subject") ","
    " jsonb_strip_nulls(jsonb_build_object('task', task, 'gap', CASE WHEN last_slot IS NOT NULL THEN"
    "   jsonb_build_object('reason', reason, 'firstSlot', first_slot, 'lastSlot', last_slot, 'slots', slots) END))::text"
    " FROM s";

/* Succeeded runs are looked for among those slotted up to a day before the window, so the
 * task's slot index bounds the search. */
static const char sql_no_success[] =
    "WITH cand AS (SELECT t.id FROM tasks t WHERE t.status = 'active' AND t.schedule_enabled AND" TASK_SCOPE
    "              UNION" OPEN_TASKS "),"
    " s AS (SELECT 'task:' || t.id AS subject, " TASK_JSON " AS task,"
    "         t.status = 'active' AND t.schedule_enabled AND t.created_at <= now() - make_interval(secs => $7::bigint)"
    "         AND NOT EXISTS (SELECT 1 FROM task_runs r WHERE r.task_id = t.id"
    "             AND r.scheduled_for > now() - make_interval(secs => $7::bigint) - interval '1 day'"
    "             AND r.status = 'succeeded' AND r.finished_at > now() - make_interval(secs => $7::bigint)) AS holds"
    "       FROM tasks t JOIN cand ON cand.id = t.id WHERE" TASK_SCOPE ")"
    " SELECT subject, holds, open, jsonb_build_object('task', task, 'durationS', $7::bigint)::text"
    " FROM (SELECT s.*," IS_OPEN("s.subject") " AS open FROM s) x WHERE holds OR open";

static const char sql_credits_used[] =
    "WITH s AS (SELECT 'user:' || u.id AS subject, u.email, u.credits_used, u.monthly_credits + u.granted_credits AS allowance"
    "           FROM users u WHERE ($2::bigint = 0 OR u.id = $2::bigint) AND ($3::bigint = 0 OR u.id = $3::bigint)"
    "           AND $4::text = '' AND $5::bigint = 0)"
    " SELECT subject, holds, open, jsonb_build_object('user', jsonb_build_object('id', substr(subject, 6)::bigint,"
    "   'email', email), 'creditsUsed', credits_used, 'allowance', allowance, 'percent', $6::bigint)::text"
    " FROM (SELECT s.*, allowance > 0 AND credits_used * 100 >= $6::bigint * allowance AS holds,"
    IS_OPEN("s.subject") " AS open FROM s) x WHERE holds OR open";

/* The oldest queued run in scope (by id: the order they were made in), among the live runs. */
static const char sql_queue_wait[] =
    "WITH q AS (SELECT r.id, r.task_id, greatest(r.enqueued_at, r.not_before) AS since FROM live_runs l"
    "           JOIN task_runs r ON r.id = l.run_id JOIN tasks t ON t.id = r.task_id"
    "           WHERE r.status = 'queued' AND" TASK_SCOPE " ORDER BY l.run_id LIMIT 1)"
    " SELECT 'queue', coalesce((SELECT since <= now() - make_interval(secs => $7::bigint) FROM q), false),"
    IS_OPEN("'queue'") ", jsonb_strip_nulls(jsonb_build_object('durationS', $7::bigint, 'run', (SELECT"
    "   jsonb_build_object('id', id, 'task', task_id, 'waitingS', floor(extract(epoch FROM now() - since))) FROM q)))::text";

/* Each condition evaluated in SQL, and its statement. */
static const struct {
    const char *condition, *sql;
} alert_condition_sql[] = {{"run_failed", sql_run_failed},   {"failures_in_row", sql_failures_in_row},
                           {"slot_missed", sql_slot_missed}, {"no_success", sql_no_success},
                           {"credits_used", sql_credits_used}, {"queue_wait", sql_queue_wait}};

#endif
