/* SPDX-License-Identifier: MIT */
/* Durable steps (steps.h). Each operation is one transaction that first locks the run's row:
 * the steps of one run are recorded one at a time, and a settle of the run (which locks the
 * same row) sees every step that committed before it. A reservation belongs to the attempt
 * that made it: one made before the run's current start (the run was taken over, or went back
 * to the queue, and its reservation was released then) is not released again. */
#include "steps.h"

#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <mbedtls/md.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agents.h"
#include "connpair.h"
#include "pgconn.h"
#include "queue.h"
#include "shards.h"
#include "runctl.h"
#include "timefmt.h"

/* $1 run, $2 step. The run, locked, and the step: whether its reservation was made during the
 * run's current start, and how many steps the run has. */
static const char sql_lock_run[] =
    "SELECT r.status, r.attempt, r.user_id, t.agent_type, t.agent_config::text, r.step_credits, r.credits_reserved,"
    " s.status, s.credits, s.credits_reserved, s.started_at >= r.started_at,"
    " (SELECT count(*) FROM run_steps WHERE run_id = r.id)"
    " FROM task_runs r JOIN tasks t ON t.id = r.task_id LEFT JOIN run_steps s ON s.run_id = r.id AND s.step_id = $2"
    " WHERE r.id = $1::bigint FOR UPDATE OF r";

/* $1 run, $2 step, $3 attempt, $4 output, $5 prompt, $6 completion tokens, $7 credits, $8 user,
 * $9 the step's reservation to release. */
static const char sql_record[] =
    "WITH s AS (INSERT INTO run_steps (run_id, step_id, seq, status, attempt, output, prompt_tokens,"
    "           completion_tokens, credits, finished_at)"
    "           VALUES ($1::bigint, $2, (SELECT coalesce(max(seq), 0) + 1 FROM run_steps WHERE run_id = $1::bigint),"
    "           'completed', $3::int, $4::jsonb, $5::bigint, $6::bigint, $7::bigint, clock_timestamp())"
    "           ON CONFLICT (run_id, step_id) DO UPDATE SET seq = excluded.seq, status = 'completed',"
    "           attempt = excluded.attempt, output = excluded.output, prompt_tokens = excluded.prompt_tokens,"
    "           completion_tokens = excluded.completion_tokens, credits = excluded.credits, credits_reserved = 0,"
    "           finished_at = excluded.finished_at WHERE run_steps.status = 'reserved' RETURNING 1),"
    " led AS (INSERT INTO credit_ledger (user_id, run_id, step_id, delta, reason)"
    "         SELECT $8::bigint, $1::bigint, $2, $7::bigint, 'step' WHERE $7::bigint > 0 AND EXISTS (SELECT 1 FROM s)),"
    " usr AS (UPDATE users SET credits_used = credits_used + $7::bigint, credits_reserved = credits_reserved - $9::bigint"
    "         WHERE id = $8::bigint AND ($7::bigint <> 0 OR $9::bigint <> 0) AND EXISTS (SELECT 1 FROM s))"
    " UPDATE task_runs SET prompt_tokens = prompt_tokens + $5::bigint, completion_tokens = completion_tokens + $6::bigint,"
    " step_tokens = step_tokens + $5::bigint + $6::bigint, step_credits = step_credits + $7::bigint,"
    " credits_reserved = credits_reserved - $9::bigint WHERE id = $1::bigint AND EXISTS (SELECT 1 FROM s)"
    " RETURNING 1";

/* $1 user. What the user's month has left, locked. */
static const char sql_user_left[] =
    "SELECT monthly_credits + granted_credits - credits_used - credits_reserved, credits_used,"
    " monthly_credits + granted_credits FROM users WHERE id = $1::bigint FOR UPDATE";

