/* SPDX-License-Identifier: MIT */
/* `agentcron runs list|show|retry|cancel`: the run history, one run in full, replaying a failed
 * run, stopping a queued or running one. */
#include <getopt.h>
#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_util.h"
#include "commands.h"
#include "queue.h"
#include "runctl.h"
#include "timefmt.h"

#define CMD "runs"

static const char usage_text[] =
    "usage: agentcron runs list [--task ID] [--user USER] [--status STATUS] [--since TIME] [--until TIME]\n"
    "                           [--limit N]\n"
    "       agentcron runs show ID\n"
    "       agentcron runs retry ID\n"
    "       agentcron runs cancel ID\n"
    "Every subcommand takes --json and --env-file FILE.\n"
    "\n"
    "list shows the newest runs first (default 50), filtered by task, user (email or id), status\n"
    "(queued running retrying succeeded failed timed_out cancelled insufficient_credits) and the\n"
    "time of their slot (RFC 3339). show prints one run whole: output, error, stderr, tokens,\n"
    "credits, attempts and timing. retry replays a run that ended without success as a new run of\n"
    "its task, queued now (the old one stays in the history and leaves the dead set). cancel\n"
    "stops a run: one not yet started ends `cancelled` at once; a running one is stopped by its\n"
    "worker within a second (SIGTERM to its process group, then SIGKILL; HTTP closed).\n"
    "\n"
    "exit status: 0 ok (also cancelling a run that already ended), 1 failure or no such run, 2 usage\n";

static const char sql_run[] =
    "SELECT r.id, r.task_id, t.title, r.user_id, u.email, r.status, r.trigger, r.priority, r.attempt, t.max_attempts,"
    " (extract(epoch FROM r.scheduled_for) * 1000)::bigint,"
    " coalesce((extract(epoch FROM r.enqueued_at) * 1000)::bigint, -1),"
    " coalesce((extract(epoch FROM r.started_at) * 1000)::bigint, -1),"
    " coalesce((extract(epoch FROM r.finished_at) * 1000)::bigint, -1),"
    " r.prompt_tokens, r.completion_tokens, r.credits_charged, r.credits_reserved, coalesce(r.worker_id, ''),"
    " r.error, r.output, r.stderr_tail, t.agent_type"
    " FROM task_runs r JOIN tasks t ON t.id = r.task_id JOIN users u ON u.id = r.user_id";

static json_t *run_json(PGresult *r, int i, int full)
{
    char sched[TIMEFMT_RFC3339_MAX], enq[TIMEFMT_RFC3339_MAX], start[TIMEFMT_RFC3339_MAX], fin[TIMEFMT_RFC3339_MAX];
    const int64_t started = cli_i64(r, i, 12), finished = cli_i64(r, i, 13);
    json_t *o = json_pack(
        "{s:I, s:I, s:s, s:s, s:I, s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:s, s:s, s:s?, s:s?, s:s?, s:I}",
        "id", (json_int_t)cli_i64(r, i, 0), "task", (json_int_t)cli_i64(r, i, 1), "title", PQgetvalue(r, i, 2), "agent",
        PQgetvalue(r, i, 22), "user", (json_int_t)cli_i64(r, i, 3), "email", PQgetvalue(r, i, 4), "status",
        PQgetvalue(r, i, 5), "trigger", PQgetvalue(r, i, 6), "priority", (json_int_t)cli_i64(r, i, 7), "attempt",
        (json_int_t)cli_i64(r, i, 8), "maxAttempts", (json_int_t)cli_i64(r, i, 9), "promptTokens",
        (json_int_t)cli_i64(r, i, 14), "completionTokens", (json_int_t)cli_i64(r, i, 15), "scheduledFor",
        cli_time(cli_i64(r, i, 10), sched), "worker", PQgetvalue(r, i, 18), "enqueuedAt",
        cli_i64(r, i, 11) >= 0 ? cli_time(cli_i64(r, i, 11), enq) : NULL, "startedAt",
        started >= 0 ? cli_time(started, start) : NULL, "finishedAt", finished >= 0 ? cli_time(finished, fin) : NULL,
        "credits", (json_int_t)cli_i64(r, i, 16));
    json_object_set_new(o, "creditsReserved", json_integer(cli_i64(r, i, 17)));
    json_object_set_new(o, "durationMs", started >= 0 && finished >= started ? json_integer(finished - started) : json_null());
    json_object_set_new(o, "error", PQgetisnull(r, i, 19) ? json_null() : json_string(PQgetvalue(r, i, 19)));
    if (full) {
        json_object_set_new(o, "output", PQgetisnull(r, i, 20) ? json_null() : json_string(PQgetvalue(r, i, 20)));
        json_object_set_new(o, "stderr", PQgetisnull(r, i, 21) ? json_null() : json_string(PQgetvalue(r, i, 21)));
    }
    return o;
}

