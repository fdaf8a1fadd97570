/* SPDX-License-Identifier: MIT */
/* Idempotency keys for the task API's requests that create something (POST /api/agent/execute,
 * POST /api/tasks/{id}/trigger), as Stripe, Inngest and Trigger.dev clients send them: the same
 * key from the same user within 24 hours gets the first answer again, marked with
 * `Idempotent-Replayed: true`, instead of a second task or run; the same key with another
 * request is a 422; a retry that arrives while the first is still being answered is a 409.
 * Keys live in Postgres (migration 0005), so they hold across orchestrators and restarts; the
 * orchestrator's reconciliation forgets them after 24 hours. Blocking; one thread at a time per
 * connection. */
#ifndef AGENTCRON_IDEMPOTENCY_H
#define AGENTCRON_IDEMPOTENCY_H

#include <stddef.h>
#include <stdint.h>

struct api_response;
struct pg_conn;

#define IDEMPOTENCY_KEY_MAX 200

/* Whether key is acceptable: 1-200 printable ASCII characters. */
int idempotency_key_valid(const char *key);

/* Claims key for this request (its route and body). 0: go on, then call idempotency_finish with
 * the answer. 1: *out holds the answer already (the first one replayed, 409, 422, or 503 when
 * Postgres failed). */
int idempotency_claim(struct pg_conn *pg, int64_t user, const char *key, const char *route, const char *body,
                      size_t body_len, struct api_response *out);

/* Keeps a successful answer (2xx) for the key's replays, or lets the key go after a failure,
 * so that a retry does the work. Best effort: if Postgres fails here, a retry with the key
 * gets a 409 until the key expires. */
void idempotency_finish(struct pg_conn *pg, int64_t user, const char *key, const struct api_response *out);

#endif
