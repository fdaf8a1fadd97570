/* SPDX-License-Identifier: MIT */
/* `agentcron tasks`: add, list, show, edit, pause, resume, trigger, cancel, rm, backfill and slots.
 * Every write checks the schedule by the cron contract and the zone through ICU, and sets
 * next_run_at to a real slot; the orchestrator hears of it through NOTIFY. */
#include <getopt.h>
#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agents.h"
#include "cli_util.h"
#include "commands.h"
#include "cronparse.h"
#include "queue.h"
#include "runctl.h"
#include "errors.h"
#include "history.h"
#include "schedule.h"
#include "taskdef.h"
#include "tasks.h"
#include "timefmt.h"

static const char usage_text[] =
    "usage: agentcron tasks add --title T --agent A --user USER [--goal G] [--priority P] [--cron EXPR\n"
    "                           [--timezone ZONE]] [--misfire POLICY] [--overlap POLICY] [--max-attempts N]\n"
    "                           [--timeout-ms N] [--jitter-ms N] [--retention-days N] [--config JSON]\n"
    "                           [--disabled]\n"
    "       agentcron tasks list [--user USER] [--status active|paused|deleted] [--agent A] [--limit N]\n"
    "       agentcron tasks show ID\n"
    "       agentcron tasks edit ID [any option of add; --enable, --disable, --no-cron]\n"
    "       agentcron tasks pause|resume|trigger|cancel|rm ID\n"
    "       agentcron tasks backfill ID --from TIME --to TIME\n"
    "       agentcron tasks slots ID [--from TIME] [--to TIME]\n"
    "Every subcommand takes --json and --env-file FILE.\n"
    "\n"
    "USER is an email or a user id. PRIORITY is urgent, high, normal (default) or low. The\n"
    "timezone is an IANA name (default UTC, or the cron's TZ= prefix). --misfire: coalesce\n"
    "(default), skip, catch_up; --overlap: allow (default), skip, queue_one, cancel_previous.\n"
    "--config is the agent settings the task overrides (JSON; only what the agent allows).\n"
    "pause keeps the schedule but stops firing; resume fires again from the next slot; trigger\n"
    "runs it now; cancel stops its queued and running runs; rm deletes it and cancels its runs\n"
    "(their history is kept).\n"
    "backfill creates the runs of the past slots from --from to --to (RFC 3339), never twice.\n"
    "slots lists each slot of the schedule from --from to --to (default: the last 24 hours and the\n"
    "next hour) and what became of it: its run and status, or why it has none (coalesced,\n"
    "misfire_skip, outside_catch_up_window, overlap_skip, overlap_queue_one,\n"
    "overlap_cancel_previous, paused, upcoming, unrecorded).\n"
    "--retention-days keeps this task's finished runs that long instead of RUN_RETENTION_DAYS\n"
    "(0: back to RUN_RETENTION_DAYS).\n"
    "\n"
    "exit status: 0 ok, 1 failure (e.g. no such task), 2 usage or invalid input\n";

#define CMD "tasks"

/* ---- options shared by add and edit ---- */

struct task_opts {
    const char *title, *goal, *agent, *user, *priority, *cron, *timezone, *misfire, *overlap, *config;
    const char *max_attempts, *timeout_ms, *jitter_ms, *retention_days;
    int enable, disable, no_cron;
    /* list */
    const char *status;
    long limit;
    /* backfill */
    const char *from, *to;
    /* common */
    const char *env_file;
    int json;
};

enum {
    O_TITLE = 1000, O_GOAL, O_AGENT, O_USER, O_PRIORITY, O_CRON, O_TZ, O_MISFIRE, O_OVERLAP, O_CONFIG,
    O_ATTEMPTS, O_TIMEOUT, O_JITTER, O_RETENTION, O_ENABLE, O_DISABLE, O_NOCRON, O_STATUS, O_LIMIT, O_FROM, O_TO, O_JSON, O_ENV,
};

static const struct option long_options[] = {
    {"title", required_argument, NULL, O_TITLE},         {"goal", required_argument, NULL, O_GOAL},
    {"agent", required_argument, NULL, O_AGENT},         {"user", required_argument, NULL, O_USER},
    {"priority", required_argument, NULL, O_PRIORITY},   {"cron", required_argument, NULL, O_CRON},
    {"timezone", required_argument, NULL, O_TZ},         {"tz", required_argument, NULL, O_TZ},
    {"misfire", required_argument, NULL, O_MISFIRE},     {"overlap", required_argument, NULL, O_OVERLAP},
    {"config", required_argument, NULL, O_CONFIG},       {"max-attempts", required_argument, NULL, O_ATTEMPTS},
    {"timeout-ms", required_argument, NULL, O_TIMEOUT},  {"jitter-ms", required_argument, NULL, O_JITTER},
    {"retention-days", required_argument, NULL, O_RETENTION},
    {"enable", no_argument, NULL, O_ENABLE},             {"disable", no_argument, NULL, O_DISABLE},
    {"disabled", no_argument, NULL, O_DISABLE},          {"no-cron", no_argument, NULL, O_NOCRON},
    {"status", required_argument, NULL, O_STATUS},       {"limit", required_argument, NULL, O_LIMIT},
    {"from", required_argument, NULL, O_FROM},           {"to", required_argument, NULL, O_TO},
    {"json", no_argument, NULL, O_JSON},                 {"env-file", required_argument, NULL, O_ENV},
    {"help", no_argument, NULL, 'h'},                    {NULL, 0, NULL, 0},
};

