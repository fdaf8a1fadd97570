-- SPDX-License-Identifier: MIT
-- Alerts (docs/alerts.md). A rule watches a scope for a condition and tells a channel. While
-- the condition holds for a subject (a task, a user, the queue, the workers) there is one open
-- incident for the rule and that subject: it is announced once, repeated at most every
-- repeat_s, and announced again when it clears. Every message is a delivery row, sent by an
-- orchestrator and retried with backoff until it is sent or given up.
CREATE TABLE alert_rules (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name          text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    -- who made it: NULL for an operator's rule, else a user, whose rule sees only their tasks
    owner_user_id bigint REFERENCES users (id) ON DELETE CASCADE,
    scope         text NOT NULL CHECK (scope IN ('all', 'user', 'agent', 'task')),
    scope_user_id bigint REFERENCES users (id) ON DELETE CASCADE,
    scope_agent   text CHECK (scope_agent IS NULL OR length(scope_agent) BETWEEN 1 AND 100),
    scope_task_id bigint REFERENCES tasks (id) ON DELETE CASCADE,
    condition     text NOT NULL CHECK (condition IN ('run_failed', 'failures_in_row', 'slot_missed', 'no_success',
                                                     'credits_used', 'queue_wait', 'orchestrators_below',
                                                     'workers_below')),
    -- failures_in_row: N; credits_used: percent; orchestrators_below, workers_below: N
    threshold     bigint CHECK (threshold IS NULL OR threshold BETWEEN 1 AND 1000000),
    -- no_success, queue_wait: seconds
    duration_s    integer CHECK (duration_s IS NULL OR duration_s BETWEEN 1 AND 31622400),
    channel       text NOT NULL CHECK (channel IN ('webhook', 'slack', 'email')),
    target        text NOT NULL CHECK (length(target) BETWEEN 3 AND 2048),
    repeat_s      integer NOT NULL DEFAULT 3600 CHECK (repeat_s BETWEEN 60 AND 2592000),
    enabled       boolean NOT NULL DEFAULT true,
    -- run and slot events are read from here on (advanced by each evaluation)
    events_from   timestamptz NOT NULL DEFAULT now(),
    -- no_success looks at every task in scope: at most once a minute (or a quarter of its duration)
    checked_at    timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    CHECK ((scope = 'user') = (scope_user_id IS NOT NULL)),
    CHECK ((scope = 'agent') = (scope_agent IS NOT NULL)),
    CHECK ((scope = 'task') = (scope_task_id IS NOT NULL))
);
CREATE INDEX alert_rules_owner ON alert_rules (owner_user_id);

CREATE TABLE alert_incidents (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    rule_id          bigint NOT NULL REFERENCES alert_rules (id) ON DELETE CASCADE,
    subject          text NOT NULL CHECK (length(subject) BETWEEN 1 AND 200), -- task:7, user:3, queue, workers
    opened_at        timestamptz NOT NULL DEFAULT now(),
    last_notified_at timestamptz NOT NULL DEFAULT now(),
    notifications    integer NOT NULL DEFAULT 1,
    resolved_at      timestamptz,
    detail           jsonb NOT NULL DEFAULT '{}' -- what was last seen: the run, its error, the numbers
);
-- One open incident per rule and subject, whoever evaluates (several orchestrators).
CREATE UNIQUE INDEX alert_incidents_open ON alert_incidents (rule_id, subject) WHERE resolved_at IS NULL;
CREATE INDEX alert_incidents_rule ON alert_incidents (rule_id, opened_at);

CREATE TABLE alert_deliveries (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    rule_id         bigint NOT NULL REFERENCES alert_rules (id) ON DELETE CASCADE,
    incident_id     bigint REFERENCES alert_incidents (id) ON DELETE CASCADE, -- NULL: a test
    kind            text NOT NULL CHECK (kind IN ('firing', 'repeat', 'resolved', 'test')),
    payload         jsonb NOT NULL,
    status          text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed')),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error      text CHECK (last_error IS NULL OR length(last_error) <= 1000),
    sent_at         timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX alert_deliveries_due ON alert_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX alert_deliveries_rule ON alert_deliveries (rule_id, created_at);

-- The attempts that ended a run badly, by when: what run_failed and failures_in_row read each
-- pass. run_attempts is written once per attempt and never updated, so this costs only those
-- attempts' inserts (an index on task_runs would cost every run: its writes would no longer be
-- HOT updates).
CREATE INDEX run_attempts_ended_badly ON run_attempts (finished_at)
    WHERE outcome IN ('failed', 'timed_out', 'insufficient_credits');
