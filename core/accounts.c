/* SPDX-License-Identifier: MIT */
/* Users, credits and API keys (see accounts.h). */
#include "accounts.h"

#include <inttypes.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <mbedtls/sha256.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "errors.h"
#include "pgconn.h"
#include "timefmt.h"

static int64_t cell(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? -1 : strtoll(PQgetvalue(r, row, col), NULL, 10);
}

static const char *num(char buf[24], int64_t v)
{
    snprintf(buf, 24, "%" PRId64, v);
    return buf;
}

static int db_fail(PGresult *r, PGconn *pg, const char *what, char *err, size_t len)
{
    pgconn_failed(r, (struct pg_conn *)pg, what, err, len);
    return AC_EIO;
}

static json_t *time_or_null(int64_t ms)
{
    char t[TIMEFMT_RFC3339_MAX];
    if (ms < 0)
        return json_null();
    timefmt_rfc3339(ms, 0, 1, t);
    return json_string(t);
}

/* A key's SHA-256 as 64 hex digits: all that is stored of it. */
static void key_digest_hex(const char *key, char hex[65])
{
    unsigned char digest[32];
    mbedtls_sha256_ret((const unsigned char *)key, strlen(key), digest, 0);
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", digest[i]);
}

static const char sql_user[] =
    "SELECT id, email, plan, monthly_credits, granted_credits, credits_used, credits_reserved,"
    " coalesce(max_concurrent_runs, 0), (extract(epoch FROM period_start) * 1000)::bigint,"
    " (SELECT count(*) FROM tasks t WHERE t.user_id = u.id AND t.status <> 'deleted'),"
    " (SELECT count(*) FROM api_keys k WHERE k.user_id = u.id AND k.revoked_at IS NULL)"
    " FROM users u";

static json_t *user_json(const PGresult *r, int i)
{
    return json_pack("{s:I, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:o, s:I, s:I}", "id", (json_int_t)cell(r, i, 0),
                     "email", PQgetvalue(r, i, 1), "plan", PQgetvalue(r, i, 2), "monthlyCredits",
                     (json_int_t)cell(r, i, 3), "grantedCredits", (json_int_t)cell(r, i, 4), "creditsUsed",
                     (json_int_t)cell(r, i, 5), "creditsReserved", (json_int_t)cell(r, i, 6), "maxConcurrentRuns",
                     (json_int_t)cell(r, i, 7), "periodStart", time_or_null(cell(r, i, 8)), "tasks",
                     (json_int_t)cell(r, i, 9), "activeKeys", (json_int_t)cell(r, i, 10));
}

