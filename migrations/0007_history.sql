-- SPDX-License-Identifier: MIT
-- Run history you can read and keep (docs/history.md): every attempt with what it did, the
-- slots that got no run and why, usage summaries kept as runs end, the agent a run ran with,
-- indexes for the filtered run lists, and a per-task retention.

-- ---- attempts: one row per attempt, with what it did ----
ALTER TABLE run_attempts
    ADD COLUMN http_status integer CHECK (http_status IS NULL OR http_status BETWEEN 100 AND 999),
    ADD COLUMN exit_code   integer,
    ADD COLUMN exit_signal integer,
    ADD COLUMN duration_ms bigint CHECK (duration_ms IS NULL OR duration_ms >= 0),
    -- why the run goes on later: backoff (the attempt failed), retry_after (a 429's
    -- Retry-After), agent_missing (the worker lacks the agent), drained (its worker stopped),
    -- lease_lost (its worker died)
    ADD COLUMN retry_reason text CHECK (retry_reason IS NULL OR retry_reason IN
        ('backoff', 'retry_after', 'agent_missing', 'drained', 'lease_lost')),
    -- the tails of an attempt that was not the run's last (the last one's are the run's own)
    ADD COLUMN output_tail text CHECK (output_tail IS NULL OR length(output_tail) <= 65536),
    ADD COLUMN stderr_tail text CHECK (stderr_tail IS NULL OR length(stderr_tail) <= 65536);
-- A row per attempt is on the worker's path: one index, not two (a run's attempts in order).
ALTER TABLE run_attempts DROP CONSTRAINT run_attempts_pkey, ADD PRIMARY KEY (run_id, id);
DROP INDEX run_attempts_run;
-- Runs that ended at their only attempt had no row: give each its row, so that every attempt
-- of every run is one (the runs keep theirs).
INSERT INTO run_attempts (run_id, attempt, worker_id, started_at, finished_at, outcome, error,
                          prompt_tokens, completion_tokens, duration_ms)
SELECT r.id, r.attempt, r.worker_id, r.started_at, r.finished_at, r.status, r.error,
       r.prompt_tokens - coalesce(a.p, 0), r.completion_tokens - coalesce(a.c, 0),
       CASE WHEN r.started_at IS NOT NULL THEN greatest(0, (extract(epoch FROM r.finished_at - r.started_at) * 1000)::bigint) END
FROM task_runs r
LEFT JOIN (SELECT run_id, sum(prompt_tokens) AS p, sum(completion_tokens) AS c FROM run_attempts GROUP BY run_id) a
       ON a.run_id = r.id
WHERE r.finished_at IS NOT NULL AND r.started_at IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM run_attempts x WHERE x.run_id = r.id AND x.attempt = r.attempt AND x.outcome = r.status);

