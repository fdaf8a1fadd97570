/* SPDX-License-Identifier: MIT */
/* Retention of the run history (retention.h). Deletes, not partitions: see docs/history.md. */
#include "retention.h"

#include <inttypes.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOCK_KEY "7215392601" /* pg_advisory_lock key: agentcron retention */

/* The shortest retention in force ($1 RUN_RETENTION_DAYS, 0 none): no run newer than that goes,
 * so it bounds the index scans. NULL when nothing is to be removed at all. */
#define SHORTEST "(SELECT least(nullif($1::int, 0), min(retention_days)) FROM tasks)"
/* A run's or a row's retention: its task's, else the default. */
#define KEEP_DAYS "make_interval(days => coalesce(t.retention_days, nullif($1::int, 0)))"

/* Phase 0: runs past RUN_RETENTION_DAYS, oldest slot first (task_runs_slot: a run ends after
 * its slot), from where the last step stopped ($2 µs); a run that has not ended, or ended
 * since (a backfill of old slots), and a task that keeps its runs longer are passed over, once
 * per pass. */
static const char sql_default[] =
    "WITH doomed AS (SELECT r.id, r.scheduled_for FROM task_runs r JOIN tasks t ON t.id = r.task_id"
    "   WHERE r.scheduled_for < now() - make_interval(days => $1::int)"
    "   AND r.scheduled_for >= timestamptz 'epoch' + $2::bigint * interval '1 microsecond'"
    "   AND r.finished_at < now() - " KEEP_DAYS
    "   ORDER BY r.scheduled_for LIMIT $3::int FOR UPDATE OF r SKIP LOCKED),"
    " att AS (SELECT count(*) AS n FROM run_attempts WHERE run_id IN (SELECT id FROM doomed)),"
    " gone AS (DELETE FROM task_runs r USING doomed d WHERE r.id = d.id RETURNING r.scheduled_for)"
    " SELECT (SELECT count(*) FROM doomed), (SELECT n FROM att),"
    " coalesce((SELECT (extract(epoch FROM max(scheduled_for)) * 1000000)::bigint FROM gone), -1)";

/* Phase 1: runs of tasks whose own retention is shorter than the default ($2 batch). */
static const char sql_short[] =
    "WITH doomed AS (SELECT r.id FROM tasks t JOIN task_runs r ON r.task_id = t.id"
    "   WHERE t.retention_days IS NOT NULL AND ($1::int = 0 OR t.retention_days < $1::int)"
    "   AND r.scheduled_for < now() - make_interval(days => t.retention_days)"
    "   AND r.finished_at < now() - make_interval(days => t.retention_days)"
    "   LIMIT $2::int FOR UPDATE OF r SKIP LOCKED),"
    " att AS (SELECT count(*) AS n FROM run_attempts WHERE run_id IN (SELECT id FROM doomed)),"
    " gone AS (DELETE FROM task_runs r USING doomed d WHERE r.id = d.id RETURNING r.id)"
    " SELECT (SELECT count(*) FROM doomed), (SELECT n FROM att), -1";

/* Phase 2: slot-ledger rows, by when they were decided ($2 batch). */
static const char sql_gaps[] =
    "WITH doomed AS (SELECT g.id FROM slot_gaps g JOIN tasks t ON t.id = g.task_id"
    "   WHERE g.decided_at < now() - make_interval(days => " SHORTEST ")"
    "   AND g.decided_at < now() - " KEEP_DAYS " ORDER BY g.decided_at LIMIT $2::int),"
    " gone AS (DELETE FROM slot_gaps g USING doomed d WHERE g.id = d.id RETURNING g.id)"
    " SELECT (SELECT count(*) FROM gone), 0, -1";

