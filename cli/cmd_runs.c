/* SPDX-License-Identifier: MIT */
/* `agentcron runs list|show|logs|retry|replay|cancel|prune`: the run history, one run in full
 * (its steps too), an attempt's output (live too), replaying a failed run (from one of its
 * steps), stopping a queued or running one, and retention now. */
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
#include "errors.h"
#include "history.h"
#include "queue.h"
#include "redisconn.h"
#include "retention.h"
#include "runctl.h"
#include "steps.h"
#include "timefmt.h"

#define CMD "runs"

static const char usage_text[] =
    "usage: agentcron runs list [--task ID] [--user USER] [--status STATUS] [--agent NAME] [--trigger TRIGGER]\n"
    "                           [--since TIME] [--until TIME] [--limit N] [--cursor NEXT]\n"
    "       agentcron runs show ID\n"
    "       agentcron runs logs ID [--attempt N] [--follow]\n"
    "       agentcron runs retry ID\n"
    "       agentcron runs replay ID --from-step STEP\n"
    "       agentcron runs cancel ID\n"
    "       agentcron runs prune [--dry-run]\n"
    "Every subcommand takes --json and --env-file FILE.\n"
    "\n"
    "list shows the newest slots first (default 50 a page), filtered by task, user (email or id),\n"
    "status (queued running retrying succeeded failed timed_out cancelled insufficient_credits),\n"
    "agent, trigger (schedule backfill manual api) and the time of the slot (RFC 3339, inclusive);\n"
    "when more follow it prints the --cursor of the next page. show prints one run whole: output,\n"
    "error, stderr, tokens, credits, timing and every attempt (worker, outcome, HTTP status or exit\n"
    "code, duration, why and when it was retried). logs prints what an attempt (default: the\n"
    "latest) wrote on stdout and stderr; --follow streams a running exec run's output as it comes\n"
    "and stops when the run ends. retry replays a run that ended without success as a new run of\n"
    "its task, queued now (the old one stays in the history and leaves the dead set). replay starts\n"
    "a new run of the run's task whose steps before STEP are copied from it (not run or charged\n"
    "again): its agent goes on from STEP, e.g. after a fix. cancel stops\n"
    "a run: one not yet started ends `cancelled` at once; a running one is stopped by its worker\n"
    "within a second (SIGTERM to its process group, then SIGKILL; HTTP closed). prune applies\n"
    "retention now (RUN_RETENTION_DAYS, or a task's own --retention-days) and says what it removed;\n"
    "--dry-run only counts it.\n"
    "\n"
    "exit status: 0 ok (also cancelling a run that already ended), 1 failure or no such run, 2 usage\n";

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
    const char *task, *user, *status, *agent, *trigger, *since, *until, *cursor, *env_file, *from_step;
    long limit, attempt;
    int json, follow, dry_run;
};

/* A history_* result as the exit status, its message printed. */
static int history_failed(int rc, const char *err)
{
    return cli_error(CMD, rc == AC_EINVAL ? CLI_USAGE : CLI_FAILURE, "%s", err);
}

