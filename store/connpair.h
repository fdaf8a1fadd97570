/* SPDX-License-Identifier: MIT */
/* A Postgres and a Redis connection that one thread uses together (the orchestrator's
 * schedulers, the worker's lanes): opened on demand, dropped when broken, reopened on the next
 * use. Not thread-safe; one thread at a time. */
#ifndef AGENTCRON_CONNPAIR_H
#define AGENTCRON_CONNPAIR_H

#include <stddef.h>

struct pg_conn;
struct redisContext;

struct connpair {
    char *database_url, *redis_url;
    const char *application; /* Postgres application_name: a string that outlives the pair */
    int redis_timeout_ms;
    struct pg_conn *pg;      /* NULL until connpair_ensure */
    struct redisContext *redis;
    unsigned pg_sessions;    /* counts Postgres sessions opened: per-session state (prepared
                              * statements) is gone when it changes */
    unsigned prepared;       /* connpair_exec: bits of the statements prepared in session prepared_in */
    unsigned prepared_in;
};

/* Copies the URLs; connects nothing yet. -1 without memory. */
int connpair_init(struct connpair *c, const char *database_url, const char *redis_url, const char *application,
                  int redis_timeout_ms);

/* Closes both connections and frees the URLs. A zeroed pair is fine. */
void connpair_close(struct connpair *c);

/* Drops a broken connection and opens whatever is missing: 0, or -1 with a one-line *err that
 * names the URL (without its password). */
int connpair_ensure(struct connpair *c, char *err, size_t len);

/* Redis alone, opened (with timeout_ms for its commands) if it is not yet: for work that must
 * not wait on a Postgres that may be down. 0, or -1 with *err. */
int connpair_ensure_redis(struct connpair *c, int timeout_ms, char *err, size_t len);

/* Runs statement sql, prepared once per Postgres session as `name`: bit (0-31) of the pair's
 * `prepared` says it is, so its users choose distinct bits (core/steps.c: 0-7). Planning a
 * statement can cost more than running it. Returns the result (check its status), or NULL with
 * *err when it could not be prepared. */
struct pg_result;
struct pg_result *connpair_exec(struct connpair *c, unsigned bit, const char *name, const char *sql, int nparams,
                                const char *const *params, char *err, size_t len);

/* Drops the Redis connection if it is broken (redisconn_broken: failed, or closed by its
 * server), so the next ensure reconnects; ensure calls it first. */
void connpair_redis_failed(struct connpair *c);

#endif
