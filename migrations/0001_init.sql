-- SPDX-License-Identifier: MIT
-- The initial schema (design.md section 2). Postgres is the source of truth; Redis holds
-- only what is in flight. Constraints keep bad data out even when a writer has a bug.

CREATE TABLE users (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email            text NOT NULL UNIQUE CHECK (length(email) BETWEEN 3 AND 320 AND position('@' IN email) > 1),
    plan             text NOT NULL DEFAULT 'free' CHECK (length(plan) BETWEEN 1 AND 64),
    monthly_credits  bigint NOT NULL DEFAULT 0 CHECK (monthly_credits >= 0),
    credits_used     bigint NOT NULL DEFAULT 0 CHECK (credits_used >= 0),
    credits_reserved bigint NOT NULL DEFAULT 0 CHECK (credits_reserved >= 0),
    max_concurrent_runs integer CHECK (max_concurrent_runs IS NULL OR max_concurrent_runs > 0),
    period_start     timestamptz NOT NULL DEFAULT date_trunc('month', now()),
    created_at       timestamptz NOT NULL DEFAULT now()
);

-- API keys are stored as the SHA-256 of the key, never the key; the prefix finds the row.
CREATE TABLE api_keys (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id     bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    prefix      text NOT NULL UNIQUE CHECK (length(prefix) BETWEEN 4 AND 32),
    key_sha256  bytea NOT NULL UNIQUE CHECK (length(key_sha256) = 32),
    name        text NOT NULL DEFAULT '' CHECK (length(name) <= 200),
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz
);
CREATE INDEX api_keys_user ON api_keys (user_id);

CREATE TABLE tasks (
    id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id            bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    title              text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    goal               text NOT NULL DEFAULT '' CHECK (length(goal) <= 20000),
    agent_type         text NOT NULL CHECK (length(agent_type) BETWEEN 1 AND 100),
    agent_config       jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(agent_config) = 'object'),
    priority           smallint NOT NULL DEFAULT 3 CHECK (priority BETWEEN 1 AND 4),
    -- cron text and IANA zone are validated with cronparse by every code path that writes them
    schedule           text CHECK (schedule IS NULL OR length(schedule) BETWEEN 1 AND 1024),
    schedule_enabled   boolean NOT NULL DEFAULT false,
    timezone           text NOT NULL DEFAULT 'UTC' CHECK (length(timezone) BETWEEN 1 AND 128),
    next_run_at        timestamptz,
    max_attempts       integer NOT NULL DEFAULT 3 CHECK (max_attempts BETWEEN 1 AND 100),
    timeout_ms         integer NOT NULL DEFAULT 300000 CHECK (timeout_ms BETWEEN 1000 AND 86400000),
    misfire_policy     text NOT NULL DEFAULT 'coalesce' CHECK (misfire_policy IN ('coalesce', 'skip', 'catch_up')),
    catch_up_window_ms bigint NOT NULL DEFAULT 3600000 CHECK (catch_up_window_ms BETWEEN 0 AND 31622400000),
    overlap_policy     text NOT NULL DEFAULT 'allow'
                       CHECK (overlap_policy IN ('allow', 'skip', 'queue_one', 'cancel_previous')),
    concurrency_key    text CHECK (concurrency_key IS NULL OR length(concurrency_key) BETWEEN 1 AND 200),
    jitter_ms          integer NOT NULL DEFAULT 0 CHECK (jitter_ms BETWEEN 0 AND 3600000),
    status             text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'paused', 'deleted')),
    -- slots that produced no run, by reason (counted by the orchestrator, shown by the CLI)
    missed_slots       bigint NOT NULL DEFAULT 0 CHECK (missed_slots >= 0),
    skipped_slots      bigint NOT NULL DEFAULT 0 CHECK (skipped_slots >= 0),
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    CHECK (NOT schedule_enabled OR (schedule IS NOT NULL AND next_run_at IS NOT NULL))
);
CREATE INDEX tasks_due ON tasks (next_run_at) WHERE schedule_enabled;
CREATE INDEX tasks_status_priority ON tasks (status, priority);
CREATE INDEX tasks_user ON tasks (user_id);

