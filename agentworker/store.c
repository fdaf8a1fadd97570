/* SPDX-License-Identifier: MIT */
/* Batched Postgres and Redis work of a worker (see store.h). Arrays go to Postgres as array
 * literals; a statement that loses a deadlock or serialization race to another worker is
 * simply run again. */
#include "store.h"

#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agents.h"
#include "connpair.h"
#include "livelog.h"
#include "queue.h"
#include "redisconn.h"
#include "shards.h"
#include "steps.h"
#include "store_sql.h"
#include "timefmt.h"

#define REDIS_TIMEOUT_MS 5000
#define MAX_BATCH 256 /* runs taken in at once */
#define LIMITS_RECHECK_MS 5000 /* a user's new max_concurrent_runs applies within this */

struct store {
    char *worker;
    struct connpair conn;
    unsigned prepared;         /* bit per enum stmt: prepared in this Postgres session */
    unsigned prepared_session; /* ... which is conn.pg_sessions */
    struct shards shards;    /* the deployment's; limits, wake-ups and logs live in shard 0 */
    unsigned turn;           /* the shard claimed from first next time */
    int64_t next_requeue_ms; /* lapsed leases are looked for once a second */
    int64_t limits_checked_ms;
    int users_have_limits;
    unsigned char token_key[RUN_TOKEN_KEY_LEN];
    int have_token_key;
};

static int fail(char *err, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, len, fmt, ap);
    va_end(ap);
    return -1;
}

struct store *store_new(const char *database_url, const char *redis_url, const char *worker)
{
    struct store *s = calloc(1, sizeof *s);
    struct queue_error qerr;
    if (!s || connpair_init(&s->conn, database_url, redis_url, "agentcron-worker", REDIS_TIMEOUT_MS) != 0 ||
        !(s->worker = strdup(worker)) ||
        shards_init(&s->shards, "default", shards_deployment()->count, redis_url, &qerr) != 0) {
        store_free(s);
        return NULL;
    }
    return s;
}

void store_free(struct store *s)
{
    if (!s)
        return;
    connpair_close(&s->conn);
    free(s->worker);
    free(s);
}

static int connect_all(struct store *s, char *err, size_t len)
{
    if (connpair_ensure(&s->conn, err, len) != 0)
        return -1;
    if (s->prepared_session != s->conn.pg_sessions) { /* a new session knows no prepared statements */
        s->prepared = 0;
        s->prepared_session = s->conn.pg_sessions;
    }
    return 0;
}

static int redis_failed(struct store *s, const struct queue_error *qerr, char *err, size_t len)
{
    connpair_redis_failed(&s->conn);
    return fail(err, len, "%s", qerr->message);
}

/* The statements, prepared once per connection: planning them each time cost as much as
 * running them (a 64-run batch: ~1 ms of each). */
enum stmt {
    ST_SETTLE, ST_RELEASE, ST_BEGIN, ST_BEGIN_TAKEOVER, ST_ROLL, ST_RESERVE, ST_USER_CREDITS, ST_PEEK, ST_ANY_USER_LIMIT,
    ST_COUNT
};
static const struct {
    const char *name, *sql;
    int nparams;
} stmts[ST_COUNT] = {
    [ST_SETTLE] = {"agentcron_settle", sql_settle, 17},
    [ST_RELEASE] = {"agentcron_release", sql_release_taken_over, 1},
    [ST_BEGIN] = {"agentcron_begin", sql_begin_runs, 3},
    [ST_BEGIN_TAKEOVER] = {"agentcron_begin_takeover", sql_begin_takeover, 4},
    [ST_ROLL] = {"agentcron_roll", sql_roll_periods, 1},
    [ST_RESERVE] = {"agentcron_reserve", sql_reserve, 4},
    [ST_USER_CREDITS] = {"agentcron_user_credits", sql_user_credits, 1},
    [ST_PEEK] = {"agentcron_peek", sql_peek_limits, 1},
    [ST_ANY_USER_LIMIT] = {"agentcron_any_user_limit", sql_any_user_limit, 0},
};

/* Runs a statement, again if it lost a deadlock or serialization race. */
static PGresult *exec(struct store *s, enum stmt st, const char *const *params, ExecStatusType want, char *err,
                      size_t len)
{
    if (!(s->prepared & (1u << st))) {
        PGresult *p = PQprepare(s->conn.pg, stmts[st].name, stmts[st].sql, stmts[st].nparams, NULL);
        const int ok = PQresultStatus(p) == PGRES_COMMAND_OK;
        if (!ok) {
            fail(err, len, "postgres: preparing %s: %s", stmts[st].name, PQresultErrorMessage(p));
            err[strcspn(err, "\n")] = 0;
        }
        PQclear(p);
        if (!ok)
            return NULL;
        s->prepared |= 1u << st;
    }
    for (int attempt = 0;; attempt++) {
        PGresult *r = PQexecPrepared(s->conn.pg, stmts[st].name, stmts[st].nparams, params, NULL, NULL, 0);
        if (PQresultStatus(r) == want)
            return r;
        const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
        const int race = state && (strcmp(state, "40P01") == 0 || strcmp(state, "40001") == 0);
        if (!race || attempt == 4 || PQtransactionStatus(s->conn.pg) != PQTRANS_IDLE) { /* no retry inside a transaction */
            fail(err, len, "postgres: %s", r ? PQresultErrorMessage(r) : PQerrorMessage(s->conn.pg));
            err[strcspn(err, "\n")] = 0;
            PQclear(r);
            return NULL;
        }
        PQclear(r);
    }
}

