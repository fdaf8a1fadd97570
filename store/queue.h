/* SPDX-License-Identifier: MIT */
/* The Redis priority queue of runs (docs/architecture.md): idempotent enqueue by run id,
 * priority order with FIFO inside a priority, a delayed set, leases that workers renew and
 * that return a dead worker's runs to the queue, a dead set, cancellation, counters and a
 * wake-up list for idle consumers. Every multi-step change is one Lua script
 * (queue_scripts.h). This is the synchronous transport over a hiredis redisContext.
 *
 * Times are ms since the epoch, passed in by the caller (so tests control the clock).
 * Functions return 0 (or the documented positive result) on success, or a negative
 * AC_E* code (errors.h) with a message in *err. A queue handle is immutable after queue_init and
 * may be shared; a redisContext may not be shared between threads. */
#ifndef AGENTCRON_QUEUE_H
#define AGENTCRON_QUEUE_H

#include <stddef.h>
#include <stdint.h>

#include "errors.h"

struct redisContext;

/* Failures (errors.h): AC_EIO, Redis unreachable or the connection broke (reconnect, retry);
 * AC_EREPLY, Redis answered with an error; AC_EINVAL, a bad argument (e.g. payload too large). */

#define QUEUE_MAX_PAYLOAD 65536
#define QUEUE_DONE_TTL_S 86400 /* finished jobs are remembered this long: enqueue stays idempotent */
/* A running exec run's output, streamed for `agentcron runs logs --follow`: a Redis stream of
 * entries {a: attempt, s: "out"|"err", d: bytes}, at most QUEUE_LOG_ENTRIES of at most
 * QUEUE_LOG_CHUNK bytes (the oldest go first), gone QUEUE_LOG_TTL_S after its last entry. The
 * tails stored in Postgres when the attempt ends are the record; this is only the live view. */
#define QUEUE_LOG_ENTRIES 256
#define QUEUE_LOG_CHUNK 16384
#define QUEUE_LOG_TTL_S 600

struct queue_error {
    char message[256];
};

/* One entry of a run's log stream, pointing into the reply it came from. */
struct queue_log_entry {
    const char *id;     /* the stream's entry id: read on after it */
    long long attempt;
    const char *stream; /* "out" or "err"; NULL for the attempt's end mark */
    const char *data;
    size_t len;
    int end;            /* the attempt's end mark */
};

/* Reads e, one element of an XREAD or XRANGE reply ([id, [field, value, ...]]), into *out: 0, or
 * -1 when it is not such an entry. */
struct redisReply;
int queue_log_entry(const struct redisReply *e, struct queue_log_entry *out);

/* Key names of one queue; all share the hash tag {name}. */
struct queue {
    char waiting[96], delayed[96], active[96], dead[96], seq[96], wake[96], counters[96], job_prefix[96];
    char log_prefix[96]; /* + run id: a stream of a running exec run's output (QUEUE_LOG_*) */
};

struct queue_job {
    int64_t id;      /* the run id: the idempotency key */
    int64_t task_id;
    int priority;    /* 1 (urgent) to 4 (low) */
    int attempt;
    int deliveries;  /* how many times it has been claimed */
    int lapsed;      /* its previous lease lapsed: the worker that had it died or hung */
    char *payload;   /* claimed jobs: owned by the job, free with queue_job_release */
    int shard;       /* the queue shard it was claimed from (shards.h); queue_claim sets 0 */
};

struct queue_stats {
    int64_t waiting, delayed, active, dead;
    int64_t enqueued, completed, failed, cancelled, retried, requeued;
};

/* Fills in the key names for queue `name` (letters, digits, '-' and '_', up to 32). */
int queue_init(struct queue *q, const char *name, struct queue_error *err);

/* Adds a job, ready at ready_at_ms (<= now_ms: at once). Returns 1 if added, 0 if its id was
 * already known (waiting, running, or finished within QUEUE_DONE_TTL_S). */
int queue_enqueue(const struct queue *q, struct redisContext *c, const struct queue_job *job,
                  const char *payload, int64_t ready_at_ms, int64_t now_ms, struct queue_error *err);

/* Enqueues count jobs in one pipelined round trip, each as queue_enqueue would (payloads[i]
 * may be NULL). Stores in *added how many were new; returns 0 or an error. */
int queue_enqueue_many(const struct queue *q, struct redisContext *c, const struct queue_job *jobs,
                       const char *const *payloads, const int64_t *ready_at_ms, size_t count, int64_t now_ms,
                       size_t *added, struct queue_error *err);

/* Claims up to max jobs (priority order) for worker, leased until now_ms + lease_ms.
 * Fills jobs[] and returns how many. */
int queue_claim(const struct queue *q, struct redisContext *c, const char *worker, int64_t lease_ms,
                int64_t now_ms, struct queue_job *jobs, int max, struct queue_error *err);
void queue_job_release(struct queue_job *job);

enum { QUEUE_LEASE_LOST = -100, QUEUE_LEASE_OK = 1, QUEUE_LEASE_CANCEL = 2 };
/* Extends worker's lease on job id to deadline_ms. QUEUE_LEASE_OK, QUEUE_LEASE_CANCEL (a
 * cancel was requested: stop the run), or QUEUE_LEASE_LOST (it was requeued or finished). */
int queue_renew(const struct queue *q, struct redisContext *c, int64_t id, const char *worker,
                int64_t deadline_ms, struct queue_error *err);