/* $1 run, $2 step, $3 attempt, $4 credits, $5 user. */
static const char sql_reserve[] =
    "WITH s AS (INSERT INTO run_steps (run_id, step_id, seq, status, attempt, credits_reserved)"
    "           VALUES ($1::bigint, $2, (SELECT coalesce(max(seq), 0) + 1 FROM run_steps WHERE run_id = $1::bigint),"
    "           'reserved', $3::int, $4::bigint)"
    "           ON CONFLICT (run_id, step_id) DO UPDATE SET status = 'reserved', attempt = excluded.attempt,"
    "           credits_reserved = excluded.credits_reserved, started_at = clock_timestamp()"
    "           WHERE run_steps.status = 'reserved' RETURNING 1),"
    " usr AS (UPDATE users SET credits_reserved = credits_reserved + $4::bigint"
    "         WHERE id = $5::bigint AND EXISTS (SELECT 1 FROM s))"
    " UPDATE task_runs SET credits_reserved = credits_reserved + $4::bigint WHERE id = $1::bigint"
    " AND EXISTS (SELECT 1 FROM s) RETURNING 1";

/* $1 run, $2 why. */
static const char sql_out_of_budget[] =
    "UPDATE task_runs SET out_of_budget = true, error = left($2, 8192) WHERE id = $1::bigint";

#define STEP_COLUMNS                                                                                              \
    "step_id, output::text, prompt_tokens, completion_tokens, credits, attempt, copied_from, seq, status,"        \
    " credits_reserved, to_char(started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'),"             \
    " to_char(finished_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"

static const char sql_completed[] = "SELECT " STEP_COLUMNS " FROM run_steps WHERE run_id = $1::bigint"
                                    " AND status IN ('completed', 'copied') ORDER BY seq";
static const char sql_all[] = "SELECT " STEP_COLUMNS " FROM run_steps WHERE run_id = $1::bigint ORDER BY seq";

/* ---- tokens ---- */

int steps_token_key(struct pg_conn *pg, unsigned char key[RUN_TOKEN_KEY_LEN], char *err, size_t len)
{
    PGresult *r = PQexecParams((PGconn *)pg, "SELECT key FROM run_token_keys WHERE id = 1", 0, NULL, NULL, NULL, NULL, 1);
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        return pgconn_failed((struct pg_result *)r, pg,
                             "reading the run token key (run `agentcron migrate` if run_token_keys is missing)", err, len);
    const int ok = PQntuples(r) == 1 && PQgetlength(r, 0, 0) == RUN_TOKEN_KEY_LEN;
    if (ok)
        memcpy(key, PQgetvalue(r, 0, 0), RUN_TOKEN_KEY_LEN);
    else
        snprintf(err, len, "run_token_keys holds no key: run `agentcron migrate`");
    PQclear(r);
    return ok ? 0 : -1;
}

static void mac_hex(const unsigned char key[RUN_TOKEN_KEY_LEN], const char *payload, size_t n, char hex[65])
{
    unsigned char mac[32];
    mbedtls_md_hmac(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), key, RUN_TOKEN_KEY_LEN, (const unsigned char *)payload,
                    n, mac);
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", mac[i]);
}

void steps_token_make(const unsigned char key[RUN_TOKEN_KEY_LEN], int64_t run_id, int attempt, int64_t expires_s,
                      char out[RUN_TOKEN_MAX])
{
    char payload[60], hex[65]; /* 5 + 3 * 19 digits at most, with the dots: under RUN_TOKEN_MAX with the MAC */
    const int n = snprintf(payload, sizeof payload, "act1.%" PRId64 ".%d.%" PRId64, run_id, attempt, expires_s);
    mac_hex(key, payload, (size_t)n, hex);
    memcpy(out, payload, (size_t)n);
    out[n] = '.';
    memcpy(out + n + 1, hex, 65);
}

/* Reads the digits at *p up to a dot (or the end with last): 0 and *v, or -1. */
static int token_number(const char **p, int last, int64_t *v)
{
    const char *s = *p;
    size_t n = strspn(s, "0123456789");
    if (n == 0 || n > 18 || (last ? s[n] != 0 : s[n] != '.'))
        return -1;
    *v = strtoll(s, NULL, 10);
    *p = s + n + !last;
    return 0;
}