static int cmd_list(struct cli_conn *c, const struct run_opts *o)
{
    struct history_filter f = {.user = o->user, .status = o->status, .agent = o->agent, .trigger = o->trigger,
                               .cursor = o->cursor, .limit = (int)o->limit};
    const char *why;
    if (o->task && cli_parse_id(o->task, &f.task_id) != 0)
        return cli_error(CMD, CLI_USAGE, "--task \"%s\" must be a task id", o->task);
    if (o->since && timefmt_parse_rfc3339(o->since, &f.since_ms, &why) != 0)
        return cli_error(CMD, CLI_USAGE, "--since \"%.64s\" is not an RFC 3339 time: %s", o->since, why);
    if (o->until && timefmt_parse_rfc3339(o->until, &f.until_ms, &why) != 0)
        return cli_error(CMD, CLI_USAGE, "--until \"%.64s\" is not an RFC 3339 time: %s", o->until, why);
    json_t *doc;
    char err[1024];
    const int rc = history_list(c->pg, 0, &f, &doc, err, sizeof err);
    if (rc)
        return history_failed(rc, err);
    if (o->json) {
        cli_print_json(doc);
        return CLI_OK;
    }
    const json_t *list = json_object_get(doc, "runs");
    const int tw = cli_column_width(list, "title", 5, 48);
    printf("%-8s %-6s %-*s %-24s %-21s %7s %8s %7s %s\n", "RUN", "TASK", tw, "TITLE", "SCHEDULED FOR", "STATUS",
           "ATTEMPT", "TOKENS", "CREDITS", "ERROR");
    size_t i;
    json_t *v;
    json_array_foreach(list, i, v)
    {
        const char *e = json_string_value(json_object_get(v, "error"));
        printf("%-8" JSON_INTEGER_FORMAT " %-6" JSON_INTEGER_FORMAT " %-*.*s %-24s %-21s %7" JSON_INTEGER_FORMAT
               " %8" JSON_INTEGER_FORMAT " %7" JSON_INTEGER_FORMAT " %.60s\n",
               i_of(v, "id"), i_of(v, "task"), tw, tw, s_of(v, "title"), s_of(v, "scheduledFor"), s_of(v, "status"),
               i_of(v, "attempt"), i_of(v, "promptTokens") + i_of(v, "completionTokens"), i_of(v, "credits"),
               e ? e : "");
    }
    if (!json_array_size(list))
        printf("(no runs)\n");
    if (json_is_string(json_object_get(doc, "next")))
        printf("(more: --cursor %s)\n", s_of(doc, "next"));
    json_decref(doc);
    return CLI_OK;
}

static json_t *load_run(struct cli_conn *c, int64_t id)
{
    json_t *run;
    char err[1024];
    const int rc = history_run(c->pg, 0, id, &run, err, sizeof err);
    if (rc) {
        history_failed(rc, err);
        return NULL;
    }
    return run;
}

/* What an attempt did, in a few words: "HTTP 503", "exit 3", "signal 9", "". */
static const char *attempt_result(const json_t *a, char buf[32])
{
    buf[0] = 0;
    if (json_is_integer(json_object_get(a, "httpStatus")))
        snprintf(buf, 32, "HTTP %" JSON_INTEGER_FORMAT, i_of(a, "httpStatus"));
    else if (json_is_integer(json_object_get(a, "signal")))
        snprintf(buf, 32, "signal %" JSON_INTEGER_FORMAT, i_of(a, "signal"));
    else if (json_is_integer(json_object_get(a, "exitCode")))
        snprintf(buf, 32, "exit %" JSON_INTEGER_FORMAT, i_of(a, "exitCode"));
    return buf;
}

