-- SPDX-License-Identifier: MIT
-- Where a task came from, when something other than a person made it: 'import' for the tasks
-- `agentcron import` keeps in step with a vercel.json (its --prune deletes those the file no
-- longer lists, and only those). NULL: made by hand, through the CLI or the API.
ALTER TABLE tasks ADD COLUMN source text CHECK (source IS NULL OR length(source) BETWEEN 1 AND 100);
-- tasks imported before this column existed: their titles say so
UPDATE tasks SET source = 'import' WHERE title LIKE 'vercel cron %' AND agent_config ? 'path';