int accounts_user(struct pg_conn *conn, const char *user, int64_t scope, json_t **out, char *err, size_t len)
{
    PGconn *pg = (PGconn *)conn;
    char sql[1024], scopes[24];
    snprintf(sql, sizeof sql, "%s WHERE (email = $1 OR id::text = $1) AND ($2::bigint = 0 OR id = $2::bigint)", sql_user);
    const char *params[2] = {user, num(scopes, scope)};
    PGresult *r = PQexecParams(pg, sql, 2, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        return db_fail(r, pg, "reading the user", err, len);
    const int found = PQntuples(r) == 1;
    if (found)
        *out = user_json(r, 0);
    else
        snprintf(err, len, "no user \"%.200s\" (agentcron users list shows them)", user);
    PQclear(r);
    return found ? 0 : ACCOUNTS_NOT_FOUND;
}

int accounts_users(struct pg_conn *conn, int64_t scope, json_t **out, char *err, size_t len)
{
    PGconn *pg = (PGconn *)conn;
    char sql[1024], scopes[24];
    snprintf(sql, sizeof sql, "%s WHERE $1::bigint = 0 OR id = $1::bigint ORDER BY id", sql_user);
    const char *params[1] = {num(scopes, scope)};
    PGresult *r = PQexecParams(pg, sql, 1, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        return db_fail(r, pg, "listing users", err, len);
    *out = json_array();
    for (int i = 0; i < PQntuples(r); i++)
        json_array_append_new(*out, user_json(r, i));
    PQclear(r);
    return 0;
}

int accounts_ledger(struct pg_conn *conn, int64_t user_id, int limit, json_t **out, char *err, size_t len)
{
    PGconn *pg = (PGconn *)conn;
    char ids[24], lims[24];
    const char *params[2] = {num(ids, user_id), num(lims, limit)};
    PGresult *r = PQexecParams(pg,
                               "SELECT (extract(epoch FROM created_at) * 1000)::bigint, reason, delta, run_id,"
                               " coalesce(note, '') FROM credit_ledger WHERE user_id = $1::bigint"
                               " ORDER BY created_at DESC, id DESC LIMIT $2::int",
                               2, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        return db_fail(r, pg, "reading the ledger", err, len);
    *out = json_array();
    for (int i = 0; i < PQntuples(r); i++) {
        json_t *row = json_pack("{s:o, s:s, s:I, s:s}", "at", time_or_null(cell(r, i, 0)), "reason",
                                PQgetvalue(r, i, 1), "delta", (json_int_t)cell(r, i, 2), "note", PQgetvalue(r, i, 4));
        json_object_set_new(row, "run", PQgetisnull(r, i, 3) ? json_null() : json_integer(cell(r, i, 3)));
        json_array_append_new(*out, row);
    }
    PQclear(r);
    return 0;
}

static int exec_ok(PGconn *pg, const char *sql, int n, const char *const *params, const char *what, char *err,
                   size_t len)
{
    PGresult *r = PQexecParams(pg, sql, n, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
        return db_fail(r, pg, what, err, len);
    PQclear(r);
    return 0;
}

int accounts_credits(struct pg_conn *conn, int64_t user_id, const char *grant, const char *allowance, const char *note,
                     char *err, size_t len)
{
    PGconn *pg = (PGconn *)conn;
    char ids[24];
    num(ids, user_id);
    PQclear(PQexec(pg, "BEGIN"));
    int rc = 0;
    if (grant) {
        const char *params[3] = {ids, grant, note ? note : "granted for this period"};
        rc = exec_ok(pg,
                     "WITH u AS (UPDATE users SET granted_credits = granted_credits + $2::bigint WHERE id = $1::bigint)"
                     " INSERT INTO credit_ledger (user_id, delta, reason, note) VALUES ($1::bigint, $2::bigint, 'grant', $3)",
                     3, params, "granting credits", err, len);
    }
    if (!rc && allowance) {
        const char *params[3] = {ids, allowance, note ? note : "monthly allowance set"};
        rc = exec_ok(pg,
                     "WITH old AS (SELECT monthly_credits FROM users WHERE id = $1::bigint FOR UPDATE),"
                     " u AS (UPDATE users SET monthly_credits = $2::bigint WHERE id = $1::bigint)"
                     " INSERT INTO credit_ledger (user_id, delta, reason, note)"
                     " SELECT $1::bigint, $2::bigint - old.monthly_credits, 'allowance', $3 FROM old",
                     3, params, "setting the allowance", err, len);
    }
    PQclear(PQexec(pg, rc ? "ROLLBACK" : "COMMIT"));
    return rc;
}

int accounts_key_create(struct pg_conn *conn, int64_t user_id, const char *name, int operator,
                        char key[ACCOUNTS_KEY_LEN], char prefix[16], int64_t *id, char *err, size_t len)
{
    PGconn *pg = (PGconn *)conn;
    unsigned char raw[24];
    if (getrandom(raw, sizeof raw, 0) != (ssize_t)sizeof raw) {
        snprintf(err, len, "cannot read random bytes for the key");
        return AC_EFAIL;
    }
    static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz234567"; /* base32: 5 bits a character */
    strcpy(key, "ak_");
    for (size_t i = 0; i < sizeof raw * 8 / 5; i++) {
        const size_t bit = i * 5;
        const unsigned v = ((unsigned)raw[bit / 8] << 8 | (bit / 8 + 1 < sizeof raw ? raw[bit / 8 + 1] : 0)) >>
                           (11 - bit % 8) & 31;
        key[3 + i] = alphabet[v];
        key[4 + i] = 0;
    }
    char hex[65], ids[24];
    key_digest_hex(key, hex);
    snprintf(prefix, 16, "%.11s", key); /* "ak_" and 8 characters: finds the row */
    const char *params[5] = {num(ids, user_id), prefix, hex, name ? name : "", operator ? "true" : "false"};
    PGresult *r = PQexecParams(pg,
                               "INSERT INTO api_keys (user_id, prefix, key_sha256, name, operator)"
                               " VALUES ($1::bigint, $2, decode($3, 'hex'), $4, $5::boolean) RETURNING id",
                               5, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        return db_fail(r, pg, "storing the key", err, len);
    *id = cell(r, 0, 0);
    PQclear(r);
    return 0;
}

int accounts_key_verify(struct pg_conn *conn, const char *key, struct accounts_key *out, char *err, size_t len)
{
    PGconn *pg = (PGconn *)conn;
    snprintf(err, len, "wrong or revoked API key");
    if (strncmp(key, "ak_", 3) != 0 || strlen(key) < 12 || strlen(key) > 100)
        return ACCOUNTS_NOT_FOUND;
    char prefix[16];
    snprintf(prefix, sizeof prefix, "%.11s", key);
    const char *params[1] = {prefix};
    PGresult *r = PQexecParams(pg,
                               "SELECT user_id, encode(key_sha256, 'hex'), id, operator FROM api_keys"
                               " WHERE prefix = $1 AND revoked_at IS NULL",
                               1, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        return db_fail(r, pg, "finding the key", err, len);
    char hex[65];
    key_digest_hex(key, hex);
    const char *stored = PQntuples(r) == 1 ? PQgetvalue(r, 0, 1) : "";
    unsigned char diff = PQntuples(r) == 1 ? 0 : 1;
    for (int i = 0; i < 64; i++) /* constant time over the digest */
        diff |= (unsigned char)(hex[i] ^ (stored[0] ? stored[i] : 0));
    if (!diff) {
        out->user = cell(r, 0, 0), out->id = cell(r, 0, 2);
        out->operator = PQgetvalue(r, 0, 3)[0] == 't';
        snprintf(out->prefix, sizeof out->prefix, "%s", prefix);
    }
    PQclear(r);
    return diff ? ACCOUNTS_NOT_FOUND : 0;
}

int accounts_keys(struct pg_conn *conn, int64_t scope, const char *user, json_t **out, char *err, size_t len)
{
    PGconn *pg = (PGconn *)conn;
    char scopes[24];
    const char *params[2] = {user, num(scopes, scope)};
    PGresult *r = PQexecParams(pg,
                               "SELECT k.id, k.prefix, k.name, u.email, (extract(epoch FROM k.created_at) * 1000)::bigint,"
                               " coalesce((extract(epoch FROM k.revoked_at) * 1000)::bigint, -1), k.operator, u.id"
                               " FROM api_keys k JOIN users u ON u.id = k.user_id"
                               " WHERE ($1::text IS NULL OR u.email = $1 OR u.id::text = $1)"
                               " AND ($2::bigint = 0 OR u.id = $2::bigint) ORDER BY k.id",
                               2, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        return db_fail(r, pg, "listing keys", err, len);
    *out = json_array();
    for (int i = 0; i < PQntuples(r); i++)
        json_array_append_new(*out, json_pack("{s:I, s:s, s:s, s:s, s:I, s:s, s:o, s:o}", "id", (json_int_t)cell(r, i, 0),
                                              "prefix", PQgetvalue(r, i, 1), "name", PQgetvalue(r, i, 2), "user",
                                              PQgetvalue(r, i, 3), "userId", (json_int_t)cell(r, i, 7), "role",
                                              PQgetvalue(r, i, 6)[0] == 't' ? "operator" : "user", "createdAt",
                                              time_or_null(cell(r, i, 4)), "revokedAt", time_or_null(cell(r, i, 5))));
    PQclear(r);
    return 0;
}

int accounts_key_revoke(struct pg_conn *conn, int64_t id, int64_t scope, char prefix[40], char *err, size_t len)
{
    PGconn *pg = (PGconn *)conn;
    char ids[24], scopes[24];
    const char *params[2] = {num(ids, id), num(scopes, scope)};
    PGresult *r = PQexecParams(pg,
                               "UPDATE api_keys SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1::bigint"
                               " AND ($2::bigint = 0 OR user_id = $2::bigint) RETURNING prefix",
                               2, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        return db_fail(r, pg, "revoking the key", err, len);
    const int found = PQntuples(r) == 1;
    if (found)
        snprintf(prefix, 40, "%s", PQgetvalue(r, 0, 0));
    else
        snprintf(err, len, "no key %" PRId64 " (agentcron keys list shows them)", id);
    PQclear(r);
    return found ? 0 : ACCOUNTS_NOT_FOUND;
}
