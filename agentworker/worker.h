/* SPDX-License-Identifier: MIT */
/* The worker pool: up to `concurrency` runs at once on one libuv loop, fed from the Redis
 * queue and recorded in Postgres (docs/architecture.md). Used by agentcron-worker and, for a
 * one-box setup, inside the orchestrator (--workers N).
 *
 * The loop thread never waits on Postgres or Redis: taking runs in (two lanes), settling them
 * with lease renewals and the status report (two lanes) and waiting for work (one) run as jobs
 * on libuv's thread pool, each lane one job at a time with its own connections, each batching
 * whatever piled up while its previous job ran. Loop-thread only. */
#ifndef AGENTCRON_WORKER_H
#define AGENTCRON_WORKER_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct agent_set;
struct config;
struct worker_pool;

/* Starts a pool on loop. cfg and agents must outlive it; instance names it in the queue, logs
 * and status (unique per process). Ignores SIGPIPE for the whole process (children and servers
 * that hang up must not kill it). NULL with *err on failure. */
struct worker_pool *worker_pool_start(uv_loop_t *loop, const struct config *cfg, const struct agent_set *agents,
                                      const char *instance, int concurrency, char *err, size_t len);

/* Drains the pool: no new runs; running ones get SHUTDOWN_GRACE_S to finish, then are stopped
 * and returned to the queue without spending an attempt. on_stopped fires once everything is
 * recorded and every handle closed; the pool is freed after it returns. */
void worker_pool_stop(struct worker_pool *p, void (*on_stopped)(void *data), void *data);

/* Swaps in reloaded agent definitions and the env file's secrets (SIGHUP): runs that start from
 * now on use them; runs already started keep what they began with. The caller keeps the old set
 * and config alive until the pool has stopped (lanes may still read them). Loop-thread only. */
void worker_pool_reload(struct worker_pool *p, const struct agent_set *agents, const struct config *secrets);

/* Numbers since start, for the embedding daemon's own status. */
struct worker_counts {
    int64_t active, completed, failed, retried, cancelled;
    int64_t renewals; /* leases renewed (a run's lease, each renewal tick) */
};
void worker_pool_counts(const struct worker_pool *p, struct worker_counts *out);

#endif
