/* SPDX-License-Identifier: MIT */
/* The queue's synchronous transport: each operation runs one Lua script with EVALSHA (the
 * SHA-1 of each script is computed once, in queue_init), loading the script when Redis says
 * NOSCRIPT, as it does after a restart or a SCRIPT FLUSH. hiredis errors become AC_E*
 * codes here and nowhere else. */
#include "queue.h"

#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <mbedtls/sha1.h>
#include <pthread.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "queue_scripts.h"
#include "redisconn.h"

enum script {
    S_ENQUEUE, S_ENQUEUE_BATCH, S_CLAIM, S_RENEW, S_ACK, S_ACK_MANY, S_RETRY, S_BURY, S_PROMOTE, S_REQUEUE, S_CANCEL,
    S_ADMIT, S_COUNT
};

static const char *const script_text[S_COUNT] = {
    lua_enqueue, lua_enqueue_batch, lua_claim, lua_renew, lua_ack, lua_ack_many, lua_retry, lua_bury, lua_promote,
    lua_requeue_expired, lua_cancel, lua_admit,
};

/* SHA-1 hex of each script: what EVALSHA names. Computed once (pthread_once), then constant. */
static char script_sha[S_COUNT][41];
static pthread_once_t script_sha_once = PTHREAD_ONCE_INIT;

