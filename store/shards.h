/* SPDX-License-Identifier: MIT */
/* One deployment's queue spread over several queues, its shards (QUEUE_SHARDS,
 * docs/architecture.md). On Redis Cluster every key of a shard shares that shard's hash tag, so
 * distinct shards can live on distinct masters and the queue's work spreads over them. A run
 * goes to shard (run id mod count); workers claim from every shard, a different one first each
 * time, so priority order holds within a shard and no shard waits behind another. What must
 * hold across the deployment stays in shard 0, the queue "default" as it was before there were
 * shards: user and agent limits (queue_admit), the wake-up list idle workers block on, status
 * reports and live logs.
 *
 * Shard k's hash tag is chosen so that its slot lies k/count of the way round the 16,384 slots
 * from shard 0's. A cluster whose masters serve equal ranges of slots (what `redis-cli --cluster
 * create` makes) then serves count shards from count distinct masters when it has that many.
 *
 * Each function takes home, the caller's connection to shard 0's node (REDISCONN_HOME_KEY's: the
 * one every program already has). Connections to the other shards' nodes belong to the calling
 * thread: opened when first needed, reopened after they break, closed when the thread ends.
 * Results and failures are as queue.h's for one queue. */
#ifndef AGENTCRON_SHARDS_H
#define AGENTCRON_SHARDS_H

#include <stddef.h>
#include <stdint.h>

#include "queue.h"

#define SHARDS_MAX 16
#define SHARDS_CLUSTER_SLOTS 16384

struct redisContext;
struct config;

struct shards {
    int count;
    struct queue q[SHARDS_MAX];
    char tag[SHARDS_MAX][48]; /* shard k's hash tag (queue name) */
    char redis_url[1024];     /* where the other shards' nodes are found */
};

/* Names count (1 to SHARDS_MAX) shards of queue name (up to 16 characters; queue_init's rules),
 * found through redis_url. */
int shards_init(struct shards *s, const char *name, int count, const char *redis_url, struct queue_error *err);

/* The deployment's shards: queue "default" in QUEUE_SHARDS shards of REDIS_URL. Every program
 * calls shards_use_config once, before its threads start; until then there is one shard. */
void shards_use_config(const struct config *cfg);
const struct shards *shards_deployment(void);

/* The connection to shard k's node: home for shard 0, else the calling thread's own. NULL with
 * AC_EIO in *err when it cannot be opened. */
struct redisContext *shards_conn(const struct shards *s, struct redisContext *home, int k, struct queue_error *err);

/* The Redis Cluster slot of key: CRC16 of its hash tag ({...}) or of all of it, mod 16,384. */
unsigned shards_key_slot(const char *key);

/* The shard a run is enqueued in. */
int shards_of(const struct shards *s, int64_t run_id);

/* queue_enqueue_many over the shards, each job to its run's shard (no payloads). Idle workers
 * are woken through shard 0 when only other shards got new jobs. */
int shards_enqueue_many(const struct shards *s, struct redisContext *home, const struct queue_job *jobs,
                        const int64_t *ready_at_ms, size_t count, int64_t now_ms, size_t *added,
                        struct queue_error *err);

/* shards_enqueue_many for jobs that may be queued already: one that another shard holds
 * waiting, delayed or running is left there. QUEUE_SHARDS changed since it was enqueued, and a
 * second copy in its new shard would be a second delivery of a run already under way (a fresh
 * delivery of a running run means its previous holder lost it). For reconciliation. */
int shards_enqueue_absent(const struct shards *s, struct redisContext *home, const struct queue_job *jobs,
                          const int64_t *ready_at_ms, size_t count, int64_t now_ms, size_t *added,
                          struct queue_error *err);

/* queue_claim over the shards: up to max jobs, from shard *turn first and then the next ones
 * while jobs[] has room; *turn moves on by one each call. Each job's shard is set. */
int shards_claim(const struct shards *s, struct redisContext *home, unsigned *turn, const char *worker, int64_t lease_ms,
                 int64_t now_ms, struct queue_job *jobs, int max, struct queue_error *err);

/* queue_end_many, each end sent to ends[i].shard. */
int shards_end_many(const struct shards *s, struct redisContext *home, const struct queue_end *ends, size_t count,
                    const char *worker, int *results, struct queue_error *err);

/* queue_renew_many, ids[i] renewed in shard of[i]. */
int shards_renew_many(const struct shards *s, struct redisContext *home, const int64_t *ids, const int *of, size_t count,
                      const char *worker, int64_t deadline_ms, int *results, struct queue_error *err);

/* queue_promote in every shard: how many moved in all, *next_ready_ms the earliest (or -1). */
int shards_promote(const struct shards *s, struct redisContext *home, int64_t now_ms, int max, int64_t *next_ready_ms,
                   struct queue_error *err);

/* queue_requeue_expired in every shard, up to max ids in all. */
int shards_requeue_expired(const struct shards *s, struct redisContext *home, int64_t now_ms, int64_t *ids, int max,
                           struct queue_error *err);

/* queue_cancel_requested in the run's shard. */
int shards_cancel_requested(const struct shards *s, struct redisContext *home, int64_t id, struct queue_error *err);

/* queue_cancel in the run's shard, then (not found there: QUEUE_SHARDS changed since it was
 * enqueued) in the others. */
int shards_cancel(const struct shards *s, struct redisContext *home, int64_t id, struct queue_error *err);

/* queue_stats summed over the shards. */
int shards_stats(const struct shards *s, struct redisContext *home, struct queue_stats *st, struct queue_error *err);

#endif