static const char *s_of(const json_t *o, const char *k)
{
    const char *v = json_string_value(json_object_get(o, k));
    return v ? v : "-";
}

static json_int_t i_of(const json_t *o, const char *k)
{
    return json_integer_value(json_object_get(o, k));
}

struct run_opts {
    const char *task, *user, *status, *since, *until, *env_file;
    long limit;
    int json;
};

static int cmd_list(struct cli_conn *c, const struct run_opts *o)
{
    static const char *const statuses[] = {"queued", "running", "retrying", "succeeded", "failed", "timed_out",
                                           "cancelled", "insufficient_credits", NULL};
    int64_t since = 0, until = 0, task = 0;
    const char *why;
    if (o->task && cli_parse_id(o->task, &task) != 0)
        return cli_error(CMD, CLI_USAGE, "--task \"%s\" must be a task id", o->task);
    if (o->since && timefmt_parse_rfc3339(o->since, &since, &why) != 0)
        return cli_error(CMD, CLI_USAGE, "--since \"%.64s\" is not an RFC 3339 time: %s", o->since, why);
    if (o->until && timefmt_parse_rfc3339(o->until, &until, &why) != 0)
        return cli_error(CMD, CLI_USAGE, "--until \"%.64s\" is not an RFC 3339 time: %s", o->until, why);
    if (o->status) {
        int ok = 0;
        for (const char *const *s = statuses; *s; s++)
            ok |= !strcmp(*s, o->status);
        if (!ok)
            return cli_error(CMD, CLI_USAGE, "--status \"%s\" is not a run status (queued, running, retrying, succeeded,"
                             " failed, timed_out, cancelled, insufficient_credits)", o->status);
    }
    char sql[2048], since_s[24], until_s[24], lim[16];
    snprintf(sql, sizeof sql,
             "%s WHERE ($1::bigint IS NULL OR r.task_id = $1::bigint) AND ($2::text IS NULL OR u.email = $2"
             " OR u.id::text = $2) AND ($3::text IS NULL OR r.status = $3) AND ($4::bigint IS NULL OR r.scheduled_for"
             " >= to_timestamp($4::bigint / 1000.0)) AND ($5::bigint IS NULL OR r.scheduled_for <= to_timestamp($5::bigint"
             " / 1000.0)) ORDER BY r.scheduled_for DESC, r.id DESC LIMIT $6::int",
             sql_run);
    char task_s[24];
    snprintf(task_s, sizeof task_s, "%" PRId64, task);
    snprintf(since_s, sizeof since_s, "%" PRId64, since);
    snprintf(until_s, sizeof until_s, "%" PRId64, until);
    snprintf(lim, sizeof lim, "%ld", o->limit);
    const char *params[6] = {o->task ? task_s : NULL, o->user, o->status, o->since ? since_s : NULL,
                             o->until ? until_s : NULL, lim};
    PGresult *r = PQexecParams(c->pg, sql, 6, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        cli_error(CMD, CLI_FAILURE, "listing runs: %s", PQresultErrorMessage(r));
        PQclear(r);
        return CLI_FAILURE;
    }
    json_t *list = json_array();
    for (int i = 0; i < PQntuples(r); i++)
        json_array_append_new(list, run_json(r, i, 0));
    PQclear(r);
    if (o->json) {
        cli_print_json(json_pack("{s:o}", "runs", list));
        return CLI_OK;
    }
    const int tw = cli_column_width(list, "title", 5, 48);
    printf("%-8s %-6s %-*s %-24s %-21s %7s %8s %7s %s\n", "RUN", "TASK", tw, "TITLE", "SCHEDULED FOR", "STATUS",
           "ATTEMPT", "TOKENS", "CREDITS", "ERROR");
    size_t i;
    json_t *v;
    json_array_foreach(list, i, v)
    {
        const char *err = json_string_value(json_object_get(v, "error"));
        printf("%-8" JSON_INTEGER_FORMAT " %-6" JSON_INTEGER_FORMAT " %-*.*s %-24s %-21s %7" JSON_INTEGER_FORMAT
               " %8" JSON_INTEGER_FORMAT " %7" JSON_INTEGER_FORMAT " %.60s\n",
               i_of(v, "id"), i_of(v, "task"), tw, tw, s_of(v, "title"), s_of(v, "scheduledFor"), s_of(v, "status"),
               i_of(v, "attempt"), i_of(v, "promptTokens") + i_of(v, "completionTokens"), i_of(v, "credits"),
               err ? err : "");
    }
    if (!json_array_size(list))
        printf("(no runs)\n");
    json_decref(list);
    return CLI_OK;
}