static int fail(struct queue_error *err, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int fail(struct queue_error *err, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    return code;
}

static void compute_shas(void)
{
    for (int s = 0; s < S_COUNT; s++) {
        unsigned char digest[20];
        mbedtls_sha1_ret((const unsigned char *)script_text[s], strlen(script_text[s]), digest);
        for (int i = 0; i < 20; i++)
            snprintf(script_sha[s] + 2 * i, 3, "%02x", digest[i]);
    }
}

int queue_init(struct queue *q, const char *name, struct queue_error *err)
{
    const size_t len = strlen(name);
    if (len == 0 || len > 32 || strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_") != len)
        return fail(err, AC_EINVAL, "queue name \"%.40s\" must be 1-32 letters, digits, '-' or '_'", name);
    pthread_once(&script_sha_once, compute_shas);
    snprintf(q->waiting, sizeof q->waiting, "agentcron:{%s}:waiting", name);
    snprintf(q->delayed, sizeof q->delayed, "agentcron:{%s}:delayed", name);
    snprintf(q->active, sizeof q->active, "agentcron:{%s}:active", name);
    snprintf(q->dead, sizeof q->dead, "agentcron:{%s}:dead", name);
    snprintf(q->seq, sizeof q->seq, "agentcron:{%s}:seq", name);
    snprintf(q->wake, sizeof q->wake, "agentcron:{%s}:wake", name);
    snprintf(q->counters, sizeof q->counters, "agentcron:{%s}:counters", name);
    snprintf(q->job_prefix, sizeof q->job_prefix, "agentcron:{%s}:job:", name);
    snprintf(q->log_prefix, sizeof q->log_prefix, "agentcron:{%s}:log:", name);
    return 0;
}

/* The error of a lost connection. */
static int lost(redisContext *c, struct queue_error *err)
{
    return fail(err, AC_EIO, "redis: %s", c->errstr[0] ? c->errstr : "connection lost");
}

/* The error of error reply r: AC_EIO when Redis Cluster moved the slot (c is marked broken, to be
 * reconnected: redisconn.h), else AC_EREPLY. */
static int refused(redisContext *c, const redisReply *r, struct queue_error *err)
{
    if (redisconn_redirected(c, r))
        return lost(c, err);
    return fail(err, AC_EREPLY, "redis: %.200s", r->str);
}

/* Checks a reply; frees it and returns an error code if it is missing or an error. */
static int check(redisContext *c, redisReply *r, struct queue_error *err)
{
    if (!r)
        return lost(c, err);
    if (r->type == REDIS_REPLY_ERROR) {
        const int rc = refused(c, r, err);
        freeReplyObject(r);
        return rc;
    }
    return 0;
}

/* Runs script s with the given keys and arguments, using argv (room for 3 + nkeys + nargs
 * entries) as scratch; the reply is the caller's to free. */
static int run_argv(redisContext *c, enum script s, int nkeys, const char *const *keys, int nargs,
                    const char *const *args, const char **argv, redisReply **out, struct queue_error *err)
{
    char nkeys_str[12];
    snprintf(nkeys_str, sizeof nkeys_str, "%d", nkeys);
    int argc = 0;
    argv[argc++] = "EVALSHA";
    argv[argc++] = script_sha[s];
    argv[argc++] = nkeys_str;
    for (int i = 0; i < nkeys; i++)
        argv[argc++] = keys[i];
    for (int i = 0; i < nargs; i++)
        argv[argc++] = args[i];
    for (int attempt = 0; attempt < 2; attempt++) {
        redisReply *r = redisCommandArgv(c, argc, argv, NULL);
        if (r && r->type == REDIS_REPLY_ERROR && !strncmp(r->str, "NOSCRIPT", 8) && attempt == 0) {
            freeReplyObject(r);
            r = redisCommand(c, "SCRIPT LOAD %s", script_text[s]);
            const int rc = check(c, r, err);
            if (rc)
                return rc;
            freeReplyObject(r);
            continue;
        }
        const int rc = check(c, r, err);
        if (rc)
            return rc;
        *out = r;
        return 0;
    }
    return fail(err, AC_EREPLY, "redis: the script could not be loaded");
}

/* run_argv for the few-argument scripts, with scratch on the stack. */
static int run(redisContext *c, enum script s, int nkeys, const char *const *keys, int nargs, const char *const *args,
               redisReply **out, struct queue_error *err)
{
    enum { MAX_ARGV = 3 + 8 + 8 }; /* EVALSHA sha nkeys, then at most 8 keys and 8 arguments */
    if (nkeys > 8 || nargs > 8)
        return fail(err, AC_EINVAL, "internal: too many script keys or arguments");
    const char *argv[MAX_ARGV];
    return run_argv(c, s, nkeys, keys, nargs, args, argv, out, err);
}

/* Runs a script whose reply is one integer. */
static int run_int(redisContext *c, enum script s, int nkeys, const char *const *keys, int nargs,
                   const char *const *args, long long *value, struct queue_error *err)
{
    redisReply *r = NULL;
    int rc = run(c, s, nkeys, keys, nargs, args, &r, err);
    if (rc)
        return rc;
    if (r->type != REDIS_REPLY_INTEGER)
        rc = fail(err, AC_EREPLY, "redis: unexpected reply type %d", r->type);
    else
        *value = r->integer;
    freeReplyObject(r);
    return rc;
}

static void job_key(const struct queue *q, int64_t id, char out[128])
{
    snprintf(out, 128, "%s%" PRId64, q->job_prefix, id);
}

/* The arguments of one enqueue, formatted into caller storage. */
struct enqueue_args {
    char jk[128], id[24], prio[8], ready[24], now[24], task[24], attempt[16], ttl[16];
    const char *keys[6], *args[8];
};

static int build_enqueue(const struct queue *q, const struct queue_job *job, const char *payload,
                         int64_t ready_at_ms, int64_t now_ms, struct enqueue_args *a, struct queue_error *err)
{
    if (job->priority < 1 || job->priority > 4 || job->id <= 0)
        return fail(err, AC_EINVAL, "job %" PRId64 ": priority %d must be 1-4 and the id positive", job->id,
                    job->priority);
    const size_t payload_len = payload ? strlen(payload) : 0;
    if (payload_len > QUEUE_MAX_PAYLOAD)
        return fail(err, AC_EINVAL, "job %" PRId64 ": payload of %zu bytes exceeds %d", job->id, payload_len,
                    QUEUE_MAX_PAYLOAD);
    job_key(q, job->id, a->jk);
    snprintf(a->id, sizeof a->id, "%" PRId64, job->id);
    snprintf(a->prio, sizeof a->prio, "%d", job->priority);
    snprintf(a->ready, sizeof a->ready, "%" PRId64, ready_at_ms);
    snprintf(a->now, sizeof a->now, "%" PRId64, now_ms);
    snprintf(a->task, sizeof a->task, "%" PRId64, job->task_id);
    snprintf(a->attempt, sizeof a->attempt, "%d", job->attempt > 0 ? job->attempt : 1);
    snprintf(a->ttl, sizeof a->ttl, "%d", QUEUE_DONE_TTL_S);
    const char *keys[6] = {q->waiting, q->delayed, a->jk, q->seq, q->wake, q->counters};
    const char *args[8] = {a->id, a->prio, a->ready, a->now, payload ? payload : "", a->task, a->attempt, a->ttl};
    memcpy(a->keys, keys, sizeof keys);
    memcpy(a->args, args, sizeof args);
    return 0;
}

int queue_enqueue(const struct queue *q, redisContext *c, const struct queue_job *job, const char *payload,
                  int64_t ready_at_ms, int64_t now_ms, struct queue_error *err)
{
    struct enqueue_args a;
    int rc = build_enqueue(q, job, payload, ready_at_ms, now_ms, &a, err);
    if (rc)
        return rc;
    long long added = 0;
    rc = run_int(c, S_ENQUEUE, 6, a.keys, 8, a.args, &added, err);
    return rc ? rc : (int)added;
}

/* Jobs per EVALSHA in queue_enqueue_many: big enough to amortise the call, small enough that
 * one script call does not hold Redis for more than a few milliseconds. */
#define ENQUEUE_CHUNK 500

int queue_enqueue_many(const struct queue *q, redisContext *c, const struct queue_job *jobs,
                       const char *const *payloads, const int64_t *ready_at_ms, size_t count, int64_t now_ms,
                       size_t *added, struct queue_error *err)
{
    *added = 0;
    struct enqueue_args a;
    for (size_t i = 0; i < count; i++) { /* all valid, or nothing is sent */
        const int rc = build_enqueue(q, &jobs[i], payloads ? payloads[i] : NULL, ready_at_ms[i], now_ms, &a, err);
        if (rc)
            return rc;
    }
    enum { FIXED = 3 + 6 + 2, PER_JOB = 6 };
    const char **argv = malloc((FIXED + PER_JOB * ENQUEUE_CHUNK) * sizeof *argv);
    char (*num)[5][24] = malloc(ENQUEUE_CHUNK * sizeof *num); /* id, priority, ready, task, attempt */
    int rc = argv && num ? 0 : fail(err, AC_EINVAL, "out of memory");
    char now[24], ttl[16];
    snprintf(now, sizeof now, "%" PRId64, now_ms);
    snprintf(ttl, sizeof ttl, "%d", QUEUE_DONE_TTL_S);
    for (size_t from = 0; rc == 0 && from < count; from += ENQUEUE_CHUNK) {
        const size_t n = count - from < ENQUEUE_CHUNK ? count - from : ENQUEUE_CHUNK;
        const char *keys[6] = {q->waiting, q->delayed, q->seq, q->wake, q->counters, q->job_prefix};
        const char *args[ENQUEUE_CHUNK * PER_JOB + 2];
        args[0] = now, args[1] = ttl;
        for (size_t i = 0; i < n; i++) {
            const struct queue_job *j = &jobs[from + i];
            snprintf(num[i][0], 24, "%" PRId64, j->id);
            snprintf(num[i][1], 24, "%d", j->priority);
            snprintf(num[i][2], 24, "%" PRId64, ready_at_ms[from + i]);
            snprintf(num[i][3], 24, "%" PRId64, j->task_id);
            snprintf(num[i][4], 24, "%d", j->attempt > 0 ? j->attempt : 1);
            const char *payload = payloads && payloads[from + i] ? payloads[from + i] : "";
            const char *row[PER_JOB] = {num[i][0], num[i][1], num[i][2], num[i][3], num[i][4], payload};
            memcpy(&args[2 + PER_JOB * i], row, sizeof row);
        }
        redisReply *r;
        rc = run_argv(c, S_ENQUEUE_BATCH, 6, keys, (int)(2 + PER_JOB * n), args, argv, &r, err);
        if (rc == 0) {
            if (r->type == REDIS_REPLY_INTEGER)
                *added += (size_t)r->integer;
            else
                rc = fail(err, AC_EREPLY, "redis: unexpected reply type %d", r->type);
            freeReplyObject(r);
        }
    }
    free(argv);
    free(num);
    return rc;
}

static int64_t to_i64(const redisReply *r)
{
    if (r->type == REDIS_REPLY_INTEGER)
        return r->integer;
    return r->type == REDIS_REPLY_STRING ? strtoll(r->str, NULL, 10) : 0;
}

int queue_claim(const struct queue *q, redisContext *c, const char *worker, int64_t lease_ms, int64_t now_ms,
                struct queue_job *jobs, int max, struct queue_error *err)
{
    char lease[24], now[24], count[16];
    snprintf(lease, sizeof lease, "%" PRId64, lease_ms);
    snprintf(now, sizeof now, "%" PRId64, now_ms);
    snprintf(count, sizeof count, "%d", max);
    const char *keys[] = {q->waiting, q->active, q->job_prefix};
    const char *args[] = {worker, lease, now, count};
    redisReply *r;
    int rc = run(c, S_CLAIM, 3, keys, 4, args, &r, err);
    if (rc)
        return rc;
    int n = 0;
    for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements && n < max; i++) {
        const redisReply *e = r->element[i];
        if (e->type != REDIS_REPLY_ARRAY || e->elements != 7)
            continue;
        struct queue_job *j = &jobs[n];
        j->id = to_i64(e->element[0]), j->task_id = to_i64(e->element[1]);
        j->priority = (int)to_i64(e->element[2]), j->attempt = (int)to_i64(e->element[3]);
        j->deliveries = (int)to_i64(e->element[5]), j->lapsed = to_i64(e->element[6]) != 0;
        j->shard = 0;
        j->payload = strndup(e->element[4]->str ? e->element[4]->str : "", e->element[4]->len);
        if (!j->payload) {
            rc = fail(err, AC_EINVAL, "out of memory");
            break;
        }
        n++;
    }
    freeReplyObject(r);
    if (rc) {
        while (n--)
            queue_job_release(&jobs[n]);
        return rc;
    }
    return n;
}

void queue_job_release(struct queue_job *job)
{
    free(job->payload);
    job->payload = NULL;
}

int queue_renew(const struct queue *q, redisContext *c, int64_t id, const char *worker, int64_t deadline_ms,
                struct queue_error *err)
{
    char jk[128], ids[24], deadline[24];
    job_key(q, id, jk);
    snprintf(ids, sizeof ids, "%" PRId64, id);
    snprintf(deadline, sizeof deadline, "%" PRId64, deadline_ms);
    const char *keys[] = {q->active, jk};
    const char *args[] = {ids, worker, deadline};
    long long v = 0;
    const int rc = run_int(c, S_RENEW, 2, keys, 3, args, &v, err);
    return rc ? rc : v < 0 ? QUEUE_LEASE_LOST : (int)v;
}

int queue_ack(const struct queue *q, redisContext *c, int64_t id, const char *worker, const char *outcome,
              struct queue_error *err)
{
    if (strcmp(outcome, "completed") && strcmp(outcome, "failed") && strcmp(outcome, "cancelled"))
        return fail(err, AC_EINVAL, "outcome \"%.20s\" must be completed, failed or cancelled", outcome);
    char jk[128], ids[24], ttl[16];
    job_key(q, id, jk);
    snprintf(ids, sizeof ids, "%" PRId64, id);
    snprintf(ttl, sizeof ttl, "%d", QUEUE_DONE_TTL_S);
    const char *keys[] = {q->active, jk, q->counters};
    const char *args[] = {ids, worker, outcome, ttl};
    long long v = 0;
    const int rc = run_int(c, S_ACK, 3, keys, 4, args, &v, err);
    return rc ? rc : (int)v;
}

int queue_retry(const struct queue *q, redisContext *c, int64_t id, const char *worker, int64_t ready_at_ms,
                int attempt, struct queue_error *err)
{
    char jk[128], ids[24], ready[24], att[16];
    job_key(q, id, jk);
    snprintf(ids, sizeof ids, "%" PRId64, id);
    snprintf(ready, sizeof ready, "%" PRId64, ready_at_ms);
    snprintf(att, sizeof att, "%d", attempt);
    const char *keys[] = {q->active, q->delayed, jk, q->counters};
    const char *args[] = {ids, worker, ready, att};
    long long v = 0;
    const int rc = run_int(c, S_RETRY, 4, keys, 4, args, &v, err);
    return rc ? rc : (int)v;
}

int queue_bury(const struct queue *q, redisContext *c, int64_t id, const char *worker, int64_t now_ms,
               const char *reason, struct queue_error *err)
{
    char jk[128], ids[24], now[24];
    job_key(q, id, jk);
    snprintf(ids, sizeof ids, "%" PRId64, id);
    snprintf(now, sizeof now, "%" PRId64, now_ms);
    const char *keys[] = {q->active, q->dead, jk, q->counters};
    const char *args[] = {ids, worker, now, reason};
    long long v = 0;
    const int rc = run_int(c, S_BURY, 4, keys, 4, args, &v, err);
    return rc ? rc : (int)v;
}

int queue_promote(const struct queue *q, redisContext *c, int64_t now_ms, int max, int64_t *next_ready_ms,
                  struct queue_error *err)
{
    char now[24], count[16];
    snprintf(now, sizeof now, "%" PRId64, now_ms);
    snprintf(count, sizeof count, "%d", max);
    const char *keys[] = {q->delayed, q->waiting, q->wake, q->job_prefix};
    const char *args[] = {now, count};
    redisReply *r;
    const int rc = run(c, S_PROMOTE, 4, keys, 2, args, &r, err);
    if (rc)
        return rc;
    int moved = 0;
    *next_ready_ms = -1;
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 2)
        moved = (int)to_i64(r->element[0]), *next_ready_ms = to_i64(r->element[1]);
    freeReplyObject(r);
    return moved;
}

