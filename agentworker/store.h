/* SPDX-License-Identifier: MIT */
/* The worker's side of Postgres and Redis: taking runs in (claim from the queue, mark them
 * running, apply the limits, reserve credits) and settling them (record, charge, release,
 * acknowledge), each a few round trips for a whole batch. Postgres is written before Redis,
 * so a crash in between leaves a finished run whose job comes back and is dropped as a
 * duplicate: a run is recorded exactly once.
 *
 * A store holds one Postgres and one Redis connection, (re)connected on demand; it is used by
 * one thread at a time (the worker runs it on libuv's thread pool). */
#ifndef AGENTCRON_STORE_H
#define AGENTCRON_STORE_H

#include <stddef.h>
#include <stdint.h>

struct agent_set;
struct step_answer;
struct step_report;

struct store;

/* A run this worker holds. */
struct store_run {
    int64_t id, task_id, user_id, scheduled_for_ms, timeout_ms;
    int64_t enqueued_ms; /* when the run was first queued, -1 unknown */
    int attempt, max_attempts, priority;
    int user_limit; /* the user's max_concurrent_runs, 0: none */
    int shard;      /* the queue shard its job was claimed from (shards.h) */
    char *title, *goal, *agent_type, *agent_config;
    char lease_token[96];
    int64_t reserved; /* credits reserved for it */
    int ends_now;     /* intake only: taken over with no attempt left, settled failed, not started */
    int has_steps;    /* intake only: it has completed steps, to read into steps_json */
    char *steps_json; /* its completed steps (steps.h) as a JSON array, or NULL: it has none */
};

struct store_intake {
    struct store_run *runs; /* count runs to execute, owned (store_intake_clear) */
    int count;
    int claimed;      /* jobs taken from the queue */
    int requeued;     /* runs of dead workers put back (their leases lapsed) */
    int dropped;      /* duplicate deliveries of finished or cancelled runs */
    int deferred;     /* over a user's concurrency or an agent's rate limit: back to wait */
    int insufficient; /* ended insufficient_credits */
    int64_t next_ready_ms; /* when the next delayed job is due, -1 none */
    unsigned char token_key[32]; /* what run tokens are signed with (steps.h) */
};

/* How a run ends, or goes back to the queue. */
struct store_outcome {
    int64_t id, user_id;
    const char *lease_token;
    int user_limit;
    int shard;           /* its run's (store_run.shard) */
    const char *status;  /* succeeded failed timed_out cancelled insufficient_credits, or retrying/queued */
    int64_t ready_at_ms; /* retrying/queued: when it may run again */
    int attempt_increment; /* 1 when a retry spends an attempt */
    int next_attempt;    /* the attempt number it will run as */
    int64_t prompt_tokens, completion_tokens;
    int64_t base_credits, tokens_per_credit; /* its charge; tokens_per_credit 0: free */
    int64_t reserved;    /* credits reserved for this attempt, released now */
    const char *error, *output, *stderr_tail; /* NULL: none (output/stderr: keep) */
    const char *retry_reason; /* back to the queue: backoff retry_after agent_missing drained */
    int http_status;     /* 0: none */
    int exit_code;       /* -1: none */
    int exit_signal;     /* 0: none */
    int64_t duration_ms; /* the attempt's, -1: it never started */
    int dead; /* failed for good: to the dead set */
};

/* worker names the lease owner in the queue (unique per process). NULL without memory. */
struct store *store_new(const char *database_url, const char *redis_url, const char *worker);
void store_free(struct store *s);

/* Claims up to max runs and readies them as described above. 0, or -1 with *err and out empty
 * (the claimed runs are handed back to the queue). */
int store_intake(struct store *s, const struct agent_set *agents, int max, int64_t lease_ms,
                 struct store_intake *out, char *err, size_t len);
void store_intake_clear(struct store_intake *in);
void store_run_clear(struct store_run *r);

/* Records count outcomes (one statement), then acknowledges, retries or buries the jobs of
 * those Postgres confirmed (one pipeline); a run it did not confirm (taken over, or its running
 * mark lost) keeps its job, which comes back when the lease lapses. 0, or -1 with *err
 * (nothing was recorded if Postgres failed: call again). */
int store_settle(struct store *s, const struct store_outcome *o, size_t count, char *err, size_t len);

/* Extends the leases (and user slots) of runs still executing. results[i]: QUEUE_LEASE_OK,
 * QUEUE_LEASE_CANCEL or QUEUE_LEASE_LOST. */
int store_renew(struct store *s, const struct store_run *const *runs, size_t count, int64_t lease_ms, int *results,
                char *err, size_t len);

/* A step operation of attempt of run_id (steps_record, steps_reserve) on this store's
 * connections. 0 with *out, or -1 with *err. */
int store_step_record(struct store *s, const struct agent_set *agents, int64_t run_id, int attempt,
                      const struct step_report *r, struct step_answer *out, char *err, size_t len);
int store_step_reserve(struct store *s, const struct agent_set *agents, int64_t run_id, int attempt, const char *step_id,
                       int64_t credits, int64_t at_least, struct step_answer *out, char *err, size_t len);

/* Blocks up to timeout_s for a wake-up from the queue. 1 woken, 0 timed out, -1 error. */
int store_wait(struct store *s, int timeout_s, char *err, size_t len);

/* Appends what running exec runs wrote to their Redis streams (queue.h, QUEUE_LOG_*), in one
 * pipeline, in the order given. 0, or -1 with *err (the bytes are lost to the live view; the
 * tails in Postgres are the record). */
struct livelog_chunk;
int store_stream_logs(struct store *s, const struct livelog_chunk *chunks, char *err, size_t len);

/* Removes the status document under key (on a clean stop); best effort. Blocking. */
void store_unpublish(struct store *s, const char *key);

/* Stores a status document under key for ttl_s seconds. */
int store_publish(struct store *s, const char *key, const char *json, int ttl_s, char *err, size_t len);

#endif