enum step_token_check steps_token_check(const unsigned char key[RUN_TOKEN_KEY_LEN], const char *token, int64_t run_id,
                                        int64_t now_s, int *attempt)
{
    const size_t n = strlen(token);
    if (n < 5 + 6 + 65 || n >= RUN_TOKEN_MAX || strncmp(token, "act1.", 5) != 0)
        return STEP_TOKEN_MALFORMED;
    const size_t payload_len = n - 65;
    if (token[payload_len] != '.' || strspn(token + payload_len + 1, "0123456789abcdef") != 64)
        return STEP_TOKEN_MALFORMED;
    char payload[RUN_TOKEN_MAX];
    memcpy(payload, token, payload_len);
    payload[payload_len] = 0;
    int64_t run, att, expires;
    const char *p = payload + 5;
    if (token_number(&p, 0, &run) || token_number(&p, 0, &att) || token_number(&p, 1, &expires) || att < 1 ||
        att > 1000000)
        return STEP_TOKEN_MALFORMED;
    char hex[65];
    mac_hex(key, payload, payload_len, hex);
    unsigned char diff = 0;
    for (int i = 0; i < 64; i++)
        diff |= (unsigned char)(hex[i] ^ token[payload_len + 1 + i]);
    if (diff)
        return STEP_TOKEN_FORGED;
    if (run != run_id)
        return STEP_TOKEN_OTHER_RUN;
    if (expires < now_s)
        return STEP_TOKEN_EXPIRED;
    *attempt = (int)att;
    return STEP_TOKEN_OK;
}

int steps_valid_id(const char *id, char *why, size_t len)
{
    const size_t n = strlen(id);
    if (n == 0 || n > STEP_ID_MAX) {
        snprintf(why, len, "a step id is 1-%d bytes", STEP_ID_MAX);
        return 0;
    }
    const size_t ok = strspn(id, STEP_ID_CHARS);
    if (ok != n) {
        snprintf(why, len, "step id \"%.60s\" has a character other than letters, digits and ._:-_ at byte %zu", id, ok);
        return 0;
    }
    return 1;
}

/* ---- record, reserve ---- */

static PGresult *run_sql(PGconn *pg, const char *sql, int n, const char *const *params, ExecStatusType want,
                         const char *what, char *err, size_t len)
{
    PGresult *r = PQexecParams(pg, sql, n, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) == want)
        return r;
    pgconn_failed((struct pg_result *)r, (struct pg_conn *)pg, what, err, len);
    return NULL;
}

/* The statements of a step operation, prepared once per session (connpair_exec, bits 0-7). */
enum step_stmt { SS_LOCK, SS_RECORD, SS_USER_LEFT, SS_RESERVE };
static const struct {
    const char *name, *sql;
} step_stmts[] = {
    [SS_LOCK] = {"agentcron_step_lock", sql_lock_run},
    [SS_RECORD] = {"agentcron_step_record", sql_record},
    [SS_USER_LEFT] = {"agentcron_step_user_left", sql_user_left},
    [SS_RESERVE] = {"agentcron_step_reserve", sql_reserve},
};

static PGresult *run_stmt(struct connpair *c, enum step_stmt st, int n, const char *const *params, ExecStatusType want,
                          const char *what, char *err, size_t len)
{
    PGresult *r = (PGresult *)connpair_exec(c, st, step_stmts[st].name, step_stmts[st].sql, n, params, err, len);
    if (r && PQresultStatus(r) == want)
        return r;
    if (r)
        pgconn_failed((struct pg_result *)r, (struct pg_conn *)c->pg, what, err, len);
    return NULL;
}

/* Runs sql without parameters (BEGIN; SET LOCAL ...: several statements, one round trip). */
static int command(PGconn *pg, const char *sql, char *err, size_t len)
{
    PGresult *r = PQexec(pg, sql);
    if (PQresultStatus(r) == PGRES_COMMAND_OK) {
        PQclear(r);
        return 0;
    }
    return pgconn_failed((struct pg_result *)r, (struct pg_conn *)pg, sql, err, len);
}

static int answer(struct step_answer *out, enum step_status status, const char *reason, int64_t credits,
                  const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static int answer(struct step_answer *out, enum step_status status, const char *reason, int64_t credits,
                  const char *fmt, ...)
{
    out->status = status;
    snprintf(out->reason, sizeof out->reason, "%s", reason);
    out->credits = credits;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out->message, sizeof out->message, fmt, ap);
    va_end(ap);
    return 0;
}

