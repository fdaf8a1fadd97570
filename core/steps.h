/* SPDX-License-Identifier: MIT */
/* Durable steps of a run (docs/steps.md): an agent checkpoints each step as it completes, is
 * charged for it then, once, and may reserve a step's estimate first. On a new attempt it is
 * handed the completed steps and skips them. The worker (for exec and llm agents) and the API
 * (for http agents, which call back with a run token) share these functions.
 *
 * A run token is `act1.<run>.<attempt>.<expires, unix s>.<hex HMAC-SHA256>`, signed with the
 * key migration 0010 made (run_token_keys): scoped to one run and attempt, expiring with the
 * run's timeout. Each operation is one transaction that locks the run's row, then its user's.
 * Blocking; one connection, one thread at a time. */
#ifndef AGENTCRON_STEPS_H
#define AGENTCRON_STEPS_H

#include <stddef.h>
#include <stdint.h>

struct agent_set;
struct connpair;
struct json_t;
struct pg_conn;
struct redisContext;

#define STEP_ID_MAX 200        /* bytes of a step id */
#define STEP_ID_CHARS "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._:-_" /* what it is made of */
#define STEP_OUTPUT_MAX 65536  /* bytes of a step's output (JSON) */
#define RUN_TOKEN_MAX 128
#define RUN_TOKEN_KEY_LEN 32
#define STEPS_PER_RUN_MAX 1000 /* steps one run may record */

/* Reads the signing key. 0, or -1 with *err (migrations not applied: say so). */
int steps_token_key(struct pg_conn *pg, unsigned char key[RUN_TOKEN_KEY_LEN], char *err, size_t len);

/* A token for attempt of run_id, valid until expires_s (unix seconds). */
void steps_token_make(const unsigned char key[RUN_TOKEN_KEY_LEN], int64_t run_id, int attempt, int64_t expires_s,
                      char out[RUN_TOKEN_MAX]);

enum step_token_check { STEP_TOKEN_OK, STEP_TOKEN_MALFORMED, STEP_TOKEN_FORGED, STEP_TOKEN_OTHER_RUN, STEP_TOKEN_EXPIRED };
/* Checks token for run_id at now_s (constant-time comparison of the MAC). STEP_TOKEN_OK with
 * *attempt, or why it is refused. */
enum step_token_check steps_token_check(const unsigned char key[RUN_TOKEN_KEY_LEN], const char *token, int64_t run_id,
                                        int64_t now_s, int *attempt);

/* 1 if id is a valid step id (1-STEP_ID_MAX bytes of STEP_ID_CHARS), else 0 with
 * the reason in why. */
int steps_valid_id(const char *id, char *why, size_t len);

/* What a step operation came to. */
enum step_status {
    STEP_RECORDED,  /* completed and charged now */
    STEP_DUPLICATE, /* it was completed before: nothing changed (credits: its charge then) */
    STEP_GRANTED,   /* the reservation holds (credits: how many) */
    STEP_REFUSED,   /* reason: budget (the user's month), run_limit (max_credits_per_run), cancelled */
    STEP_GONE,      /* reason: not_found, finished (the run ended), superseded (a later attempt runs it) */
    STEP_INVALID,   /* the request itself is wrong: message says how */
};

struct step_answer {
    enum step_status status;
    char reason[32];
    int64_t credits;
    char message[400];
};

/* A completed step, as an agent reports it. */
struct step_report {
    const char *step_id;
    const char *output;   /* JSON text (at most STEP_OUTPUT_MAX bytes), or NULL */
    int64_t prompt_tokens, completion_tokens;
};

/* Records a completed step of attempt of run_id, exactly once: its row, a ledger row with its
 * charge (ceil(tokens / the agent's tokens_per_credit)), the user's credits_used, the run's
 * totals, and the release of its reservation. On c's Postgres connection (connected; its
 * statements prepared once a session). 0 with *out, or -1 with *err (Postgres). */
int steps_record(struct connpair *c, const struct agent_set *agents, int64_t run_id, int attempt,
                 const struct step_report *r, struct step_answer *out, char *err, size_t len);

/* Reserves up to `credits` (at least at_least, 1 <= at_least <= credits) before step step_id:
 * granted as much as the user's month and the run's max_credits_per_run leave, or refused, in
 * which case (budget, run_limit) the run is marked to end insufficient_credits. A run whose
 * cancel was requested (in c's Redis, if connected) is refused `cancelled`. 0 with *out, or -1. */
int steps_reserve(struct connpair *c, const struct agent_set *agents, int64_t run_id, int attempt,
                  const char *step_id, int64_t credits, int64_t at_least, struct step_answer *out, char *err,
                  size_t len);

/* The completed (and copied) steps of run_id in order, as the JSON array agents receive:
 * [{"id", "output", "promptTokens", "completionTokens", "credits", "attempt", "copiedFrom"?}].
 * For several runs at once: steps_completed_many. 0 with *out (a new reference), or -1. */
int steps_completed(struct pg_conn *pg, int64_t run_id, struct json_t **out, char *err, size_t len);

/* Every step of run_id, reserved ones too, for people (runs show, the API, the dashboard):
 * [{"id", "seq", "status", "attempt", "output", "promptTokens", "completionTokens", "credits",
 * "reserved", "startedAt", "finishedAt", "copiedFrom"}]. 0 with *out, or -1. */
int steps_list(struct pg_conn *pg, int64_t run_id, struct json_t **out, char *err, size_t len);

/* A new run of run_id's task whose steps before from_step are copied from run_id (status
 * copied, not charged again), queued now. scope > 0: only that user's runs. 0 with *new_run and
 * *copied; HISTORY_NOT_FOUND-like 1 (no such run, or its task is deleted); 2 (no completed step
 * from_step: *err lists the run's steps); -1 with *err. RUNCTL_NOT_QUEUED (10): recorded, not
 * queued (the orchestrator's reconciliation queues it). */
int steps_replay(struct pg_conn *pg, struct redisContext *redis, int64_t scope, int64_t run_id, const char *from_step,
                 int64_t *new_run, int *copied, char *err, size_t len);

#endif