CREATE TABLE task_runs (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    task_id           bigint NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    user_id           bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- the schedule slot; with task_id, the key that makes a slot at most one run
    scheduled_for     timestamptz NOT NULL,
    trigger           text NOT NULL DEFAULT 'schedule' CHECK (trigger IN ('schedule', 'backfill', 'manual', 'api')),
    priority          smallint NOT NULL CHECK (priority BETWEEN 1 AND 4),
    attempt           integer NOT NULL DEFAULT 1 CHECK (attempt >= 1),
    status            text NOT NULL DEFAULT 'queued'
                      CHECK (status IN ('queued', 'running', 'retrying', 'succeeded', 'failed', 'timed_out',
                                        'cancelled', 'insufficient_credits')),
    not_before        timestamptz,  -- jitter: the run may not start earlier
    worker_id         text CHECK (worker_id IS NULL OR length(worker_id) <= 200),
    enqueued_at       timestamptz,
    started_at        timestamptz,
    finished_at       timestamptz,
    prompt_tokens     bigint NOT NULL DEFAULT 0 CHECK (prompt_tokens >= 0),
    completion_tokens bigint NOT NULL DEFAULT 0 CHECK (completion_tokens >= 0),
    credits_charged   bigint NOT NULL DEFAULT 0 CHECK (credits_charged >= 0),
    credits_reserved  bigint NOT NULL DEFAULT 0 CHECK (credits_reserved >= 0),
    error             text CHECK (error IS NULL OR length(error) <= 8192),
    output            text CHECK (output IS NULL OR length(output) <= 131072),
    created_at        timestamptz NOT NULL DEFAULT now(),
    UNIQUE (task_id, scheduled_for)
);
-- (A task's runs by time use the unique index on (task_id, scheduled_for), scanned backwards.)
CREATE INDEX task_runs_active ON task_runs (status, id) WHERE status IN ('queued', 'running', 'retrying');
CREATE INDEX task_runs_user_created ON task_runs (user_id, created_at);
CREATE INDEX task_runs_finished ON task_runs (finished_at) WHERE finished_at IS NOT NULL;

-- Append-only: users.credits_used always equals the sum of this period's charges.
CREATE TABLE credit_ledger (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id    bigint NOT NULL REFERENCES users (id) ON DELETE RESTRICT, -- history outlives nothing
    run_id     bigint REFERENCES task_runs (id) ON DELETE SET NULL,
    delta      bigint NOT NULL,
    reason     text NOT NULL CHECK (reason IN ('charge', 'grant', 'allowance', 'period_reset', 'refund', 'adjustment')),
    note       text CHECK (note IS NULL OR length(note) <= 1000),
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX credit_ledger_user ON credit_ledger (user_id, created_at);
CREATE UNIQUE INDEX credit_ledger_one_charge_per_run ON credit_ledger (run_id) WHERE reason = 'charge';

CREATE FUNCTION agentcron_forbid_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'credit_ledger is append-only: add a row with an opposite delta instead';
END $$;
-- Only the link to a deleted run may change (ON DELETE SET NULL); the accounting may not.
CREATE TRIGGER credit_ledger_append_only BEFORE UPDATE OF user_id, delta, reason, note, created_at OR DELETE
    ON credit_ledger FOR EACH ROW EXECUTE FUNCTION agentcron_forbid_change();

-- Wake orchestrators when tasks change (one notification per statement, not per row). The
-- orchestrator's own bookkeeping (advancing next_run_at) sets agentcron.quiet for its
-- transaction, so it does not wake every orchestrator once per batch.
CREATE FUNCTION agentcron_notify_tasks() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('agentcron.quiet', true) IS DISTINCT FROM 'on' THEN
        PERFORM pg_notify('agentcron_tasks', '');
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER tasks_notify AFTER INSERT OR UPDATE OR DELETE ON tasks
    FOR EACH STATEMENT EXECUTE FUNCTION agentcron_notify_tasks();