/* What steps_record and steps_reserve first learn of the run and the step, in an open
 * transaction with the run locked. */
struct step_context {
    char status[32];
    int attempt;
    int64_t user, step_credits, run_reserved;
    char agent[101];
    char *agent_config;
    /* the step */
    char step_status[16]; /* "" when there is none */
    int64_t credits, reserved;
    int live;          /* its reservation was made during the run's current start */
    int64_t nsteps;    /* the run's steps */
};

/* Opens a transaction, locks the run and reads the step: 0 with *ctx (free ctx->agent_config),
 * 1 when *out already says what became of the request (no such run, a duplicate, a run not in
 * this attempt), -1. A transaction that is not `durable` commits without waiting for the disk:
 * a reservation lost with a Postgres crash costs nothing (the step's record then releases none). */
static int begin_step(struct connpair *c, int durable, int64_t run_id, int attempt, const char *step_id,
                      struct step_context *ctx, struct step_answer *out, char *err, size_t len)
{
    PGconn *pg = c->pg;
    memset(ctx, 0, sizeof *ctx);
    char run[24];
    snprintf(run, sizeof run, "%" PRId64, run_id);
    const char *params[2] = {run, step_id};
    if (command(pg, durable ? "BEGIN" : "BEGIN; SET LOCAL synchronous_commit = off", err, len))
        return -1;
    PGresult *r = run_stmt(c, SS_LOCK, 2, params, PGRES_TUPLES_OK, "locking the run", err, len);
    if (!r)
        return -1;
    if (PQntuples(r) != 1) {
        PQclear(r);
        return answer(out, STEP_GONE, "not_found", 0, "no run %" PRId64, run_id) + 1;
    }
    snprintf(ctx->status, sizeof ctx->status, "%s", PQgetvalue(r, 0, 0));
    ctx->attempt = atoi(PQgetvalue(r, 0, 1));
    ctx->user = strtoll(PQgetvalue(r, 0, 2), NULL, 10);
    snprintf(ctx->agent, sizeof ctx->agent, "%s", PQgetvalue(r, 0, 3));
    ctx->agent_config = strdup(PQgetvalue(r, 0, 4));
    ctx->step_credits = strtoll(PQgetvalue(r, 0, 5), NULL, 10);
    ctx->run_reserved = strtoll(PQgetvalue(r, 0, 6), NULL, 10);
    if (!PQgetisnull(r, 0, 7)) {
        snprintf(ctx->step_status, sizeof ctx->step_status, "%s", PQgetvalue(r, 0, 7));
        ctx->credits = strtoll(PQgetvalue(r, 0, 8), NULL, 10);
        ctx->reserved = strtoll(PQgetvalue(r, 0, 9), NULL, 10);
        ctx->live = PQgetvalue(r, 0, 10)[0] == 't';
    }
    ctx->nsteps = strtoll(PQgetvalue(r, 0, 11), NULL, 10);
    PQclear(r);
    if (!strcmp(ctx->step_status, "completed") || !strcmp(ctx->step_status, "copied"))
        return answer(out, STEP_DUPLICATE, "", ctx->credits, "step %s of run %" PRId64 " was completed before: skip it",
                      step_id, run_id) + 1;
    if (strcmp(ctx->status, "running") != 0)
        return answer(out, STEP_GONE, "finished", 0, "run %" PRId64 " is %s, not running: stop", run_id, ctx->status) + 1;
    if (ctx->attempt != attempt)
        return answer(out, STEP_GONE, "superseded", 0,
                      "run %" PRId64 " is on attempt %d, not %d: a later attempt runs it; stop", run_id, ctx->attempt,
                      attempt) + 1;
    if (!ctx->step_status[0] && ctx->nsteps >= STEPS_PER_RUN_MAX)
        return answer(out, STEP_INVALID, "", 0, "run %" PRId64 " has %d steps, the most a run may have", run_id,
                      STEPS_PER_RUN_MAX) + 1;
    return 0;
}

