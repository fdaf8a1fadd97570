/* SPDX-License-Identifier: MIT */
/* Users, their credits and their API keys, read and changed the same way by the CLI (`agentcron
 * users`, `agentcron keys`) and the API. Keys are 24 random bytes in base32 after "ak_"; only
 * their SHA-256 is stored, and the first 11 characters (the prefix) find the row. Every function
 * takes a scope where it matters: 0 for an operator (every user), else the only user it may
 * touch. 0 on success, ACCOUNTS_NOT_FOUND, or AC_EIO with *err when Postgres failed. Blocking. */
#ifndef AGENTCRON_ACCOUNTS_H
#define AGENTCRON_ACCOUNTS_H

#include <stddef.h>
#include <stdint.h>

struct json_t;
struct pg_conn;

#define ACCOUNTS_NOT_FOUND 1
#define ACCOUNTS_KEY_LEN 64 /* room for a key and its NUL */

/* The user named by email or id (within scope): {id, email, plan, monthlyCredits,
 * grantedCredits, creditsUsed, creditsReserved, maxConcurrentRuns, periodStart, tasks,
 * activeKeys}. */
int accounts_user(struct pg_conn *pg, const char *user, int64_t scope, struct json_t **out, char *err, size_t len);

/* Every user within scope, by id, as accounts_user gives each. */
int accounts_users(struct pg_conn *pg, int64_t scope, struct json_t **out, char *err, size_t len);

/* The user's credit ledger, newest first, at most limit rows: [{at, reason, delta, run, note}]. */
int accounts_ledger(struct pg_conn *pg, int64_t user_id, int limit, struct json_t **out, char *err, size_t len);

/* In one transaction: grant (credits for this period only) and/or allowance (the monthly
 * credits), each NULL to leave alone and else a decimal count, each a row of the ledger with
 * note (NULL: a default). */
int accounts_credits(struct pg_conn *pg, int64_t user_id, const char *grant, const char *allowance, const char *note,
                     char *err, size_t len);

/* What a key is, once verified. */
struct accounts_key {
    int64_t id, user;
    int operator;
    char prefix[16]; /* its rate limit's name */
};

/* The active key `key` (a bearer value as sent): found by its prefix, compared by SHA-256 in
 * constant time. 0 with *out, ACCOUNTS_NOT_FOUND for a malformed, unknown or revoked key, or
 * AC_EIO. */
int accounts_key_verify(struct pg_conn *pg, const char *key, struct accounts_key *out, char *err, size_t len);

/* A new key for user_id: the key (shown once) in key, its prefix in prefix (16 bytes), its id. */
int accounts_key_create(struct pg_conn *pg, int64_t user_id, const char *name, int operator,
                        char key[ACCOUNTS_KEY_LEN], char prefix[16], int64_t *id, char *err, size_t len);

/* The keys within scope, and of user (email or id) when not NULL, by id: [{id, prefix, name,
 * user, userId, role, createdAt, revokedAt}]. Never the key. */
int accounts_keys(struct pg_conn *pg, int64_t scope, const char *user, struct json_t **out, char *err, size_t len);

/* Revokes key id (within scope) at once; its prefix in prefix (40 bytes). Its sessions end. */
int accounts_key_revoke(struct pg_conn *pg, int64_t id, int64_t scope, char prefix[40], char *err, size_t len);

#endif
