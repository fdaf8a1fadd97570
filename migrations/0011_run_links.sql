-- SPDX-License-Identifier: MIT
-- The rows that hang off a run (its attempts, its live_runs entry, its charges in the ledger)
-- are unlinked when the run is deleted by one trigger per statement, instead of by foreign
-- keys. A foreign key checks every row inserted with a locking look-up of the run: on the
-- worker's path that was a fifth of the statement that settles runs (an attempt row for every
-- run), and on the scheduler's a look-up for every run created (its live_runs entry). Every
-- insert of these rows takes the run from a statement that reads or changes it, so the check
-- found nothing; deletions are rare (retention, a task or user deleted) and pay here instead.
ALTER TABLE run_attempts DROP CONSTRAINT run_attempts_run_id_fkey;
ALTER TABLE live_runs DROP CONSTRAINT live_runs_run_id_fkey;
ALTER TABLE credit_ledger DROP CONSTRAINT credit_ledger_run_id_fkey;

-- What the foreign keys did: attempts and live entries go with their run (ON DELETE CASCADE);
-- ledger rows stay, unlinked (ON DELETE SET NULL: the bill outlives the history).
CREATE FUNCTION agentcron_unlink_runs() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM run_attempts WHERE run_id IN (SELECT id FROM old_runs);
    DELETE FROM live_runs WHERE run_id IN (SELECT id FROM old_runs);
    UPDATE credit_ledger SET run_id = NULL WHERE run_id IN (SELECT id FROM old_runs);
    RETURN NULL;
END $$;
CREATE TRIGGER task_runs_unlink AFTER DELETE ON task_runs REFERENCING OLD TABLE AS old_runs
    FOR EACH STATEMENT EXECUTE FUNCTION agentcron_unlink_runs();
