-- SPDX-License-Identifier: MIT
-- Idempotency keys of the task API (POST /api/agent/execute, POST /api/tasks/{id}/trigger): a
-- client that retries a request with the same Idempotency-Key within 24 hours gets the first
-- answer again instead of a second task or run. Kept here, not in one orchestrator's memory, so
-- that it holds across orchestrators and restarts. status NULL: the first request is still
-- being answered.
CREATE TABLE idempotency_keys (
    user_id     bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    key         text NOT NULL CHECK (length(key) BETWEEN 1 AND 200),
    request_sha256 bytea NOT NULL,      -- the route and body the key was first used with
    status      smallint,               -- the answer's HTTP status, once answered
    response    jsonb,                  -- and its body
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);