static int cmd_show(struct cli_conn *c, int64_t id, int json)
{
    json_t *v = load_run(c, id);
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
        printf("\n  %-7s %-24s %-20s %-10s %9s %-20s %s\n", "ATTEMPT", "ENDED", "OUTCOME", "RESULT", "MS", "WORKER",
               "ERROR / RETRY");
        size_t k;
        const json_t *a;
        json_array_foreach(attempts, k, a)
        {
            char result[32], ms[24] = "-", retry[160] = "";
            if (json_is_integer(json_object_get(a, "durationMs")))
                snprintf(ms, sizeof ms, "%" JSON_INTEGER_FORMAT, i_of(a, "durationMs"));
            if (json_is_string(json_object_get(a, "retryReason")))
                snprintf(retry, sizeof retry, " [%s, again at %s]", s_of(a, "retryReason"), s_of(a, "retryAt"));
            printf("  %-7" JSON_INTEGER_FORMAT " %-24s %-20s %-10s %9s %-20.20s %s%s\n", i_of(a, "attempt"),
                   s_of(a, "finishedAt"), s_of(a, "outcome"), attempt_result(a, result), ms, s_of(a, "worker"),
                   json_is_string(json_object_get(a, "error")) ? s_of(a, "error") : "-", retry);
        }
    }
    const json_t *steps = json_object_get(v, "steps");
    if (json_array_size(steps)) { /* each step as checkpointed: what it cost, and where it came from */
        printf("\n  %-4s %-32s %-9s %-7s %10s %8s %-24s %s\n", "SEQ", "STEP", "STATUS", "ATTEMPT", "TOKENS", "CREDITS",
               "FINISHED", "OUTPUT");
        size_t k;
        const json_t *st;
        json_array_foreach(steps, k, st)
        {
            char *out = json_dumps(json_object_get(st, "output"), JSON_COMPACT | JSON_ENCODE_ANY);
            char status[24], credits[24];
            snprintf(status, sizeof status, "%s", s_of(st, "status"));
            if (json_is_integer(json_object_get(st, "copiedFrom")))
                snprintf(status, sizeof status, "copied");
            if (!strcmp(status, "reserved"))
                snprintf(credits, sizeof credits, "(%" JSON_INTEGER_FORMAT ")", i_of(st, "reserved"));
            else
                snprintf(credits, sizeof credits, "%" JSON_INTEGER_FORMAT, i_of(st, "credits"));
            printf("  %-4" JSON_INTEGER_FORMAT " %-32.32s %-9s %-7" JSON_INTEGER_FORMAT " %10" JSON_INTEGER_FORMAT
                   " %8s %-24s %.60s%s\n", i_of(st, "seq"), s_of(st, "id"), status, i_of(st, "attempt"),
                   i_of(st, "promptTokens") + i_of(st, "completionTokens"), credits,
                   json_is_string(json_object_get(st, "finishedAt")) ? s_of(st, "finishedAt") : "-", out ? out : "",
                   out && strlen(out) > 60 ? "..." : "");
            if (json_is_integer(json_object_get(st, "copiedFrom")))
                printf("       (copied from run %" JSON_INTEGER_FORMAT ", not charged again)\n", i_of(st, "copiedFrom"));
            free(out);
        }
        printf("  steps charged %" JSON_INTEGER_FORMAT " of the %" JSON_INTEGER_FORMAT " credits\n",
               i_of(v, "stepCredits"), i_of(v, "credits"));
    }
    if (json_is_string(json_object_get(v, "output")))
        printf("\n--- output ---\n%s\n", s_of(v, "output"));
    if (json_is_string(json_object_get(v, "stderr")) && s_of(v, "stderr")[0])
        printf("\n--- stderr ---\n%s\n", s_of(v, "stderr"));
    json_decref(v);
    return CLI_OK;
}

/* Prints an attempt's stored output (stdout) and stderr (stderr). */
static int print_logs(struct cli_conn *c, int64_t id, int attempt, int json)
{
    json_t *doc;
    char err[1024];
    const int rc = history_logs(c->pg, 0, id, attempt, &doc, err, sizeof err);
    if (rc)
        return history_failed(rc, err);
    if (json) {
        cli_print_json(doc);
        return CLI_OK;
    }
    const char *out = json_string_value(json_object_get(doc, "output")),
               *errs = json_string_value(json_object_get(doc, "stderr"));
    if (out && out[0])
        printf("%s%s", out, out[strlen(out) - 1] == '\n' ? "" : "\n");
    if (errs && errs[0])
        fprintf(stderr, "%s%s", errs, errs[strlen(errs) - 1] == '\n' ? "" : "\n");
    json_decref(doc);
    return CLI_OK;
}

/* The run's status now ("" if it is gone). */
static void run_status(struct cli_conn *c, int64_t id, char out[32])
{
    char ids[24];
    snprintf(ids, sizeof ids, "%" PRId64, id);
    const char *params[1] = {ids};
    PGresult *r = PQexecParams(c->pg, "SELECT status FROM task_runs WHERE id = $1::bigint", 1, NULL, params, NULL, NULL, 0);
    snprintf(out, 32, "%s", PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) ? PQgetvalue(r, 0, 0) : "");
    PQclear(r);
}

/* Prints the entries of a log stream reply (XREAD): data to stdout or stderr, and a line on
 * stderr where a new attempt begins. Returns how many data entries; the last id goes to last,
 * and *ended says whether the newest entry was an attempt's end mark. */