static int64_t i64(const PGresult *r, int row, int col)
{
    return strtoll(PQgetvalue(r, row, col), NULL, 10);
}

static int cmp_i64(const void *a, const void *b)
{
    const int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* ---- array literals ---- */

struct lit {
    char *buf;
    size_t len;
    FILE *f;
    int n;
};

static void lit_open(struct lit *l)
{
    memset(l, 0, sizeof *l);
    l->f = open_memstream(&l->buf, &l->len);
    if (l->f)
        fputc('{', l->f);
}

static void lit_int(struct lit *l, int64_t v)
{
    if (l->f)
        fprintf(l->f, "%s%" PRId64, l->n++ ? "," : "", v);
}

/* An integer, or NULL where it is absent. */
static void lit_opt(struct lit *l, int present, int64_t v)
{
    if (!present) {
        if (l->f)
            fprintf(l->f, "%sNULL", l->n++ ? "," : "");
        return;
    }
    lit_int(l, v);
}

static void lit_text(struct lit *l, const char *v)
{
    if (!l->f)
        return;
    fputs(l->n++ ? "," : "", l->f);
    if (!v) {
        fputs("NULL", l->f);
        return;
    }
    fputc('"', l->f);
    for (; *v; v++) {
        if (*v == '"' || *v == '\\')
            fputc('\\', l->f);
        fputc(*v, l->f);
    }
    fputc('"', l->f);
}

/* Closes the literal; NULL if memory ran out (free with lit_free either way). */
static const char *lit_close(struct lit *l)
{
    if (!l->f)
        return NULL;
    fputc('}', l->f);
    const int bad = ferror(l->f);
    fclose(l->f);
    l->f = NULL;
    return bad ? NULL : l->buf;
}

static void lit_free(struct lit *l)
{
    if (l->f)
        fclose(l->f);
    free(l->buf);
    l->buf = NULL;
}

/* ---- settling ---- */

static const char *ack_outcome(const struct store_outcome *o)
{
    if (strcmp(o->status, "succeeded") == 0)
        return "completed";
    return strcmp(o->status, "cancelled") == 0 ? "cancelled" : "failed";
}

/* A run Postgres confirmed settling, by id (cmp_i64 orders both). */
struct settled {
    int64_t id;
    int out_of_budget; /* it ended insufficient_credits: a step's reservation was refused */
};

int store_settle(struct store *s, const struct store_outcome *o, size_t count, char *err, size_t len)
{
    if (count == 0)
        return 0;
    if (connect_all(s, err, len))
        return -1;
    enum { NCOL = 17 };
    struct lit cols[NCOL];
    for (int c = 0; c < NCOL; c++)
        lit_open(&cols[c]);
    for (size_t i = 0; i < count; i++) {
        const struct store_outcome *x = &o[i];
        const int back = strcmp(x->status, "retrying") == 0 || strcmp(x->status, "queued") == 0;
        lit_int(&cols[0], x->id);
        lit_text(&cols[1], x->lease_token);
        lit_text(&cols[2], x->status);
        lit_int(&cols[3], back ? x->ready_at_ms : -1);
        lit_int(&cols[4], x->prompt_tokens);
        lit_int(&cols[5], x->completion_tokens);
        lit_int(&cols[6], x->base_credits);
        lit_int(&cols[7], x->tokens_per_credit);
        lit_int(&cols[8], x->attempt_increment);
        lit_text(&cols[9], x->error);
        lit_text(&cols[10], x->output);
        lit_text(&cols[11], x->stderr_tail);
        lit_opt(&cols[12], x->http_status > 0, x->http_status);
        lit_opt(&cols[13], x->exit_code >= 0, x->exit_code);
        lit_opt(&cols[14], x->exit_signal > 0, x->exit_signal);
        lit_text(&cols[15], back ? x->retry_reason : NULL);
        lit_opt(&cols[16], x->duration_ms >= 0, x->duration_ms);
    }
    const char *params[NCOL];
    int ok = 1;
    for (int c = 0; c < NCOL; c++)
        ok &= (params[c] = lit_close(&cols[c])) != NULL;
    PGresult *r = ok ? exec(s, ST_SETTLE, params, PGRES_TUPLES_OK, err, len) : NULL;
    if (!ok)
        fail(err, len, "out of memory recording %zu runs", count);
    for (int c = 0; c < NCOL; c++)
        lit_free(&cols[c]);
    if (!r)
        return -1;
    /* Postgres holds the truth now and the queue follows, for the runs it confirmed only. One
     * it did not (taken over, or its `running` mark was lost with a Postgres crash) keeps its
     * job: the lease lapses and the run comes back, to be run and recorded once. */
    const int rows = PQntuples(r);
    struct settled *confirmed = malloc(((size_t)rows + 1) * sizeof *confirmed);
    struct queue_end *ends = calloc(count, sizeof *ends);
    int *results = calloc(count, sizeof *results);
    if (!confirmed || !ends || !results) {
        PQclear(r);
        free(confirmed), free(ends), free(results);
        return fail(err, len, "out of memory acknowledging %zu runs", count);
    }
    for (int i = 0; i < rows; i++)
        confirmed[i] = (struct settled){i64(r, i, 0), !strcmp(PQgetvalue(r, i, 1), "insufficient_credits")};
    PQclear(r);
    qsort(confirmed, (size_t)rows, sizeof *confirmed, cmp_i64);
    const int64_t now = timefmt_now_ms();
    size_t n = 0;
    for (size_t i = 0; i < count; i++) {
        const struct store_outcome *x = &o[i];
        const struct settled *done = bsearch(&x->id, confirmed, (size_t)rows, sizeof *confirmed, cmp_i64);
        if (!done)
            continue;
        /* a run refused a step's reservation ended insufficient_credits, whatever the worker thought */
        const int back = !done->out_of_budget && (!strcmp(x->status, "retrying") || !strcmp(x->status, "queued"));
        ends[n] = (struct queue_end){.id = x->id, .now_ms = now, .reason = x->error, .outcome = ack_outcome(x)};
        ends[n].kind = back ? QUEUE_END_RETRY : x->dead && !done->out_of_budget ? QUEUE_END_BURY : QUEUE_END_ACK;
        ends[n].ready_at_ms = x->ready_at_ms, ends[n].attempt = x->next_attempt, ends[n].shard = x->shard;
        n++;
    }
    struct queue_error qerr;
    int rc = shards_end_many(&s->shards, s->conn.redis, ends, n, s->worker, results, &qerr);
    for (size_t i = 0; i < count && rc == 0; i++)
        if (o[i].user_limit > 0)
            rc = queue_slot_hold(&s->shards.q[0], s->conn.redis, o[i].id, o[i].user_id, -1, &qerr);
    free(confirmed);
    free(ends);
    free(results);
    /* If Redis failed here the leases lapse and the jobs come back; Postgres says they are
     * done, so they are dropped then. Nothing to redo. */
    return rc ? redis_failed(s, &qerr, err, len) : 0;
}

/* ---- intake ---- */

void store_run_clear(struct store_run *r)
{
    free(r->title), free(r->goal), free(r->agent_type), free(r->agent_config);
    free(r->steps_json);
    r->title = r->goal = r->agent_type = r->agent_config = r->steps_json = NULL;
}

void store_intake_clear(struct store_intake *in)
{
    for (int i = 0; i < in->count; i++)
        store_run_clear(&in->runs[i]);
    free(in->runs);
    memset(in, 0, sizeof *in);
}

/* Releases the reservations that begun runs carried from an attempt that never settled. */
static int release_leftovers(struct store *s, struct lit *ids, char *err, size_t len)
{
    const char *param = lit_close(ids);
    PGresult *r = param ? exec(s, ST_RELEASE, &param, PGRES_COMMAND_OK, err, len) : NULL;
    if (!param)
        fail(err, len, "out of memory");
    PQclear(r);
    return r ? 0 : -1;
}

/* The lease token a run's row holds while this worker runs it for job: the worker, the delivery
 * and the shard. Two copies of one job in two shards (QUEUE_SHARDS changed) have distinct tokens,
 * so only one of them can reserve for, step through or settle the run. */
static void lease_token(const struct store *s, const struct queue_job *job, char out[96])
{
    if (job->shard)
        snprintf(out, 96, "%.60s/%d/%d", s->worker, job->deliveries, job->shard);
    else
        snprintf(out, 96, "%.60s/%d", s->worker, job->deliveries);
}

/* Marks the claimed jobs running; fills out->runs with those to go on with (a takeover with no
 * attempt left among them, marked ends_now: the caller settles it failed). */
static int begin_runs(struct store *s, const struct queue_job *jobs, int n, struct store_intake *out, char *err,
                      size_t len)
{
    struct lit ids, tokens, lapsed, leftover;
    lit_open(&ids);
    lit_open(&tokens);
    lit_open(&lapsed);
    lit_open(&leftover);
    char token[96];
    for (int i = 0; i < n; i++) {
        lease_token(s, &jobs[i], token);
        lit_int(&ids, jobs[i].id);
        lit_text(&tokens, token);
        lit_text(&lapsed, jobs[i].lapsed ? "t" : "f");
    }
    const char *params[4] = {lit_close(&ids), lit_close(&tokens), s->worker, lit_close(&lapsed)};
    int takeover = 0;
    for (int i = 0; i < n; i++)
        takeover |= jobs[i].lapsed;
    const enum stmt begin = takeover ? ST_BEGIN_TAKEOVER : ST_BEGIN;
    PGresult *r = params[0] && params[1] && params[3] ? exec(s, begin, params, PGRES_TUPLES_OK, err, len) : NULL;
    if (!params[0] || !params[1] || !params[3])
        fail(err, len, "out of memory");
    lit_free(&ids);
    lit_free(&tokens);
    lit_free(&lapsed);
    const int rows = r ? PQntuples(r) : 0;
    out->runs = r ? calloc(rows ? rows : 1, sizeof *out->runs) : NULL;
    int rc = !r ? -1 : !out->runs ? fail(err, len, "out of memory") : 0, any_leftover = 0;
    for (int i = 0; rc == 0 && i < rows; i++) {
        struct store_run *run = &out->runs[out->count++];
        run->id = i64(r, i, 0), run->task_id = i64(r, i, 1), run->user_id = i64(r, i, 2);
        run->scheduled_for_ms = i64(r, i, 3), run->attempt = (int)i64(r, i, 4), run->max_attempts = (int)i64(r, i, 5);
        run->priority = (int)i64(r, i, 6), run->timeout_ms = i64(r, i, 7);
        run->title = strdup(PQgetvalue(r, i, 8)), run->goal = strdup(PQgetvalue(r, i, 9));
        run->agent_type = strdup(PQgetvalue(r, i, 10)), run->agent_config = strdup(PQgetvalue(r, i, 11));
        run->user_limit = (int)i64(r, i, 12);
        if (i64(r, i, 13) > 0)
            lit_int(&leftover, run->id), any_leftover = 1;
        run->ends_now = PQgetvalue(r, i, 14)[0] == 't';
        run->enqueued_ms = i64(r, i, 15);
        run->has_steps = PQgetvalue(r, i, 16)[0] == 't'; /* read once the intake is through */
        for (int j = 0; j < n; j++)
            if (jobs[j].id == run->id) {
                lease_token(s, &jobs[j], run->lease_token);
                run->shard = jobs[j].shard;
            }
        if (!run->title || !run->goal || !run->agent_type || !run->agent_config)
            rc = fail(err, len, "out of memory");
    }
    PQclear(r);
    if (rc == 0 && any_leftover)
        rc = release_leftovers(s, &leftover, err, len);
    lit_free(&leftover);
    return rc;
}

/* The takeovers that have no attempt left end failed now, dead: their worker died (or hung)
 * running them in every attempt, which is how a run that kills its worker looks. */
static void end_exhausted(const struct store_intake *out, struct store_outcome *ended, char (*why)[400],
                          size_t *nended)
{
    for (int i = 0; i < out->count; i++) {
        const struct store_run *run = &out->runs[i];
        if (!run->ends_now)
            continue;
        char *msg = why[*nended];
        snprintf(msg, 400,
                 "its worker stopped (killed, crashed, or hung past WORKER_LEASE_S) while running it, in each of its "
                 "%d attempts: not retried again. A run that takes its worker down (memory, signals, kill of its "
                 "parent) must be fixed before it runs again",
                 run->attempt);
        ended[(*nended)++] = (struct store_outcome){.id = run->id, .user_id = run->user_id,
                                                    .lease_token = run->lease_token, .user_limit = run->user_limit,
                                                    .shard = run->shard, .status = "failed", .error = msg,
                                                    .next_attempt = run->attempt, .dead = 1, .exit_code = -1,
                                                    .duration_ms = -1};
    }
}

/* A run that will not execute now goes back to the queue (deferred) or ends (insufficient
 * credits); either way it leaves out->runs. */
static void drop_run(struct store_intake *out, int i)
{
    store_run_clear(&out->runs[i]);
    out->runs[i] = out->runs[--out->count];
}


/* Whether any run may be under a limit: an agent with a rate limit, or (looked up at most every
 * LIMITS_RECHECK_MS) a user with max_concurrent_runs. Without either, admission costs nothing. */
static int limits_possible(struct store *s, const struct agent_set *agents, char *err, size_t len)
{
    for (size_t i = 0; i < agents->count; i++)
        if (agents->agents[i].rate_max > 0)
            return 1;
    const int64_t now = timefmt_now_ms();
    if (now >= s->limits_checked_ms + LIMITS_RECHECK_MS) {
        PGresult *r = exec(s, ST_ANY_USER_LIMIT, NULL, PGRES_TUPLES_OK, err, len);
        if (!r)
            return -1;
        s->users_have_limits = PQgetvalue(r, 0, 0)[0] == 't';
        s->limits_checked_ms = now;
        PQclear(r);
    }
    return s->users_have_limits;
}

/* Applies the user and agent limits in Redis before anything is marked running: a claimed job
 * over a limit goes back to the delayed set (Postgres never saw it move) and leaves jobs[]. */
static int admit(struct store *s, const struct agent_set *agents, struct queue_job *jobs, int *n, int64_t lease_ms,
                 struct store_intake *out, char *err, size_t len)
{
    const int possible = limits_possible(s, agents, err, len);
    if (possible <= 0)
        return possible;
    struct lit ids;
    lit_open(&ids);
    for (int j = 0; j < *n; j++)
        lit_int(&ids, jobs[j].id);
    const char *param = lit_close(&ids);
    PGresult *r = param ? exec(s, ST_PEEK, &param, PGRES_TUPLES_OK, err, len) : NULL;
    lit_free(&ids);
    if (!r)
        return -1;
    const int64_t now = timefmt_now_ms();
    struct queue_end back[MAX_BATCH];
    int nback = 0, results[MAX_BATCH], rc = 0;
    struct queue_error qerr;
    for (int row = 0; row < PQntuples(r) && rc == 0; row++) {
        const int64_t id = i64(r, row, 0);
        const struct agent *a = agents_find(agents, PQgetvalue(r, row, 3));
        const struct queue_admission adm = {.id = id, .user_id = i64(r, row, 1), .user_limit = (int)i64(r, row, 2),
                                            .agent = PQgetvalue(r, row, 3), .rate_max = a ? a->rate_max : 0,
                                            .rate_period_ms = a ? a->rate_period_ms : 0};
        if (adm.user_limit <= 0 && adm.rate_max <= 0)
            continue;
        int64_t wait = 0;
        const int admitted = queue_admit(&s->shards.q[0], s->conn.redis, &adm, now, now + lease_ms, &wait, &qerr);
        if (admitted < 0) {
            rc = redis_failed(s, &qerr, err, len);
            break;
        }
        if (admitted)
            continue;
        for (int j = 0; j < *n; j++)
            if (jobs[j].id == id) {
                back[nback++] = (struct queue_end){.id = id, .kind = QUEUE_END_RETRY, .ready_at_ms = now + wait,
                                                   .attempt = jobs[j].attempt, .shard = jobs[j].shard};
                queue_job_release(&jobs[j]);
                jobs[j] = jobs[--*n];
                break;
            }
    }
    PQclear(r);
    if (rc == 0 && nback &&
        shards_end_many(&s->shards, s->conn.redis, back, (size_t)nback, s->worker, results, &qerr) != 0)
        rc = redis_failed(s, &qerr, err, len);
    out->deferred += nback;
    return rc;
}

/* Reserves each non-free run's estimate; a refused reservation ends the run. */
static int reserve(struct store *s, const struct agent_set *agents, struct store_intake *out,
                   struct store_outcome *ended, char (*why)[400], size_t *nended, char *err, size_t len)
{
    struct lit users;
    lit_open(&users);
    int any = 0;
    for (int i = 0; i < out->count; i++) {
        const struct agent *a = agents_find(agents, out->runs[i].agent_type);
        if (a && a->estimate_credits > 0 && !out->runs[i].ends_now)
            lit_int(&users, out->runs[i].user_id), any = 1;
    }
    const char *uparam = lit_close(&users);
    PGresult *r = any && uparam ? exec(s, ST_ROLL, &uparam, PGRES_COMMAND_OK, err, len) : NULL;
    lit_free(&users);
    if (any && !r)
        return -1;
    PQclear(r);
    for (int i = 0; i < out->count;) {
        struct store_run *run = &out->runs[i];
        const struct agent *a = agents_find(agents, run->agent_type);
        if (!a || a->estimate_credits <= 0 || run->ends_now) {
            i++;
            continue;
        }
        char user[24], amount[24], id[24];
        snprintf(user, sizeof user, "%" PRId64, run->user_id);
        snprintf(amount, sizeof amount, "%" PRId64, a->estimate_credits);
        snprintf(id, sizeof id, "%" PRId64, run->id);
        const char *params[4] = {user, amount, id, run->lease_token};
        r = exec(s, ST_RESERVE, params, PGRES_TUPLES_OK, err, len);
        if (!r)
            return -1;
        const int reserved = PQntuples(r) == 1;
        PQclear(r);
        if (reserved) {
            run->reserved = a->estimate_credits;
            i++;
            continue;
        }
        r = exec(s, ST_USER_CREDITS, params, PGRES_TUPLES_OK, err, len);
        if (!r)
            return -1;
        char *msg = why[*nended];
        if (PQntuples(r) == 1)
            snprintf(msg, 400,
                     "insufficient credits: this run needs %s (agent %s's estimate_credits); user %s has used %s and "
                     "reserved %s of %s credits this period (since %s). Grant more (agentcron users credits USER --grant N),"
                     " raise the allowance or wait for the next period",
                     amount, a->name, user, PQgetvalue(r, 0, 0), PQgetvalue(r, 0, 1), PQgetvalue(r, 0, 2),
                     PQgetvalue(r, 0, 3));
        else
            snprintf(msg, 400, "insufficient credits: user %s not found", user);
        PQclear(r);
        ended[*nended] = (struct store_outcome){.id = run->id, .user_id = run->user_id, .lease_token = run->lease_token,
                                                .shard = run->shard,
                                                .reserved = 0,
                                                .user_limit = run->user_limit, .status = "insufficient_credits",
                                                .error = msg, .next_attempt = run->attempt, .exit_code = -1,
                                                .duration_ms = -1};
        (*nended)++;
        out->insufficient++;
        i++; /* stays in runs until settled (its lease token is used), then dropped */
    }
    return 0;
}

/* After a failure, every job this intake still holds goes back to the queue at once, for this
 * or another worker to take when Postgres (or Redis) answers again, rather than sitting on its
 * lease. Jobs already acknowledged or settled are not this worker's any more: untouched. */
static void hand_back(struct store *s, const int64_t *ids, const int *attempts, const int *shards, int n, int64_t now)
{
    struct queue_end ends[MAX_BATCH];
    int results[MAX_BATCH];
    struct queue_error qerr;
    for (int j = 0; j < n; j++)
        ends[j] = (struct queue_end){.id = ids[j], .kind = QUEUE_END_RETRY, .ready_at_ms = now, .attempt = attempts[j],
                                     .shard = shards[j]};
    if (n && shards_end_many(&s->shards, s->conn.redis, ends, (size_t)n, s->worker, results, &qerr) != 0)
        connpair_redis_failed(&s->conn); /* then their leases lapse: the slow way back */
}

static int read_steps(struct store *s, struct store_intake *out, char *err, size_t len);

/* A run can have a job in two shards at once: QUEUE_SHARDS was raised, and reconciliation queued
 * it again in its new shard before the old copy was taken. Both copies in one claim would have
 * the run begun once but held twice, under two lease tokens; the later copies are acknowledged
 * now (the first one runs it) and leave jobs[]. */
static int drop_copies(struct store *s, struct queue_job *jobs, int *n, struct store_intake *out, char *err,
                       size_t len)
{
    struct queue_end ends[MAX_BATCH];
    int nends = 0, results[MAX_BATCH];
    for (int j = 1; j < *n;) {
        int copy = 0;
        for (int i = 0; i < j && !copy; i++)
            copy = jobs[i].id == jobs[j].id;
        if (!copy) {
            j++;
            continue;
        }
        ends[nends++] = (struct queue_end){.id = jobs[j].id, .kind = QUEUE_END_ACK, .outcome = "completed",
                                           .shard = jobs[j].shard};
        queue_job_release(&jobs[j]);
        jobs[j] = jobs[--*n];
    }
    out->dropped += nends;
    struct queue_error qerr;
    if (nends && shards_end_many(&s->shards, s->conn.redis, ends, (size_t)nends, s->worker, results, &qerr) != 0)
        return redis_failed(s, &qerr, err, len);
    return 0;
}

int store_intake(struct store *s, const struct agent_set *agents, int max, int64_t lease_ms, struct store_intake *out,
                 char *err, size_t len)
{
    memset(out, 0, sizeof *out);
    out->next_ready_ms = -1;
    if (max > MAX_BATCH)
        max = MAX_BATCH;
    if (max <= 0 || connect_all(s, err, len))
        return max <= 0 ? 0 : -1;
    struct queue_error qerr;
    const int64_t now = timefmt_now_ms();
    /* a dead worker's runs come back here as soon as their leases lapse */
    int64_t expired[64];
    if (now >= s->next_requeue_ms) {
        if ((out->requeued = shards_requeue_expired(&s->shards, s->conn.redis, now, expired, 64, &qerr)) < 0)
            return redis_failed(s, &qerr, err, len);
        s->next_requeue_ms = out->requeued == 64 ? now : now + 1000;
    }
    if (shards_promote(&s->shards, s->conn.redis, now, 1000, &out->next_ready_ms, &qerr) < 0)
        return redis_failed(s, &qerr, err, len);
    struct queue_job jobs[MAX_BATCH];
    int n = shards_claim(&s->shards, s->conn.redis, &s->turn, s->worker, lease_ms, now, jobs, max, &qerr);
    if (n < 0)
        return redis_failed(s, &qerr, err, len);
    out->claimed = n;
    int rc = s->shards.count > 1 && n ? drop_copies(s, jobs, &n, out, err, len) : 0;
    if (rc == 0 && n)
        rc = admit(s, agents, jobs, &n, lease_ms, out, err, len);
    int64_t held[MAX_BATCH];
    int held_attempts[MAX_BATCH], held_shards[MAX_BATCH];
    for (int j = 0; j < n; j++)
        held[j] = jobs[j].id, held_attempts[j] = jobs[j].attempt, held_shards[j] = jobs[j].shard;
    if (rc == 0 && n)
        rc = begin_runs(s, jobs, n, out, err, len);
    /* duplicates: finished or cancelled in Postgres, so acknowledge and drop them */
    struct queue_end ends[MAX_BATCH];
    int nends = 0, results[MAX_BATCH];
    for (int j = 0; j < n && rc == 0; j++) {
        int found = 0;
        for (int i = 0; i < out->count && !found; i++)
            found = out->runs[i].id == jobs[j].id;
        if (!found)
            ends[nends++] = (struct queue_end){.id = jobs[j].id, .kind = QUEUE_END_ACK, .outcome = "completed",
                                               .shard = jobs[j].shard};
    }
    for (int j = 0; j < n; j++)
        queue_job_release(&jobs[j]);
    out->dropped += nends;
    if (rc == 0 && nends && shards_end_many(&s->shards, s->conn.redis, ends, (size_t)nends, s->worker, results, &qerr))
        rc = redis_failed(s, &qerr, err, len);
    struct store_outcome settle[MAX_BATCH];
    static __thread char why[MAX_BATCH][400];
    size_t nsettle = 0;
    if (rc == 0) {
        end_exhausted(out, settle, why, &nsettle);
        rc = reserve(s, agents, out, settle, why, &nsettle, err, len);
    }
    if (rc == 0)
        rc = store_settle(s, settle, nsettle, err, len);
    if (rc) {
        hand_back(s, held, held_attempts, held_shards, n, now);
        store_intake_clear(out);
        return -1;
    }
    for (int i = 0; i < out->count;) { /* the runs settled now do not start */
        int ended = 0;
        for (size_t k = 0; k < nsettle && !ended; k++)
            ended = settle[k].id == out->runs[i].id;
        if (ended)
            drop_run(out, i);
        else
            i++;
    }
    if (read_steps(s, out, err, len) == 0)
        return 0;
    /* the runs go back to the queue at once (their leases would lapse the slow way) */
    int back = 0;
    for (int j = 0; j < n; j++)
        for (int i = 0; i < out->count; i++)
            if (out->runs[i].id == held[j]) {
                held[back] = held[j], held_attempts[back] = held_attempts[j], held_shards[back++] = held_shards[j];
                break;
            }
    hand_back(s, held, held_attempts, held_shards, back, now);
    store_intake_clear(out);
    return -1;
}

/* The completed steps of the runs that have some (a new attempt, a replay) and the key their
 * run tokens are signed with. On a failure the caller hands the runs back to the queue. */
static int read_steps(struct store *s, struct store_intake *out, char *err, size_t len)
{
    if (!s->have_token_key && out->count) {
        if (steps_token_key((struct pg_conn *)s->conn.pg, s->token_key, err, len) != 0)
            return -1;
        s->have_token_key = 1;
    }
    memcpy(out->token_key, s->token_key, sizeof out->token_key);
    for (int i = 0; i < out->count; i++) {
        struct store_run *run = &out->runs[i];
        if (!run->has_steps)
            continue;
        json_t *steps = NULL;
        if (steps_completed((struct pg_conn *)s->conn.pg, run->id, &steps, err, len) != 0)
            return -1;
        run->steps_json = json_dumps(steps, JSON_COMPACT);
        json_decref(steps);
        if (!run->steps_json)
            return fail(err, len, "out of memory reading the steps of run %" PRId64, run->id);
    }
    return 0;
}

int store_step_record(struct store *s, const struct agent_set *agents, int64_t run_id, int attempt,
                      const struct step_report *r, struct step_answer *out, char *err, size_t len)
{
    if (connect_all(s, err, len))
        return -1;
    return steps_record(&s->conn, agents, run_id, attempt, r, out, err, len);
}

int store_step_reserve(struct store *s, const struct agent_set *agents, int64_t run_id, int attempt, const char *step_id,
                       int64_t credits, int64_t at_least, struct step_answer *out, char *err, size_t len)
{
    if (connect_all(s, err, len))
        return -1;
    return steps_reserve(&s->conn, agents, run_id, attempt, step_id, credits, at_least, out, err, len);
}

/* ---- leases, waiting, status ---- */

int store_renew(struct store *s, const struct store_run *const *runs, size_t count, int64_t lease_ms, int *results,
                char *err, size_t len)
{
    if (count == 0)
        return 0;
    if (connect_all(s, err, len))
        return -1;
    int64_t ids[MAX_BATCH * 4];
    int of[MAX_BATCH * 4];
    if (count > sizeof ids / sizeof ids[0])
        count = sizeof ids / sizeof ids[0];
    for (size_t i = 0; i < count; i++)
        ids[i] = runs[i]->id, of[i] = runs[i]->shard;
    const int64_t deadline = timefmt_now_ms() + lease_ms;
    struct queue_error qerr;
    if (shards_renew_many(&s->shards, s->conn.redis, ids, of, count, s->worker, deadline, results, &qerr) != 0)
        return redis_failed(s, &qerr, err, len);
    for (size_t i = 0; i < count; i++)
        if (runs[i]->user_limit > 0 && results[i] != QUEUE_LEASE_LOST &&
            queue_slot_hold(&s->shards.q[0], s->conn.redis, runs[i]->id, runs[i]->user_id, deadline, &qerr) != 0)
            return redis_failed(s, &qerr, err, len);
    return 0;
}

int store_wait(struct store *s, int timeout_s, char *err, size_t len)
{
    /* Redis only, with a command timeout beyond the blocking wait */
    if (connpair_ensure_redis(&s->conn, (timeout_s + 5) * 1000, err, len) != 0)
        return -1;
    struct queue_error qerr;
    const int rc = queue_wait(&s->shards.q[0], s->conn.redis, timeout_s, &qerr);
    return rc < 0 ? redis_failed(s, &qerr, err, len) : rc;
}

void store_unpublish(struct store *s, const char *key)
{
    char err[256]; /* Redis alone: a Postgres that is down must not hold up a stop */
    if (connpair_ensure_redis(&s->conn, 2000, err, sizeof err) != 0)
        return;
    freeReplyObject(redisconn_command(s->conn.redis, "DEL %s", key));
    connpair_redis_failed(&s->conn);
}

int store_publish(struct store *s, const char *key, const char *json, int ttl_s, char *err, size_t len)
{
    if (connect_all(s, err, len))
        return -1;
    redisReply *r = redisconn_command(s->conn.redis, "SET %s %s EX %d", key, json, ttl_s);
    const int ok = r && r->type != REDIS_REPLY_ERROR;
    if (!ok)
        fail(err, len, "redis: %s", r ? r->str : s->conn.redis->errstr);
    freeReplyObject(r);
    connpair_redis_failed(&s->conn);
    return ok ? 0 : -1;
}

int store_stream_logs(struct store *s, const struct livelog_chunk *chunks, char *err, size_t len)
{
    if (!chunks)
        return 0;
    if (connect_all(s, err, len))
        return -1;
    redisContext *r = s->conn.redis;
    int sent = 0;
    for (const struct livelog_chunk *c = chunks; c; c = c->next) {
        char key[160];
        snprintf(key, sizeof key, "%s%" PRId64, s->shards.q[0].log_prefix, c->run);
        const char *data[2] = {c->out, c->err}, *name[2] = {"out", "err"};
        const size_t size[2] = {c->out_len, c->err_len};
        for (int k = 0; k < 2; k++)
            for (size_t at = 0; at < size[k]; at += QUEUE_LOG_CHUNK) {
                const size_t n = size[k] - at < QUEUE_LOG_CHUNK ? size[k] - at : QUEUE_LOG_CHUNK;
                redisAppendCommand(r, "XADD %s MAXLEN ~ %d * a %d s %s d %b", key, QUEUE_LOG_ENTRIES, c->attempt,
                                   name[k], data[k] + at, n);
                sent++;
            }
        if (c->end)
            redisAppendCommand(r, "XADD %s MAXLEN ~ %d * a %d e 1", key, QUEUE_LOG_ENTRIES, c->attempt), sent++;
        redisAppendCommand(r, "EXPIRE %s %d", key, QUEUE_LOG_TTL_S), sent++;
    }
    int rc = 0;
    for (int i = 0; i < sent; i++) {
        redisReply *reply = NULL;
        if (redisGetReply(r, (void **)&reply) != REDIS_OK) {
            rc = fail(err, len, "redis: streaming run output: %s", r->errstr);
            break;
        }
        if (reply && reply->type == REDIS_REPLY_ERROR && !rc)
            rc = fail(err, len, "redis: streaming run output: %s", reply->str);
        if (redisconn_redirected(r, reply)) {
            freeReplyObject(reply);
            break;
        }
        freeReplyObject(reply);
    }
    connpair_redis_failed(&s->conn);
    return rc;
}