/* Ends a claimed job: outcome "completed", "failed" or "cancelled". 1, or 0 if the lease
 * was lost (nothing changed). */
int queue_ack(const struct queue *q, struct redisContext *c, int64_t id, const char *worker,
              const char *outcome, struct queue_error *err);

/* Puts a claimed job back for another attempt at ready_at_ms. 1, or 0 if the lease was lost. */
int queue_retry(const struct queue *q, struct redisContext *c, int64_t id, const char *worker,
                int64_t ready_at_ms, int attempt, struct queue_error *err);

/* Moves a claimed job to the dead set with a reason. 1, or 0 if the lease was lost. */
int queue_bury(const struct queue *q, struct redisContext *c, int64_t id, const char *worker, int64_t now_ms,
               const char *reason, struct queue_error *err);

/* Moves up to max due delayed jobs to waiting; returns how many, and stores the ready time
 * of the next delayed job (or -1) in *next_ready_ms. */
int queue_promote(const struct queue *q, struct redisContext *c, int64_t now_ms, int max, int64_t *next_ready_ms,
                  struct queue_error *err);

/* Returns up to max jobs whose lease expired to their place in waiting; stores their ids
 * (up to max) and returns how many. */
int queue_requeue_expired(const struct queue *q, struct redisContext *c, int64_t now_ms, int64_t *ids, int max,
                          struct queue_error *err);

enum { QUEUE_CANCEL_NOT_FOUND = 0, QUEUE_CANCEL_REMOVED = 1, QUEUE_CANCEL_SIGNALLED = 2 };
/* Cancels job id: removed if waiting or delayed, signalled to its worker if running. */
int queue_cancel(const struct queue *q, struct redisContext *c, int64_t id, struct queue_error *err);

/* Whether a cancel of running job id was requested (queue_cancel signalled it): 1 yes, 0 no,
 * or a negative error. */
int queue_cancel_requested(const struct queue *q, struct redisContext *c, int64_t id, struct queue_error *err);

/* Sizes of the sets and the counters. */
int queue_stats(const struct queue *q, struct redisContext *c, struct queue_stats *st, struct queue_error *err);

/* Blocks up to timeout_s (>= 1) for a wake-up (a job became ready). 1 woken, 0 timed out. */
int queue_wait(const struct queue *q, struct redisContext *c, int timeout_s, struct queue_error *err);

/* Whether id is waiting, delayed or running in the queue. (Reconciliation does not need it:
 * enqueueing is idempotent, so it simply enqueues every queued run again.) */
int queue_contains(const struct queue *q, struct redisContext *c, int64_t id, struct queue_error *err);

/* queue_contains for count ids in one pipelined round trip: present[i] is 1 or 0. 0 or an error. */
int queue_contains_many(const struct queue *q, struct redisContext *c, const int64_t *ids, size_t count, char *present,
                        struct queue_error *err);

/* Pushes one wake-up to q's list, as an enqueue into q does (for jobs queued in another queue
 * that idle consumers of q should look at: shards.h). */
int queue_wake(const struct queue *q, struct redisContext *c, struct queue_error *err);

/* ---- many at once, for workers: one pipelined round trip each ---- */

enum queue_end_kind { QUEUE_END_ACK, QUEUE_END_RETRY, QUEUE_END_BURY };
struct queue_end {
    int64_t id;
    enum queue_end_kind kind;
    const char *outcome;  /* ACK: completed, failed or cancelled */
    int64_t ready_at_ms;  /* RETRY */
    int attempt;          /* RETRY: the attempt it will be */
    int64_t now_ms;       /* BURY */
    const char *reason;   /* BURY */
    int shard;            /* shards_end_many: the shard the job was claimed from */
};

/* Ends count claimed jobs of worker as queue_ack, queue_retry or queue_bury would; results[i]
 * is 1, or 0 where the lease was lost. 0 or an error (then results are unset). */
int queue_end_many(const struct queue *q, struct redisContext *c, const struct queue_end *ends, size_t count,
                   const char *worker, int *results, struct queue_error *err);

/* Renews worker's leases on ids until deadline_ms; results[i] as queue_renew returns. */
int queue_renew_many(const struct queue *q, struct redisContext *c, const int64_t *ids, size_t count,
                     const char *worker, int64_t deadline_ms, int *results, struct queue_error *err);

/* ---- limits that hold across every worker ---- */

struct queue_admission {
    int64_t id, user_id;
    int user_limit;        /* the user's max_concurrent_runs; 0: no limit */
    const char *agent;     /* the agent's name, for its rate limit */
    int rate_max;          /* at most rate_max starts per rate_period_ms; 0: no limit */
    int64_t rate_period_ms;
};

/* Admits run a->id under its user's concurrency limit and its agent's rate limit: 1, or 0 with
 * *wait_ms, how long to wait before trying again. An admitted run holds a user slot until
 * lease_deadline_ms (extend it with queue_slot_hold while it runs). */
int queue_admit(const struct queue *q, struct redisContext *c, const struct queue_admission *a, int64_t now_ms,
                int64_t lease_deadline_ms, int64_t *wait_ms, struct queue_error *err);

/* Extends run id's user slot to deadline_ms, or (deadline_ms < 0) gives it back. */
int queue_slot_hold(const struct queue *q, struct redisContext *c, int64_t id, int64_t user_id, int64_t deadline_ms,
                    struct queue_error *err);

#endif
