/* SPDX-License-Identifier: MIT */
/* `agentcron import vercel.json`: each entry of its "crons" becomes a task of an http agent that
 * calls the app's route with GET and the CRON_SECRET bearer, the way Vercel does. Tasks are
 * keyed by user, agent and path, so importing again updates them and never duplicates; the
 * file is configuration as code: a plan (create, update, unchanged, and with --prune delete)
 * is printed, and --dry-run stops there. The URL comes from the operator's agent (tasks cannot
 * choose where their secrets go): the agent's url must be --base-url, whose path (an app
 * served under /calcom) goes before every route. */
#include <getopt.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agents.h"
#include "cli_util.h"
#include "commands.h"
#include "taskdef.h"
#include "tasks.h"
#include "timefmt.h"

#define CMD "import"
#define MAX_CRONS 200 /* entries one file may hold (Vercel allows 100 a project) */

static const char usage_text[] =
    "usage: agentcron import vercel.json --base-url URL --user USER [--timezone ZONE] [--agent NAME]\n"
    "                        [--dry-run] [--prune] [--json] [--env-file FILE]\n"
    "\n"
    "Each entry of the file's \"crons\" array ({\"path\", \"schedule\"}) becomes a task that calls\n"
    "URL + path with GET and `Authorization: Bearer $CRON_SECRET`, in UTC as Vercel runs them (or\n"
    "in --timezone). The calls go through an http agent of AGENTS_FILE (default name \"vercel\")\n"
    "whose url is the app's base URL, with GET, bearer_env CRON_SECRET and \"path\" overridable.\n"
    "Importing again updates those tasks (schedule, zone) and never duplicates them. The plan is\n"
    "printed: create, update, unchanged; with --prune also delete, for the tasks an import for this\n"
    "user and agent made that the file no longer lists (their queued runs are cancelled).\n"
    "--dry-run prints the plan and writes nothing.\n"
    "\n"
    "exit status: 0 ok, 1 failure, 2 usage or invalid input (nothing is written then)\n";

/* The path of base_url ("/calcom" for http://host/calcom/), without its trailing '/'. */
static void base_path(const char *base_url, char *out, size_t len)
{
    const char *p = strstr(base_url, "://");
    p = p ? strchr(p + 3, '/') : NULL;
    size_t n = p ? strcspn(p, "?#") : 0;
    while (n && p[n - 1] == '/')
        n--;
    snprintf(out, len, "%.*s", (int)n, p ? p : "");
}

static int check_agent(const struct cli_conn *c, const char *name, const char *base_url)
{
    struct agent_set set;
    struct agents_error err;
    if (agents_load(&set, c->cfg.agents_file, &err) != 0)
        return cli_error(CMD, CLI_FAILURE, "%s", err.message);
    const struct agent *a = agents_find(&set, name);
    const char *url = a ? json_string_value(json_object_get(a->settings, "url")) : NULL;
    const int ok = a && a->kind == AGENT_HTTP && url;
    int path_ok = 0;
    for (char **o = a ? a->overridable : NULL; o && *o; o++)
        path_ok |= !strcmp(*o, "path");
    size_t n = strlen(base_url);
    while (n && base_url[n - 1] == '/')
        n--;
    const int same = url && !strncmp(url, base_url, n) && (url[n] == 0 || url[n] == '/');
    char other[300];
    snprintf(other, sizeof other, "%s", url ? url : "");
    const int exists = a != NULL;
    const char *method = a ? json_string_value(json_object_get(a->settings, "method")) : NULL;
    const char *ua = a ? json_string_value(json_object_get(json_object_get(a->settings, "headers"), "User-Agent")) : NULL;
    const int like_vercel = method && !strcmp(method, "GET") && ua && !strcmp(ua, "vercel-cron/1.0");
    agents_free(&set);
    if (ok && path_ok && same && !like_vercel) /* works, but a route that checks them would see the difference */
        cli_error(CMD, 0, "note: agent \"%s\" does not call as Vercel Cron does (GET, User-Agent: vercel-cron/1.0); if your "
                  "routes check either, add \"method\": \"GET\", \"headers\": {\"User-Agent\": \"vercel-cron/1.0\"} to it",
                  name);
    if (ok && path_ok && same)
        return 0;
    if (exists) /* the name is taken by an agent for something else: another name is needed */
        return cli_error(CMD, CLI_USAGE,
                         "AGENTS_FILE's agent \"%s\" is not an http agent for %.*s with \"path\" overridable (its url:"
                         " %s): name another agent for this app with --agent NAME, and add: \"NAME\": {\"kind\": "
                         "\"http\", \"url\": \"%.*s/\", \"method\": \"GET\", \"bearer_env\": \"CRON_SECRET\", "
                         "\"headers\": {\"User-Agent\": \"vercel-cron/1.0\"}, \"overridable\": [\"path\"]}",
                         name, (int)n, base_url, other[0] ? other : "none", (int)n, base_url);
    return cli_error(CMD, CLI_USAGE,
                     "AGENTS_FILE needs an http agent \"%s\" for %.*s (tasks cannot choose where the CRON_SECRET goes);"
                     " add: \"%s\": {\"kind\": \"http\", \"url\": \"%.*s/\", \"method\": \"GET\", \"bearer_env\":"
                     " \"CRON_SECRET\", \"headers\": {\"User-Agent\": \"vercel-cron/1.0\"}, \"overridable\": [\"path\"]}",
                     name, (int)n, base_url, name, (int)n, base_url);
}

