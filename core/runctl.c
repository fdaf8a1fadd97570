/* SPDX-License-Identifier: MIT */
/* Cancelling a run. Redis first: once a queued job is out of the queue no worker can claim it,
 * and its job hash (state cancelled) keeps reconciliation from queueing it again; then
 * Postgres, only from queued or retrying, so a run a worker claimed in between is left to that
 * worker, which the queue has meanwhile been told to stop. */
#include "runctl.h"

#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "queue.h"
#include "shards.h"
#include "runend.h"

static const char sql_run_status[] =
    "SELECT status FROM task_runs WHERE id = $1::bigint AND ($2::bigint = 0 OR user_id = $2::bigint)";
static const char sql_cancel_waiting[] =
    "WITH c AS (UPDATE task_runs r SET status = 'cancelled', finished_at = clock_timestamp(), lease_token = NULL,"
    " error = 'cancelled by request before it started'"
    " WHERE id = $1::bigint AND status IN ('queued', 'retrying') RETURNING" RUN_ENDED_COLUMNS "),"
    RUN_ENDED_CTES("c")
    " SELECT u_status FROM c";

static int pg_status(PGconn *pg, const char *sql, const char *const *params, int n, char status[32], char *err,
                     size_t len)
{
    PGresult *r = PQexecParams(pg, sql, n, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        snprintf(err, len, "postgres: %s", PQresultErrorMessage(r));
        err[strcspn(err, "\n")] = 0;
        PQclear(r);
        return -1;
    }
    const int found = PQntuples(r) == 1;
    if (found)
        snprintf(status, 32, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    return found;
}

int runctl_cancel(struct pg_conn *pg, redisContext *redis, int64_t id, int64_t user_id, char status[32], char *err,
                  size_t len)
{
    char ids[24], users[24];
    snprintf(ids, sizeof ids, "%" PRId64, id);
    snprintf(users, sizeof users, "%" PRId64, user_id > 0 ? user_id : 0);
    const char *params[2] = {ids, users};
    status[0] = 0;
    int rc = pg_status(pg, sql_run_status, params, 2, status, err, len);
    if (rc <= 0)
        return rc < 0 ? -1 : RUNCTL_NOT_FOUND;
    if (strcmp(status, "queued") && strcmp(status, "retrying") && strcmp(status, "running"))
        return RUNCTL_FINISHED;
    struct queue_error qerr;
    for (int attempt = 0; attempt < 2; attempt++) {
        if ((rc = shards_cancel(shards_deployment(), redis, id, &qerr)) < 0) {
            snprintf(err, len, "%s", qerr.message);
            return -1;
        }
        if (rc == QUEUE_CANCEL_SIGNALLED)
            return RUNCTL_STOPPING;
        rc = pg_status(pg, sql_cancel_waiting, params, 1, status, err, len);
        if (rc != 0)
            return rc < 0 ? -1 : RUNCTL_CANCELLED;
        /* not queued any more: a worker claimed it in between, or it ended */
        rc = pg_status(pg, sql_run_status, params, 2, status, err, len);
        if (rc < 0)
            return -1;
        if (strcmp(status, "running") != 0)
            return RUNCTL_FINISHED;
    }
    snprintf(err, len, "run %" PRId64 " is running but its job is not in the queue (Redis lost it?); the "
             "orchestrator's reconciliation puts it back within 30 s: cancel it again then", id);
    return -1;
}

static const char sql_trigger[] =
    "INSERT INTO task_runs (task_id, user_id, scheduled_for, trigger, priority, enqueued_at, agent)"
    " SELECT id, user_id, clock_timestamp(), $3, priority, clock_timestamp(), agent_type FROM tasks"
    " WHERE id = $1::bigint AND status <> 'deleted' AND ($2::bigint = 0 OR user_id = $2::bigint)"
    " RETURNING id, priority, (extract(epoch FROM scheduled_for) * 1000)::bigint";

int runctl_trigger(struct pg_conn *pg, redisContext *redis, int64_t task_id, int64_t user_id, const char *trigger,
                   int64_t *run_id, int64_t *at_ms, char *err, size_t len)
{
    char ids[24], users[24];
    snprintf(ids, sizeof ids, "%" PRId64, task_id);
    snprintf(users, sizeof users, "%" PRId64, user_id > 0 ? user_id : 0);
    const char *params[3] = {ids, users, trigger};
    PGresult *r = PQexecParams(pg, sql_trigger, 3, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        snprintf(err, len, "postgres: %s", PQresultErrorMessage(r));
        err[strcspn(err, "\n")] = 0;
        PQclear(r);
        return -1;
    }
    if (PQntuples(r) != 1) {
        PQclear(r);
        return RUNCTL_NOT_FOUND;
    }
    *run_id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    *at_ms = strtoll(PQgetvalue(r, 0, 2), NULL, 10);
    const int priority = atoi(PQgetvalue(r, 0, 1));
    PQclear(r);
    return runctl_enqueue(redis, *run_id, task_id, priority, *at_ms, err, len);
}

int runctl_enqueue(redisContext *redis, int64_t run_id, int64_t task_id, int priority, int64_t at_ms, char *err,
                   size_t len)
{
    const struct queue_job job = {.id = run_id, .task_id = task_id, .priority = priority, .attempt = 1};
    struct queue_error qerr;
    size_t added;
    if (shards_enqueue_many(shards_deployment(), redis, &job, &at_ms, 1, at_ms, &added, &qerr) != 0) {
        snprintf(err, len, "run %" PRId64 " is recorded but not queued (%s); the orchestrator's reconciliation"
                 " queues it within 30 s", job.id, qerr.message);
        return RUNCTL_NOT_QUEUED;
    }
    return RUNCTL_TRIGGERED;
}

int runctl_cancel_task(struct pg_conn *pg, redisContext *redis, int64_t task_id, int64_t user_id, int *cancelled,
                       int *stopping, char *err, size_t len)
{
    char ids[24];
    snprintf(ids, sizeof ids, "%" PRId64, task_id);
    const char *params[1] = {ids};
    PGresult *r = PQexecParams(pg,
                               "SELECT r.id FROM live_runs l JOIN task_runs r ON r.id = l.run_id"
                               " WHERE l.task_id = $1::bigint AND r.status IN ('queued', 'retrying', 'running')"
                               " ORDER BY r.id",
                               1, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        snprintf(err, len, "postgres: %s", PQresultErrorMessage(r));
        err[strcspn(err, "\n")] = 0;
        PQclear(r);
        return -1;
    }
    *cancelled = *stopping = 0;
    int rc = 0;
    char status[32];
    for (int i = 0; i < PQntuples(r) && rc == 0; i++) {
        const int one = runctl_cancel(pg, redis, strtoll(PQgetvalue(r, i, 0), NULL, 10), user_id, status, err, len);
        *cancelled += one == RUNCTL_CANCELLED, *stopping += one == RUNCTL_STOPPING;
        rc = one < 0 ? -1 : 0;
    }
    PQclear(r);
    return rc;
}
