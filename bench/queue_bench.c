/* SPDX-License-Identifier: MIT */
/* agentcron's queue alone, as worker pools use it: N no-op jobs with random priorities 1-4
 * enqueued in batches, then drained by P consumers (threads, each with its own connections),
 * each keeping at most C jobs in flight (claim a batch, ack it in one pipeline). The queue may be
 * spread over S shards (store/shards.h; on Redis Cluster, over its masters). Prints JSON: jobs/s
 * of the drain (and of enqueueing).
 * Usage: queue_bench REDIS_URL N C [S [P]] (rediss:// with REDIS_TLS_CA_FILE and the like) */
#include <hiredis/hiredis.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "redis_tls.h"
#include "redisconn.h"
#include "shards.h"
#include "timefmt.h"

static struct shards shards;
static const char *url;
static int conc;
static long total;
static atomic_long done;

/* One consumer: claims and acknowledges until every job is done. */
static void *consume(void *arg)
{
    const unsigned first = (unsigned)(size_t)arg;
    char err[512];
    redisContext *home = redisconn_open_for(url, shards.q[0].waiting, 10000, err, sizeof err);
    struct queue_job *claimed = calloc((size_t)conc, sizeof *claimed);
    struct queue_end *ends = calloc((size_t)conc, sizeof *ends);
    int *results = calloc((size_t)conc, sizeof *results);
    if (!home || !claimed || !ends || !results) {
        fprintf(stderr, "queue_bench: %s\n", home ? "out of memory" : err);
        exit(1);
    }
    unsigned turn = first;
    struct queue_error qerr;
    while (atomic_load(&done) < total) {
        const int got = shards_claim(&shards, home, &turn, "bench", 30000, timefmt_now_ms(), claimed, conc, &qerr);
        if (got < 0) {
            fprintf(stderr, "queue_bench: claim: %s\n", qerr.message);
            exit(1);
        }
        for (int k = 0; k < got; k++) { /* the no-op runs */
            ends[k] = (struct queue_end){.id = claimed[k].id, .kind = QUEUE_END_ACK, .outcome = "completed",
                                         .shard = claimed[k].shard};
            queue_job_release(&claimed[k]);
        }
        if (got && shards_end_many(&shards, home, ends, (size_t)got, "bench", results, &qerr) != 0) {
            fprintf(stderr, "queue_bench: ack: %s\n", qerr.message);
            exit(1);
        }
        atomic_fetch_add(&done, got);
    }
    free(claimed), free(ends), free(results);
    redisFree(home);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 4 || argc > 6) {
        fprintf(stderr, "usage: queue_bench REDIS_URL N CONCURRENCY [SHARDS [CONSUMERS]]\n");
        return 2;
    }
    url = argv[1];
    total = atol(argv[2]);
    conc = atoi(argv[3]);
    const int nshards = argc > 4 ? atoi(argv[4]) : 1, consumers = argc > 5 ? atoi(argv[5]) : 1;
    struct queue_error qerr;
    if (total <= 0 || conc <= 0 || conc > 1024 || consumers < 1 || consumers > 64) {
        fprintf(stderr, "queue_bench: N and CONCURRENCY (1-1024) must be positive, CONSUMERS 1-64\n");
        return 2;
    }
    /* rediss:// as the daemons take it: REDIS_TLS_CA_FILE, REDIS_TLS_CERT_FILE, REDIS_TLS_KEY_FILE */
    redis_tls_files(getenv("REDIS_TLS_CA_FILE"), getenv("REDIS_TLS_CERT_FILE"), getenv("REDIS_TLS_KEY_FILE"));
    if (shards_init(&shards, "bench", nshards, url, &qerr) != 0) {
        fprintf(stderr, "queue_bench: %s\n", qerr.message);
        return 2;
    }
    char err[512];
    redisContext *home = redisconn_open_for(url, shards.q[0].waiting, 10000, err, sizeof err);
    if (!home) {
        fprintf(stderr, "queue_bench: %s\n", err);
        return 1;
    }
    enum { CHUNK = 1000 };
    struct queue_job jobs[CHUNK];
    int64_t ready[CHUNK];
    srand(42);
    const int64_t t0 = timefmt_now_ms();
    long added_all = 0;
    for (long i = 0; i < total; i += CHUNK) {
        const size_t m = (size_t)(total - i < CHUNK ? total - i : CHUNK);
        for (size_t k = 0; k < m; k++) {
            jobs[k] = (struct queue_job){.id = i + (long)k + 1, .task_id = 1, .priority = 1 + rand() % 4, .attempt = 1};
            ready[k] = 0;
        }
        size_t added;
        if (shards_enqueue_many(&shards, home, jobs, ready, m, timefmt_now_ms(), &added, &qerr) != 0) {
            fprintf(stderr, "queue_bench: %s\n", qerr.message);
            return 1;
        }
        added_all += (long)added;
    }
    if (added_all != total) {
        fprintf(stderr, "queue_bench: %ld of the jobs were in the queue already: run it on an empty database\n",
                total - added_all);
        return 1;
    }
    const int64_t t1 = timefmt_now_ms();
    pthread_t threads[64];
    for (int i = 0; i < consumers; i++)
        pthread_create(&threads[i], NULL, consume, (void *)(size_t)i);
    for (int i = 0; i < consumers; i++)
        pthread_join(threads[i], NULL);
    const int64_t t2 = timefmt_now_ms();
    printf("{\"jobs\": %ld, \"shards\": %d, \"consumers\": %d, \"seconds\": %.3f, \"jobs_per_s\": %.0f, "
           "\"enqueue_per_s\": %.0f}\n",
           total, nshards, consumers, (t2 - t1) / 1000.0, total * 1000.0 / (double)(t2 - t1 ? t2 - t1 : 1),
           total * 1000.0 / (double)(t1 - t0 ? t1 - t0 : 1));
    redisFree(home);
    return 0;
}