/* One line of the plan: a cron of the file, or a task it no longer lists. */
struct step {
    const char *action; /* create update unchanged delete */
    const char *path, *schedule;
    char config[2200];  /* the task's agent_config: {"path": base path + route} */
    char title[260];
    char zone[128];
    int64_t id, next;
    int paused;
};

/* The plan for one cron: its task (by user, agent and path) as it is, against what the file
 * says. 0, or CLI_FAILURE after printing why. */
static int plan_cron(struct cli_conn *conn, const char *uid, const char *agent, const char *prefix, const char *zone,
                     const json_t *e, struct step *st)
{
    st->path = json_string_value(json_object_get(e, "path"));
    st->schedule = json_string_value(json_object_get(e, "schedule"));
    char route[2100];
    snprintf(route, sizeof route, "%s%s", prefix, st->path);
    json_t *cfg = json_pack("{s:s}", "path", route);
    char *cfg_text = cfg ? json_dumps(cfg, JSON_COMPACT) : NULL;
    json_decref(cfg);
    snprintf(st->config, sizeof st->config, "%s", cfg_text ? cfg_text : "{}");
    free(cfg_text);
    /* the route names the task; a query string may carry a secret (?secret=...): never shown */
    snprintf(st->title, sizeof st->title, "vercel cron %.*s", (int)strcspn(st->path, "?#"), st->path);
    const char *p1[3] = {uid, agent, st->config};
    PGresult *r = PQexecParams(conn->pg,
                               "SELECT id, schedule, timezone, schedule_enabled, status FROM tasks WHERE user_id = $1::bigint"
                               " AND agent_type = $2 AND agent_config = $3::jsonb AND status <> 'deleted' ORDER BY id LIMIT 1",
                               3, NULL, p1, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        const int rc = cli_error(CMD, CLI_FAILURE, "reading the tasks of %s: %s", st->path, PQresultErrorMessage(r));
        PQclear(r);
        return rc;
    }
    st->id = PQntuples(r) ? cli_i64(r, 0, 0) : -1;
    struct taskdef_error terr;
    taskdef_schedule(st->schedule, zone, st->id > 0 ? st->id : 1, timefmt_now_ms(), st->zone, &st->next, &terr);
    if (st->id < 0)
        st->action = "create";
    else {
        st->paused = strcmp(PQgetvalue(r, 0, 4), "active") != 0;
        const int same = !strcmp(PQgetvalue(r, 0, 1), st->schedule) && !strcmp(PQgetvalue(r, 0, 2), st->zone) &&
                         PQgetvalue(r, 0, 3)[0] == 't' && !st->paused;
        st->action = same ? "unchanged" : "update";
    }
    PQclear(r);
    return 0;
}

/* Carries out one step of the plan (inside the import's transaction, except deletes). */
static int apply(struct cli_conn *conn, int64_t user_id, const char *agent, const char *zone, struct step *st)
{
    struct taskdef_error terr;
    struct task_fields f = TASK_FIELDS_UNSET;
    f.cron = st->schedule, f.timezone = zone, f.enabled = 1;
    const int64_t now = timefmt_now_ms();
    int rc = 0, cancelled, stopping;
    if (!strcmp(st->action, "create")) {
        f.title = st->title, f.agent = agent, f.config = st->config, f.source = "import";
        rc = tasks_create(conn->pg, user_id, &f, now, &st->id, &st->next, &terr);
    } else if (!strcmp(st->action, "update")) {
        if ((rc = tasks_edit(conn->pg, user_id, st->id, &f, now, &terr)) == 0 && st->paused)
            rc = tasks_set_status(conn->pg, user_id, st->id, "active", now, &terr);
        taskdef_schedule(st->schedule, zone, st->id, now, st->zone, &st->next, &terr); /* as just written */
    } else if (!strcmp(st->action, "delete")) {
        rc = tasks_delete(conn->pg, conn->redis, user_id, st->id, &cancelled, &stopping, &terr);
        if (rc == 0 && terr.message[0])
            cli_error(CMD, 0, "%s", terr.message); /* deleted; some runs were left running */
    }
    if (rc)
        return cli_error(CMD, rc == AC_EINVAL ? CLI_USAGE : CLI_FAILURE, "%s %s: %s", st->action,
                         st->path ? st->path : st->title, terr.message);
    return 0;
}