/* Ends the transaction begin_step opened: committed when rc is 0 or 1, else rolled back. */
static int end_step(PGconn *pg, struct step_context *ctx, int rc, char *err, size_t len)
{
    free(ctx->agent_config);
    ctx->agent_config = NULL;
    if (rc < 0) {
        PQclear(PQexec(pg, "ROLLBACK"));
        return -1;
    }
    return command(pg, "COMMIT", err, len) ? -1 : 0;
}

int steps_record(struct connpair *c, const struct agent_set *agents, int64_t run_id, int attempt,
                 const struct step_report *rep, struct step_answer *out, char *err, size_t len)
{
    PGconn *pg = c->pg;
    memset(out, 0, sizeof *out);
    char why[200];
    if (!steps_valid_id(rep->step_id, why, sizeof why))
        return answer(out, STEP_INVALID, "", 0, "%s", why);
    if (rep->prompt_tokens < 0 || rep->completion_tokens < 0 || rep->prompt_tokens > INT64_MAX / 4 ||
        rep->completion_tokens > INT64_MAX / 4)
        return answer(out, STEP_INVALID, "", 0, "token counts must be from 0 to %" PRId64, INT64_MAX / 4);
    if (rep->output && strlen(rep->output) > STEP_OUTPUT_MAX)
        return answer(out, STEP_INVALID, "", 0, "a step's output is at most %d bytes of JSON; this one has %zu",
                      STEP_OUTPUT_MAX, strlen(rep->output));
    if (rep->output) {
        json_error_t jerr;
        json_t *doc = json_loads(rep->output, JSON_DECODE_ANY, &jerr);
        json_decref(doc);
        if (!doc)
            return answer(out, STEP_INVALID, "", 0, "the step's output is not JSON: %s", jerr.text);
    }
    struct step_context ctx;
    int rc = begin_step(c, 1, run_id, attempt, rep->step_id, &ctx, out, err, len); /* a checkpoint: durable */
    if (rc == 0) {
        const struct agent *a = agents ? agents_find(agents, ctx.agent) : NULL;
        const int64_t tpc = a ? a->tokens_per_credit : 1000, tokens = rep->prompt_tokens + rep->completion_tokens;
        const int64_t credits = tokens > 0 ? (tokens + tpc - 1) / tpc : 0;
        const int64_t release = !strcmp(ctx.step_status, "reserved") && ctx.live ? ctx.reserved : 0;
        char run[24], att[16], pt[24], ct[24], cr[24], user[24], rel[24];
        snprintf(run, sizeof run, "%" PRId64, run_id);
        snprintf(att, sizeof att, "%d", attempt);
        snprintf(pt, sizeof pt, "%" PRId64, rep->prompt_tokens);
        snprintf(ct, sizeof ct, "%" PRId64, rep->completion_tokens);
        snprintf(cr, sizeof cr, "%" PRId64, credits);
        snprintf(user, sizeof user, "%" PRId64, ctx.user);
        snprintf(rel, sizeof rel, "%" PRId64, release);
        const char *params[9] = {run, rep->step_id, att, rep->output, pt, ct, cr, user, rel};
        PGresult *r = run_stmt(c, SS_RECORD, 9, params, PGRES_TUPLES_OK, "recording the step", err, len);
        rc = r ? 0 : -1;
        if (r && PQntuples(r) == 1)
            answer(out, STEP_RECORDED, "", credits, "step %s of run %" PRId64 " recorded: %" PRId64 " credits",
                   rep->step_id, run_id, credits);
        else if (r)
            answer(out, STEP_DUPLICATE, "", 0, "step %s of run %" PRId64 " was completed before: skip it",
                   rep->step_id, run_id);
        PQclear(r);
    }
    return end_step(pg, &ctx, rc, err, len);
}

/* The run's own cap: max_credits_per_run of the agent, or the task's, or -1 for none. */
static int64_t run_cap(const struct agent_set *agents, const struct step_context *ctx)
{
    const struct agent *a = agents ? agents_find(agents, ctx->agent) : NULL;
    if (!a)
        return -1;
    struct agents_error aerr;
    json_t *eff = agents_effective(a, ctx->agent_config, &aerr);
    const json_t *cap = json_object_get(eff, "max_credits_per_run");
    const int64_t v = json_is_integer(cap) ? json_integer_value(cap) : -1;
    json_decref(eff);
    return v;
}