static int print_entries(const redisReply *streams, char last[64], int json, long long *attempt_shown, int *ended)
{
    int n = 0;
    if (!streams || streams->type != REDIS_REPLY_ARRAY || streams->elements < 1)
        return 0;
    const redisReply *entries = streams->element[0]->element[1];
    for (size_t i = 0; entries && i < entries->elements; i++) {
        struct queue_log_entry le;
        if (queue_log_entry(entries->element[i], &le) != 0)
            continue;
        const char *stream = le.stream, *data = le.data;
        const size_t dlen = le.len;
        const long long attempt = le.attempt;
        snprintf(last, 64, "%s", le.id);
        *ended = le.end;
        if (le.end || !stream)
            continue;
        if (json)
            cli_print_json(json_pack("{s:I, s:s, s:s%}", "attempt", (json_int_t)attempt, "stream", stream, "data", data,
                                     dlen));
        else {
            if (*attempt_shown && attempt != *attempt_shown)
                fprintf(stderr, "--- attempt %lld ---\n", attempt);
            FILE *to = strcmp(stream, "err") ? stdout : stderr;
            fwrite(data, 1, dlen, to);
            fflush(to);
        }
        *attempt_shown = attempt;
        n++;
    }
    return n;
}

/* --follow: the run's output from its live stream (queue.h) while it runs, until the end mark
 * of its last attempt; if nothing was streamed (not an exec run, or one that ended within a
 * flush), what Postgres stored. */
static int follow_logs(struct cli_conn *c, int64_t id, int json)
{
    enum { END_WAIT_MS = 3000 }; /* for the end mark after Postgres says the run ended */
    struct queue q;
    struct queue_error qerr;
    queue_init(&q, "default", &qerr);
    char key[128], last[64] = "0", status[32];
    snprintf(key, sizeof key, "%s%" PRId64, q.log_prefix, id);
    run_status(c, id, status);
    if (!status[0])
        return cli_error(CMD, CLI_FAILURE, "no run %" PRId64, id);
    int shown = 0, ended = 0;
    long long attempt = 0;
    int64_t ended_at = 0;
    for (;;) {
        const int live = !strcmp(status, "queued") || !strcmp(status, "running") || !strcmp(status, "retrying");
        redisReply *r = redisconn_command(c->redis, "XREAD COUNT 512 BLOCK %d STREAMS %s %s", live || shown ? 500 : 1, key,
                                     last);
        if (!r || r->type == REDIS_REPLY_ERROR) {
            const int rc = cli_error(CMD, CLI_FAILURE, "redis: %s; see `agentcron runs logs %" PRId64 "`",
                                     r ? r->str : c->redis->errstr, id);
            freeReplyObject(r);
            return rc;
        }
        shown += print_entries(r, last, json, &attempt, &ended);
        freeReplyObject(r);
        if (!live) {
            if (!shown || ended)
                break;
            if (!ended_at)
                ended_at = timefmt_now_ms();
            else if (timefmt_now_ms() - ended_at > END_WAIT_MS)
                break; /* its worker died before the end mark: the stream has what there is */
        }
        run_status(c, id, status);
    }
    if (!shown) /* nothing streamed: what was stored */
        return print_logs(c, id, 0, json);
    return CLI_OK;
}