int queue_requeue_expired(const struct queue *q, redisContext *c, int64_t now_ms, int64_t *ids, int max,
                          struct queue_error *err)
{
    char now[24], count[16];
    snprintf(now, sizeof now, "%" PRId64, now_ms);
    snprintf(count, sizeof count, "%d", max);
    const char *keys[] = {q->active, q->waiting, q->wake, q->job_prefix, q->counters};
    const char *args[] = {now, count};
    redisReply *r;
    const int rc = run(c, S_REQUEUE, 5, keys, 2, args, &r, err);
    if (rc)
        return rc;
    int n = 0;
    for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements && n < max; i++)
        ids[n++] = to_i64(r->element[i]);
    freeReplyObject(r);
    return n;
}

int queue_cancel(const struct queue *q, redisContext *c, int64_t id, struct queue_error *err)
{
    char jk[128], ids[24], ttl[16];
    job_key(q, id, jk);
    snprintf(ids, sizeof ids, "%" PRId64, id);
    snprintf(ttl, sizeof ttl, "%d", QUEUE_DONE_TTL_S);
    const char *keys[] = {q->waiting, q->delayed, q->active, jk, q->counters};
    const char *args[] = {ids, ttl};
    long long v = 0;
    const int rc = run_int(c, S_CANCEL, 5, keys, 2, args, &v, err);
    return rc ? rc : (int)v;
}