/* Parses argv from index 2; positional arguments are left at argv[optind..]. */
static int parse_opts(int argc, char **argv, struct task_opts *o)
{
    memset(o, 0, sizeof *o);
    o->limit = 100;
    optind = 2;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "h", long_options, NULL)) != -1) {
        switch (c) {
        case O_TITLE: o->title = optarg; break;
        case O_GOAL: o->goal = optarg; break;
        case O_AGENT: o->agent = optarg; break;
        case O_USER: o->user = optarg; break;
        case O_PRIORITY: o->priority = optarg; break;
        case O_CRON: o->cron = optarg; break;
        case O_TZ: o->timezone = optarg; break;
        case O_MISFIRE: o->misfire = optarg; break;
        case O_OVERLAP: o->overlap = optarg; break;
        case O_CONFIG: o->config = optarg; break;
        case O_ATTEMPTS: o->max_attempts = optarg; break;
        case O_TIMEOUT: o->timeout_ms = optarg; break;
        case O_JITTER: o->jitter_ms = optarg; break;
        case O_RETENTION: o->retention_days = optarg; break;
        case O_ENABLE: o->enable = 1; break;
        case O_DISABLE: o->disable = 1; break;
        case O_NOCRON: o->no_cron = 1; break;
        case O_STATUS: o->status = optarg; break;
        case O_LIMIT: {
            char *end;
            o->limit = strtol(optarg, &end, 10);
            if (*end || o->limit < 1 || o->limit > 10000)
                return cli_error(CMD, CLI_USAGE, "--limit \"%s\" must be 1-10000", optarg);
            break;
        }
        case O_FROM: o->from = optarg; break;
        case O_TO: o->to = optarg; break;
        case O_JSON: o->json = 1; break;
        case O_ENV: o->env_file = optarg; break;
        case 'h': fputs(usage_text, stdout); return -1;
        default: return cli_error(CMD, CLI_USAGE, "unknown or incomplete option %s; see `agentcron tasks --help`",
                                  argv[optind - 1]);
        }
    }
    return 0;
}

static int check_choice(const char *option, const char *text, const char *const *choices)
{
    if (!text)
        return 0;
    for (const char *const *c = choices; *c; c++)
        if (!strcmp(text, *c))
            return 0;
    char list[200] = "";
    for (const char *const *c = choices; *c; c++)
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", list[0] ? ", " : "", *c);
    return cli_error(CMD, CLI_USAGE, "%s \"%s\" must be one of %s", option, text, list);
}

/* A whole number option, range-checked by tasks_check; -1 when not given. */
static int parse_int(const char *option, const char *text, int64_t *out)
{
    char *end;
    *out = -1;
    if (!text)
        return 0;
    const long long v = strtoll(text, &end, 10);
    if (!text[0] || *end || v < 0)
        return cli_error(CMD, CLI_USAGE, "%s \"%s\" must be a whole number", option, text);
    *out = v;
    return 0;
}

/* The task fields the options give, checked as every writer of tasks checks them (tasks.h),
 * and the agent and its settings against AGENTS_FILE. agent: the task's agent when the options
 * do not name one (new settings are checked against it). */