int steps_reserve(struct connpair *c, const struct agent_set *agents, int64_t run_id, int attempt,
                  const char *step_id, int64_t credits, int64_t at_least, struct step_answer *out, char *err,
                  size_t len)
{
    PGconn *pg = c->pg;
    redisContext *redis = c->redis;
    memset(out, 0, sizeof *out);
    char why[200];
    if (!steps_valid_id(step_id, why, sizeof why))
        return answer(out, STEP_INVALID, "", 0, "%s", why);
    if (credits < 1 || credits > 1000000000 || at_least < 1 || at_least > credits)
        return answer(out, STEP_INVALID, "", 0,
                      "credits must be from 1 to 1000000000 and atLeast from 1 to credits (got %" PRId64 ", %" PRId64 ")",
                      credits, at_least);
    struct step_context ctx;
    int rc = begin_step(c, 0, run_id, attempt, step_id, &ctx, out, err, len);
    if (rc != 0)
        return end_step(pg, &ctx, rc, err, len);
    if (!strcmp(ctx.step_status, "reserved") && ctx.live) {
        answer(out, STEP_GRANTED, "", ctx.reserved, "step %s of run %" PRId64 " has %" PRId64 " credits reserved", step_id,
               run_id, ctx.reserved);
        return end_step(pg, &ctx, 0, err, len);
    }
    if (redis) {
        struct queue_error qerr;
        const int cancel = shards_cancel_requested(shards_deployment(), redis, run_id, &qerr);
        if (cancel < 0) {
            snprintf(err, len, "checking for a cancel request: %s", qerr.message);
            return end_step(pg, &ctx, -1, err, len);
        }
        if (cancel) {
            answer(out, STEP_REFUSED, "cancelled", 0, "run %" PRId64 " was cancelled: stop before step %s", run_id, step_id);
            return end_step(pg, &ctx, 0, err, len);
        }
    }
    char run[24], user[24];
    snprintf(run, sizeof run, "%" PRId64, run_id);
    snprintf(user, sizeof user, "%" PRId64, ctx.user);
    const char *uparams[1] = {user};
    PGresult *r = run_stmt(c, SS_USER_LEFT, 1, uparams, PGRES_TUPLES_OK, "reading the user's credits", err, len);
    if (!r || PQntuples(r) != 1) {
        if (r)
            snprintf(err, len, "run %" PRId64 "'s user %" PRId64 " is gone", run_id, ctx.user);
        PQclear(r);
        return end_step(pg, &ctx, -1, err, len);
    }
    const int64_t user_left = strtoll(PQgetvalue(r, 0, 0), NULL, 10), used = strtoll(PQgetvalue(r, 0, 1), NULL, 10),
                  allowance = strtoll(PQgetvalue(r, 0, 2), NULL, 10);
    PQclear(r);
    const int64_t cap = run_cap(agents, &ctx);
    const int64_t cap_left = cap < 0 ? INT64_MAX : cap - ctx.step_credits - ctx.run_reserved;
    const int64_t grant = credits < user_left ? (credits < cap_left ? credits : cap_left) : (user_left < cap_left ? user_left : cap_left);
    if (grant < at_least) {
        if (cap_left < at_least)
            answer(out, STEP_REFUSED, "run_limit", 0,
                   "step %s needs %" PRId64 " credits but the run's max_credits_per_run (%" PRId64 ") leaves %" PRId64
                   " (%" PRId64 " charged for steps, %" PRId64 " reserved): the run ends insufficient_credits",
                   step_id, at_least, cap, cap_left > 0 ? cap_left : 0, ctx.step_credits, ctx.run_reserved);
        else
            answer(out, STEP_REFUSED, "budget", 0,
                   "step %s needs %" PRId64 " credits but the user's month leaves %" PRId64 " (%" PRId64 " of %" PRId64
                   " used): the run ends insufficient_credits; grant more with agentcron users credits USER --grant N",
                   step_id, at_least, user_left > 0 ? user_left : 0, used, allowance);
        const char *bparams[2] = {run, out->message};
        PGresult *b = run_sql(pg, sql_out_of_budget, 2, bparams, PGRES_COMMAND_OK, "marking the run", err, len);
        PQclear(b);
        return end_step(pg, &ctx, b ? 0 : -1, err, len);
    }
    char att[16], cr[24];
    snprintf(att, sizeof att, "%d", attempt);
    snprintf(cr, sizeof cr, "%" PRId64, grant);
    const char *params[5] = {run, step_id, att, cr, user};
    r = run_stmt(c, SS_RESERVE, 5, params, PGRES_TUPLES_OK, "reserving credits", err, len);
    if (r)
        answer(out, STEP_GRANTED, "", grant, "%" PRId64 " credits reserved for step %s of run %" PRId64, grant, step_id,
               run_id);
    PQclear(r);
    return end_step(pg, &ctx, r ? 0 : -1, err, len);
}