int queue_cancel_requested(const struct queue *q, redisContext *c, int64_t id, struct queue_error *err)
{
    char jk[128];
    job_key(q, id, jk);
    redisReply *r = redisCommand(c, "HGET %s cancel", jk);
    int rc = check(c, r, err);
    if (rc)
        return rc;
    rc = r->type == REDIS_REPLY_STRING && !strcmp(r->str, "1");
    freeReplyObject(r);
    return rc;
}

int queue_stats(const struct queue *q, redisContext *c, struct queue_stats *st, struct queue_error *err)
{
    memset(st, 0, sizeof *st);
    const char *const sets[4] = {q->waiting, q->delayed, q->active, q->dead};
    int64_t *const sizes[4] = {&st->waiting, &st->delayed, &st->active, &st->dead};
    for (int i = 0; i < 4; i++)
        redisAppendCommand(c, "ZCARD %s", sets[i]);
    redisAppendCommand(c, "HGETALL %s", q->counters);
    int rc = 0;
    for (int i = 0; i < 5; i++) {
        redisReply *r = NULL;
        if (redisGetReply(c, (void **)&r) != REDIS_OK || !r)
            return lost(c, err);
        if (r->type == REDIS_REPLY_ERROR)
            rc = refused(c, r, err);
        else if (i < 4)
            *sizes[i] = to_i64(r);
        else
            for (size_t k = 0; k + 1 < r->elements; k += 2) {
                const char *name = r->element[k]->str;
                const int64_t v = to_i64(r->element[k + 1]);
                if (!strcmp(name, "enqueued"))
                    st->enqueued = v;
                else if (!strcmp(name, "completed"))
                    st->completed = v;
                else if (!strcmp(name, "failed"))
                    st->failed = v;
                else if (!strcmp(name, "cancelled"))
                    st->cancelled = v;
                else if (!strcmp(name, "retried"))
                    st->retried = v;
                else if (!strcmp(name, "requeued"))
                    st->requeued = v;
            }
        freeReplyObject(r);
    }
    return rc;
}