static int to_fields(const struct cli_conn *c, const struct task_opts *o, const char *agent, struct task_fields *f)
{
    static const char *const option_of[][2] = {
        {"title", "--title"}, {"goal", "--goal"}, {"config", "--config"}, {"misfire", "--misfire"},
        {"overlap", "--overlap"}, {"maxAttempts", "--max-attempts"}, {"timeoutMs", "--timeout-ms"},
        {"jitterMs", "--jitter-ms"}, {"schedule", "--cron"}, {"timezone", "--timezone"}, {"agent", "--agent"},
        {"retentionDays", "--retention-days"}};
    struct taskdef_error terr;
    *f = (struct task_fields)TASK_FIELDS_UNSET;
    f->title = o->title, f->goal = o->goal, f->agent = o->agent, f->config = o->config;
    f->misfire = o->misfire, f->overlap = o->overlap, f->cron = o->cron, f->timezone = o->timezone;
    f->no_cron = o->no_cron, f->enabled = o->disable ? 0 : o->enable ? 1 : -1;
    if (o->priority && (f->priority = taskdef_priority(o->priority, &terr)) < 0)
        return cli_error(CMD, CLI_USAGE, "%s", terr.message);
    if (parse_int("--max-attempts", o->max_attempts, &f->max_attempts) ||
        parse_int("--timeout-ms", o->timeout_ms, &f->timeout_ms) || parse_int("--jitter-ms", o->jitter_ms, &f->jitter_ms) ||
        parse_int("--retention-days", o->retention_days, &f->retention_days))
        return CLI_USAGE;
    if (tasks_check(f, timefmt_now_ms(), &terr) != 0) {
        for (size_t i = 0; i < sizeof option_of / sizeof option_of[0]; i++)
            if (!strcmp(terr.field, option_of[i][0]))
                return cli_error(CMD, CLI_USAGE, "%s: %s", option_of[i][1], terr.message);
        return cli_error(CMD, CLI_USAGE, "%s", terr.message);
    }
    agent = o->agent ? o->agent : o->config ? agent : NULL;
    if (agent) { /* a task may only name an agent the workers know, with settings it allows */
        struct agent_set set;
        struct agents_error aerr;
        if (agents_load(&set, c->cfg.agents_file, &aerr) != 0)
            return cli_error(CMD, CLI_FAILURE, "%s", aerr.message);
        const struct agent *a = agents_find(&set, agent);
        json_t *eff = a ? agents_effective(a, o->config, &aerr) : NULL;
        json_decref(eff);
        agents_free(&set);
        if (!a)
            return cli_error(CMD, CLI_USAGE, "--agent \"%s\" is not defined in AGENTS_FILE (%s)", agent,
                             c->cfg.agents_file[0] ? c->cfg.agents_file : "unset: only noop exists");
        if (!eff)
            return cli_error(CMD, CLI_USAGE, "--config: %s", aerr.message);
    }
    return 0;
}

/* The exit status and message for a change tasks_* refused. */
static int change_failed(int rc, int64_t id, const struct taskdef_error *terr)
{
    if (rc == TASKS_NOT_FOUND)
        return cli_error(CMD, CLI_FAILURE, "no task %" PRId64 " (or it is deleted)", id);
    return cli_error(CMD, rc == AC_EINVAL ? CLI_USAGE : CLI_FAILURE, "%s", terr->message);
}

/* The user named by email or id; -1 after printing why. */
static int64_t find_user(PGconn *pg, const char *user)
{
    const char *params[1] = {user};
    PGresult *r = PQexecParams(pg, "SELECT id FROM users WHERE email = $1 OR (id::text = $1)", 1, NULL, params, NULL,
                               NULL, 0);
    const int64_t id = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 ? cli_i64(r, 0, 0) : -1;
    PQclear(r);
    if (id < 0)
        cli_error(CMD, CLI_FAILURE, "no user \"%s\" (agentcron users list shows them; agentcron users add creates one)",
                  user);
    return id;
}

static int sql_failed(PGconn *pg, PGresult *r, const char *what)
{
    const int rc = cli_error(CMD, CLI_FAILURE, "%s: %s", what, r ? PQresultErrorMessage(r) : PQerrorMessage(pg));
    PQclear(r);
    return rc;
}

/* ---- reading a task ---- */

static const char sql_task[] =
    "SELECT t.id, t.title, t.goal, t.agent_type, t.agent_config::text, t.priority, t.schedule, t.schedule_enabled,"
    " t.timezone, coalesce((extract(epoch FROM t.next_run_at) * 1000)::bigint, -1), t.max_attempts, t.timeout_ms,"
    " t.misfire_policy, t.overlap_policy, t.jitter_ms, t.status, t.missed_slots, t.skipped_slots, u.email, u.id,"
    " (extract(epoch FROM t.created_at) * 1000)::bigint, t.retention_days"
    " FROM tasks t JOIN users u ON u.id = t.user_id";