static int cmd_prune(struct cli_conn *c, int dry_run, int json)
{
    const int days = c->cfg.run_retention_days;
    char err[1024];
    if (dry_run) {
        struct retention_counts n;
        if (retention_preview(c->pg, days, &n, err, sizeof err) != 0)
            return cli_error(CMD, CLI_FAILURE, "%s", err);
        if (json)
            cli_print_json(json_pack("{s:b, s:i, s:I, s:I, s:I}", "dryRun", 1, "retentionDays", days, "runs",
                                     (json_int_t)n.runs, "attempts", (json_int_t)n.attempts, "slotRows",
                                     (json_int_t)n.gaps));
        else
            printf("would remove %" PRId64 " runs (%" PRId64 " attempts) and %" PRId64 " slot-ledger rows: older than"
                   " %d days (RUN_RETENTION_DAYS%s), or than their task's --retention-days\n",
                   n.runs, n.attempts, n.gaps, days, days ? "" : "=0: kept forever");
        return CLI_OK;
    }
    struct retention_pass pass = {0};
    const int64_t t0 = timefmt_now_ms();
    int rc;
    while ((rc = retention_step(c->pg, days, &pass, err, sizeof err)) > 0)
        ;
    if (rc < 0)
        return cli_error(CMD, CLI_FAILURE, "%s (removed so far: %" PRId64 " runs, %" PRId64 " slot-ledger rows; run it"
                         " again to go on)", err, pass.removed.runs, pass.removed.gaps);
    const int64_t ms = timefmt_now_ms() - t0;
    if (json)
        cli_print_json(json_pack("{s:b, s:i, s:I, s:I, s:I, s:i, s:I}", "dryRun", 0, "retentionDays", days, "runs",
                                 (json_int_t)pass.removed.runs, "attempts", (json_int_t)pass.removed.attempts,
                                 "slotRows", (json_int_t)pass.removed.gaps, "batches", pass.steps, "ms", (json_int_t)ms));
    else
        printf("removed %" PRId64 " runs (%" PRId64 " attempts) and %" PRId64 " slot-ledger rows in %d batches,"
               " %" PRId64 " ms\n", pass.removed.runs, pass.removed.attempts, pass.removed.gaps, pass.steps, ms);
    return CLI_OK;
}

/* retry: a new run of the same task now, replaying one that ended without success. */
static int cmd_retry(struct cli_conn *c, int64_t id, int json)
{
    json_t *v = load_run(c, id);
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
    redisReply *z = redisconn_command(c->redis, "ZREM %s %lld", q.dead, (long long)id); /* dealt with */
    freeReplyObject(z);
    const struct queue_job job = {.id = run, .task_id = task};
    if (json)
        cli_print_json(json_pack("{s:I, s:I, s:I, s:s}", "retried", (json_int_t)id, "run", (json_int_t)job.id, "task",
                                 (json_int_t)job.task_id, "status", "queued"));
    else
        printf("run %" PRId64 " replays run %" PRId64 " (task %" PRId64 "): queued\n", job.id, id, job.task_id);
    return CLI_OK;
}