int queue_wait(const struct queue *q, redisContext *c, int timeout_s, struct queue_error *err)
{
    redisReply *r = redisCommand(c, "BLPOP %s %d", q->wake, timeout_s < 1 ? 1 : timeout_s);
    const int rc = check(c, r, err);
    if (rc)
        return rc;
    const int woken = r->type == REDIS_REPLY_ARRAY;
    freeReplyObject(r);
    return woken;
}

int queue_contains_many(const struct queue *q, redisContext *c, const int64_t *ids, size_t count, char *present,
                        struct queue_error *err)
{
    for (size_t i = 0; i < count; i++) {
        char jk[128];
        job_key(q, ids[i], jk);
        redisAppendCommand(c, "HGET %s state", jk);
    }
    int rc = 0;
    for (size_t i = 0; i < count; i++) {
        redisReply *r = NULL;
        if (redisGetReply(c, (void **)&r) != REDIS_OK || !r)
            return lost(c, err);
        if (r->type == REDIS_REPLY_ERROR && !rc)
            rc = refused(c, r, err);
        present[i] = r->type == REDIS_REPLY_STRING &&
                     (!strcmp(r->str, "waiting") || !strcmp(r->str, "delayed") || !strcmp(r->str, "active"));
        freeReplyObject(r);
    }
    return rc;
}