static json_t *task_json(PGresult *r, int row)
{
    char next[TIMEFMT_RFC3339_MAX], created[TIMEFMT_RFC3339_MAX];
    json_error_t jerr;
    json_t *config = json_loads(PQgetvalue(r, row, 4), 0, &jerr);
    json_t *t = json_pack("{s:I, s:s, s:s, s:s, s:o, s:s, s:s?, s:b, s:s, s:s?, s:I, s:I, s:s, s:s, s:I, s:s, s:I, s:I,"
                     " s:{s:I, s:s}, s:s}",
                     "id", (json_int_t)cli_i64(r, row, 0), "title", PQgetvalue(r, row, 1), "goal", PQgetvalue(r, row, 2),
                     "agent", PQgetvalue(r, row, 3), "config", config ? config : json_object(), "priority",
                     taskdef_priority_name((int)cli_i64(r, row, 5)), "schedule",
                     PQgetisnull(r, row, 6) ? NULL : PQgetvalue(r, row, 6), "enabled",
                     PQgetvalue(r, row, 7)[0] == 't', "timezone", PQgetvalue(r, row, 8), "nextRunAt",
                     cli_i64(r, row, 9) >= 0 ? cli_time(cli_i64(r, row, 9), next) : NULL, "maxAttempts",
                     (json_int_t)cli_i64(r, row, 10), "timeoutMs", (json_int_t)cli_i64(r, row, 11), "misfire",
                     PQgetvalue(r, row, 12), "overlap", PQgetvalue(r, row, 13), "jitterMs",
                     (json_int_t)cli_i64(r, row, 14), "status", PQgetvalue(r, row, 15), "missedSlots",
                     (json_int_t)cli_i64(r, row, 16), "skippedSlots", (json_int_t)cli_i64(r, row, 17), "user", "id",
                     (json_int_t)cli_i64(r, row, 19), "email", PQgetvalue(r, row, 18), "createdAt",
                     cli_time(cli_i64(r, row, 20), created));
    json_object_set_new(t, "retentionDays", PQgetisnull(r, row, 21) ? json_null() : json_integer(cli_i64(r, row, 21)));
    return t;
}

/* The task as JSON, or NULL after printing that there is none. */
static json_t *load_task(PGconn *pg, int64_t id)
{
    char ids[24], sql[1024];
    snprintf(ids, sizeof ids, "%" PRId64, id);
    snprintf(sql, sizeof sql, "%s WHERE t.id = $1::bigint", sql_task);
    const char *params[1] = {ids};
    PGresult *r = PQexecParams(pg, sql, 1, NULL, params, NULL, NULL, 0);
    json_t *t = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 ? task_json(r, 0) : NULL;
    if (!t)
        cli_error(CMD, CLI_FAILURE, "no task %" PRId64 "%s", id,
                  PQresultStatus(r) == PGRES_TUPLES_OK ? "" : PQresultErrorMessage(r));
    PQclear(r);
    return t;
}

static const char *s_of(const json_t *o, const char *k)
{
    const char *v = json_string_value(json_object_get(o, k));
    return v ? v : "-";
}

/* The next n fire times, local and UTC, as a JSON array. */
static json_t *next_fires(const json_t *t, int n)
{
    json_t *out = json_array();
    const char *cron = json_string_value(json_object_get(t, "schedule"));
    struct cron_expr *expr;
    struct cron_zone *zone;
    char key[24];
    snprintf(key, sizeof key, "%" JSON_INTEGER_FORMAT, json_integer_value(json_object_get(t, "id")));
    if (!cron || cron_parse(cron, key, &expr, NULL) != 0)
        return out;
    if (cron_zone_open(s_of(t, "timezone"), &zone, NULL) == 0) {
        struct cron_fire f;
        int64_t after = timefmt_now_ms();
        for (int i = 0; i < n && cron_next(expr, zone, after, &f) == 0; i++, after = f.ms) {
            char utc[TIMEFMT_RFC3339_MAX], local[TIMEFMT_RFC3339_MAX];
            timefmt_rfc3339(f.ms, cron_zone_offset(zone, f.ms), 0, local);
            json_array_append_new(out, json_pack("{s:s, s:s}", "local", local, "utc", cli_time(f.ms, utc)));
        }
        cron_zone_free(zone);
    }
    cron_free(expr);
    return out;
}

static json_t *last_runs(PGconn *pg, int64_t id, int n)
{
    char ids[24], lim[8];
    snprintf(ids, sizeof ids, "%" PRId64, id);
    snprintf(lim, sizeof lim, "%d", n);
    const char *params[2] = {ids, lim};
    PGresult *r = PQexecParams(pg,
                               "SELECT id, (extract(epoch FROM scheduled_for) * 1000)::bigint, trigger, status, attempt,"
                               " prompt_tokens + completion_tokens, credits_charged, coalesce(error, '') FROM task_runs"
                               " WHERE task_id = $1::bigint ORDER BY scheduled_for DESC, id DESC LIMIT $2::int",
                               2, NULL, params, NULL, NULL, 0);
    json_t *out = json_array();
    for (int i = 0; PQresultStatus(r) == PGRES_TUPLES_OK && i < PQntuples(r); i++) {
        char when[TIMEFMT_RFC3339_MAX];
        json_array_append_new(out, json_pack("{s:I, s:s, s:s, s:s, s:I, s:I, s:I, s:s}", "id", (json_int_t)cli_i64(r, i, 0),
                                             "scheduledFor", cli_time(cli_i64(r, i, 1), when), "trigger",
                                             PQgetvalue(r, i, 2), "status", PQgetvalue(r, i, 3), "attempt",
                                             (json_int_t)cli_i64(r, i, 4), "tokens", (json_int_t)cli_i64(r, i, 5),
                                             "credits", (json_int_t)cli_i64(r, i, 6), "error", PQgetvalue(r, i, 7)));
    }
    PQclear(r);
    return out;
}