/* ---- reading ---- */

static json_t *step_json(PGresult *r, int i, int for_agents)
{
    json_error_t jerr;
    json_t *output = PQgetisnull(r, i, 1) ? json_null() : json_loads(PQgetvalue(r, i, 1), JSON_DECODE_ANY, &jerr);
    json_t *s = json_pack("{s:s, s:o, s:I, s:I, s:I, s:i}", "id", PQgetvalue(r, i, 0), "output",
                          output ? output : json_null(), "promptTokens", (json_int_t)strtoll(PQgetvalue(r, i, 2), NULL, 10),
                          "completionTokens", (json_int_t)strtoll(PQgetvalue(r, i, 3), NULL, 10), "credits",
                          (json_int_t)strtoll(PQgetvalue(r, i, 4), NULL, 10), "attempt", atoi(PQgetvalue(r, i, 5)));
    if (!s)
        return NULL;
    if (!PQgetisnull(r, i, 6))
        json_object_set_new(s, "copiedFrom", json_integer(strtoll(PQgetvalue(r, i, 6), NULL, 10)));
    if (for_agents)
        return s;
    json_object_set_new(s, "seq", json_integer(atoi(PQgetvalue(r, i, 7))));
    json_object_set_new(s, "status", json_string(PQgetvalue(r, i, 8)));
    json_object_set_new(s, "reserved", json_integer(strtoll(PQgetvalue(r, i, 9), NULL, 10)));
    json_object_set_new(s, "startedAt", json_string(PQgetvalue(r, i, 10)));
    json_object_set_new(s, "finishedAt", PQgetisnull(r, i, 11) ? json_null() : json_string(PQgetvalue(r, i, 11)));
    return s;
}

static int read_steps(PGconn *pg, const char *sql, int64_t run_id, int for_agents, json_t **out, char *err, size_t len)
{
    char run[24];
    snprintf(run, sizeof run, "%" PRId64, run_id);
    const char *params[1] = {run};
    PGresult *r = run_sql(pg, sql, 1, params, PGRES_TUPLES_OK, "reading the run's steps", err, len);
    if (!r)
        return -1;
    json_t *list = json_array();
    for (int i = 0; list && i < PQntuples(r); i++)
        if (json_array_append_new(list, step_json(r, i, for_agents)) != 0) {
            json_decref(list);
            list = NULL;
        }
    PQclear(r);
    if (!list) {
        snprintf(err, len, "out of memory reading the steps of run %" PRId64, run_id);
        return -1;
    }
    *out = list;
    return 0;
}

int steps_completed(struct pg_conn *pg, int64_t run_id, json_t **out, char *err, size_t len)
{
    return read_steps((PGconn *)pg, sql_completed, run_id, 1, out, err, len);
}

int steps_list(struct pg_conn *pg, int64_t run_id, json_t **out, char *err, size_t len)
{
    return read_steps((PGconn *)pg, sql_all, run_id, 0, out, err, len);
}

/* ---- replay ---- */

/* $1 run, $2 scope. */
static const char sql_replay_source[] =
    "SELECT r.task_id FROM task_runs r JOIN tasks t ON t.id = r.task_id"
    " WHERE r.id = $1::bigint AND t.status <> 'deleted' AND ($2::bigint = 0 OR r.user_id = $2::bigint)";