int queue_contains(const struct queue *q, redisContext *c, int64_t id, struct queue_error *err)
{
    char present = 0; /* read only when rc is 0, which gcc -O3 cannot tell */
    const int rc = queue_contains_many(q, c, &id, 1, &present, err);
    return rc ? rc : present;
}

int queue_wake(const struct queue *q, redisContext *c, struct queue_error *err)
{
    redisAppendCommand(c, "RPUSH %s 1", q->wake);
    redisAppendCommand(c, "LTRIM %s -256 -1", q->wake); /* as short as the scripts keep it */
    int rc = 0;
    for (int i = 0; i < 2; i++) {
        redisReply *r = NULL;
        if (redisGetReply(c, (void **)&r) != REDIS_OK || !r)
            return lost(c, err);
        if (r->type == REDIS_REPLY_ERROR && !rc)
            rc = refused(c, r, err);
        freeReplyObject(r);
    }
    return rc;
}

/* ---- many at once: one pipelined round trip ---- */

/* Sends count script calls (built by fill into per-call storage) as one pipeline and reads the
 * integer replies into results[]. A NOSCRIPT reply (Redis restarted and lost its script cache)
 * makes that call run again alone, which loads the script. */
struct call {
    enum script s;
    int nkeys, nargs;
    const char *keys[6], *args[6];
    char jk[128], a[6][48];
};