/* ---- subcommands ---- */

static int cmd_show(struct cli_conn *c, int64_t id, int json)
{
    json_t *t = load_task(c->pg, id);
    if (!t)
        return CLI_FAILURE;
    json_object_set_new(t, "nextFires", next_fires(t, 5));
    json_object_set_new(t, "lastRuns", last_runs(c->pg, id, 5));
    if (json) {
        cli_print_json(t);
        return CLI_OK;
    }
    printf("task %" JSON_INTEGER_FORMAT ": %s\n", json_integer_value(json_object_get(t, "id")), s_of(t, "title"));
    printf("  user        %s\n  agent       %s\n  priority    %s\n  status      %s\n", s_of(json_object_get(t, "user"), "email"),
           s_of(t, "agent"), s_of(t, "priority"), s_of(t, "status"));
    printf("  schedule    %s (%s)%s\n", s_of(t, "schedule"), s_of(t, "timezone"),
           json_is_true(json_object_get(t, "enabled")) ? "" : ", not scheduled");
    printf("  policies    misfire %s, overlap %s, jitter %" JSON_INTEGER_FORMAT " ms\n", s_of(t, "misfire"),
           s_of(t, "overlap"), json_integer_value(json_object_get(t, "jitterMs")));
    printf("  runs        up to %" JSON_INTEGER_FORMAT " attempts, timeout %" JSON_INTEGER_FORMAT " ms; slots missed %"
           JSON_INTEGER_FORMAT ", skipped %" JSON_INTEGER_FORMAT "\n",
           json_integer_value(json_object_get(t, "maxAttempts")), json_integer_value(json_object_get(t, "timeoutMs")),
           json_integer_value(json_object_get(t, "missedSlots")), json_integer_value(json_object_get(t, "skippedSlots")));
    if (json_is_integer(json_object_get(t, "retentionDays")))
        printf("  history     kept %" JSON_INTEGER_FORMAT " days after a run ends\n",
               json_integer_value(json_object_get(t, "retentionDays")));
    char *cfg = json_dumps(json_object_get(t, "config"), JSON_COMPACT);
    printf("  goal        %s\n  config      %s\n", s_of(t, "goal"), cfg ? cfg : "{}");
    free(cfg);
    size_t i;
    json_t *v;
    const json_t *fires = json_object_get(t, "nextFires");
    if (json_array_size(fires) && json_is_true(json_object_get(t, "enabled")) &&
        !strcmp(s_of(t, "status"), "active")) {
        printf("\nnext fire times:\n");
        json_array_foreach(fires, i, v) printf("  %-27s %s\n", s_of(v, "local"), s_of(v, "utc"));
    }
    const json_t *runs = json_object_get(t, "lastRuns");
    if (json_array_size(runs)) {
        printf("\nlast runs:\n  %-8s %-22s %-9s %-21s %7s %8s %7s\n", "RUN", "SCHEDULED FOR", "TRIGGER", "STATUS",
               "ATTEMPT", "TOKENS", "CREDITS");
        json_array_foreach(runs, i, v)
        printf("  %-8" JSON_INTEGER_FORMAT " %-22s %-9s %-21s %7" JSON_INTEGER_FORMAT " %8" JSON_INTEGER_FORMAT
               " %7" JSON_INTEGER_FORMAT "\n",
               json_integer_value(json_object_get(v, "id")), s_of(v, "scheduledFor"), s_of(v, "trigger"),
               s_of(v, "status"), json_integer_value(json_object_get(v, "attempt")),
               json_integer_value(json_object_get(v, "tokens")), json_integer_value(json_object_get(v, "credits")));
    }
    json_decref(t);
    return CLI_OK;
}