static const char sql_preview[] =
    "SELECT (SELECT count(*) FROM task_runs r JOIN tasks t ON t.id = r.task_id"
    "        WHERE r.scheduled_for < now() - make_interval(days => " SHORTEST ")"
    "        AND r.finished_at < now() - " KEEP_DAYS "),"
    " (SELECT count(*) FROM run_attempts a JOIN task_runs r ON r.id = a.run_id JOIN tasks t ON t.id = r.task_id"
    "        WHERE r.scheduled_for < now() - make_interval(days => " SHORTEST ")"
    "        AND r.finished_at < now() - " KEEP_DAYS "),"
    " (SELECT count(*) FROM slot_gaps g JOIN tasks t ON t.id = g.task_id"
    "        WHERE g.decided_at < now() - make_interval(days => " SHORTEST ")"
    "        AND g.decided_at < now() - " KEEP_DAYS ")";

static int pg_fail(PGresult *r, const char *doing, char *err, size_t len)
{
    snprintf(err, len, "postgres: %s: %s", doing, PQresultErrorMessage(r));
    err[strcspn(err, "\n")] = 0;
    PQclear(r);
    return -1;
}

int retention_step(struct pg_conn *conn, int default_days, struct retention_pass *pass, char *err, size_t len)
{
    static const char *const sql[] = {sql_default, sql_short, sql_gaps};
    static const char *const doing[] = {"removing old runs", "removing old runs of tasks with a shorter retention",
                                        "removing old slot-ledger rows"};
    PGconn *pg = (PGconn *)conn;
    if (pass->phase == 0 && default_days <= 0)
        pass->phase = 1;
    if (pass->phase > 2)
        return 0;
    char days[16], after[24], batch[16];
    snprintf(days, sizeof days, "%d", default_days);
    snprintf(after, sizeof after, "%" PRId64, pass->after_us);
    snprintf(batch, sizeof batch, "%d", RETENTION_BATCH);
    const char *params[3] = {days, pass->phase == 0 ? after : batch, batch};
    PGresult *r = PQexecParams(pg, sql[pass->phase], pass->phase == 0 ? 3 : 2, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        return pg_fail(r, doing[pass->phase], err, len);
    const int64_t n = strtoll(PQgetvalue(r, 0, 0), NULL, 10), attempts = strtoll(PQgetvalue(r, 0, 1), NULL, 10);
    const int64_t last = strtoll(PQgetvalue(r, 0, 2), NULL, 10);
    PQclear(r);
    pass->steps++;
    if (pass->phase == 2)
        pass->removed.gaps += n;
    else
        pass->removed.runs += n, pass->removed.attempts += attempts;
    if (last >= 0)
        pass->after_us = last;
    if (n < RETENTION_BATCH) /* this kind is done */
        pass->phase++, pass->after_us = 0;
    return pass->phase > 2 ? 0 : 1;
}

int retention_preview(struct pg_conn *conn, int default_days, struct retention_counts *out, char *err, size_t len)
{
    PGconn *pg = (PGconn *)conn;
    char days[16];
    snprintf(days, sizeof days, "%d", default_days);
    const char *params[1] = {days};
    PGresult *r = PQexecParams(pg, sql_preview, 1, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        return pg_fail(r, "counting what retention would remove", err, len);
    out->runs = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    out->attempts = strtoll(PQgetvalue(r, 0, 1), NULL, 10);
    out->gaps = strtoll(PQgetvalue(r, 0, 2), NULL, 10);
    PQclear(r);
    return 0;
}

int retention_lock(struct pg_conn *conn, char *err, size_t len)
{
    PGresult *r = PQexec((PGconn *)conn, "SELECT pg_try_advisory_lock(" LOCK_KEY ")");
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        return pg_fail(r, "taking the retention lock", err, len);
    const int got = PQgetvalue(r, 0, 0)[0] == 't';
    PQclear(r);
    return got;
}

void retention_unlock(struct pg_conn *conn)
{
    PQclear(PQexec((PGconn *)conn, "SELECT pg_advisory_unlock(" LOCK_KEY ")"));
}
