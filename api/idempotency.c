/* SPDX-License-Identifier: MIT */
/* Idempotency keys (idempotency.h). A claim inserts the key's row first, with no answer yet:
 * the primary key makes one request of any number racing on any orchestrators the one that does
 * the work; the others find the row and answer from it. */
#include "idempotency.h"

#include <inttypes.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <mbedtls/sha256.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_tasks.h"

static const char sql_forget_expired[] =
    "DELETE FROM idempotency_keys WHERE user_id = $1::bigint AND key = $2 AND created_at < now() - interval '24 hours'";
static const char sql_claim[] =
    "INSERT INTO idempotency_keys (user_id, key, request_sha256) VALUES ($1::bigint, $2, decode($3, 'hex'))"
    " ON CONFLICT (user_id, key) DO NOTHING RETURNING 1";
static const char sql_read[] =
    "SELECT encode(request_sha256, 'hex'), status, response::text FROM idempotency_keys"
    " WHERE user_id = $1::bigint AND key = $2";
static const char sql_store[] =
    "UPDATE idempotency_keys SET status = $3::smallint, response = $4::jsonb WHERE user_id = $1::bigint AND key = $2";
static const char sql_release[] =
    "DELETE FROM idempotency_keys WHERE user_id = $1::bigint AND key = $2 AND status IS NULL";

int idempotency_key_valid(const char *key)
{
    const size_t n = strlen(key);
    if (n == 0 || n > IDEMPOTENCY_KEY_MAX)
        return 0;
    for (const unsigned char *p = (const unsigned char *)key; *p; p++)
        if (*p < 0x20 || *p > 0x7e)
            return 0;
    return 1;
}

static void answer(struct api_response *out, int status, const char *extra, const char *fmt, const char *key)
{
    char msg[400];
    snprintf(msg, sizeof msg, fmt, key);
    out->status = status;
    out->doc = json_pack("{s:s, s:s}", "error", msg, "field", "Idempotency-Key");
    snprintf(out->extra, sizeof out->extra, "%s", extra);
}

static void unavailable(struct api_response *out, PGconn *pg)
{
    char msg[300];
    snprintf(msg, sizeof msg, "the database is unavailable: %.200s", PQerrorMessage(pg));
    msg[strcspn(msg, "\n")] = 0;
    out->status = 503;
    out->doc = json_pack("{s:s}", "error", msg);
    snprintf(out->extra, sizeof out->extra, "Retry-After: 5\r\n");
}

static int exec_ok(PGconn *pg, const char *sql, int n, const char *const *params, ExecStatusType want, PGresult **res)
{
    PGresult *r = PQexecParams(pg, sql, n, NULL, params, NULL, NULL, 0);
    const int ok = PQresultStatus(r) == want;
    if (res && ok)
        *res = r;
    else
        PQclear(r);
    return ok;
}

int idempotency_claim(struct pg_conn *pg, int64_t user, const char *key, const char *route, const char *body,
                      size_t body_len, struct api_response *out)
{
    unsigned char digest[32];
    mbedtls_sha256_context ctx;
    mbedtls_sha256_init(&ctx);
    mbedtls_sha256_starts_ret(&ctx, 0);
    mbedtls_sha256_update_ret(&ctx, (const unsigned char *)route, strlen(route) + 1); /* its NUL separates */
    mbedtls_sha256_update_ret(&ctx, (const unsigned char *)(body ? body : ""), body ? body_len : 0);
    mbedtls_sha256_finish_ret(&ctx, digest);
    mbedtls_sha256_free(&ctx);
    char hex[65], users[24];
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", digest[i]);
    snprintf(users, sizeof users, "%" PRId64, user);
    const char *params[3] = {users, key, hex};
    PGresult *r = NULL;
    if (!exec_ok(pg, sql_forget_expired, 2, params, PGRES_COMMAND_OK, NULL) ||
        !exec_ok(pg, sql_claim, 3, params, PGRES_TUPLES_OK, &r)) {
        unavailable(out, pg);
        return 1;
    }
    const int claimed = PQntuples(r) == 1;
    PQclear(r);
    if (claimed)
        return 0;
    if (!exec_ok(pg, sql_read, 2, params, PGRES_TUPLES_OK, &r)) {
        unavailable(out, pg);
        return 1;
    }
    if (PQntuples(r) != 1) /* answered and let go meanwhile: this one may go on next time */
        answer(out, 409, "Retry-After: 1\r\n", "a request with Idempotency-Key \"%.200s\" just finished: retry", key);
    else if (strcmp(PQgetvalue(r, 0, 0), hex) != 0)
        answer(out, 422, "",
               "Idempotency-Key \"%.200s\" was used for another request in the last 24 hours: a new request needs "
               "a new key",
               key);
    else if (PQgetisnull(r, 0, 1))
        answer(out, 409, "Retry-After: 1\r\n",
               "a request with Idempotency-Key \"%.200s\" is still being answered: retry shortly", key);
    else {
        out->status = (int)strtol(PQgetvalue(r, 0, 1), NULL, 10);
        out->doc = json_loads(PQgetvalue(r, 0, 2), 0, NULL);
        snprintf(out->extra, sizeof out->extra, "Idempotent-Replayed: true\r\n");
    }
    PQclear(r);
    return 1;
}

void idempotency_finish(struct pg_conn *pg, int64_t user, const char *key, const struct api_response *out)
{
    char users[24], status[8];
    snprintf(users, sizeof users, "%" PRId64, user);
    snprintf(status, sizeof status, "%d", out->status);
    char *doc = out->status >= 200 && out->status < 300 && out->doc ? json_dumps(out->doc, JSON_COMPACT) : NULL;
    const char *params[4] = {users, key, status, doc};
    exec_ok(pg, doc ? sql_store : sql_release, doc ? 4 : 2, params, PGRES_COMMAND_OK, NULL);
    free(doc);
}
