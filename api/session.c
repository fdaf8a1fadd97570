/* SPDX-License-Identifier: MIT */
/* API keys and dashboard sessions (see session.h). */
#include "session.h"

#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <mbedtls/sha256.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#include "accounts.h"
#include "connpair.h"
#include "redisconn.h"
#include "http_api.h"
#include "http_parse.h"
#include "timefmt.h"

static void hex_of(const unsigned char *bytes, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++)
        out[2 * i] = digits[bytes[i] >> 4], out[2 * i + 1] = digits[bytes[i] & 15];
    out[2 * n] = 0;
}

static void sha256_hex(const char *text, char out[65])
{
    unsigned char digest[32];
    mbedtls_sha256_ret((const unsigned char *)text, strlen(text), digest, 0);
    hex_of(digest, 32, out);
}

void session_csrf_of(const char *token, char out[65])
{
    char salted[128];
    snprintf(salted, sizeof salted, "agentcron-csrf:%.64s", token);
    sha256_hex(salted, out);
}

int session_cookie_get(const char *header, const char *name, char *out, size_t len)
{
    const size_t n = strlen(name);
    for (const char *p = header; p && *p;) {
        while (*p == ' ' || *p == '\t')
            p++;
        const char *end = strchr(p, ';');
        const size_t item = end ? (size_t)(end - p) : strlen(p);
        if (item > n && !strncmp(p, name, n) && p[n] == '=') {
            const size_t vlen = item - n - 1;
            if (vlen + 1 > len)
                return -1;
            memcpy(out, p + n + 1, vlen);
            out[vlen] = 0;
            return 1;
        }
        p = end ? end + 1 : NULL;
    }
    return 0;
}

/* The key's principal (accounts.h): 0, 1 when no such active key, -1 when Postgres failed. */
static int key_lookup(PGconn *pg, const char *key, struct principal *p)
{
    struct accounts_key k;
    char err[256];
    const int rc = accounts_key_verify((struct pg_conn *)pg, key, &k, err, sizeof err);
    if (rc == 0) {
        memset(p, 0, sizeof *p);
        p->user = k.user, p->key = k.id, p->operator = k.operator;
        snprintf(p->prefix, sizeof p->prefix, "%s", k.prefix);
    }
    return rc == 0 ? 0 : rc == ACCOUNTS_NOT_FOUND ? 1 : -1;
}

/* The session of a token: 0, 1 when none is active, -1 when Postgres failed. */
static int session_lookup(PGconn *pg, const char *token, struct principal *p)
{
    char hex[65];
    sha256_hex(token, hex);
    const char *params[1] = {hex};
    PGresult *r = PQexecParams(pg,
                               "SELECT k.user_id, k.id, k.operator, k.prefix FROM web_sessions s"
                               " JOIN api_keys k ON k.id = s.key_id WHERE s.token_sha256 = decode($1, 'hex')"
                               " AND s.revoked_at IS NULL AND s.expires_at > now() AND k.revoked_at IS NULL",
                               1, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        PQclear(r);
        return -1;
    }
    const int found = PQntuples(r) == 1;
    if (found) {
        memset(p, 0, sizeof *p);
        p->user = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
        p->key = strtoll(PQgetvalue(r, 0, 1), NULL, 10);
        p->operator = PQgetvalue(r, 0, 2)[0] == 't';
        p->via_session = 1;
        snprintf(p->prefix, sizeof p->prefix, "%s", PQgetvalue(r, 0, 3));
        mbedtls_sha256_ret((const unsigned char *)token, strlen(token), p->session_sha256, 0);
    }
    PQclear(r);
    return found ? 0 : 1;
}

/* A session token as the cookie carries it: 64 lowercase hex digits. */
static int token_wellformed(const char *t)
{
    if (strlen(t) != 64)
        return 0;
    for (; *t; t++)
        if (!((*t >= '0' && *t <= '9') || (*t >= 'a' && *t <= 'f')))
            return 0;
    return 1;
}

