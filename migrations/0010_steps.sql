-- SPDX-License-Identifier: MIT
-- Durable steps (docs/steps.md). An agent's run is a sequence of steps, each checkpointed as
-- it completes: on a new attempt the agent receives the completed ones and skips them. A step
-- is charged once, when it completes (a ledger row of its own); the run's final charge covers
-- only what no step covered. Before a costly step an agent may reserve its estimate.
CREATE TABLE run_steps (
    run_id            bigint NOT NULL REFERENCES task_runs (id) ON DELETE CASCADE,
    step_id           text NOT NULL CHECK (length(step_id) BETWEEN 1 AND 200),
    -- the order steps completed in (copied steps keep their original order)
    seq               integer NOT NULL CHECK (seq >= 1),
    -- reserved: credits set aside, not completed yet; completed; copied from an earlier run
    status            text NOT NULL CHECK (status IN ('reserved', 'completed', 'copied')),
    attempt           integer NOT NULL CHECK (attempt >= 1),
    output            jsonb CHECK (output IS NULL OR octet_length(output::text) <= 65536),
    prompt_tokens     bigint NOT NULL DEFAULT 0 CHECK (prompt_tokens >= 0),
    completion_tokens bigint NOT NULL DEFAULT 0 CHECK (completion_tokens >= 0),
    credits           bigint NOT NULL DEFAULT 0 CHECK (credits >= 0),
    credits_reserved  bigint NOT NULL DEFAULT 0 CHECK (credits_reserved >= 0),
    copied_from       bigint,
    started_at        timestamptz NOT NULL DEFAULT clock_timestamp(),
    finished_at       timestamptz,
    PRIMARY KEY (run_id, step_id)
);

-- What the run's steps cover: their tokens (part of prompt_tokens + completion_tokens) and
-- their credits (part of credits_charged, already in the ledger). credits_reserved holds the
-- start's estimate and every step reservation not yet settled. out_of_budget: a reservation
-- was refused for the user's month or the run's cap, so the run ends insufficient_credits.
-- credits_released: what was reserved when it last settled, released then (a settle reads the
-- reservation as the row is when locked, which only an assignment sees).
ALTER TABLE task_runs
    ADD COLUMN step_tokens bigint NOT NULL DEFAULT 0 CHECK (step_tokens >= 0),
    ADD COLUMN step_credits bigint NOT NULL DEFAULT 0 CHECK (step_credits >= 0),
    ADD COLUMN credits_released bigint NOT NULL DEFAULT 0 CHECK (credits_released >= 0),
    ADD COLUMN out_of_budget boolean NOT NULL DEFAULT false;

-- A step's charge: one ledger row per run and step, ever.
ALTER TABLE credit_ledger ADD COLUMN step_id text CHECK (step_id IS NULL OR length(step_id) BETWEEN 1 AND 200);
ALTER TABLE credit_ledger DROP CONSTRAINT credit_ledger_reason_check;
ALTER TABLE credit_ledger ADD CONSTRAINT credit_ledger_reason_check
    CHECK (reason IN ('charge', 'step', 'grant', 'allowance', 'period_reset', 'refund', 'adjustment'));
CREATE UNIQUE INDEX credit_ledger_one_charge_per_step ON credit_ledger (run_id, step_id) WHERE reason = 'step';

-- The key run tokens are signed with (HMAC-SHA256): made here, read by workers (which sign)
-- and orchestrators (which check), so no setting has to be shared by hand. 244 random bits (two version-4 UUIDs).
CREATE TABLE run_token_keys (
    id         integer PRIMARY KEY CHECK (id = 1),
    key        bytea NOT NULL CHECK (length(key) = 32),
    created_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO run_token_keys (id, key)
    VALUES (1, decode(replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', ''), 'hex'));
