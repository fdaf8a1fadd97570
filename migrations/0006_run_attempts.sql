-- SPDX-License-Identifier: MIT
-- Every attempt of a run, as it ended: the run keeps only its last error, this keeps them all
-- (`agentcron runs show`). Written by the worker in the statement that settles the attempt, and
-- for an attempt whose worker died, by the worker that takes the run over. A run that succeeded
-- at its only attempt has no row: the run's own row says all of it (and costs no insert).
CREATE TABLE run_attempts (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id      bigint NOT NULL REFERENCES task_runs (id) ON DELETE CASCADE,
    attempt     integer NOT NULL,
    worker_id   text,
    started_at  timestamptz,
    finished_at timestamptz NOT NULL DEFAULT now(),
    -- what the run became: succeeded, failed, timed_out, cancelled, insufficient_credits, or
    -- retrying/queued (it goes on: retry_at says when), or lease_lost (its worker died)
    outcome     text NOT NULL,
    error       text,
    prompt_tokens     bigint NOT NULL DEFAULT 0,
    completion_tokens bigint NOT NULL DEFAULT 0,
    retry_at    timestamptz
);
CREATE INDEX run_attempts_run ON run_attempts (run_id, attempt);