-- ---- the agent a run ran with (a task's agent may change; its history does not) ----
ALTER TABLE task_runs ADD COLUMN agent text CHECK (agent IS NULL OR length(agent) BETWEEN 1 AND 100);
UPDATE task_runs r SET agent = t.agent_type FROM tasks t WHERE t.id = r.task_id AND r.agent IS NULL;

-- ---- the indexes of task_runs: lists newest slot first, paged by (scheduled_for, id) ----
-- A run's row is written three times: queued (insert), running, ended. No index names a column
-- the worker changes on the way (status, started_at, finished_at, worker_id, lease_token,
-- attempt, or error of a run that succeeds), so both its writes are HOT updates: no index
-- touched, the new version on the same page (fillfactor leaves room for it). Every index is paid
-- for once, on the insert. The live runs (not ended) are listed in live_runs instead.
ALTER TABLE task_runs SET (fillfactor = 80);
DROP INDEX task_runs_active;

-- A row per run not ended yet: inserted with the run (a trigger, whoever inserts it), removed in
-- the statement that ends it (core/runend.h) or by reconciliation. What the overlap policies,
-- reconciliation and the status numbers read.
CREATE TABLE live_runs (
    run_id  bigint PRIMARY KEY REFERENCES task_runs (id) ON DELETE CASCADE,
    task_id bigint NOT NULL
);
CREATE INDEX live_runs_task ON live_runs (task_id);
INSERT INTO live_runs (run_id, task_id) SELECT id, task_id FROM task_runs WHERE finished_at IS NULL;
CREATE FUNCTION agentcron_add_live_runs() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO live_runs (run_id, task_id) SELECT id, task_id FROM new_runs WHERE finished_at IS NULL;
    RETURN NULL;
END $$;
CREATE TRIGGER task_runs_live AFTER INSERT ON task_runs REFERENCING NEW TABLE AS new_runs
    FOR EACH STATEMENT EXECUTE FUNCTION agentcron_add_live_runs();
-- By task: the unique (task_id, scheduled_for). All runs, a time range, and a dense filter
-- (succeeded, an agent, trigger schedule) walk this one; it also serves retention, which read
-- task_runs_finished (dropped: today's numbers come from usage_daily now).
CREATE INDEX task_runs_slot ON task_runs (scheduled_for, id);
DROP INDEX task_runs_finished;
-- By user (replaces (user_id, created_at), which nothing read):
DROP INDEX task_runs_user_created;
CREATE INDEX task_runs_user_slot ON task_runs (user_id, scheduled_for, id);
-- By status: the live ones are in live_runs; the runs that did not succeed all carry an error,
-- and are rare, so a partial index costs only them (and a run being retried); succeeded is most
-- runs, found walking task_runs_slot.
UPDATE task_runs SET error = status
    WHERE finished_at IS NOT NULL AND status <> 'succeeded' AND error IS NULL;
CREATE INDEX task_runs_unsuccessful ON task_runs (scheduled_for, id) WHERE error IS NOT NULL;
-- A user's runs that did not succeed (what a dashboard shows first): walking the user's runs
-- for them reads 30 pages for every one shown.
CREATE INDEX task_runs_user_unsuccessful ON task_runs (user_id, scheduled_for, id) WHERE error IS NOT NULL;
-- By trigger: schedule is most runs; the others are rare.
CREATE INDEX task_runs_unscheduled ON task_runs (trigger, scheduled_for, id) WHERE trigger <> 'schedule';
-- ON DELETE SET NULL from task_runs looks up the ledger by run: without this, every run that
-- retention removes would scan the whole ledger.
CREATE INDEX credit_ledger_run ON credit_ledger (run_id) WHERE run_id IS NOT NULL;

-- ---- the slot ledger: slots that got no run, and why ----
-- A row covers the slots of one decision, first_slot..last_slot (count: how many; NULL where
-- it was not counted, a pause). Slots with a run are in task_runs; `agentcron tasks slots`
-- joins the two with the schedule.
CREATE TABLE slot_gaps (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    task_id     bigint NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    first_slot  timestamptz NOT NULL,
    last_slot   timestamptz NOT NULL,
    slots       bigint CHECK (slots IS NULL OR slots >= 1),
    reason      text NOT NULL CHECK (reason IN ('coalesced', 'misfire_skip', 'outside_catch_up_window', 'overlap_skip',
                                                'overlap_queue_one', 'overlap_cancel_previous', 'paused')),
    decided_at  timestamptz NOT NULL DEFAULT now(),
    CHECK (last_slot >= first_slot)
);
CREATE INDEX slot_gaps_task ON slot_gaps (task_id, last_slot);
CREATE INDEX slot_gaps_decided ON slot_gaps (decided_at);

-- ---- retention ----
-- NULL: RUN_RETENTION_DAYS.
ALTER TABLE tasks ADD COLUMN retention_days integer CHECK (retention_days IS NULL OR retention_days BETWEEN 1 AND 3650);

-- ---- usage summaries, kept as runs end ----
-- A run's duration in ms: its last attempt's, NULL if it never started.
CREATE FUNCTION agentcron_run_ms(started timestamptz, finished timestamptz) RETURNS bigint LANGUAGE sql IMMUTABLE
    PARALLEL SAFE AS $$ SELECT CASE WHEN started IS NOT NULL AND finished IS NOT NULL
                                    THEN greatest(0, (extract(epoch FROM finished - started) * 1000)::bigint) END $$;

-- Durations are counted in 20 buckets, for p95 without the runs; these are their lower bounds
-- in ms (1-2-5 steps; the last bucket is open): width_bucket(ms, agentcron_duration_buckets())
-- numbers them 1-20. core/usage.c reads them the same way.
CREATE FUNCTION agentcron_duration_buckets() RETURNS bigint[] LANGUAGE sql IMMUTABLE PARALLEL SAFE AS
$$ SELECT '{0,10,20,50,100,200,500,1000,2000,5000,10000,20000,50000,100000,200000,500000,1000000,2000000,5000000,10000000}'::bigint[] $$;

-- A row per task, agent, UTC day and writer: the runs that ended that day. Per user and per
-- agent are sums of these (a few hundred rows for a month, never the runs). Kept by the
-- statements that end runs, in the same statement (core/usage.h: USAGE_COUNT_CTE). shard is
-- the writer's (its backend's pid mod 16): two workers settling runs of one task at once do
-- not queue on one row lock.
CREATE TABLE usage_daily (
    day                  date NOT NULL,
    task_id              bigint NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    agent                text NOT NULL,
    shard                smallint NOT NULL DEFAULT 0,
    user_id              bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    succeeded            bigint NOT NULL DEFAULT 0,
    failed               bigint NOT NULL DEFAULT 0,
    timed_out            bigint NOT NULL DEFAULT 0,
    cancelled            bigint NOT NULL DEFAULT 0,
    insufficient_credits bigint NOT NULL DEFAULT 0,
    attempts             bigint NOT NULL DEFAULT 0,
    prompt_tokens        bigint NOT NULL DEFAULT 0,
    completion_tokens    bigint NOT NULL DEFAULT 0,
    credits              bigint NOT NULL DEFAULT 0,
    duration_ms          bigint NOT NULL DEFAULT 0,
    duration_hist        integer[] NOT NULL,
    PRIMARY KEY (task_id, day, agent, shard)
);
CREATE INDEX usage_daily_user ON usage_daily (user_id, day);
CREATE INDEX usage_daily_day ON usage_daily (day);

-- The runs that ended before this migration, so the summaries cover all history kept.
INSERT INTO usage_daily (day, task_id, agent, user_id, succeeded, failed, timed_out, cancelled, insufficient_credits,
                         attempts, prompt_tokens, completion_tokens, credits, duration_ms, duration_hist)
SELECT (r.finished_at AT TIME ZONE 'UTC')::date, r.task_id, coalesce(r.agent, ''), r.user_id,
       count(*) FILTER (WHERE r.status = 'succeeded'), count(*) FILTER (WHERE r.status = 'failed'),
       count(*) FILTER (WHERE r.status = 'timed_out'), count(*) FILTER (WHERE r.status = 'cancelled'),
       count(*) FILTER (WHERE r.status = 'insufficient_credits'), sum(r.attempt),
       sum(r.prompt_tokens), sum(r.completion_tokens), sum(r.credits_charged), coalesce(sum(r.ms), 0),
       (SELECT array_agg((SELECT count(*) FROM unnest(array_agg(r.b)) x WHERE x = i)::int ORDER BY i)
        FROM generate_series(1, 20) i)
FROM (SELECT *, agentcron_run_ms(started_at, finished_at) AS ms,
             width_bucket(agentcron_run_ms(started_at, finished_at), agentcron_duration_buckets()) AS b
      FROM task_runs) r
WHERE r.finished_at IS NOT NULL
  AND r.status IN ('succeeded', 'failed', 'timed_out', 'cancelled', 'insufficient_credits')
GROUP BY 1, 2, 3, 4;