/* replay --from-step: a new run that goes on from a step of this one. */
static int cmd_replay(struct cli_conn *c, int64_t id, const char *from_step, int json)
{
    int64_t run;
    int copied;
    char err[1024];
    const int rc = steps_replay(c->pg, c->redis, 0, id, from_step, &run, &copied, err, sizeof err);
    if (rc != 0 && rc != RUNCTL_NOT_QUEUED)
        return cli_error(CMD, CLI_FAILURE, "replay: %s", err);
    if (json)
        cli_print_json(json_pack("{s:I, s:I, s:s, s:i, s:s}", "replayed", (json_int_t)id, "run", (json_int_t)run,
                                 "fromStep", from_step, "copiedSteps", copied, "status", "queued"));
    else
        printf("run %" PRId64 " replays run %" PRId64 " from step %s: %d earlier step%s copied (not charged again), "
               "queued\n", run, id, from_step, copied, copied == 1 ? "" : "s");
    if (rc == RUNCTL_NOT_QUEUED)
        fprintf(stderr, "agentcron runs: %s\n", err);
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
    static const char *const verbs[] = {"list", "show", "logs", "retry", "replay", "cancel", "prune", NULL};
    const char *verb = argv[1];
    int known = 0;
    for (const char *const *v = verbs; *v; v++)
        known |= !strcmp(*v, verb);
    if (!known)
        return cli_error(CMD, CLI_USAGE, "unknown subcommand \"%s\"; see `agentcron runs --help`", verb);
    static const struct option options[] = {
        {"task", required_argument, NULL, 't'},   {"user", required_argument, NULL, 'u'},
        {"status", required_argument, NULL, 's'}, {"agent", required_argument, NULL, 'a'},
        {"trigger", required_argument, NULL, 'T'}, {"since", required_argument, NULL, 'S'},
        {"until", required_argument, NULL, 'U'},  {"limit", required_argument, NULL, 'l'},
        {"cursor", required_argument, NULL, 'c'}, {"attempt", required_argument, NULL, 'A'},
        {"follow", no_argument, NULL, 'f'},       {"dry-run", no_argument, NULL, 'n'},
        {"from-step", required_argument, NULL, 'F'},
        {"json", no_argument, NULL, 'j'},         {"env-file", required_argument, NULL, 'e'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
    };
    struct run_opts o = {.limit = 50};
    optind = 2;
    opterr = 0;
    int c;
    char *end;
    while ((c = getopt_long(argc, argv, "hf", options, NULL)) != -1) {
        switch (c) {
        case 't': o.task = optarg; break;
        case 'u': o.user = optarg; break;
        case 's': o.status = optarg; break;
        case 'a': o.agent = optarg; break;
        case 'T': o.trigger = optarg; break;
        case 'S': o.since = optarg; break;
        case 'U': o.until = optarg; break;
        case 'c': o.cursor = optarg; break;
        case 'l':
            o.limit = strtol(optarg, &end, 10);
            if (*end || o.limit < 1 || o.limit > HISTORY_PAGE_MAX)
                return cli_error(CMD, CLI_USAGE, "--limit \"%s\" must be 1-%d", optarg, HISTORY_PAGE_MAX);
            break;
        case 'A':
            o.attempt = strtol(optarg, &end, 10);
            if (*end || o.attempt < 1 || o.attempt > 100)
                return cli_error(CMD, CLI_USAGE, "--attempt \"%s\" must be an attempt number, 1-100", optarg);
            break;
        case 'f': o.follow = 1; break;
        case 'F': o.from_step = optarg; break;
        case 'n': o.dry_run = 1; break;
        case 'j': o.json = 1; break;
        case 'e': o.env_file = optarg; break;
        case 'h': fputs(usage_text, stdout); return CLI_OK;
        default: return cli_error(CMD, CLI_USAGE, "unknown or incomplete option %s; see `agentcron runs --help`",
                                  argv[optind - 1]);
        }
    }
    const int no_id = !strcmp(verb, "list") || !strcmp(verb, "prune");
    int64_t id = 0;
    if (!no_id && (optind + 1 != argc || cli_parse_id(argv[optind], &id) != 0))
        return cli_error(CMD, CLI_USAGE, "%s needs one run ID (a positive number)%s%s", verb,
                         optind < argc ? ", not " : "", optind < argc ? argv[optind] : "");
    if (no_id && optind != argc)
        return cli_error(CMD, CLI_USAGE, "unexpected argument \"%s\"; see --help", argv[optind]);
    if (o.follow && o.attempt)
        return cli_error(CMD, CLI_USAGE, "--follow shows the run's current attempt: leave out --attempt");
    char why[200];
    if (!strcmp(verb, "replay") && !o.from_step)
        return cli_error(CMD, CLI_USAGE, "replay needs --from-step STEP (`agentcron runs show %" PRId64 "` lists its steps)", id);
    if (o.from_step && strcmp(verb, "replay"))
        return cli_error(CMD, CLI_USAGE, "--from-step is for replay");
    if (o.from_step && !steps_valid_id(o.from_step, why, sizeof why))
        return cli_error(CMD, CLI_USAGE, "--from-step: %s", why);
    struct cli_conn conn;
    const int redis = !strcmp(verb, "retry") || !strcmp(verb, "replay") || !strcmp(verb, "cancel") ||
                      (o.follow && !strcmp(verb, "logs"));
    int rc = cli_connect(&conn, CMD, o.env_file, redis);
    if (rc)
        return rc;
    if (!strcmp(verb, "list"))
        rc = cmd_list(&conn, &o);
    else if (!strcmp(verb, "show"))
        rc = cmd_show(&conn, id, o.json);
    else if (!strcmp(verb, "logs"))
        rc = o.follow ? follow_logs(&conn, id, o.json) : print_logs(&conn, id, (int)o.attempt, o.json);
    else if (!strcmp(verb, "retry"))
        rc = cmd_retry(&conn, id, o.json);
    else if (!strcmp(verb, "replay"))
        rc = cmd_replay(&conn, id, o.from_step, o.json);
    else if (!strcmp(verb, "prune"))
        rc = cmd_prune(&conn, o.dry_run, o.json);
    else
        rc = cmd_cancel(&conn, id, o.json);
    cli_disconnect(&conn);
    return rc;
}
