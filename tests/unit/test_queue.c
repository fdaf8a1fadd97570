/* SPDX-License-Identifier: MIT */
/* The Redis queue (store/queue.c) against the real Redis that tests/run.sh starts
 * (AGENTCRON_TEST_REDIS): ordering, idempotence, leases, delays, retries, the dead set,
 * cancellation, the wake-up list, bad input, and a Redis restart in the middle of a stream;
 * and REDIS_URL as store/redisconn.c reads it (several hosts, bad ones, a cluster's refusals).
 * Every test uses its own queue name; the clock is passed in, so nothing sleeps. */
#include <hiredis/hiredis.h>
#include <stdlib.h>
#include <unistd.h>

#include "cron_test_util.h"
#include "queue.h"
#include "redisconn.h"

static char host[64];
static int port;

static redisContext *connect_redis(void)
{
    redisContext *c = redisConnect(host, port);
    if (!c || c->err)
        fail_msg("cannot connect to Redis at %s:%d (run the tests through tests/run.sh)", host, port);
    return c;
}

struct fixture {
    redisContext *c;
    struct queue q;
};

static int setup(void **state)
{
    static int n;
    struct fixture *f = calloc(1, sizeof *f);
    f->c = connect_redis();
    char name[32];
    snprintf(name, sizeof name, "t%d-%d", (int)getpid(), n++);
    struct queue_error err;
    assert_int_equal(queue_init(&f->q, name, &err), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    /* leave nothing behind: delete this queue's keys */
    char pattern[128];
    snprintf(pattern, sizeof pattern, "%.*s*", (int)(strstr(f->q.waiting, "}:") - f->q.waiting + 2), f->q.waiting);
    redisReply *keys = redisCommand(f->c, "KEYS %s", pattern);
    for (size_t i = 0; keys && keys->type == REDIS_REPLY_ARRAY && i < keys->elements; i++)
        freeReplyObject(redisCommand(f->c, "DEL %s", keys->element[i]->str));
    freeReplyObject(keys);
    redisFree(f->c);
    free(f);
    return 0;
}

static void enqueue(struct fixture *f, int64_t id, int priority, int64_t ready, int64_t now, int want)
{
    struct queue_error err;
    const struct queue_job job = {.id = id, .task_id = id * 10, .priority = priority, .attempt = 1};
    const int rc = queue_enqueue(&f->q, f->c, &job, "{\"run\":1}", ready, now, &err);
    if (rc != want)
        fail_msg("enqueue %lld: %d (%s), expected %d", (long long)id, rc, rc < 0 ? err.message : "", want);
}

/* Claims up to n and checks the ids come out in the order given (0-terminated). */
static void expect_claims(struct fixture *f, const char *worker, int64_t now, const int64_t *want)
{
    struct queue_job jobs[64];
    struct queue_error err;
    int expected = 0;
    while (want[expected])
        expected++;
    const int n = queue_claim(&f->q, f->c, worker, 30000, now, jobs, 64, &err);
    if (n != expected)
        fail_msg("claimed %d jobs, expected %d (%s)", n, expected, n < 0 ? err.message : "");
    for (int i = 0; i < n; i++) {
        if (jobs[i].id != want[i])
            fail_msg("claim %d is job %lld, expected %lld", i, (long long)jobs[i].id, (long long)want[i]);
        assert_int_equal(jobs[i].task_id, want[i] * 10);
        assert_string_equal(jobs[i].payload, "{\"run\":1}");
        queue_job_release(&jobs[i]);
    }
}

#define CLAIMS(f, worker, now, ...) expect_claims(f, worker, now, (const int64_t[]){__VA_ARGS__, 0})

static void test_priority_then_fifo(void **state)
{
    struct fixture *f = *state;
    const int prio[] = {3, 1, 4, 2, 3, 1, 2, 4, 3, 1};
    for (int i = 0; i < 10; i++)
        enqueue(f, i + 1, prio[i], 0, 1000, 1);
    CLAIMS(f, "w1", 2000, 2, 6, 10, 4, 7, 1, 5, 9, 3, 8);
    struct queue_job none[1];
    struct queue_error err;
    assert_int_equal(queue_claim(&f->q, f->c, "w1", 1000, 2000, none, 1, &err), 0);
}

static void test_idempotent_enqueue(void **state)
{
    struct fixture *f = *state;
    struct queue_error err;
    enqueue(f, 7, 3, 0, 1000, 1);
    enqueue(f, 7, 1, 0, 1000, 0); /* the same run again: ignored, even with another priority */
    struct queue_stats st;
    assert_int_equal(queue_stats(&f->q, f->c, &st, &err), 0);
    assert_int_equal(st.waiting, 1);
    assert_int_equal(st.enqueued, 1);
    CLAIMS(f, "w1", 1000, 7);
    enqueue(f, 7, 3, 0, 1000, 0); /* while running */
    assert_int_equal(queue_ack(&f->q, f->c, 7, "w1", "completed", &err), 1);
    enqueue(f, 7, 3, 0, 1000, 0); /* after it finished */
    assert_int_equal(queue_stats(&f->q, f->c, &st, &err), 0);
    assert_int_equal(st.waiting + st.active + st.delayed, 0);
    assert_int_equal(st.completed, 1);
}

static void test_leases(void **state)
{
    struct fixture *f = *state;
    struct queue_error err;
    enqueue(f, 1, 2, 0, 1000, 1);
    enqueue(f, 2, 2, 0, 1000, 1);
    struct queue_job job;
    assert_int_equal(queue_claim(&f->q, f->c, "dies", 5000, 10000, &job, 1, &err), 1); /* lease until 15000 */
    assert_int_equal(job.id, 1);
    assert_int_equal(job.deliveries, 1);
    queue_job_release(&job);
    int64_t ids[8];
    assert_int_equal(queue_requeue_expired(&f->q, f->c, 14999, ids, 8, &err), 0);
    assert_int_equal(queue_renew(&f->q, f->c, 1, "dies", 20000, &err), QUEUE_LEASE_OK);
    assert_int_equal(queue_renew(&f->q, f->c, 1, "someone-else", 90000, &err), QUEUE_LEASE_LOST);
    assert_int_equal(queue_requeue_expired(&f->q, f->c, 19999, ids, 8, &err), 0);
    assert_int_equal(queue_requeue_expired(&f->q, f->c, 20000, ids, 8, &err), 1); /* the worker died */
    assert_int_equal(ids[0], 1);
    /* the dead worker can no longer touch it */
    assert_int_equal(queue_renew(&f->q, f->c, 1, "dies", 30000, &err), QUEUE_LEASE_LOST);
    assert_int_equal(queue_ack(&f->q, f->c, 1, "dies", "completed", &err), 0);
    /* it went back to its place: ahead of job 2, enqueued after it */
    assert_int_equal(queue_claim(&f->q, f->c, "w2", 5000, 21000, &job, 1, &err), 1);
    assert_int_equal(job.id, 1);
    assert_int_equal(job.deliveries, 2);
    queue_job_release(&job);
    CLAIMS(f, "w2", 21000, 2);
    struct queue_stats st;
    assert_int_equal(queue_stats(&f->q, f->c, &st, &err), 0);
    assert_int_equal(st.requeued, 1);
    assert_int_equal(st.active, 2);
}

static void test_delayed_and_retry(void **state)
{
    struct fixture *f = *state;
    struct queue_error err;
    enqueue(f, 1, 3, 15000, 10000, 1); /* ready in 5 s */
    struct queue_job job;
    assert_int_equal(queue_claim(&f->q, f->c, "w", 1000, 10000, &job, 1, &err), 0);
    int64_t next;
    assert_int_equal(queue_promote(&f->q, f->c, 14999, 100, &next, &err), 0);
    assert_int_equal(next, 15000);
    assert_int_equal(queue_promote(&f->q, f->c, 15000, 100, &next, &err), 1);
    assert_int_equal(next, -1);
    assert_int_equal(queue_claim(&f->q, f->c, "w", 1000, 15000, &job, 1, &err), 1);
    assert_int_equal(job.attempt, 1);
    queue_job_release(&job);
    /* a failed attempt goes back, delayed, as attempt 2 */
    assert_int_equal(queue_retry(&f->q, f->c, 1, "w", 17000, 2, &err), 1);
    assert_int_equal(queue_retry(&f->q, f->c, 1, "w", 17000, 2, &err), 0); /* no longer held */
    assert_int_equal(queue_promote(&f->q, f->c, 17000, 100, &next, &err), 1);
    assert_int_equal(queue_claim(&f->q, f->c, "w", 1000, 17000, &job, 1, &err), 1);
    assert_int_equal(job.attempt, 2);
    assert_int_equal(job.deliveries, 2);
    queue_job_release(&job);
    /* out of attempts: the dead set */
    assert_int_equal(queue_bury(&f->q, f->c, 1, "w", 18000, "exit status 1", &err), 1);
    struct queue_stats st;
    assert_int_equal(queue_stats(&f->q, f->c, &st, &err), 0);
    assert_int_equal(st.dead, 1);
    assert_int_equal(st.failed, 1);
    assert_int_equal(st.retried, 1);
    assert_int_equal(st.active + st.waiting + st.delayed, 0);
}

static void test_cancel(void **state)
{
    struct fixture *f = *state;
    struct queue_error err;
    enqueue(f, 1, 3, 0, 1000, 1);
    enqueue(f, 2, 3, 99000, 1000, 1);
    enqueue(f, 3, 3, 0, 1000, 1);
    assert_int_equal(queue_cancel(&f->q, f->c, 1, &err), QUEUE_CANCEL_REMOVED); /* waiting */
    assert_int_equal(queue_cancel(&f->q, f->c, 2, &err), QUEUE_CANCEL_REMOVED); /* delayed */
    assert_int_equal(queue_cancel(&f->q, f->c, 42, &err), QUEUE_CANCEL_NOT_FOUND);
    CLAIMS(f, "w", 1000, 3);
    assert_int_equal(queue_cancel(&f->q, f->c, 3, &err), QUEUE_CANCEL_SIGNALLED); /* running */
    assert_int_equal(queue_renew(&f->q, f->c, 3, "w", 50000, &err), QUEUE_LEASE_CANCEL);
    assert_int_equal(queue_ack(&f->q, f->c, 3, "w", "cancelled", &err), 1);
    assert_int_equal(queue_contains(&f->q, f->c, 3, &err), 0);
    enqueue(f, 1, 3, 0, 1000, 0); /* a cancelled run is not queued again by a late enqueue */
    struct queue_stats st;
    assert_int_equal(queue_stats(&f->q, f->c, &st, &err), 0);
    assert_int_equal(st.cancelled, 3);
}

static void test_wake(void **state)
{
    struct fixture *f = *state;
    struct queue_error err;
    enqueue(f, 1, 3, 0, 1000, 1);
    assert_int_equal(queue_wait(&f->q, f->c, 1, &err), 1);
    assert_int_equal(queue_wait(&f->q, f->c, 1, &err), 0); /* nothing more: times out after 1 s */
}

/* REDIS_URL: hosts tried in order, bad URLs named, the password never shown; a cluster's
 * refusal marks the connection broken so that its owner reconnects. */
static void test_redis_urls(void **state)
{
    (void)state;
    char err[512], url[256];
    struct redisContext *c = redisconn_open("redis://u:s3cret@127.0.0.1:1", 2000, err, sizeof err);
    assert_null(c);
    assert_non_null(strstr(err, "cannot connect to REDIS_URL redis://u:***@127.0.0.1:1"));
    assert_null(strstr(err, "s3cret"));
    assert_null(redisconn_open("redis://127.0.0.1:70000", 2000, err, sizeof err));
    assert_non_null(strstr(err, "has a bad port"));
    assert_null(redisconn_open("redis://127.0.0.1:1,127.0.0.1:x", 2000, err, sizeof err));
    assert_non_null(strstr(err, "has a bad port"));
    assert_null(redisconn_open("redis://a,b,c,d,e,f,g,h,i", 2000, err, sizeof err));
    assert_non_null(strstr(err, "names more than 8 hosts"));
    assert_null(redisconn_open("http://127.0.0.1", 2000, err, sizeof err));
    assert_non_null(strstr(err, "must start with redis://, rediss:// (TLS) or unix://"));
    /* the first host refuses, the second is this test's Redis (not a cluster: SELECT applies) */
    snprintf(url, sizeof url, "redis://127.0.0.1:1,%s:%d/7", host, port);
    c = redisconn_open(url, 2000, err, sizeof err);
    assert_non_null(c);
    redisReply *r = redisCommand(c, "CLIENT INFO");
    assert_non_null(r);
    assert_non_null(strstr(r->str, " db=7 "));
    freeReplyObject(r);
    /* a cluster's MOVED breaks the connection (nothing ran); any other error does not */
    char moved_text[] = "MOVED 5718 127.0.0.1:7001", other_text[] = "ERR wrong number of arguments";
    redisReply moved = {.type = REDIS_REPLY_ERROR, .str = moved_text, .len = sizeof moved_text - 1};
    redisReply other = {.type = REDIS_REPLY_ERROR, .str = other_text, .len = sizeof other_text - 1};
    assert_int_equal(redisconn_redirected(c, &other), 0);
    assert_int_equal(c->err, 0);
    assert_int_equal(redisconn_redirected(c, &moved), 1);
    assert_int_not_equal(c->err, 0);
    assert_non_null(strstr(c->errstr, "Redis Cluster: MOVED 5718 127.0.0.1:7001 (reconnecting)"));
    assert_null(redisCommand(c, "PING")); /* a broken context sends nothing more */
    redisFree(c);
}

/* Ending many claimed jobs at once: acknowledgements in chunks of one script call (more than a
 * chunk here), retries and burials beside them, each result where its job was; a lease that is
 * not the caller's, or is gone, changes nothing. */
static void test_end_many(void **state)
{
    struct fixture *f = *state;
    struct queue_error err;
    enum { N = 1200 };
    for (int i = 1; i <= N; i++)
        enqueue(f, i, 1 + i % 4, 1000, 1000, 1);
    struct queue_job jobs[256];
    int claimed = 0, n;
    while ((n = queue_claim(&f->q, f->c, "w", 30000, 1000, jobs, 256, &err)) > 0) {
        for (int j = 0; j < n; j++)
            queue_job_release(&jobs[j]);
        claimed += n;
    }
    assert_int_equal(claimed, N);
    static struct queue_end ends[N + 1];
    static int results[N + 1];
    const struct queue_end intruder = {.id = 1, .kind = QUEUE_END_ACK, .outcome = "completed"};
    assert_int_equal(queue_end_many(&f->q, f->c, &intruder, 1, "someone-else", results, &err), 0);
    assert_int_equal(results[0], 0);
    const struct queue_end bogus = {.id = 1, .kind = QUEUE_END_ACK, .outcome = "done"};
    assert_int_equal(queue_end_many(&f->q, f->c, &bogus, 1, "w", results, &err), AC_EINVAL);
    for (int64_t id = 1; id <= N; id++)
        ends[id - 1] = id % 10 == 3   ? (struct queue_end){.id = id, .kind = QUEUE_END_RETRY, .ready_at_ms = 5000, .attempt = 2}
                       : id % 10 == 4 ? (struct queue_end){.id = id, .kind = QUEUE_END_BURY, .now_ms = 1000, .reason = "x"}
                                      : (struct queue_end){.id = id, .kind = QUEUE_END_ACK,
                                                           .outcome = id % 10 == 5 ? "failed" : "completed"};
    ends[N] = (struct queue_end){.id = N + 7, .kind = QUEUE_END_ACK, .outcome = "completed"}; /* never claimed */
    assert_int_equal(queue_end_many(&f->q, f->c, ends, N + 1, "w", results, &err), 0);
    for (int i = 0; i < N; i++)
        assert_int_equal(results[i], 1);
    assert_int_equal(results[N], 0);
    assert_int_equal(queue_end_many(&f->q, f->c, ends, N, "w", results, &err), 0); /* again: all gone */
    for (int i = 0; i < N; i++)
        assert_int_equal(results[i], 0);
    struct queue_stats st;
    assert_int_equal(queue_stats(&f->q, f->c, &st, &err), 0);
    assert_int_equal(st.active, 0);
    assert_int_equal(st.delayed, N / 10);
    assert_int_equal(st.dead, N / 10);
    assert_int_equal(st.retried, N / 10);
    assert_int_equal(st.completed, N - 3 * N / 10);
    assert_int_equal(st.failed, 2 * N / 10); /* the failed acknowledgements and the burials */
}

static void test_bad_input(void **state)
{
    struct fixture *f = *state;
    struct queue_error err;
    struct queue q;
    assert_int_equal(queue_init(&q, "has space", &err), AC_EINVAL);
    assert_int_equal(queue_init(&q, "", &err), AC_EINVAL);
    assert_int_equal(queue_init(&q, "x{y}", &err), AC_EINVAL);
    const struct queue_job bad_priority = {.id = 1, .priority = 5};
    assert_int_equal(queue_enqueue(&f->q, f->c, &bad_priority, "", 0, 0, &err), AC_EINVAL);
    const struct queue_job bad_id = {.id = 0, .priority = 3};
    assert_int_equal(queue_enqueue(&f->q, f->c, &bad_id, "", 0, 0, &err), AC_EINVAL);
    char *big = malloc(QUEUE_MAX_PAYLOAD + 2);
    memset(big, 'x', QUEUE_MAX_PAYLOAD + 1);
    big[QUEUE_MAX_PAYLOAD + 1] = 0;
    const struct queue_job ok = {.id = 1, .priority = 3};
    assert_int_equal(queue_enqueue(&f->q, f->c, &ok, big, 0, 0, &err), AC_EINVAL);
    assert_non_null(strstr(err.message, "exceeds"));
    free(big);
    assert_int_equal(queue_ack(&f->q, f->c, 1, "w", "done", &err), AC_EINVAL);
    /* a payload with every byte value but NUL survives the round trip */
    char odd[256];
    for (int i = 1; i < 256; i++)
        odd[i - 1] = (char)i;
    odd[255] = 0;
    assert_int_equal(queue_enqueue(&f->q, f->c, &ok, odd, 0, 0, &err), 1);
    struct queue_job job;
    assert_int_equal(queue_claim(&f->q, f->c, "w", 1000, 0, &job, 1, &err), 1);
    assert_string_equal(job.payload, odd);
    queue_job_release(&job);
}

static void test_enqueue_many(void **state)
{
    struct fixture *f = *state;
    struct queue_error err;
    enum { N = 1000 };
    static struct queue_job jobs[N];
    static int64_t ready[N];
    for (int i = 0; i < N; i++) {
        jobs[i] = (struct queue_job){.id = i + 1, .task_id = (i + 1) * 10, .priority = 1 + i % 4, .attempt = 1};
        ready[i] = i < 10 ? 50000 : 0; /* the first ten are delayed */
    }
    size_t added;
    assert_int_equal(queue_enqueue_many(&f->q, f->c, jobs, NULL, ready, N, 1000, &added, &err), 0);
    assert_int_equal(added, N);
    assert_int_equal(queue_enqueue_many(&f->q, f->c, jobs, NULL, ready, N, 1000, &added, &err), 0);
    assert_int_equal(added, 0); /* all known already */
    struct queue_stats st;
    assert_int_equal(queue_stats(&f->q, f->c, &st, &err), 0);
    assert_int_equal(st.waiting, N - 10);
    assert_int_equal(st.delayed, 10);
    /* one bad job: nothing is sent, and the connection stays usable */
    jobs[500].priority = 9;
    jobs[0].id = 5000;
    assert_int_equal(queue_enqueue_many(&f->q, f->c, jobs, NULL, ready, N, 1000, &added, &err), AC_EINVAL);
    assert_int_equal(queue_contains(&f->q, f->c, 5000, &err), 0);
    assert_int_equal(queue_stats(&f->q, f->c, &st, &err), 0);
    assert_int_equal(st.waiting + st.delayed, N);
}

/* Many jobs at once, past the scripts' chunks of 1,000 sorted-set members: an id twice in one
 * call is added once, 2,500 delayed jobs are promoted by one call, and they leave in the order
 * they came (one priority: by arrival), each leased once. */
static void test_many_at_once(void **state)
{
    struct fixture *f = *state;
    struct queue_error err;
    enum { N = 2500 };
    static struct queue_job jobs[N + 1];
    static int64_t ready[N + 1];
    for (int i = 0; i <= N; i++) {
        const int64_t id = i == 0 ? 1 : i; /* ids 1, 1, 2, 3, ..., N */
        jobs[i] = (struct queue_job){.id = id, .task_id = id * 10, .priority = 2, .attempt = 1};
        ready[i] = 5000;
    }
    size_t added;
    assert_int_equal(queue_enqueue_many(&f->q, f->c, jobs, NULL, ready, N + 1, 1000, &added, &err), 0);
    assert_int_equal(added, N);
    int64_t next;
    assert_int_equal(queue_promote(&f->q, f->c, 4999, 10000, &next, &err), 0);
    assert_int_equal(next, 5000);
    assert_int_equal(queue_promote(&f->q, f->c, 5000, 10000, &next, &err), N);
    assert_int_equal(next, -1);
    redisReply *r = redisCommand(f->c, "HMGET %s%d state ready_at", f->q.job_prefix, 1234);
    assert_string_equal(r->element[0]->str, "waiting");
    assert_string_equal(r->element[1]->str, "5000");
    freeReplyObject(r);
    struct queue_job got[256];
    int64_t want = 1;
    for (int n; (n = queue_claim(&f->q, f->c, "w", 30000, 6000, got, 256, &err)) > 0;)
        for (int i = 0; i < n; i++) {
            if (got[i].id != want)
                fail_msg("claim of job %lld, expected %lld", (long long)got[i].id, (long long)want);
            assert_int_equal(got[i].deliveries, 1);
            queue_job_release(&got[i]);
            want++;
        }
    assert_int_equal(want, N + 1);
    struct queue_stats st;
    assert_int_equal(queue_stats(&f->q, f->c, &st, &err), 0);
    assert_int_equal(st.waiting + st.delayed, 0);
    assert_int_equal(st.active, N);
}

/* Redis restarts in the middle of a stream: the old connection reports AC_EIO, a new one
 * works (the scripts are loaded again on NOSCRIPT), and no job is lost. */
static void test_redis_restart(void **state)
{
    struct fixture *f = *state;
    const char *instance = getenv("AGENTCRON_SERVICES_INSTANCE");
    if (!instance)
        fail_msg("AGENTCRON_SERVICES_INSTANCE is not set: run the tests through tests/run.sh");
    struct queue_error err;
    for (int i = 1; i <= 200; i++)
        enqueue(f, i, 1 + i % 4, 0, 1000, 1);
    struct queue_job jobs[64];
    int n = queue_claim(&f->q, f->c, "before", 5000, 2000, jobs, 50, &err);
    if (n != 50)
        fail_msg("claim before the restart: %d (%s)", n, err.message);
    for (int i = 0; i < n; i++)
        queue_job_release(&jobs[i]);
    char cmd[512];
    snprintf(cmd, sizeof cmd, "%s/scripts/services.sh restart-redis %s >/dev/null", AGENTCRON_SOURCE_DIR, instance);
    assert_int_equal(system(cmd), 0);
    struct queue_stats st;
    assert_int_equal(queue_stats(&f->q, f->c, &st, &err), AC_EIO);
    redisFree(f->c);
    f->c = connect_redis();
    /* the 50 claimed before the restart come back when their leases expire */
    int64_t ids[64];
    assert_int_equal(queue_requeue_expired(&f->q, f->c, 7000, ids, 64, &err), 50);
    int seen = 0;
    while ((n = queue_claim(&f->q, f->c, "after", 5000, 8000, jobs, 64, &err)) > 0) {
        for (int i = 0; i < n; i++)
            queue_job_release(&jobs[i]);
        seen += n;
    }
    assert_int_equal(n, 0);
    assert_int_equal(seen, 200);
}

int main(void)
{
    const char *url = getenv("AGENTCRON_TEST_REDIS");
    if (!url || sscanf(url, "redis://%63[^:]:%d", host, &port) != 2) {
        fprintf(stderr, "test_queue: AGENTCRON_TEST_REDIS is not set: run the tests through tests/run.sh\n");
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_priority_then_fifo, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idempotent_enqueue, setup, teardown),
        cmocka_unit_test_setup_teardown(test_leases, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delayed_and_retry, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cancel, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wake, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_input, setup, teardown),
        cmocka_unit_test(test_redis_urls),
        cmocka_unit_test_setup_teardown(test_end_many, setup, teardown),
        cmocka_unit_test_setup_teardown(test_enqueue_many, setup, teardown),
        cmocka_unit_test_setup_teardown(test_many_at_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_redis_restart, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