static int run_pipelined(redisContext *c, struct call *calls, size_t count, long long *results,
                         struct queue_error *err)
{
    for (size_t i = 0; i < count; i++) {
        char nk[4];
        snprintf(nk, sizeof nk, "%d", calls[i].nkeys);
        const char *argv[3 + 12];
        size_t argvlen[3 + 12];
        int argc = 0;
        argv[argc++] = "EVALSHA", argv[argc++] = script_sha[calls[i].s], argv[argc++] = nk;
        for (int k = 0; k < calls[i].nkeys; k++)
            argv[argc++] = calls[i].keys[k];
        for (int k = 0; k < calls[i].nargs; k++)
            argv[argc++] = calls[i].args[k];
        for (int k = 0; k < argc; k++)
            argvlen[k] = strlen(argv[k]);
        if (redisAppendCommandArgv(c, argc, argv, argvlen) != REDIS_OK)
            return fail(err, AC_EIO, "redis: %s", c->errstr);
    }
    int rc = 0;
    for (size_t i = 0; i < count; i++) {
        redisReply *r = NULL;
        if (redisGetReply(c, (void **)&r) != REDIS_OK || !r)
            return lost(c, err);
        if (r->type == REDIS_REPLY_INTEGER)
            results[i] = r->integer;
        else if (r->type == REDIS_REPLY_ERROR && strncmp(r->str, "NOSCRIPT", 8) == 0)
            results[i] = LLONG_MIN; /* redone below, after the pipeline is drained */
        else if (r->type == REDIS_REPLY_ERROR && redisconn_redirected(c, r)) {
            freeReplyObject(r); /* the connection is dropped, with the replies still due */
            return lost(c, err);
        } else if (!rc)
            rc = fail(err, AC_EREPLY, "redis: %.200s", r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
        freeReplyObject(r);
    }
    for (size_t i = 0; i < count && !rc; i++)
        if (results[i] == LLONG_MIN)
            rc = run_int(c, calls[i].s, calls[i].nkeys, calls[i].keys, calls[i].nargs, calls[i].args, &results[i], err);
    return rc;
}

/* The acknowledgements among ends (their indexes in acks[]), in one lua_ack_many call per
 * ACK_CHUNK: results[acks[i]] is set for each. */
enum { ACK_CHUNK = 512 };
static int ack_many(const struct queue *q, redisContext *c, const struct queue_end *ends, const size_t *acks,
                    size_t nacks, const char *worker, int *results, struct queue_error *err)
{
    const char **argv = malloc((3 + 3 + 2 + 2 * ACK_CHUNK) * sizeof *argv);
    const char **args = malloc((2 + 2 * ACK_CHUNK) * sizeof *args);
    char (*ids)[24] = malloc(ACK_CHUNK * sizeof *ids);
    char ttl[16];
    int rc = argv && args && ids ? 0 : fail(err, AC_EINVAL, "out of memory");
    snprintf(ttl, sizeof ttl, "%d", QUEUE_DONE_TTL_S);
    const char *keys[3] = {q->active, q->counters, q->job_prefix};
    for (size_t from = 0; rc == 0 && from < nacks; from += ACK_CHUNK) {
        const size_t n = nacks - from < ACK_CHUNK ? nacks - from : ACK_CHUNK;
        args[0] = worker, args[1] = ttl;
        for (size_t i = 0; i < n; i++) {
            const struct queue_end *e = &ends[acks[from + i]];
            snprintf(ids[i], sizeof ids[i], "%" PRId64, e->id);
            args[2 + 2 * i] = ids[i], args[3 + 2 * i] = e->outcome;
        }
        redisReply *r;
        if ((rc = run_argv(c, S_ACK_MANY, 3, keys, (int)(2 + 2 * n), args, argv, &r, err)) != 0)
            break;
        if (r->type != REDIS_REPLY_ARRAY || r->elements != n)
            rc = fail(err, AC_EREPLY, "redis: unexpected reply to acknowledging %zu jobs", n);
        for (size_t i = 0; rc == 0 && i < n; i++)
            results[acks[from + i]] = (int)r->element[i]->integer;
        freeReplyObject(r);
    }
    free(argv);
    free(args);
    free(ids);
    return rc;
}

int queue_end_many(const struct queue *q, redisContext *c, const struct queue_end *ends, size_t count,
                   const char *worker, int *results, struct queue_error *err)
{
    struct call *calls = calloc(count ? count : 1, sizeof *calls);
    long long *values = calloc(count ? count : 1, sizeof *values);
    size_t *acks = calloc(count ? count : 1, sizeof *acks), *others = calloc(count ? count : 1, sizeof *others);
    size_t nacks = 0, ncalls = 0;
    int rc = calls && values && acks && others ? 0 : fail(err, AC_EINVAL, "out of memory");
    for (size_t i = 0; i < count && !rc; i++) {
        const struct queue_end *e = &ends[i];
        if (e->kind == QUEUE_END_ACK) { /* all in one call (ack_many) */
            if (strcmp(e->outcome, "completed") && strcmp(e->outcome, "failed") && strcmp(e->outcome, "cancelled"))
                rc = fail(err, AC_EINVAL, "outcome \"%.20s\" must be completed, failed or cancelled", e->outcome);
            acks[nacks++] = i;
            continue;
        }
        others[ncalls] = i;
        struct call *k = &calls[ncalls++];
        job_key(q, e->id, k->jk);
        snprintf(k->a[1], sizeof k->a[1], "%" PRId64, e->id);
        k->args[0] = k->a[1], k->args[1] = worker, k->nargs = 4, k->nkeys = 4;
        switch (e->kind) {
        case QUEUE_END_ACK:
            break;
        case QUEUE_END_RETRY:
            snprintf(k->a[2], sizeof k->a[2], "%" PRId64, e->ready_at_ms);
            snprintf(k->a[3], sizeof k->a[3], "%d", e->attempt);
            k->s = S_RETRY;
            k->keys[0] = q->active, k->keys[1] = q->delayed, k->keys[2] = k->jk, k->keys[3] = q->counters;
            k->args[2] = k->a[2], k->args[3] = k->a[3];
            break;
        case QUEUE_END_BURY:
            snprintf(k->a[2], sizeof k->a[2], "%" PRId64, e->now_ms);
            k->s = S_BURY;
            k->keys[0] = q->active, k->keys[1] = q->dead, k->keys[2] = k->jk, k->keys[3] = q->counters;
            k->args[2] = k->a[2], k->args[3] = e->reason ? e->reason : "";
            break;
        }
    }
    if (!rc && nacks)
        rc = ack_many(q, c, ends, acks, nacks, worker, results, err);
    if (!rc && ncalls)
        rc = run_pipelined(c, calls, ncalls, values, err);
    for (size_t i = 0; i < ncalls && !rc; i++)
        results[others[i]] = (int)values[i];
    free(calls);
    free(values);
    free(acks);
    free(others);
    return rc;
}

int queue_renew_many(const struct queue *q, redisContext *c, const int64_t *ids, size_t count, const char *worker,
                     int64_t deadline_ms, int *results, struct queue_error *err)
{
    struct call *calls = calloc(count ? count : 1, sizeof *calls);
    long long *values = calloc(count ? count : 1, sizeof *values);
    int rc = calls && values ? 0 : fail(err, AC_EINVAL, "out of memory");
    for (size_t i = 0; i < count && !rc; i++) {
        struct call *k = &calls[i];
        job_key(q, ids[i], k->jk);
        snprintf(k->a[1], sizeof k->a[1], "%" PRId64, ids[i]);
        snprintf(k->a[2], sizeof k->a[2], "%" PRId64, deadline_ms);
        k->s = S_RENEW, k->nkeys = 2, k->nargs = 3;
        k->keys[0] = q->active, k->keys[1] = k->jk;
        k->args[0] = k->a[1], k->args[1] = worker, k->args[2] = k->a[2];
    }
    if (!rc)
        rc = run_pipelined(c, calls, count, values, err);
    for (size_t i = 0; i < count && !rc; i++)
        results[i] = values[i] < 0 ? QUEUE_LEASE_LOST : (int)values[i];
    free(calls);
    free(values);
    return rc;
}

/* ---- limits that hold across workers ---- */

static void slot_key(const struct queue *q, int64_t user_id, char out[128])
{
    /* the job prefix ends in "job:"; slots live beside the jobs, in the same hash slot */
    snprintf(out, 128, "%.*suser-slots:%" PRId64, (int)(strlen(q->job_prefix) - 4), q->job_prefix, user_id);
}

int queue_admit(const struct queue *q, redisContext *c, const struct queue_admission *a, int64_t now_ms,
                int64_t lease_deadline_ms, int64_t *wait_ms, struct queue_error *err)
{
    char sk[128], rk[256], id[24], now[24], deadline[24], limit[16], rmax[16], period[24];
    slot_key(q, a->user_id, sk);
    snprintf(rk, sizeof rk, "%.*srate:%s", (int)(strlen(q->job_prefix) - 4), q->job_prefix, a->agent ? a->agent : "");
    snprintf(id, sizeof id, "%" PRId64, a->id);
    snprintf(now, sizeof now, "%" PRId64, now_ms);
    snprintf(deadline, sizeof deadline, "%" PRId64, lease_deadline_ms);
    snprintf(limit, sizeof limit, "%d", a->user_limit);
    snprintf(rmax, sizeof rmax, "%d", a->rate_max);
    snprintf(period, sizeof period, "%" PRId64, a->rate_period_ms);
    const char *keys[] = {sk, rk};
    const char *args[] = {id, now, deadline, limit, rmax, period};
    redisReply *r;
    int rc = run(c, S_ADMIT, 2, keys, 6, args, &r, err);
    if (rc)
        return rc;
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2)
        rc = fail(err, AC_EREPLY, "redis: unexpected reply to admit");
    else {
        *wait_ms = to_i64(r->element[1]);
        rc = to_i64(r->element[0]) == 1;
    }
    freeReplyObject(r);
    return rc;
}

