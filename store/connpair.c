/* SPDX-License-Identifier: MIT */
#include "connpair.h"

#include <hiredis/hiredis.h>
#include <libpq-fe.h>
#include <stdlib.h>
#include <string.h>

#include "pgconn.h"
#include "redisconn.h"

int connpair_init(struct connpair *c, const char *database_url, const char *redis_url, const char *application,
                  int redis_timeout_ms)
{
    memset(c, 0, sizeof *c);
    c->application = application;
    c->redis_timeout_ms = redis_timeout_ms;
    if (!(c->database_url = strdup(database_url)) || !(c->redis_url = strdup(redis_url))) {
        connpair_close(c);
        return -1;
    }
    return 0;
}

void connpair_close(struct connpair *c)
{
    PQfinish(c->pg);
    if (c->redis)
        redisFree(c->redis);
    free(c->database_url);
    free(c->redis_url);
    c->pg = NULL, c->redis = NULL, c->database_url = c->redis_url = NULL;
}

int connpair_ensure(struct connpair *c, char *err, size_t len)
{
    if (c->pg && PQstatus(c->pg) != CONNECTION_OK) {
        PQfinish(c->pg);
        c->pg = NULL;
    }
    connpair_redis_failed(c);
    if (!c->pg) {
        if (!(c->pg = pgconn_open(c->database_url, c->application, err, len)))
            return -1;
        c->pg_sessions++;
    }
    if (!c->redis && !(c->redis = redisconn_open(c->redis_url, c->redis_timeout_ms, err, len)))
        return -1;
    return 0;
}

int connpair_ensure_redis(struct connpair *c, int timeout_ms, char *err, size_t len)
{
    connpair_redis_failed(c);
    if (!c->redis && !(c->redis = redisconn_open(c->redis_url, timeout_ms, err, len)))
        return -1;
    return 0;
}

struct pg_result *connpair_exec(struct connpair *c, unsigned bit, const char *name, const char *sql, int nparams,
                                const char *const *params, char *err, size_t len)
{
    if (c->prepared_in != c->pg_sessions) /* a new session knows none */
        c->prepared = 0, c->prepared_in = c->pg_sessions;
    if (!(c->prepared & (1u << bit))) {
        PGresult *p = PQprepare(c->pg, name, sql, nparams, NULL);
        const int ok = PQresultStatus(p) == PGRES_COMMAND_OK;
        if (!ok)
            pgconn_failed((struct pg_result *)p, (struct pg_conn *)c->pg, name, err, len);
        else
            PQclear(p);
        if (!ok)
            return NULL;
        c->prepared |= 1u << bit;
    }
    return (struct pg_result *)PQexecPrepared(c->pg, name, nparams, params, NULL, NULL, 0);
}

void connpair_redis_failed(struct connpair *c)
{
    if (c->redis && redisconn_broken(c->redis)) {
        redisFree(c->redis);
        c->redis = NULL;
    }
}
