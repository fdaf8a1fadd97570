-- SPDX-License-Identifier: MIT
-- What the agent workers need (design.md section 5).

-- Who holds a running run: the token of the worker's claim. The queue's lease is exclusive, so
-- a new claim (after a lease expired) takes the run over, and the old holder's late result,
-- which carries the old token, changes nothing.
ALTER TABLE task_runs ADD COLUMN lease_token text CHECK (lease_token IS NULL OR length(lease_token) <= 240);

-- The last 64 KiB of an exec run's stderr (its stdout is the output).
ALTER TABLE task_runs ADD COLUMN stderr_tail text CHECK (stderr_tail IS NULL OR length(stderr_tail) <= 65536);

-- Tokens are summed over a run's attempts; the run is charged once, when it ends.
COMMENT ON TABLE credit_ledger IS
    'Append-only. delta is the change to users.credits_used (charge > 0, refund < 0, period_reset '
    'brings it back to 0, adjustment either way), so credits_used = the sum of those rows; grant and '
    'allowance rows record changes to monthly_credits and are not part of that sum.';
