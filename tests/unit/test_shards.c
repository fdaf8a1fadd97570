/* SPDX-License-Identifier: MIT */
/* The queue's shards (store/shards.c) against the real Redis that tests/run.sh starts
 * (AGENTCRON_TEST_REDIS): the cluster key hash, where each shard's tag lands, runs going to their
 * shard, claims taking every shard in turn with priority order kept inside each, leases and ends
 * sent back to the shard a job came from, cancels that find a job in any shard, the wake-up that
 * reaches idle workers through shard 0, reconciliation's enqueue that makes no second copy, and
 * the sums. The cluster itself (shards on distinct
 * masters) is tests/integration/test_redis_cluster.sh's. Each test uses its own queue name. */
#include <hiredis/hiredis.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include "cron_test_util.h"
#include "redisconn.h"
#include "shards.h"

static char url[128], host[64];
static int port;

struct fixture {
    redisContext *home;
    struct shards s;
};

static int setup(void **state)
{
    static int n;
    struct fixture *f = calloc(1, sizeof *f);
    f->home = redisConnect(host, port);
    if (!f->home || f->home->err)
        fail_msg("cannot connect to Redis at %s (run the tests through tests/run.sh)", url);
    char name[17];
    snprintf(name, sizeof name, "s%d-%d", (int)getpid() % 100000, n++);
    struct queue_error err;
    assert_int_equal(shards_init(&f->s, name, 3, url, &err), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    for (int k = 0; k < f->s.count; k++) { /* leave nothing behind */
        redisReply *keys = redisCommand(f->home, "KEYS agentcron:{%s}:*", f->s.tag[k]);
        for (size_t i = 0; keys && keys->type == REDIS_REPLY_ARRAY && i < keys->elements; i++)
            freeReplyObject(redisCommand(f->home, "DEL %s", keys->element[i]->str));
        freeReplyObject(keys);
    }
    redisFree(f->home);
    free(f);
    return 0;
}

static void enqueue(struct fixture *f, int64_t id, int priority, int64_t ready, int64_t now)
{
    const struct queue_job job = {.id = id, .task_id = id * 10, .priority = priority, .attempt = 1};
    size_t added = 0;
    struct queue_error err;
    if (shards_enqueue_many(&f->s, f->home, &job, &ready, 1, now, &added, &err) != 0 || added != 1)
        fail_msg("enqueue %lld: %s", (long long)id, err.message);
}

static long long zcard(struct fixture *f, const char *key)
{
    redisReply *r = redisCommand(f->home, "ZCARD %s", key);
    const long long n = r && r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
    freeReplyObject(r);
    return n;
}

static void test_key_slot(void **state)
{
    (void)state;
    /* CRC-16/XMODEM's check value is 0x31C3 (12739); Python's binascii.crc_hqx agrees on the rest */
    assert_int_equal(shards_key_slot("123456789"), 12739);
    assert_int_equal(shards_key_slot("agentcron:{default}:waiting"), 5718);
    assert_int_equal(shards_key_slot("{user1000}.following"), 3443);
    assert_int_equal(shards_key_slot("{user1000}.following"), shards_key_slot("{user1000}.followers"));
    assert_int_equal(shards_key_slot("foo{}{bar}"), 8363); /* an empty tag: the whole key */
    assert_int_equal(shards_key_slot("foo{{bar}}zap"), 4015); /* the tag is "{bar" */
    assert_int_equal(shards_key_slot("foo{bar}{zap}"), shards_key_slot("bar"));
}

static void test_tags(void **state)
{
    (void)state;
    struct shards a, b;
    struct queue_error err;
    for (int count = 1; count <= SHARDS_MAX; count++) {
        assert_int_equal(shards_init(&a, "default", count, url, &err), 0);
        assert_int_equal(shards_init(&b, "default", count, url, &err), 0);
        assert_string_equal(a.tag[0], "default");
        assert_string_equal(a.q[0].waiting, "agentcron:{default}:waiting"); /* shard 0 is the queue of old */
        const unsigned first = shards_key_slot(a.q[0].waiting);
        for (int k = 0; k < count; k++) {
            assert_string_equal(a.tag[k], b.tag[k]); /* every process finds the same tags */
            const unsigned want = (first + (unsigned)(k * SHARDS_CLUSTER_SLOTS / count)) % SHARDS_CLUSTER_SLOTS;
            if (shards_key_slot(a.q[k].waiting) != want || shards_key_slot(a.q[k].job_prefix) != want)
                fail_msg("%d shards: shard %d ({%s}) is in slot %u, expected %u", count, k, a.tag[k],
                         shards_key_slot(a.q[k].waiting), want);
        }
    }
    assert_int_equal(shards_init(&a, "default", 0, url, &err), AC_EINVAL);
    assert_non_null(strstr(err.message, "QUEUE_SHARDS 0 must be 1 to 16"));
    assert_int_equal(shards_init(&a, "default", 17, url, &err), AC_EINVAL);
    assert_int_equal(shards_init(&a, "a-name-longer-than-16", 2, url, &err), AC_EINVAL);
    assert_non_null(strstr(err.message, "at most 16"));
    assert_int_equal(shards_init(&a, "bad name", 2, url, &err), AC_EINVAL);
    assert_int_equal(shards_of(&b, 7), 7 % SHARDS_MAX);
}

/* Priority order within a shard, and each claim starting at the next shard: a shard full of
 * urgent jobs does not starve the others. */
static void test_claim_turns(void **state)
{
    struct fixture *f = *state;
    struct queue_error err;
    for (int64_t id = 1; id <= 30; id++) /* shard 0 (ids 3, 6, ...) urgent, the others low */
        enqueue(f, id, id % 3 == 0 ? 1 : 4, 0, 1000);
    enqueue(f, 31, 2, 0, 1000); /* shard 1, ahead of its priority-4 jobs */
    for (int k = 0; k < 3; k++)
        assert_int_equal(zcard(f, f->s.q[k].waiting), k == 1 ? 11 : 10);
    unsigned turn = 0;
    struct queue_job jobs[64];
    const int64_t want[3][2] = {{3, 6}, {31, 1}, {2, 5}};
    for (int round = 0; round < 3; round++) {
        const int n = shards_claim(&f->s, f->home, &turn, "w1", 30000, 2000, jobs, 2, &err);
        assert_int_equal(n, 2);
        for (int i = 0; i < n; i++) {
            if (jobs[i].id != want[round][i])
                fail_msg("claim %d, job %d is %lld, expected %lld", round, i, (long long)jobs[i].id,
                         (long long)want[round][i]);
            assert_int_equal(jobs[i].shard, round);
            assert_int_equal(jobs[i].shard, shards_of(&f->s, jobs[i].id));
            queue_job_release(&jobs[i]);
        }
    }
    /* a claim larger than its first shard holds fills up from the next ones */
    const int n = shards_claim(&f->s, f->home, &turn, "w1", 30000, 2000, jobs, 64, &err);
    assert_int_equal(n, 31 - 6);
    assert_int_equal(jobs[0].shard, 0);
    assert_int_equal(jobs[n - 1].shard, 2);
    for (int i = 0; i < n; i++) {
        assert_int_equal(jobs[i].shard, shards_of(&f->s, jobs[i].id));
        queue_job_release(&jobs[i]);
    }
    assert_int_equal(shards_claim(&f->s, f->home, &turn, "w1", 30000, 2000, jobs, 64, &err), 0);
}

/* Leases are renewed and jobs ended in the shard they came from; sent to another, nothing
 * changes there and the caller hears the lease is not there. */
static void test_renew_and_end(void **state)
{
    struct fixture *f = *state;
    struct queue_error err;
    for (int64_t id = 1; id <= 9; id++)
        enqueue(f, id, 3, 0, 1000);
    unsigned turn = 0;
    struct queue_job jobs[16];
    const int n = shards_claim(&f->s, f->home, &turn, "w1", 30000, 2000, jobs, 16, &err);
    assert_int_equal(n, 9);
    int64_t ids[9];
    int of[9], results[9];
    for (int i = 0; i < n; i++)
        ids[i] = jobs[i].id, of[i] = jobs[i].shard, queue_job_release(&jobs[i]);
    assert_int_equal(shards_renew_many(&f->s, f->home, ids, of, 9, "w1", 90000, results, &err), 0);
    for (int i = 0; i < 9; i++)
        assert_int_equal(results[i], QUEUE_LEASE_OK);
    of[0] = (of[0] + 1) % 3; /* the wrong shard */
    assert_int_equal(shards_renew_many(&f->s, f->home, ids, of, 1, "w1", 90000, results, &err), 0);
    assert_int_equal(results[0], QUEUE_LEASE_LOST);
    struct queue_end ends[9];
    for (int i = 0; i < 9; i++)
        ends[i] = (struct queue_end){.id = ids[i], .kind = QUEUE_END_ACK, .outcome = "completed", .shard = of[i]};
    ends[1].kind = QUEUE_END_RETRY, ends[1].ready_at_ms = 5000, ends[1].attempt = 2;
    ends[2].kind = QUEUE_END_BURY, ends[2].now_ms = 3000, ends[2].reason = "boom";
    assert_int_equal(shards_end_many(&f->s, f->home, ends, 9, "w1", results, &err), 0);
    assert_int_equal(results[0], 0); /* sent to the wrong shard: still leased in its own */
    for (int i = 1; i < 9; i++)
        assert_int_equal(results[i], 1);
    ends[0].shard = shards_of(&f->s, ids[0]);
    assert_int_equal(shards_end_many(&f->s, f->home, ends, 1, "w1", results, &err), 0);
    assert_int_equal(results[0], 1);
    struct queue_stats st;
    assert_int_equal(shards_stats(&f->s, f->home, &st, &err), 0);
    assert_int_equal(st.enqueued, 9);
    assert_int_equal(st.completed, 7);
    assert_int_equal(st.failed, 1);
    assert_int_equal(st.dead, 1);
    assert_int_equal(st.delayed, 1);
    assert_int_equal(st.retried, 1);
    assert_int_equal(st.waiting + st.active, 0);
    assert_int_equal(zcard(f, f->s.q[shards_of(&f->s, ids[2])].dead), 1);
}

/* Delayed jobs and lapsed leases are found in every shard. */
static void test_promote_and_requeue(void **state)
{
    struct fixture *f = *state;
    struct queue_error err;
    enqueue(f, 1, 3, 5000, 1000); /* shard 1 */
    enqueue(f, 5, 3, 3000, 1000); /* shard 2 */
    int64_t next = 0;
    assert_int_equal(shards_promote(&f->s, f->home, 2000, 100, &next, &err), 0);
    assert_int_equal(next, 3000); /* the earliest of all shards */
    assert_int_equal(shards_promote(&f->s, f->home, 6000, 100, &next, &err), 2);
    assert_int_equal(next, -1);
    unsigned turn = 0;
    struct queue_job jobs[4];
    assert_int_equal(shards_claim(&f->s, f->home, &turn, "w1", 1000, 6000, jobs, 4, &err), 2);
    queue_job_release(&jobs[0]), queue_job_release(&jobs[1]);
    int64_t ids[4];
    assert_int_equal(shards_requeue_expired(&f->s, f->home, 6500, ids, 4, &err), 0);
    assert_int_equal(shards_requeue_expired(&f->s, f->home, 8000, ids, 4, &err), 2);
    assert_int_equal(ids[0] + ids[1], 6);
    assert_int_equal(shards_requeue_expired(&f->s, f->home, 8000, ids, 4, &err), 0);
}

/* Idle workers block on shard 0's list: a job for another shard wakes them too. */
static void test_wake_through_shard_zero(void **state)
{
    struct fixture *f = *state;
    struct queue_error err;
    enqueue(f, 4, 3, 0, 1000); /* shard 1 only */
    assert_int_equal(queue_wait(&f->s.q[0], f->home, 1, &err), 1);
    enqueue(f, 3, 3, 0, 1000); /* shard 0's own enqueue wakes by itself */
    assert_int_equal(queue_wait(&f->s.q[0], f->home, 1, &err), 1);
    for (int i = 0; i < 300; i++) /* however many wake-ups pile up, the list stays short */
        enqueue(f, 100 + 3 * i + 1, 3, 0, 1000);
    redisReply *r = redisCommand(f->home, "LLEN %s", f->s.q[0].wake);
    assert_true(r && r->type == REDIS_REPLY_INTEGER && r->integer >= 1 && r->integer <= 256);
    freeReplyObject(r);
}

/* A cancel finds the job in its own shard, or in another (QUEUE_SHARDS changed since). */
static void test_cancel(void **state)
{
    struct fixture *f = *state;
    struct queue_error err;
    enqueue(f, 7, 3, 0, 1000);
    assert_int_equal(zcard(f, f->s.q[1].waiting), 1);
    assert_int_equal(shards_cancel(&f->s, f->home, 7, &err), QUEUE_CANCEL_REMOVED);
    /* a job enqueued when there was one shard */
    const struct queue_job job = {.id = 11, .task_id = 1, .priority = 3, .attempt = 1};
    assert_int_equal(queue_enqueue(&f->s.q[0], f->home, &job, NULL, 0, 1000, &err), 1);
    assert_int_equal(shards_cancel(&f->s, f->home, 11, &err), QUEUE_CANCEL_REMOVED);
    assert_int_equal(shards_cancel(&f->s, f->home, 12, &err), QUEUE_CANCEL_NOT_FOUND);
    enqueue(f, 13, 3, 0, 1000);
    unsigned turn = 1;
    struct queue_job jobs[2];
    assert_int_equal(shards_claim(&f->s, f->home, &turn, "w1", 30000, 1000, jobs, 2, &err), 1);
    queue_job_release(&jobs[0]);
    assert_int_equal(shards_cancel_requested(&f->s, f->home, 13, &err), 0);
    assert_int_equal(shards_cancel(&f->s, f->home, 13, &err), QUEUE_CANCEL_SIGNALLED);
    assert_int_equal(shards_cancel_requested(&f->s, f->home, 13, &err), 1);
}

/* Reconciliation's enqueue leaves a run whose job another shard holds live (QUEUE_SHARDS was
 * raised since): a second copy would be a second delivery. A finished one there does not count. */
static void test_enqueue_absent(void **state)
{
    struct fixture *f = *state;
    struct queue_error err;
    const struct queue_job old[2] = {{.id = 4, .task_id = 1, .priority = 3, .attempt = 1},
                                     {.id = 7, .task_id = 1, .priority = 3, .attempt = 1}};
    for (int i = 0; i < 2; i++) /* both enqueued when there was one shard */
        assert_int_equal(queue_enqueue(&f->s.q[0], f->home, &old[i], NULL, 0, 1000, &err), 1);
    struct queue_job got[2];
    assert_int_equal(queue_claim(&f->s.q[0], f->home, "w1", 30000, 1000, got, 1, &err), 1);
    assert_int_equal(got[0].id, 4);
    queue_job_release(&got[0]);
    assert_int_equal(queue_ack(&f->s.q[0], f->home, 4, "w1", "completed", &err), 1); /* 4 is done; 7 waits */
    const struct queue_job jobs[3] = {{.id = 4, .task_id = 1, .priority = 3, .attempt = 1},
                                      {.id = 7, .task_id = 1, .priority = 3, .attempt = 1},
                                      {.id = 10, .task_id = 1, .priority = 3, .attempt = 1}};
    const int64_t ready[3] = {0, 0, 0};
    size_t added = 0;
    assert_int_equal(shards_enqueue_absent(&f->s, f->home, jobs, ready, 3, 1000, &added, &err), 0);
    assert_int_equal(added, 2); /* 4 (finished in shard 0) and 10 (nowhere) */
    assert_int_equal(zcard(f, f->s.q[1].waiting), 2);
    assert_int_equal(zcard(f, f->s.q[0].waiting), 1); /* 7, left where it waits */
    redisReply *r = redisCommand(f->home, "EXISTS %s7", f->s.q[1].job_prefix);
    assert_true(r && r->type == REDIS_REPLY_INTEGER && r->integer == 0);
    freeReplyObject(r);
}

/* Each thread has its own connections to the other shards; a broken one is reopened. */
static void *other_thread(void *arg)
{
    struct fixture *f = arg;
    struct queue_error err;
    return shards_conn(&f->s, f->home, 1, &err);
}

static void test_connections(void **state)
{
    struct fixture *f = *state;
    struct queue_error err;
    redisContext *mine = shards_conn(&f->s, f->home, 1, &err);
    assert_non_null(mine);
    assert_ptr_equal(shards_conn(&f->s, f->home, 1, &err), mine);
    assert_ptr_equal(shards_conn(&f->s, f->home, 0, &err), f->home);
    pthread_t t;
    void *theirs;
    assert_int_equal(pthread_create(&t, NULL, other_thread, f), 0);
    assert_int_equal(pthread_join(t, &theirs), 0);
    assert_non_null(theirs);
    assert_ptr_not_equal(theirs, mine);
    /* the server drops it: the next use opens a new one that works */
    redisReply *r = redisCommand(mine, "CLIENT ID");
    assert_true(r && r->type == REDIS_REPLY_INTEGER);
    const long long id = r->integer;
    freeReplyObject(r);
    freeReplyObject(redisCommand(f->home, "CLIENT KILL ID %lld", id));
    /* unused since, it is seen closed without a round trip (as a killed node's connections are)
     * and replaced before use: the enqueue does not fail once on it first */
    int broken = 0;
    for (int i = 0; i < 200 && !(broken = redisconn_broken(mine)); i++)
        usleep(10000);
    assert_true(broken);
    assert_int_equal(mine->err, 0);
    enqueue(f, 1, 3, 0, 1000);
    assert_int_equal(zcard(f, f->s.q[1].waiting), 1);
    /* a shard that cannot be reached says which and why */
    struct shards bad;
    assert_int_equal(shards_init(&bad, "unreached", 2, "redis://127.0.0.1:1", &err), 0);
    assert_null(shards_conn(&bad, f->home, 1, &err));
    assert_non_null(strstr(err.message, "queue shard 1 ({unreached-1-"));
    assert_non_null(strstr(err.message, "127.0.0.1:1"));
}

int main(void)
{
    const char *u = getenv("AGENTCRON_TEST_REDIS");
    if (!u || sscanf(u, "redis://%63[^:]:%d", host, &port) != 2) {
        fprintf(stderr, "test_shards: AGENTCRON_TEST_REDIS is not set: run the tests through tests/run.sh\n");
        return 1;
    }
    snprintf(url, sizeof url, "%s", u);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_key_slot),
        cmocka_unit_test(test_tags),
        cmocka_unit_test_setup_teardown(test_claim_turns, setup, teardown),
        cmocka_unit_test_setup_teardown(test_renew_and_end, setup, teardown),
        cmocka_unit_test_setup_teardown(test_promote_and_requeue, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wake_through_shard_zero, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cancel, setup, teardown),
        cmocka_unit_test_setup_teardown(test_enqueue_absent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_connections, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