/* $1 run, $2 step: its place, and every completed step for a message when it has none. */
static const char sql_replay_cut[] =
    "SELECT (SELECT seq FROM run_steps WHERE run_id = $1::bigint AND step_id = $2 AND status IN ('completed', 'copied')),"
    " (SELECT string_agg(step_id, ', ' ORDER BY seq) FROM run_steps"
    "  WHERE run_id = $1::bigint AND status IN ('completed', 'copied'))";

/* $1 run, $2 the cut (seq). The new run and its copied steps, in one statement. */
static const char sql_replay[] =
    "WITH nr AS (INSERT INTO task_runs (task_id, user_id, scheduled_for, trigger, priority, enqueued_at, agent)"
    "            SELECT t.id, t.user_id, clock_timestamp(), 'manual', t.priority, clock_timestamp(), t.agent_type"
    "            FROM task_runs r JOIN tasks t ON t.id = r.task_id WHERE r.id = $1::bigint"
    "            RETURNING id, task_id, priority, (extract(epoch FROM scheduled_for) * 1000)::bigint AS at),"
    " cp AS (INSERT INTO run_steps (run_id, step_id, seq, status, attempt, output, prompt_tokens, completion_tokens,"
    "        credits, copied_from, started_at, finished_at)"
    "        SELECT nr.id, s.step_id, s.seq, 'copied', 1, s.output, s.prompt_tokens, s.completion_tokens, 0,"
    "        coalesce(s.copied_from, s.run_id), s.started_at, s.finished_at"
    "        FROM run_steps s, nr WHERE s.run_id = $1::bigint AND s.status IN ('completed', 'copied') AND s.seq < $2::int"
    "        RETURNING 1)"
    " SELECT nr.id, nr.task_id, nr.priority, nr.at, (SELECT count(*) FROM cp) FROM nr";

int steps_replay(struct pg_conn *pgc, redisContext *redis, int64_t scope, int64_t run_id, const char *from_step,
                 int64_t *new_run, int *copied, char *err, size_t len)
{
    PGconn *pg = (PGconn *)pgc;
    char run[24], sc[24];
    snprintf(run, sizeof run, "%" PRId64, run_id);
    snprintf(sc, sizeof sc, "%" PRId64, scope > 0 ? scope : 0);
    const char *params[2] = {run, sc};
    PGresult *r = run_sql(pg, sql_replay_source, 2, params, PGRES_TUPLES_OK, "finding the run", err, len);
    if (!r)
        return -1;
    const int found = PQntuples(r) == 1;
    PQclear(r);
    if (!found) {
        snprintf(err, len, "no run %" PRId64 " (or its task is deleted)", run_id);
        return 1;
    }
    params[1] = from_step;
    if (!(r = run_sql(pg, sql_replay_cut, 2, params, PGRES_TUPLES_OK, "finding the step", err, len)))
        return -1;
    if (PQgetisnull(r, 0, 0)) {
        if (PQgetisnull(r, 0, 1))
            snprintf(err, len, "run %" PRId64 " has no completed step %.200s; it has no completed steps at all", run_id,
                     from_step);
        else
            snprintf(err, len, "run %" PRId64 " has no completed step %.200s; its steps: %.600s", run_id, from_step,
                     PQgetvalue(r, 0, 1));
        PQclear(r);
        return 2;
    }
    char cut[16];
    snprintf(cut, sizeof cut, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    params[1] = cut;
    if (!(r = run_sql(pg, sql_replay, 2, params, PGRES_TUPLES_OK, "creating the replay", err, len)))
        return -1;
    *new_run = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    const int64_t task = strtoll(PQgetvalue(r, 0, 1), NULL, 10), at = strtoll(PQgetvalue(r, 0, 3), NULL, 10);
    const int priority = atoi(PQgetvalue(r, 0, 2));
    *copied = atoi(PQgetvalue(r, 0, 4));
    PQclear(r);
    return runctl_enqueue(redis, *new_run, task, priority, at, err, len);
}