static int rate_limited(struct connpair *c, const char *prefix, struct api_response *out)
{
    redisReply *rr = redisconn_command(c->redis, "EVAL %s 1 agentcron:{default}:ratelimit:%s 1000",
                                  "local n = redis.call('INCR', KEYS[1]) if n == 1 then redis.call('PEXPIRE', KEYS[1],"
                                  " ARGV[1]) end return n",
                                  prefix);
    const long long n = rr && rr->type == REDIS_REPLY_INTEGER ? rr->integer : 0;
    freeReplyObject(rr);
    connpair_redis_failed(c);
    if (n <= SESSION_RATE_PER_S)
        return 0;
    api_error(out, 429, NULL, "more than %d requests a second with this key; slow down", SESSION_RATE_PER_S);
    snprintf(out->extra, sizeof out->extra, "Retry-After: 1\r\n");
    return 1;
}

static int unauthorized(struct api_response *out, const char *message)
{
    api_error(out, 401, NULL, "%s", message);
    snprintf(out->extra, sizeof out->extra, "WWW-Authenticate: Bearer realm=\"agentcron\"\r\n");
    return -1;
}

int session_authenticate(struct connpair *c, const struct http_req *req, struct principal *p,
                         struct api_response *out)
{
    const char *auth = http_req_header(req, "Authorization");
    const char *cookies = http_req_header(req, "Cookie");
    char token[72];
    int rc;
    if (auth) {
        if (strncasecmp(auth, "Bearer ", 7) != 0)
            return unauthorized(out, "wrong credentials: send Authorization: Bearer <API key>");
        rc = key_lookup(c->pg, auth + 7, p);
    } else if (cookies && session_cookie_get(cookies, SESSION_COOKIE, token, sizeof token) != 0) {
        if (!token_wellformed(token))
            return unauthorized(out, "the session cookie is malformed: sign in again");
        rc = session_lookup(c->pg, token, p);
        if (rc == 1)
            return unauthorized(out, "the session has ended (signed out, expired, or its key was revoked): sign in again");
        if (rc == 0 && strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0) {
            const char *sent = http_req_header(req, "X-CSRF-Token");
            char want[65];
            session_csrf_of(token, want);
            if (!sent || !api_secret_equal(sent, want)) {
                api_error(out, 403, NULL, "%s: a change made with the session cookie must carry the session's token in"
                          " X-CSRF-Token (GET /api/session gives it)", sent ? "wrong CSRF token" : "missing CSRF token");
                return -1;
            }
        }
    } else {
        return unauthorized(out, "missing credentials: send Authorization: Bearer <API key>, or sign in");
    }
    if (rc < 0) {
        api_db_error(out, c->pg);
        return -1;
    }
    if (rc > 0)
        return unauthorized(out, "wrong credentials");
    return rate_limited(c, p->prefix, out) ? -1 : 0;
}

static json_t *whoami(PGconn *pg, const struct principal *p, const char *token, int64_t expires_ms)
{
    char users[24];
    snprintf(users, sizeof users, "%" PRId64, p->user);
    const char *params[1] = {users};
    PGresult *r = PQexecParams(pg, "SELECT email FROM users WHERE id = $1::bigint", 1, NULL, params, NULL, NULL, 0);
    json_t *doc = json_pack("{s:{s:I, s:s}, s:s, s:I}", "user", "id", (json_int_t)p->user, "email",
                            PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 ? PQgetvalue(r, 0, 0) : "",
                            "role", p->operator ? "operator" : "user", "keyId", (json_int_t)p->key);
    PQclear(r);
    if (token) {
        char csrf[65];
        session_csrf_of(token, csrf);
        json_object_set_new(doc, "csrfToken", json_string(csrf));
    }
    if (expires_ms > 0) {
        char t[TIMEFMT_RFC3339_MAX];
        timefmt_rfc3339(expires_ms, 0, 1, t);
        json_object_set_new(doc, "expiresAt", json_string(t));
    }
    return doc;
}