int queue_slot_hold(const struct queue *q, redisContext *c, int64_t id, int64_t user_id, int64_t deadline_ms,
                    struct queue_error *err)
{
    char sk[128];
    slot_key(q, user_id, sk);
    redisReply *r = deadline_ms >= 0
                        ? redisCommand(c, "ZADD %s XX %lld %lld", sk, (long long)deadline_ms, (long long)id)
                        : redisCommand(c, "ZREM %s %lld", sk, (long long)id);
    const int rc = check(c, r, err);
    if (rc == 0)
        freeReplyObject(r);
    return rc;
}

int queue_log_entry(const redisReply *e, struct queue_log_entry *out)
{
    memset(out, 0, sizeof *out);
    if (!e || e->type != REDIS_REPLY_ARRAY || e->elements != 2 || e->element[0]->type != REDIS_REPLY_STRING ||
        e->element[1]->type != REDIS_REPLY_ARRAY)
        return -1;
    out->id = e->element[0]->str;
    out->data = "";
    const redisReply *fields = e->element[1];
    for (size_t k = 0; k + 1 < fields->elements; k += 2) {
        const char *f = fields->element[k]->str;
        const redisReply *v = fields->element[k + 1];
        if (!f || v->type != REDIS_REPLY_STRING)
            continue;
        if (!strcmp(f, "s"))
            out->stream = v->str;
        else if (!strcmp(f, "d"))
            out->data = v->str, out->len = v->len;
        else if (!strcmp(f, "a"))
            out->attempt = strtoll(v->str, NULL, 10);
        else if (!strcmp(f, "e"))
            out->end = 1;
    }
    if (out->end)
        out->stream = NULL;
    return 0;
}
