/* SPDX-License-Identifier: MIT */
/* Who is calling the API, and the dashboard's sign-in (docs/dashboard.md).
 *
 * A request proves who it is with an API key (`Authorization: Bearer ak_...`) or with the
 * session cookie a key was exchanged for (POST /api/session). A session's token is 32 random
 * bytes in an HttpOnly, SameSite=Strict cookie (Secure under HTTPS); only its SHA-256 is
 * stored. Every change made with the cookie must carry the session's CSRF token in
 * X-CSRF-Token: a value derived from the token, which only the signed-in page can read (GET
 * /api/session), compared in constant time. Requests with a bearer key need none: a browser
 * never sends one by itself.
 *
 * Every key or session makes at most SESSION_RATE_PER_S requests a second across every
 * orchestrator (a counter per key in Redis). Blocking: called on the API's lanes. */
#ifndef AGENTCRON_API_SESSION_H
#define AGENTCRON_API_SESSION_H

#include <stddef.h>
#include <stdint.h>

#include "response.h"

struct connpair;
struct http_req;

#define SESSION_COOKIE "agentcron_session"
#define SESSION_RATE_PER_S 50

struct principal {
    int64_t user;     /* the key's user */
    int64_t key;      /* the key's id */
    int operator;     /* an operator key: every user's tasks, runs, credits and keys */
    int via_session;  /* came with the session cookie */
    char prefix[16];  /* the key's prefix (its rate limit) */
    unsigned char session_sha256[32]; /* via_session: the token's digest */
};

/* The user whose data the principal may see: 0 (everyone) for an operator. */
static inline int64_t principal_scope(const struct principal *p)
{
    return p->operator ? 0 : p->user;
}

/* Authenticates req by its bearer key or session cookie (and, for a change made with the
 * cookie, its CSRF token), and counts it against the key's rate. 0 with *p, or -1 with *out
 * the answer (401, 403 for a missing or wrong CSRF token, 429, 503). */
int session_authenticate(struct connpair *c, const struct http_req *req, struct principal *p,
                         struct api_response *out);

/* POST /api/session {"apiKey": "ak_..."}: a new session for the key, ttl_s long; sets the
 * cookie (Secure when https) and answers as session_show. Does not need authentication. */
void session_sign_in(struct connpair *c, const struct http_req *req, int https, int ttl_s, struct api_response *out);

/* GET /api/session: who is signed in, with the CSRF token when it came with the cookie. */
void session_show(struct connpair *c, const struct http_req *req, const struct principal *p,
                  struct api_response *out);

/* DELETE /api/session: ends the cookie's session (revoked at once, for every orchestrator) and
 * clears the cookie. */
void session_sign_out(struct connpair *c, const struct principal *p, int https, struct api_response *out);

/* The CSRF token (64 hex digits and a NUL) of a session token. Pure: the fuzzer and tests. */
void session_csrf_of(const char *token, char out[65]);

/* The value of cookie name in a Cookie header ("a=1; b=2") into out (len bytes with its NUL):
 * 1 found, 0 absent, -1 too long. Pure. */
int session_cookie_get(const char *header, const char *name, char *out, size_t len);

#endif