static int cmd_list(struct cli_conn *c, const struct task_opts *o)
{
    static const char *const statuses[] = {"active", "paused", "deleted", NULL};
    if (check_choice("--status", o->status, statuses))
        return CLI_USAGE;
    char sql[2048], lim[16];
    snprintf(sql, sizeof sql,
             "%s WHERE ($1::text IS NULL OR u.email = $1 OR u.id::text = $1) AND"
             " ($2::text IS NULL AND t.status <> 'deleted' OR t.status = $2) AND ($3::text IS NULL OR t.agent_type = $3)"
             " ORDER BY t.next_run_at NULLS LAST, t.id LIMIT $4::int",
             sql_task);
    snprintf(lim, sizeof lim, "%ld", o->limit);
    const char *params[4] = {o->user, o->status, o->agent, lim};
    PGresult *r = PQexecParams(c->pg, sql, 4, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        return sql_failed(c->pg, r, "listing tasks");
    json_t *list = json_array();
    for (int i = 0; i < PQntuples(r); i++)
        json_array_append_new(list, task_json(r, i));
    PQclear(r);
    if (o->json) {
        cli_print_json(json_pack("{s:o}", "tasks", list));
        return CLI_OK;
    }
    const int tw = cli_column_width(list, "title", 5, 60);
    printf("%-6s %-*s %-14s %-8s %-18s %-18s %-24s %s\n", "ID", tw, "TITLE", "AGENT", "PRIO", "SCHEDULE", "TIMEZONE",
           "NEXT RUN (UTC)", "STATUS");
    size_t i;
    json_t *t;
    json_array_foreach(list, i, t)
    {
        const int scheduled = json_is_true(json_object_get(t, "enabled")) && !strcmp(s_of(t, "status"), "active");
        printf("%-6" JSON_INTEGER_FORMAT " %-*.*s %-14.14s %-8s %-18.18s %-18.18s %-24s %s\n",
               json_integer_value(json_object_get(t, "id")), tw, tw, s_of(t, "title"), s_of(t, "agent"), s_of(t, "priority"),
               s_of(t, "schedule"), s_of(t, "timezone"), scheduled ? s_of(t, "nextRunAt") : "-", s_of(t, "status"));
    }
    if (!json_array_size(list))
        printf("(no tasks)\n");
    json_decref(list);
    return CLI_OK;
}

static int cmd_add(struct cli_conn *c, const struct task_opts *o)
{
    if (!o->title || !o->agent || !o->user)
        return cli_error(CMD, CLI_USAGE, "add needs --title, --agent and --user; see --help");
    if (o->timezone && !o->cron)
        return cli_error(CMD, CLI_USAGE, "--timezone needs --cron");
    if (o->enable || o->no_cron)
        return cli_error(CMD, CLI_USAGE, "--enable and --no-cron are for edit; add takes --disabled");
    struct task_fields f;
    int rc = to_fields(c, o, NULL, &f);
    if (rc)
        return rc;
    const int64_t user = find_user(c->pg, o->user);
    if (user < 0)
        return CLI_FAILURE;
    struct taskdef_error terr;
    int64_t id, next;
    if ((rc = tasks_create(c->pg, user, &f, timefmt_now_ms(), &id, &next, &terr)) != 0)
        return change_failed(rc, 0, &terr);
    json_t *t = load_task(c->pg, id);
    if (!t)
        return CLI_FAILURE;
    if (o->json)
        cli_print_json(t);
    else {
        printf("task %" PRId64 " added: %s", id, s_of(t, "title"));
        if (json_object_get(t, "nextRunAt") && json_is_true(json_object_get(t, "enabled")))
            printf("; next run %s (%s)", s_of(t, "nextRunAt"), s_of(t, "timezone"));
        else
            printf("; not scheduled (agentcron tasks trigger %" PRId64 " runs it now)", id);
        putchar('\n');
        json_decref(t);
    }
    return CLI_OK;
}

static int cmd_edit(struct cli_conn *c, int64_t id, const struct task_opts *o)
{
    if (o->enable && o->disable)
        return cli_error(CMD, CLI_USAGE, "--enable and --disable contradict each other");
    if (o->user)
        return cli_error(CMD, CLI_USAGE, "a task cannot change users; add it again for the other user");
    json_t *t = load_task(c->pg, id);
    if (!t)
        return CLI_FAILURE;
    struct task_fields f;
    int rc = to_fields(c, o, s_of(t, "agent"), &f);
    json_decref(t);
    if (rc)
        return rc;
    struct taskdef_error terr;
    if ((rc = tasks_edit(c->pg, 0, id, &f, timefmt_now_ms(), &terr)) != 0)
        return change_failed(rc, id, &terr);
    if (!(t = load_task(c->pg, id)))
        return CLI_FAILURE;
    if (o->json)
        cli_print_json(t);
    else {
        printf("task %" PRId64 " updated%s%s\n", id, json_is_true(json_object_get(t, "enabled")) ? "; next run " : "",
               json_is_true(json_object_get(t, "enabled")) ? s_of(t, "nextRunAt") : "");
        json_decref(t);
    }
    return CLI_OK;
}

/* pause, resume (from the next slot, not the missed ones), rm (its runs cancelled too). */
static int cmd_set_status(struct cli_conn *c, int64_t id, const char *verb, int json)
{
    struct taskdef_error terr;
    int rc, cancelled = 0, stopping = 0;
    if (!strcmp(verb, "rm")) {
        rc = tasks_delete(c->pg, c->redis, 0, id, &cancelled, &stopping, &terr);
        if (rc == 0 && terr.message[0])
            cli_error(CMD, 0, "%s", terr.message); /* deleted, but some runs were left running */
    } else
        rc = tasks_set_status(c->pg, 0, id, !strcmp(verb, "pause") ? "paused" : "active", timefmt_now_ms(), &terr);
    if (rc)
        return change_failed(rc, id, &terr);
    json_t *t = load_task(c->pg, id);
    if (!t)
        return CLI_FAILURE;
    if (json)
        cli_print_json(t);
    else {
        printf("task %" PRId64 " %s", id, s_of(t, "status"));
        if (!strcmp(s_of(t, "status"), "active") && json_is_true(json_object_get(t, "enabled")))
            printf("; next run %s", s_of(t, "nextRunAt"));
        putchar('\n');
        json_decref(t);
    }
    return CLI_OK;
}

/* trigger: a run now, queued at once. */
static int cmd_trigger(struct cli_conn *c, int64_t id, int json)
{
    int64_t run, at;
    char err[1024], when[TIMEFMT_RFC3339_MAX];
    const int rc = runctl_trigger(c->pg, c->redis, id, 0, "manual", &run, &at, err, sizeof err);
    if (rc == RUNCTL_NOT_FOUND)
        return cli_error(CMD, CLI_FAILURE, "no task %" PRId64 " (or it is deleted)", id);
    if (rc != RUNCTL_TRIGGERED)
        return cli_error(CMD, CLI_FAILURE, "%s", err);
    if (json)
        cli_print_json(json_pack("{s:I, s:I, s:s, s:s}", "task", (json_int_t)id, "run", (json_int_t)run,
                                 "scheduledFor", cli_time(at, when), "status", "queued"));
    else
        printf("task %" PRId64 ": run %" PRId64 " queued (agentcron runs show %" PRId64 ")\n", id, run, run);
    return CLI_OK;
}

/* cancel: every queued or running run of the task. */
static int cmd_cancel(struct cli_conn *c, int64_t id, int json)
{
    json_t *t = load_task(c->pg, id);
    if (!t)
        return CLI_FAILURE;
    json_decref(t);
    int cancelled, stopping;
    char err[512];
    if (runctl_cancel_task(c->pg, c->redis, id, 0, &cancelled, &stopping, err, sizeof err) != 0)
        return cli_error(CMD, CLI_FAILURE, "cancelling the runs of task %" PRId64 ": %s", id, err);
    if (json)
        cli_print_json(json_pack("{s:I, s:i, s:i}", "task", (json_int_t)id, "cancelled", cancelled, "stopping", stopping));
    else
        printf("task %" PRId64 ": %d queued run%s cancelled, %d running run%s stopping\n", id, cancelled,
               cancelled == 1 ? "" : "s", stopping, stopping == 1 ? "" : "s");
    return CLI_OK;
}

static int cmd_backfill(struct cli_conn *c, int64_t id, const struct task_opts *o)
{
    int64_t from_ms, to_ms;
    const char *why;
    if (!o->from || !o->to)
        return cli_error(CMD, CLI_USAGE, "backfill needs both --from and --to");
    if (timefmt_parse_rfc3339(o->from, &from_ms, &why) != 0)
        return cli_error(CMD, CLI_USAGE, "--from \"%.64s\" is not an RFC 3339 time: %s", o->from, why);
    if (timefmt_parse_rfc3339(o->to, &to_ms, &why) != 0)
        return cli_error(CMD, CLI_USAGE, "--to \"%.64s\" is not an RFC 3339 time: %s", o->to, why);
    if (to_ms < from_ms)
        return cli_error(CMD, CLI_USAGE, "--to is before --from");
    const struct scheduler_options opt = {
        .database_url = c->cfg.database_url, .redis_url = c->cfg.redis_url, .queue = "default", .batch = 1000};
    struct scheduler *s = scheduler_new(&opt);
    struct backfill_result r;
    char err[1024];
    const int rc = s ? scheduler_backfill(s, id, from_ms, to_ms, &r, err, sizeof err) : -1;
    scheduler_free(s);
    if (rc != 0)
        return cli_error(CMD, CLI_FAILURE, "%s", s ? err : "out of memory");
    if (o->json)
        cli_print_json(json_pack("{s:I, s:I, s:I, s:I, s:I}", "task", (json_int_t)id, "slots", (json_int_t)r.slots,
                                 "created", (json_int_t)r.created, "existing", (json_int_t)r.existing, "enqueued",
                                 (json_int_t)r.enqueued));
    else
        printf("task %" PRId64 ": %lld slot%s from %s to %s; %lld new run%s queued, %lld already had a run\n", id,
               (long long)r.slots, r.slots == 1 ? "" : "s", o->from, o->to, (long long)r.created,
               r.created == 1 ? "" : "s", (long long)r.existing);
    return CLI_OK;
}

static int cmd_slots(struct cli_conn *c, int64_t id, const struct task_opts *o)
{
    const int64_t now = timefmt_now_ms();
    int64_t from_ms = now - 86400000, to_ms = now + 3600000;
    const char *why;
    if (o->from && timefmt_parse_rfc3339(o->from, &from_ms, &why) != 0)
        return cli_error(CMD, CLI_USAGE, "--from \"%.64s\" is not an RFC 3339 time: %s", o->from, why);
    if (o->to && timefmt_parse_rfc3339(o->to, &to_ms, &why) != 0)
        return cli_error(CMD, CLI_USAGE, "--to \"%.64s\" is not an RFC 3339 time: %s", o->to, why);
    json_t *doc;
    char err[1024];
    const int rc = history_slots(c->pg, 0, id, from_ms, to_ms, &doc, err, sizeof err);
    if (rc)
        return cli_error(CMD, rc == AC_EINVAL ? CLI_USAGE : CLI_FAILURE, "%s", err);
    if (o->json) {
        cli_print_json(doc);
        return CLI_OK;
    }
    const json_t *slots = json_object_get(doc, "slots");
    printf("task %" PRId64 " (%s): %s in %s\n", id, s_of(doc, "title"), s_of(doc, "schedule"), s_of(doc, "timezone"));
    printf("%-24s  %-29s  %s\n", "SLOT (UTC)", "LOCAL", "WHAT BECAME OF IT");
    size_t i;
    json_t *v;
    json_array_foreach(slots, i, v)
    {
        char what[160];
        if (json_is_integer(json_object_get(v, "run")))
            snprintf(what, sizeof what, "run %" JSON_INTEGER_FORMAT " %s%s%s", json_integer_value(json_object_get(v, "run")),
                     s_of(v, "status"), strcmp(s_of(v, "trigger"), "schedule") ? " - " : "",
                     strcmp(s_of(v, "trigger"), "schedule") ? s_of(v, "trigger") : "");
        else
            snprintf(what, sizeof what, "no run: %s", s_of(v, "reason"));
        printf("%-24s  %-29s  %s\n", s_of(v, "slot"), s_of(v, "local"), what);
    }
    if (!json_array_size(slots))
        printf("(no slots in that range)\n");
    json_decref(doc);
    return CLI_OK;
}

int cmd_tasks(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        fputs(usage_text, argc < 2 ? stderr : stdout);
        return argc < 2 ? CLI_USAGE : CLI_OK;
    }
    static const char *const verbs[] = {"add", "list", "show", "edit", "pause", "resume", "trigger", "cancel", "rm",
                                        "backfill", "slots", NULL};
    const char *verb = argv[1];
    int known = 0;
    for (const char *const *v = verbs; *v; v++)
        known |= !strcmp(*v, verb);
    if (!known)
        return cli_error(CMD, CLI_USAGE, "unknown subcommand \"%s\"; see `agentcron tasks --help`", verb);
    struct task_opts o;
    int rc = parse_opts(argc, argv, &o);
    if (rc)
        return rc < 0 ? CLI_OK : rc;
    const int takes_id = strcmp(verb, "add") && strcmp(verb, "list");
    int64_t id = 0;
    if (takes_id && (optind + 1 != argc || cli_parse_id(argv[optind], &id) != 0))
        return cli_error(CMD, CLI_USAGE, "%s needs one task ID (a positive number)%s%s", verb,
                         optind < argc ? ", not " : "", optind < argc ? argv[optind] : "");
    if (!takes_id && optind != argc)
        return cli_error(CMD, CLI_USAGE, "unexpected argument \"%s\"; see --help", argv[optind]);
    const int needs_redis = !strcmp(verb, "trigger") || !strcmp(verb, "cancel") || !strcmp(verb, "rm") ||
                            !strcmp(verb, "backfill");
    struct cli_conn c;
    if ((rc = cli_connect(&c, CMD, o.env_file, needs_redis)) != 0)
        return rc;
    if (!strcmp(verb, "add"))
        rc = cmd_add(&c, &o);
    else if (!strcmp(verb, "list"))
        rc = cmd_list(&c, &o);
    else if (!strcmp(verb, "show"))
        rc = cmd_show(&c, id, o.json);
    else if (!strcmp(verb, "edit"))
        rc = cmd_edit(&c, id, &o);
    else if (!strcmp(verb, "trigger"))
        rc = cmd_trigger(&c, id, o.json);
    else if (!strcmp(verb, "cancel"))
        rc = cmd_cancel(&c, id, o.json);
    else if (!strcmp(verb, "backfill"))
        rc = cmd_backfill(&c, id, &o);
    else if (!strcmp(verb, "slots"))
        rc = cmd_slots(&c, id, &o);
    else
        rc = cmd_set_status(&c, id, verb, o.json);
    cli_disconnect(&c);
    return rc;
}