/* Every attempt of run id as it ended, oldest first. */
static json_t *load_attempts(PGconn *pg, int64_t id)
{
    char ids[24], started[TIMEFMT_RFC3339_MAX], finished[TIMEFMT_RFC3339_MAX], retry[TIMEFMT_RFC3339_MAX];
    snprintf(ids, sizeof ids, "%" PRId64, id);
    const char *params[1] = {ids};
    PGresult *r = PQexecParams(pg,
                               "SELECT attempt, coalesce(worker_id, ''), coalesce((extract(epoch FROM started_at) * 1000)::bigint, -1),"
                               " (extract(epoch FROM finished_at) * 1000)::bigint, outcome, error,"
                               " prompt_tokens + completion_tokens, coalesce((extract(epoch FROM retry_at) * 1000)::bigint, -1)"
                               " FROM run_attempts WHERE run_id = $1::bigint ORDER BY attempt, id",
                               1, NULL, params, NULL, NULL, 0);
    json_t *list = json_array();
    for (int i = 0; PQresultStatus(r) == PGRES_TUPLES_OK && i < PQntuples(r); i++) {
        const int64_t s = cli_i64(r, i, 2), f = cli_i64(r, i, 3), at = cli_i64(r, i, 7);
        json_array_append_new(list, json_pack("{s:I, s:s, s:s, s:s, s:s, s:s?, s:I, s:s?}", "attempt",
                                              (json_int_t)cli_i64(r, i, 0), "worker", PQgetvalue(r, i, 1), "startedAt",
                                              cli_time(s, started), "finishedAt", cli_time(f, finished), "outcome",
                                              PQgetvalue(r, i, 4), "error", PQgetisnull(r, i, 5) ? NULL : PQgetvalue(r, i, 5),
                                              "tokens", (json_int_t)cli_i64(r, i, 6), "retryAt",
                                              at >= 0 ? cli_time(at, retry) : NULL));
    }
    PQclear(r);
    return list;
}

/* The attempt that ended a run, from the run itself, when no row records it (a run that
 * succeeded at its only attempt has none). */
static json_t *with_final_attempt(json_t *attempts, const json_t *run)
{
    static const char *const ended[] = {"succeeded", "failed", "timed_out", "cancelled", "insufficient_credits", NULL};
    const char *status = s_of(run, "status");
    int final = 0;
    for (const char *const *e = ended; *e && !final; e++)
        final = !strcmp(status, *e);
    size_t i;
    const json_t *a;
    json_array_foreach(attempts, i, a)
    {
        if (json_integer_value(json_object_get(a, "attempt")) == i_of(run, "attempt") &&
            !strcmp(s_of(a, "outcome"), status))
            final = 0; /* recorded already */
    }
    if (final && json_is_string(json_object_get(run, "startedAt")))
        json_array_append_new(attempts, json_pack("{s:I, s:s, s:O, s:O, s:s, s:O?, s:I}", "attempt",
                                                  i_of(run, "attempt"), "worker", s_of(run, "worker"),
                                                  "startedAt", json_object_get(run, "startedAt"), "finishedAt",
                                                  json_object_get(run, "finishedAt"), "outcome", status, "error",
                                                  json_object_get(run, "error"), "tokens",
                                                  i_of(run, "promptTokens") + i_of(run, "completionTokens")));
    return attempts;
}

static json_t *load_run(PGconn *pg, int64_t id)
{
    char ids[24], sql[2048];
    snprintf(ids, sizeof ids, "%" PRId64, id);
    snprintf(sql, sizeof sql, "%s WHERE r.id = $1::bigint", sql_run);
    const char *params[1] = {ids};
    PGresult *r = PQexecParams(pg, sql, 1, NULL, params, NULL, NULL, 0);
    json_t *run = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 ? run_json(r, 0, 1) : NULL;
    if (!run)
        cli_error(CMD, CLI_FAILURE, "no run %" PRId64, id);
    PQclear(r);
    if (run)
        json_object_set_new(run, "attempts", with_final_attempt(load_attempts(pg, id), run));
    return run;
}

