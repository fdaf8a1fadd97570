-- SPDX-License-Identifier: MIT
-- Due tasks are claimed in (next_run_at, id) order, and each batch of a pass resumes after the
-- last task the previous one claimed (sched/schedule_sql.h: sql_claim_due). Every claim of a
-- burst (100,000 tasks due at one instant) began at the start of the index and stepped over
-- the entries of every task the pass had already advanced, all at the same next_run_at: the
-- id in the index lets the scan start after them.
DROP INDEX tasks_due;
CREATE INDEX tasks_due ON tasks (next_run_at, id) WHERE schedule_enabled;
