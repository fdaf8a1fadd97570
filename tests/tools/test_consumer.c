/* SPDX-License-Identifier: MIT */
/* A stand-in for the agent workers (until they exist): claims runs from the queue, marks each
 * succeeded in Postgres (only from queued or retrying, as a worker must, so a duplicate
 * delivery is acknowledged and dropped), and acknowledges it. Exits after COUNT runs or
 * SECONDS. Usage: test_consumer COUNT SECONDS (DATABASE_URL and REDIS_URL from the environment) */
#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>

#include "pgconn.h"
#include "queue.h"
#include "redisconn.h"
#include "timefmt.h"
#include "runend.h"

int main(int argc, char **argv)
{
    if (argc != 3 || !getenv("DATABASE_URL") || !getenv("REDIS_URL")) {
        fprintf(stderr, "usage: DATABASE_URL=... REDIS_URL=... test_consumer COUNT SECONDS\n");
        return 2;
    }
    const long want = atol(argv[1]);
    const int64_t deadline = timefmt_now_ms() + atol(argv[2]) * 1000;
    char err[1024];
    PGconn *pg = pgconn_open(getenv("DATABASE_URL"), "agentcron-test-consumer", err, sizeof err);
    redisContext *redis = pg ? redisconn_open(getenv("REDIS_URL"), 5000, err, sizeof err) : NULL;
    struct queue q;
    struct queue_error qerr;
    if (!pg || !redis || queue_init(&q, "default", &qerr) != 0) {
        fprintf(stderr, "test_consumer: %s\n", err);
        return 1;
    }
    long done = 0, dropped = 0;
    while (done < want && timefmt_now_ms() < deadline) {
        struct queue_job jobs[64];
        int64_t next;
        queue_promote(&q, redis, timefmt_now_ms(), 1000, &next, &qerr);
        const int n = queue_claim(&q, redis, "test-consumer", 30000, timefmt_now_ms(), jobs, 64, &qerr);
        if (n < 0) {
            fprintf(stderr, "test_consumer: %s\n", qerr.message);
            return 1;
        }
        if (n == 0) {
            queue_wait(&q, redis, 1, &qerr);
            continue;
        }
        for (int i = 0; i < n; i++) {
            char id[24];
            snprintf(id, sizeof id, "%" PRId64, jobs[i].id);
            const char *params[1] = {id};
            /* a run ends as the worker ends it: with its usage counted (usage.h) */
            PGresult *r = PQexecParams(pg,
                                       "WITH c AS (UPDATE task_runs r SET status = 'succeeded', worker_id = 'test-consumer',"
                                       " started_at = clock_timestamp(), finished_at = clock_timestamp()"
                                       " WHERE id = $1::bigint AND status IN ('queued', 'retrying') RETURNING"
                                       RUN_ENDED_COLUMNS "), " RUN_ENDED_CTES("c") " SELECT count(*) FROM c",
                                       1, NULL, params, NULL, NULL, 0);
            const int updated = PQresultStatus(r) == PGRES_TUPLES_OK && atoi(PQgetvalue(r, 0, 0)) == 1;
            PQclear(r);
            updated ? done++ : dropped++;
            queue_ack(&q, redis, jobs[i].id, "test-consumer", "completed", &qerr);
            queue_job_release(&jobs[i]);
        }
    }
    printf("%ld completed, %ld dropped\n", done, dropped);
    redisFree(redis);
    PQfinish(pg);
    return done >= want ? 0 : 1;
}