/* The tasks an import for this user and agent made that the file no longer lists. */
static int plan_prune(struct cli_conn *conn, const char *uid, const char *agent, struct step *steps, size_t *n,
                      size_t max)
{
    const char *p[2] = {uid, agent};
    PGresult *r = PQexecParams(conn->pg,
                               "SELECT id, agent_config::text, title FROM tasks WHERE user_id = $1::bigint AND agent_type = $2"
                               " AND source = 'import' AND status <> 'deleted' ORDER BY id",
                               2, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        const int rc = cli_error(CMD, CLI_FAILURE, "reading the imported tasks: %s", PQresultErrorMessage(r));
        PQclear(r);
        return rc;
    }
    const size_t listed = *n;
    for (int i = 0; i < PQntuples(r) && *n < max; i++) {
        const int64_t id = cli_i64(r, i, 0);
        int kept = 0;
        for (size_t k = 0; k < listed && !kept; k++)
            kept = steps[k].id == id;
        if (kept)
            continue;
        struct step *st = &steps[(*n)++];
        memset(st, 0, sizeof *st);
        st->action = "delete", st->id = id, st->next = -1;
        snprintf(st->title, sizeof st->title, "%s", PQgetvalue(r, i, 2));
        snprintf(st->config, sizeof st->config, "%s", PQgetvalue(r, i, 1));
    }
    PQclear(r);
    return 0;
}

static void print_plan(const struct step *steps, size_t n, int json, int dry_run)
{
    static const char *const actions[] = {"create", "update", "unchanged", "delete"};
    int count[4] = {0};
    json_t *list = json_array();
    for (size_t i = 0; i < n; i++) {
        const struct step *st = &steps[i];
        for (int a = 0; a < 4; a++)
            count[a] += !strcmp(st->action, actions[a]);
        const int gone = !strcmp(st->action, "delete");
        char when[TIMEFMT_RFC3339_MAX], id[24] = "new";
        if (st->id > 0)
            snprintf(id, sizeof id, "%lld", (long long)st->id);
        if (json) {
            json_array_append_new(list, json_pack("{s:s, s:o, s:s, s:s?, s:s?, s:s?}", "action", st->action, "task",
                                                  st->id > 0 ? json_integer(st->id) : json_null(), "title", st->title,
                                                  "schedule", st->schedule, "timezone", gone ? NULL : st->zone,
                                                  "nextRunAt", gone ? NULL : cli_time(st->next, when)));
            continue;
        }
        printf("%-9s task %-6s %-40.40s %-16s %s%s%s\n", st->action, id, st->title, st->schedule ? st->schedule : "-",
               gone ? "" : st->zone, gone ? "" : ", next ", gone ? "" : cli_time(st->next, when));
    }
    if (json)
        cli_print_json(json_pack("{s:i, s:i, s:i, s:i, s:b, s:o}", "created", count[0], "updated", count[1],
                                 "unchanged", count[2], "deleted", count[3], "dryRun", dry_run, "tasks", list));
    else {
        json_decref(list);
        printf("%d to create, %d to update, %d unchanged, %d to delete%s\n", count[0], count[1], count[2], count[3],
               dry_run ? " (dry run: nothing was written)" : "");
    }
}

