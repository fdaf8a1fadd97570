/* SPDX-License-Identifier: MIT */
#include "shards.h"

#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "redisconn.h"

#define SHARDS_TIMEOUT_MS 5000 /* connecting to another shard's node, and its commands */

static int fail(struct queue_error *err, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(struct queue_error *err, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    return code;
}

/* CRC-16/XMODEM (polynomial 0x1021, no reflection, start 0): Redis Cluster's key hash. */
static unsigned crc16(unsigned crc, const char *p, size_t n)
{
    while (n--) {
        crc ^= (unsigned)(unsigned char)*p++ << 8;
        for (int bit = 0; bit < 8; bit++)
            crc = (crc & 0x8000 ? crc << 1 ^ 0x1021 : crc << 1) & 0xffff;
    }
    return crc;
}

unsigned shards_key_slot(const char *key)
{
    const char *open = strchr(key, '{');
    const char *close = open ? strchr(open + 1, '}') : NULL;
    if (close && close > open + 1)
        return crc16(0, open + 1, (size_t)(close - open - 1)) % SHARDS_CLUSTER_SLOTS;
    return crc16(0, key, strlen(key)) % SHARDS_CLUSTER_SLOTS;
}

/* A tag "NAME-K-N" whose slot is target: N counts up from 0 (the CRC of "NAME-K-" is taken once).
 * 16,384 tries on average; the search is deterministic, so every process finds the same tag. */
static void find_tag(const char *name, int k, unsigned target, char tag[48])
{
    char prefix[33];
    const int plen = snprintf(prefix, sizeof prefix, "%s-%d-", name, k);
    const unsigned head = crc16(0, prefix, (size_t)plen);
    unsigned best = 0, best_gap = SHARDS_CLUSTER_SLOTS;
    for (unsigned n = 0; n < 4000000; n++) {
        char digits[12];
        const int dlen = snprintf(digits, sizeof digits, "%u", n);
        const unsigned slot = crc16(head, digits, (size_t)dlen) % SHARDS_CLUSTER_SLOTS;
        const unsigned gap = (slot - target + SHARDS_CLUSTER_SLOTS) % SHARDS_CLUSTER_SLOTS;
        if (gap < best_gap)
            best = n, best_gap = gap;
        if (gap == 0)
            break;
    }
    snprintf(tag, 48, "%s%u", prefix, best);
}

int shards_init(struct shards *s, const char *name, int count, const char *redis_url, struct queue_error *err)
{
    memset(s, 0, sizeof *s);
    snprintf(s->redis_url, sizeof s->redis_url, "%s", redis_url ? redis_url : "");
    if (count < 1 || count > SHARDS_MAX)
        return fail(err, AC_EINVAL, "QUEUE_SHARDS %d must be 1 to %d", count, SHARDS_MAX);
    if (strlen(name) > 16)
        return fail(err, AC_EINVAL, "queue name \"%.40s\" must be at most 16 characters", name);
    s->count = count;
    snprintf(s->tag[0], sizeof s->tag[0], "%s", name);
    if (queue_init(&s->q[0], name, err) != 0)
        return AC_EINVAL;
    char home[64];
    snprintf(home, sizeof home, "{%s}", name);
    const unsigned first = shards_key_slot(home);
    for (int k = 1; k < count; k++) {
        find_tag(name, k, (first + (unsigned)(k * SHARDS_CLUSTER_SLOTS / count)) % SHARDS_CLUSTER_SLOTS, s->tag[k]);
        if (queue_init(&s->q[k], s->tag[k], err) != 0)
            return AC_EINVAL;
    }
    return 0;
}

int shards_of(const struct shards *s, int64_t run_id)
{
    const int64_t k = run_id % s->count;
    return (int)(k < 0 ? k + s->count : k);
}

static struct shards deployment;
static pthread_once_t deployment_once = PTHREAD_ONCE_INIT;

static void one_shard(void)
{
    struct queue_error err;
    if (!deployment.count)
        shards_init(&deployment, "default", 1, "", &err);
}

void shards_use_config(const struct config *cfg)
{
    struct queue_error err;
    pthread_once(&deployment_once, one_shard);
    shards_init(&deployment, "default", cfg->queue_shards, cfg->redis_url, &err); /* config.c checked the count */
}

const struct shards *shards_deployment(void)
{
    pthread_once(&deployment_once, one_shard);
    return &deployment;
}

/* A thread's connections to the shards other than 0, each with the tag it was opened for. */
struct thread_conns {
    struct redisContext *c[SHARDS_MAX];
    char tag[SHARDS_MAX][48];
};
static pthread_key_t conns_key;
static pthread_once_t conns_once = PTHREAD_ONCE_INIT;

static void free_conns(void *p)
{
    struct thread_conns *t = p;
    for (int k = 0; k < SHARDS_MAX; k++)
        if (t->c[k])
            redisFree(t->c[k]);
    free(t);
}

static void make_key(void)
{
    pthread_key_create(&conns_key, free_conns);
}

struct redisContext *shards_conn(const struct shards *s, struct redisContext *home, int k, struct queue_error *err)
{
    if (k == 0) {
        if (!home || home->err)
            fail(err, AC_EIO, "redis: %s", home ? home->errstr : "not connected");
        return home && !home->err ? home : NULL;
    }
    pthread_once(&conns_once, make_key);
    struct thread_conns *t = pthread_getspecific(conns_key);
    if (!t && (!(t = calloc(1, sizeof *t)) || pthread_setspecific(conns_key, t) != 0)) {
        free(t);
        fail(err, AC_EIO, "out of memory for a connection to queue shard %d", k);
        return NULL;
    }
    if (t->c[k] && (redisconn_broken(t->c[k]) || strcmp(t->tag[k], s->tag[k]))) {
        redisFree(t->c[k]);
        t->c[k] = NULL;
    }
    if (!t->c[k]) {
        char why[256];
        if (!(t->c[k] = redisconn_open_for(s->redis_url, s->q[k].waiting, SHARDS_TIMEOUT_MS, why, sizeof why))) {
            fail(err, AC_EIO, "queue shard %d ({%s}): %s", k, s->tag[k], why);
            return NULL;
        }
        snprintf(t->tag[k], sizeof t->tag[k], "%s", s->tag[k]);
    }
    return t->c[k];
}

int shards_enqueue_many(const struct shards *s, struct redisContext *home, const struct queue_job *jobs,
                        const int64_t *ready_at_ms, size_t count, int64_t now_ms, size_t *added,
                        struct queue_error *err)
{
    *added = 0;
    if (s->count == 1) {
        struct redisContext *c = shards_conn(s, home, 0, err);
        return c ? queue_enqueue_many(&s->q[0], c, jobs, NULL, ready_at_ms, count, now_ms, added, err) : AC_EIO;
    }
    struct queue_job *part = malloc((count ? count : 1) * sizeof *part);
    int64_t *ready = malloc((count ? count : 1) * sizeof *ready);
    int rc = part && ready ? 0 : fail(err, AC_EINVAL, "out of memory enqueueing %zu runs", count);
    size_t first = 0; /* added to shard 0, whose enqueue woke the workers itself */
    for (int k = 0; k < s->count && rc == 0; k++) {
        size_t n = 0, got = 0;
        for (size_t i = 0; i < count; i++)
            if (shards_of(s, jobs[i].id) == k)
                part[n] = jobs[i], ready[n++] = ready_at_ms[i];
        struct redisContext *c = n ? shards_conn(s, home, k, err) : NULL;
        if (n)
            rc = c ? queue_enqueue_many(&s->q[k], c, part, NULL, ready, n, now_ms, &got, err) : AC_EIO;
        *added += got;
        if (k == 0)
            first = got;
    }
    if (rc == 0 && *added > first) { /* idle workers block on shard 0's wake-up list alone */
        struct redisContext *c = shards_conn(s, home, 0, err);
        rc = c ? queue_wake(&s->q[0], c, err) : AC_EIO;
    }
    free(part);
    free(ready);
    return rc;
}

/* Marks in live[] the jobs that shard k holds waiting, delayed or running, of those that do not
 * belong there: one pipelined round trip. */
static int live_in(const struct shards *s, struct redisContext *home, int k, const struct queue_job *jobs,
                   size_t count, char *live, struct queue_error *err)
{
    int64_t *ids = malloc((count ? count : 1) * sizeof *ids);
    size_t *at = malloc((count ? count : 1) * sizeof *at);
    char *present = malloc(count ? count : 1);
    struct redisContext *c = shards_conn(s, home, k, err);
    size_t n = 0;
    for (size_t i = 0; i < count; i++)
        if (shards_of(s, jobs[i].id) != k)
            at[n] = i, ids[n++] = jobs[i].id;
    int rc = !c ? AC_EIO : !ids || !at || !present ? fail(err, AC_EINVAL, "out of memory") : 0;
    if (rc == 0 && n)
        rc = queue_contains_many(&s->q[k], c, ids, n, present, err);
    for (size_t i = 0; i < n && rc == 0; i++)
        live[at[i]] |= present[i];
    free(ids), free(at), free(present);
    return rc;
}

int shards_enqueue_absent(const struct shards *s, struct redisContext *home, const struct queue_job *jobs,
                          const int64_t *ready_at_ms, size_t count, int64_t now_ms, size_t *added,
                          struct queue_error *err)
{
    if (s->count == 1)
        return shards_enqueue_many(s, home, jobs, ready_at_ms, count, now_ms, added, err);
    *added = 0;
    char *live = calloc(count ? count : 1, 1);
    struct queue_job *part = malloc((count ? count : 1) * sizeof *part);
    int64_t *ready = malloc((count ? count : 1) * sizeof *ready);
    int rc = live && part && ready ? 0 : fail(err, AC_EINVAL, "out of memory enqueueing %zu runs", count);
    for (int k = 0; k < s->count && rc == 0; k++)
        rc = live_in(s, home, k, jobs, count, live, err);
    size_t n = 0;
    for (size_t i = 0; i < count && rc == 0; i++)
        if (!live[i])
            part[n] = jobs[i], ready[n++] = ready_at_ms[i];
    if (rc == 0 && n)
        rc = shards_enqueue_many(s, home, part, ready, n, now_ms, added, err);
    free(live), free(part), free(ready);
    return rc;
}

int shards_claim(const struct shards *s, struct redisContext *home, unsigned *turn, const char *worker, int64_t lease_ms,
                 int64_t now_ms, struct queue_job *jobs, int max, struct queue_error *err)
{
    const int first = (int)(*turn % (unsigned)s->count);
    *turn = (unsigned)(first + 1) % (unsigned)s->count;
    int n = 0;
    for (int i = 0; i < s->count && n < max; i++) {
        const int k = (first + i) % s->count;
        struct redisContext *c = shards_conn(s, home, k, err);
        const int got = c ? queue_claim(&s->q[k], c, worker, lease_ms, now_ms, jobs + n, max - n, err) : AC_EIO;
        if (got < 0) {
            /* the jobs claimed already stay leased to this worker: hand them over rather than
             * let them wait out their leases */
            if (n)
                return n;
            return got;
        }
        for (int j = n; j < n + got; j++)
            jobs[j].shard = k;
        n += got;
    }
    return n;
}

int shards_end_many(const struct shards *s, struct redisContext *home, const struct queue_end *ends, size_t count,
                    const char *worker, int *results, struct queue_error *err)
{
    if (s->count == 1) {
        struct redisContext *c = count ? shards_conn(s, home, 0, err) : NULL;
        return !count ? 0 : c ? queue_end_many(&s->q[0], c, ends, count, worker, results, err) : AC_EIO;
    }
    struct queue_end *part = malloc((count ? count : 1) * sizeof *part);
    size_t *from = malloc((count ? count : 1) * sizeof *from);
    int *res = malloc((count ? count : 1) * sizeof *res);
    int rc = part && from && res ? 0 : fail(err, AC_EINVAL, "out of memory ending %zu jobs", count);
    for (size_t i = 0; i < count; i++)
        results[i] = 0; /* a shard beyond count (QUEUE_SHARDS lowered under a running worker): not there */
    for (int k = 0; k < s->count && rc == 0; k++) {
        size_t n = 0;
        for (size_t i = 0; i < count; i++)
            if (ends[i].shard == k)
                from[n] = i, part[n++] = ends[i];
        if (!n)
            continue;
        struct redisContext *c = shards_conn(s, home, k, err);
        rc = c ? queue_end_many(&s->q[k], c, part, n, worker, res, err) : AC_EIO;
        for (size_t i = 0; i < n && rc == 0; i++)
            results[from[i]] = res[i];
    }
    free(part), free(from), free(res);
    return rc;
}

int shards_renew_many(const struct shards *s, struct redisContext *home, const int64_t *ids, const int *of, size_t count,
                      const char *worker, int64_t deadline_ms, int *results, struct queue_error *err)
{
    int64_t *part = malloc((count ? count : 1) * sizeof *part);
    size_t *from = malloc((count ? count : 1) * sizeof *from);
    int *res = malloc((count ? count : 1) * sizeof *res);
    int rc = part && from && res ? 0 : fail(err, AC_EINVAL, "out of memory renewing %zu leases", count);
    for (size_t i = 0; i < count; i++)
        results[i] = QUEUE_LEASE_LOST;
    for (int k = 0; k < s->count && rc == 0; k++) {
        size_t n = 0;
        for (size_t i = 0; i < count; i++)
            if (of[i] == k)
                from[n] = i, part[n++] = ids[i];
        if (!n)
            continue;
        struct redisContext *c = shards_conn(s, home, k, err);
        rc = c ? queue_renew_many(&s->q[k], c, part, n, worker, deadline_ms, res, err) : AC_EIO;
        for (size_t i = 0; i < n && rc == 0; i++)
            results[from[i]] = res[i];
    }
    free(part), free(from), free(res);
    return rc;
}

int shards_promote(const struct shards *s, struct redisContext *home, int64_t now_ms, int max, int64_t *next_ready_ms,
                   struct queue_error *err)
{
    int moved = 0;
    *next_ready_ms = -1;
    for (int k = 0; k < s->count; k++) {
        int64_t next = -1;
        struct redisContext *c = shards_conn(s, home, k, err);
        const int n = c ? queue_promote(&s->q[k], c, now_ms, max, &next, err) : AC_EIO;
        if (n < 0)
            return n;
        moved += n;
        if (next >= 0 && (*next_ready_ms < 0 || next < *next_ready_ms))
            *next_ready_ms = next;
    }
    return moved;
}

int shards_requeue_expired(const struct shards *s, struct redisContext *home, int64_t now_ms, int64_t *ids, int max,
                           struct queue_error *err)
{
    int n = 0;
    for (int k = 0; k < s->count && n < max; k++) {
        struct redisContext *c = shards_conn(s, home, k, err);
        const int got = c ? queue_requeue_expired(&s->q[k], c, now_ms, ids + n, max - n, err) : AC_EIO;
        if (got < 0)
            return got;
        n += got;
    }
    return n;
}

int shards_cancel_requested(const struct shards *s, struct redisContext *home, int64_t id, struct queue_error *err)
{
    const int k = shards_of(s, id);
    struct redisContext *c = shards_conn(s, home, k, err);
    return c ? queue_cancel_requested(&s->q[k], c, id, err) : AC_EIO;
}

int shards_cancel(const struct shards *s, struct redisContext *home, int64_t id, struct queue_error *err)
{
    const int own = shards_of(s, id);
    for (int i = 0; i < s->count; i++) {
        const int k = (own + i) % s->count;
        struct redisContext *c = shards_conn(s, home, k, err);
        const int rc = c ? queue_cancel(&s->q[k], c, id, err) : AC_EIO;
        if (rc != QUEUE_CANCEL_NOT_FOUND)
            return rc;
    }
    return QUEUE_CANCEL_NOT_FOUND;
}

int shards_stats(const struct shards *s, struct redisContext *home, struct queue_stats *st, struct queue_error *err)
{
    memset(st, 0, sizeof *st);
    for (int k = 0; k < s->count; k++) {
        struct queue_stats one;
        memset(&one, 0, sizeof one);
        struct redisContext *c = shards_conn(s, home, k, err);
        const int rc = c ? queue_stats(&s->q[k], c, &one, err) : AC_EIO;
        if (rc)
            return rc;
        st->waiting += one.waiting, st->delayed += one.delayed, st->active += one.active, st->dead += one.dead;
        st->enqueued += one.enqueued, st->completed += one.completed, st->failed += one.failed;
        st->cancelled += one.cancelled, st->retried += one.retried, st->requeued += one.requeued;
    }
    return 0;
}
