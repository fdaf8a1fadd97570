/* SPDX-License-Identifier: MIT */
/* agentcron's queue alone, as a worker pool uses it: N no-op jobs with random priorities 1-4
 * enqueued in batches, then drained by one consumer keeping at most C jobs in flight (claim a
 * batch, ack it in one pipeline). Prints JSON: jobs/s of the drain (and of enqueueing).
 * Usage: queue_bench REDIS_URL N C */
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>

#include "queue.h"
#include "redisconn.h"
#include "timefmt.h"

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: queue_bench REDIS_URL N CONCURRENCY\n");
        return 2;
    }
    const long n = atol(argv[2]);
    const int conc = atoi(argv[3]);
    char err[512];
    redisContext *c = redisconn_open(argv[1], 10000, err, sizeof err);
    struct queue q;
    struct queue_error qerr;
    if (!c || queue_init(&q, "bench", &qerr) != 0 || n <= 0 || conc <= 0 || conc > 1024) {
        fprintf(stderr, "queue_bench: %s\n", c ? "bad arguments" : err);
        return 1;
    }
    enum { CHUNK = 1000 };
    struct queue_job jobs[CHUNK];
    int64_t ready[CHUNK];
    srand(42);
    const int64_t t0 = timefmt_now_ms();
    for (long i = 0; i < n; i += CHUNK) {
        const size_t m = (size_t)(n - i < CHUNK ? n - i : CHUNK);
        for (size_t k = 0; k < m; k++) {
            jobs[k] = (struct queue_job){.id = i + (long)k + 1, .task_id = 1, .priority = 1 + rand() % 4, .attempt = 1};
            ready[k] = 0;
        }
        size_t added;
        if (queue_enqueue_many(&q, c, jobs, NULL, ready, m, timefmt_now_ms(), &added, &qerr) != 0) {
            fprintf(stderr, "queue_bench: %s\n", qerr.message);
            return 1;
        }
    }
    const int64_t t1 = timefmt_now_ms();
    long done = 0;
    struct queue_job *claimed = calloc((size_t)conc, sizeof *claimed);
    struct queue_end *ends = calloc((size_t)conc, sizeof *ends);
    int *results = calloc((size_t)conc, sizeof *results);
    while (done < n) {
        const int got = queue_claim(&q, c, "bench", 30000, timefmt_now_ms(), claimed, conc, &qerr);
        if (got <= 0) {
            fprintf(stderr, "queue_bench: claim: %s\n", got < 0 ? qerr.message : "queue ran dry");
            return 1;
        }
        for (int k = 0; k < got; k++) { /* the no-op runs */
            ends[k] = (struct queue_end){.id = claimed[k].id, .kind = QUEUE_END_ACK, .outcome = "completed"};
            queue_job_release(&claimed[k]);
        }
        if (queue_end_many(&q, c, ends, (size_t)got, "bench", results, &qerr) != 0) {
            fprintf(stderr, "queue_bench: ack: %s\n", qerr.message);
            return 1;
        }
        done += got;
    }
    const int64_t t2 = timefmt_now_ms();
    printf("{\"jobs\": %ld, \"seconds\": %.3f, \"jobs_per_s\": %.0f, \"enqueue_per_s\": %.0f}\n", n, (t2 - t1) / 1000.0,
           n * 1000.0 / (double)(t2 - t1 ? t2 - t1 : 1), n * 1000.0 / (double)(t1 - t0 ? t1 - t0 : 1));
    free(claimed), free(ends), free(results);
    redisFree(c);
    return 0;
}