static int cmd_show(struct cli_conn *c, int64_t id, int json)
{
    json_t *v = load_run(c->pg, id);
    if (!v)
        return CLI_FAILURE;
    if (json) {
        cli_print_json(v);
        return CLI_OK;
    }
    printf("run %" JSON_INTEGER_FORMAT " of task %" JSON_INTEGER_FORMAT " (%s), agent %s, user %s\n", i_of(v, "id"),
           i_of(v, "task"), s_of(v, "title"), s_of(v, "agent"), s_of(v, "email"));
    printf("  status      %s (attempt %" JSON_INTEGER_FORMAT " of %" JSON_INTEGER_FORMAT ", %s)\n", s_of(v, "status"),
           i_of(v, "attempt"), i_of(v, "maxAttempts"), s_of(v, "trigger"));
    printf("  slot        %s\n  queued      %s\n  started     %s\n  finished    %s", s_of(v, "scheduledFor"),
           s_of(v, "enqueuedAt"), s_of(v, "startedAt"), s_of(v, "finishedAt"));
    if (json_is_integer(json_object_get(v, "durationMs")))
        printf(" (%" JSON_INTEGER_FORMAT " ms)", i_of(v, "durationMs"));
    printf("\n  worker      %s\n", s_of(v, "worker"));
    printf("  tokens      %" JSON_INTEGER_FORMAT " prompt + %" JSON_INTEGER_FORMAT " completion\n",
           i_of(v, "promptTokens"), i_of(v, "completionTokens"));
    printf("  credits     %" JSON_INTEGER_FORMAT " charged%s\n", i_of(v, "credits"),
           i_of(v, "creditsReserved") ? " (more reserved while it runs)" : "");
    if (json_is_string(json_object_get(v, "error")))
        printf("  error       %s\n", s_of(v, "error"));
    const json_t *attempts = json_object_get(v, "attempts");
    if (json_array_size(attempts)) { /* each attempt as it ended, with its own error */
        printf("\n  %-7s %-24s %-20s %-20s %s\n", "ATTEMPT", "ENDED", "OUTCOME", "WORKER", "ERROR");
        size_t k;
        const json_t *a;
        json_array_foreach(attempts, k, a)
        printf("  %-7" JSON_INTEGER_FORMAT " %-24s %-20s %-20.20s %s\n", i_of(a, "attempt"), s_of(a, "finishedAt"),
               s_of(a, "outcome"), s_of(a, "worker"), json_is_string(json_object_get(a, "error")) ? s_of(a, "error") : "-");
    }
    if (json_is_string(json_object_get(v, "output")))
        printf("\n--- output ---\n%s\n", s_of(v, "output"));
    if (json_is_string(json_object_get(v, "stderr")) && s_of(v, "stderr")[0])
        printf("\n--- stderr ---\n%s\n", s_of(v, "stderr"));
    json_decref(v);
    return CLI_OK;
}

/* retry: a new run of the same task now, replaying one that ended without success. */
static int cmd_retry(struct cli_conn *c, int64_t id, int json)
{
    json_t *v = load_run(c->pg, id);
    if (!v)
        return CLI_FAILURE;
    const char *status = s_of(v, "status");
    static const char *const retryable[] = {"failed", "timed_out", "cancelled", "insufficient_credits", NULL};
    int ok = 0;
    for (const char *const *s = retryable; *s; s++)
        ok |= !strcmp(*s, status);
    if (!ok) {
        const int rc = cli_error(CMD, CLI_FAILURE, "run %" PRId64 " is %s: only a run that ended without success"
                                 " (failed, timed_out, cancelled, insufficient_credits) can be retried", id, status);
        json_decref(v);
        return rc;
    }
    const int64_t task = i_of(v, "task");
    json_decref(v);
    int64_t run, at;
    char err[1024];
    const int rc = runctl_trigger(c->pg, c->redis, task, 0, "manual", &run, &at, err, sizeof err);
    if (rc == RUNCTL_NOT_FOUND)
        return cli_error(CMD, CLI_FAILURE, "task %" PRId64 " of run %" PRId64 " is deleted: nothing to replay", task, id);
    if (rc != RUNCTL_TRIGGERED)
        return cli_error(CMD, CLI_FAILURE, "%s", err);
    struct queue q;
    struct queue_error qerr;
    queue_init(&q, "default", &qerr);
    redisReply *z = redisCommand(c->redis, "ZREM %s %lld", q.dead, (long long)id); /* dealt with */
    freeReplyObject(z);
    const struct queue_job job = {.id = run, .task_id = task};
    if (json)
        cli_print_json(json_pack("{s:I, s:I, s:I, s:s}", "retried", (json_int_t)id, "run", (json_int_t)job.id, "task",
                                 (json_int_t)job.task_id, "status", "queued"));
    else
        printf("run %" PRId64 " replays run %" PRId64 " (task %" PRId64 "): queued\n", job.id, id, job.task_id);
    return CLI_OK;
}