void session_sign_in(struct connpair *c, const struct http_req *req, int https, int ttl_s, struct api_response *out)
{
    json_error_t jerr;
    json_t *body = json_loadb(req->body ? req->body : "", req->body_len, 0, &jerr);
    const char *key = body ? json_string_value(json_object_get(body, "apiKey")) : NULL;
    if (!key || json_object_size(body) != 1) {
        json_decref(body);
        api_error(out, 400, "apiKey", "send {\"apiKey\": \"ak_...\"}: the API key `agentcron keys create USER` printed");
        return;
    }
    struct principal p;
    const int rc = key_lookup(c->pg, key, &p);
    json_decref(body);
    if (rc < 0) {
        api_db_error(out, c->pg);
        return;
    }
    if (rc > 0) {
        api_error(out, 401, "apiKey", "wrong or revoked API key");
        return;
    }
    if (rate_limited(c, p.prefix, out))
        return;
    unsigned char raw[32];
    if (getrandom(raw, sizeof raw, 0) != sizeof raw) {
        api_error(out, 503, NULL, "cannot read random bytes for the session; try again");
        return;
    }
    char token[65], digest[65], keys[24], ttls[16];
    hex_of(raw, sizeof raw, token);
    sha256_hex(token, digest);
    snprintf(keys, sizeof keys, "%" PRId64, p.key);
    snprintf(ttls, sizeof ttls, "%d", ttl_s);
    const char *params[3] = {digest, keys, ttls};
    /* sessions long over are forgotten as new ones begin */
    PGresult *r = PQexecParams(c->pg,
                               "WITH old AS (DELETE FROM web_sessions WHERE expires_at < now() - interval '1 day')"
                               " INSERT INTO web_sessions (token_sha256, key_id, expires_at)"
                               " VALUES (decode($1, 'hex'), $2::bigint, now() + make_interval(secs => $3::int))"
                               " RETURNING (extract(epoch FROM expires_at) * 1000)::bigint",
                               3, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        PQclear(r);
        api_db_error(out, c->pg);
        return;
    }
    const int64_t expires = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    snprintf(out->extra, sizeof out->extra,
             "Set-Cookie: " SESSION_COOKIE "=%s; Path=/; Max-Age=%d; HttpOnly; SameSite=Strict%s\r\n",
             token, ttl_s, https ? "; Secure" : "");
    api_reply(out, 201, whoami(c->pg, &p, token, expires));
}

void session_show(struct connpair *c, const struct http_req *req, const struct principal *p, struct api_response *out)
{
    char token[72] = "";
    const char *cookies = http_req_header(req, "Cookie");
    if (p->via_session && cookies)
        session_cookie_get(cookies, SESSION_COOKIE, token, sizeof token);
    api_reply(out, 200, whoami(c->pg, p, p->via_session ? token : NULL, 0));
}

void session_sign_out(struct connpair *c, const struct principal *p, int https, struct api_response *out)
{
    if (!p->via_session) {
        api_error(out, 400, NULL, "no session to end: this request came with an API key (revoke the key instead)");
        return;
    }
    char hex[65];
    hex_of(p->session_sha256, 32, hex);
    const char *params[1] = {hex};
    PGresult *r = PQexecParams(c->pg,
                               "UPDATE web_sessions SET revoked_at = coalesce(revoked_at, now())"
                               " WHERE token_sha256 = decode($1, 'hex')",
                               1, NULL, params, NULL, NULL, 0);
    const int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    if (!ok) {
        api_db_error(out, c->pg);
        return;
    }
    snprintf(out->extra, sizeof out->extra,
             "Set-Cookie: " SESSION_COOKIE "=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict%s\r\n",
             https ? "; Secure" : "");
    api_reply(out, 200, json_pack("{s:b}", "signedOut", 1));
}