int cmd_import(int argc, char **argv)
{
    static const struct option options[] = {
        {"base-url", required_argument, NULL, 'b'}, {"user", required_argument, NULL, 'u'},
        {"timezone", required_argument, NULL, 'z'}, {"agent", required_argument, NULL, 'a'},
        {"json", no_argument, NULL, 'j'},           {"env-file", required_argument, NULL, 'e'},
        {"dry-run", no_argument, NULL, 'n'},        {"prune", no_argument, NULL, 'p'},
        {"help", no_argument, NULL, 'h'},           {NULL, 0, NULL, 0},
    };
    const char *base = NULL, *user = NULL, *zone = NULL, *agent = "vercel", *env_file = NULL;
    int json = 0, dry_run = 0, prune = 0, c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (c) {
        case 'b': base = optarg; break;
        case 'u': user = optarg; break;
        case 'z': zone = optarg; break;
        case 'a': agent = optarg; break;
        case 'j': json = 1; break;
        case 'e': env_file = optarg; break;
        case 'n': dry_run = 1; break;
        case 'p': prune = 1; break;
        case 'h': fputs(usage_text, stdout); return CLI_OK;
        default: return cli_error(CMD, CLI_USAGE, "unknown or incomplete option %s; see --help", argv[optind - 1]);
        }
    }
    if (optind + 1 != argc || !base || !user)
        return cli_error(CMD, CLI_USAGE, "give the vercel.json file, --base-url and --user; see --help");
    if (strncmp(base, "https://", 8) && strncmp(base, "http://", 7))
        return cli_error(CMD, CLI_USAGE, "--base-url \"%s\" must start with https:// or http://", base);
    json_error_t jerr;
    json_t *doc = json_load_file(argv[optind], JSON_REJECT_DUPLICATES, &jerr);
    if (!doc)
        return cli_error(CMD, CLI_USAGE, "%s: line %d column %d: %s", argv[optind], jerr.line, jerr.column, jerr.text);
    const json_t *crons = json_object_get(doc, "crons");
    if (!json_is_array(crons) || json_array_size(crons) > MAX_CRONS) {
        json_decref(doc);
        return cli_error(CMD, CLI_USAGE, "%s has no \"crons\" array of at most %d entries (Vercel's format: {\"crons\":"
                         " [{\"path\": \"/api/cron\", \"schedule\": \"0 5 * * *\"}]})", argv[optind], MAX_CRONS);
    }
    /* every entry is checked before anything is written */
    int rc = 0;
    size_t i;
    json_t *e;
    struct taskdef_error terr;
    char zone_out[128];
    int64_t next;
    json_array_foreach(crons, i, e)
    {
        const char *path = json_string_value(json_object_get(e, "path"));
        const char *schedule = json_string_value(json_object_get(e, "schedule"));
        if (!path || path[0] != '/' || !schedule || strpbrk(path, " \r\n\t") || strlen(path) > 1000)
            rc = cli_error(CMD, CLI_USAGE, "crons[%zu] needs \"path\" (starting with /, at most 1000 bytes) and "
                           "\"schedule\"", i);
        else if (taskdef_schedule(schedule, zone ? zone : "UTC", 1, timefmt_now_ms(), zone_out, &next, &terr) != 0)
            rc = cli_error(CMD, CLI_USAGE, "crons[%zu] (%.*s): %s", i, (int)strcspn(path, "?#"), path, terr.message);
        if (rc) {
            json_decref(doc);
            return rc;
        }
    }
    struct cli_conn conn;
    rc = cli_connect(&conn, CMD, env_file, prune && !dry_run);
    if (rc || (rc = check_agent(&conn, agent, base)) != 0) {
        if (conn.pg)
            cli_disconnect(&conn);
        json_decref(doc);
        return rc;
    }
    const char *uparams[1] = {user};
    PGresult *r = PQexecParams(conn.pg, "SELECT id FROM users WHERE email = $1 OR id::text = $1", 1, NULL, uparams, NULL,
                               NULL, 0);
    char uid[24] = "";
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
        snprintf(uid, sizeof uid, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    if (!uid[0]) {
        cli_disconnect(&conn);
        json_decref(doc);
        return cli_error(CMD, CLI_FAILURE, "no user \"%s\" (agentcron users add EMAIL creates one)", user);
    }
    char prefix[1024];
    base_path(base, prefix, sizeof prefix);
    static struct step steps[2 * MAX_CRONS];
    size_t n = 0;
    json_array_foreach(crons, i, e)
    {
        memset(&steps[n], 0, sizeof steps[n]);
        if ((rc = plan_cron(&conn, uid, agent, prefix, zone, e, &steps[n])) != 0)
            break;
        n++;
    }
    if (rc == 0 && prune)
        rc = plan_prune(&conn, uid, agent, steps, &n, sizeof steps / sizeof steps[0]);
    const int64_t user_id = strtoll(uid, NULL, 10);
    if (rc == 0 && !dry_run) { /* the file's tasks all or nothing; then the deletes, each whole */
        PQclear(PQexec(conn.pg, "BEGIN"));
        for (size_t k = 0; k < n && rc == 0; k++)
            if (strcmp(steps[k].action, "delete") != 0)
                rc = apply(&conn, user_id, agent, zone, &steps[k]);
        r = PQexec(conn.pg, rc ? "ROLLBACK" : "COMMIT");
        if (rc == 0 && PQresultStatus(r) != PGRES_COMMAND_OK)
            rc = cli_error(CMD, CLI_FAILURE, "committing the import: %s", PQresultErrorMessage(r));
        PQclear(r);
        for (size_t k = 0; k < n && rc == 0; k++)
            if (!strcmp(steps[k].action, "delete"))
                rc = apply(&conn, user_id, agent, zone, &steps[k]);
    }
    if (rc == 0)
        print_plan(steps, n, json, dry_run); /* before doc goes: the steps point into it */
    cli_disconnect(&conn);
    json_decref(doc);
    return rc;
}