static int cmd_cancel(struct cli_conn *c, int64_t id, int json)
{
    char err[1024], status[32];
    const int rc = runctl_cancel(c->pg, c->redis, id, 0, status, err, sizeof err);
    if (rc < 0)
        return cli_error(CMD, CLI_FAILURE, "cancel: %s", err);
    if (rc == RUNCTL_NOT_FOUND)
        return cli_error(CMD, CLI_FAILURE, "no run %" PRId64, id);
    static const char *const results[] = {"cancelled", "stopping", "finished"};
    if (json)
        cli_print_json(json_pack("{s:I, s:s, s:s}", "run", (json_int_t)id, "result", results[rc], "status", status));
    else if (rc == RUNCTL_CANCELLED)
        printf("run %" PRId64 ": cancelled before it started\n", id);
    else if (rc == RUNCTL_STOPPING)
        printf("run %" PRId64 ": running; its worker stops it within a second and records it cancelled\n", id);
    else
        printf("run %" PRId64 ": already ended (%s); nothing to cancel\n", id, status);
    return CLI_OK;
}

int cmd_runs(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        fputs(usage_text, argc < 2 ? stderr : stdout);
        return argc < 2 ? CLI_USAGE : CLI_OK;
    }
    const char *verb = argv[1];
    if (strcmp(verb, "list") && strcmp(verb, "show") && strcmp(verb, "retry") && strcmp(verb, "cancel"))
        return cli_error(CMD, CLI_USAGE, "unknown subcommand \"%s\"; see `agentcron runs --help`", verb);
    static const struct option options[] = {
        {"task", required_argument, NULL, 't'},  {"user", required_argument, NULL, 'u'},
        {"status", required_argument, NULL, 's'}, {"since", required_argument, NULL, 'S'},
        {"until", required_argument, NULL, 'U'},  {"limit", required_argument, NULL, 'l'},
        {"json", no_argument, NULL, 'j'},         {"env-file", required_argument, NULL, 'e'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
    };
    struct run_opts o = {.limit = 50};
    optind = 2;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (c) {
        case 't': o.task = optarg; break;
        case 'u': o.user = optarg; break;
        case 's': o.status = optarg; break;
        case 'S': o.since = optarg; break;
        case 'U': o.until = optarg; break;
        case 'l': {
            char *end;
            o.limit = strtol(optarg, &end, 10);
            if (*end || o.limit < 1 || o.limit > 10000)
                return cli_error(CMD, CLI_USAGE, "--limit \"%s\" must be 1-10000", optarg);
            break;
        }
        case 'j': o.json = 1; break;
        case 'e': o.env_file = optarg; break;
        case 'h': fputs(usage_text, stdout); return CLI_OK;
        default: return cli_error(CMD, CLI_USAGE, "unknown or incomplete option %s; see `agentcron runs --help`",
                                  argv[optind - 1]);
        }
    }
    const int list = !strcmp(verb, "list");
    int64_t id = 0;
    if (!list && (optind + 1 != argc || cli_parse_id(argv[optind], &id) != 0))
        return cli_error(CMD, CLI_USAGE, "%s needs one run ID (a positive number)%s%s", verb,
                         optind < argc ? ", not " : "", optind < argc ? argv[optind] : "");
    if (list && optind != argc)
        return cli_error(CMD, CLI_USAGE, "unexpected argument \"%s\"; see --help", argv[optind]);
    struct cli_conn conn;
    int rc = cli_connect(&conn, CMD, o.env_file, !strcmp(verb, "retry") || !strcmp(verb, "cancel"));
    if (rc)
        return rc;
    if (list)
        rc = cmd_list(&conn, &o);
    else if (!strcmp(verb, "show"))
        rc = cmd_show(&conn, id, o.json);
    else if (!strcmp(verb, "retry"))
        rc = cmd_retry(&conn, id, o.json);
    else
        rc = cmd_cancel(&conn, id, o.json);
    cli_disconnect(&conn);
    return rc;
}
