/* SPDX-License-Identifier: MIT */
/* `agentcron import vercel.json`: each entry of its "crons" becomes a task of an http agent that
 * calls the app's route with GET and the CRON_SECRET bearer, the way Vercel does. Tasks are
 * keyed by user, agent and path, so importing again updates them and never duplicates. The URL
 * comes from the operator's agent (tasks cannot choose where their secrets go): the agent's
 * origin must be --base-url. */
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

static const char usage_text[] =
    "usage: agentcron import vercel.json --base-url URL --user USER [--timezone ZONE] [--agent NAME]\n"
    "                        [--json] [--env-file FILE]\n"
    "\n"
    "Each entry of the file's \"crons\" array ({\"path\", \"schedule\"}) becomes a task that calls\n"
    "URL + path with GET and `Authorization: Bearer $CRON_SECRET`, in UTC as Vercel runs them (or\n"
    "in --timezone). The calls go through an http agent of AGENTS_FILE (default name \"vercel\")\n"
    "whose url is the app's base URL, with GET, bearer_env CRON_SECRET and \"path\" overridable.\n"
    "Importing again updates those tasks (schedule, zone) and never duplicates them.\n"
    "\n"
    "exit status: 0 ok, 1 failure, 2 usage or invalid input (nothing is written then)\n";

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
    agents_free(&set);
    if (ok && path_ok && same)
        return 0;
    return cli_error(CMD, CLI_USAGE,
                     "AGENTS_FILE needs an http agent \"%s\" for %.*s (tasks cannot choose where the CRON_SECRET goes);"
                     " add: \"%s\": {\"kind\": \"http\", \"url\": \"%.*s/\", \"method\": \"GET\", \"bearer_env\":"
                     " \"CRON_SECRET\", \"overridable\": [\"path\"]}",
                     name, (int)n, base_url, name, (int)n, base_url);
}

int cmd_import(int argc, char **argv)
{
    static const struct option options[] = {
        {"base-url", required_argument, NULL, 'b'}, {"user", required_argument, NULL, 'u'},
        {"timezone", required_argument, NULL, 'z'}, {"agent", required_argument, NULL, 'a'},
        {"json", no_argument, NULL, 'j'},           {"env-file", required_argument, NULL, 'e'},
        {"help", no_argument, NULL, 'h'},           {NULL, 0, NULL, 0},
    };
    const char *base = NULL, *user = NULL, *zone = NULL, *agent = "vercel", *env_file = NULL;
    int json = 0, c;
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
    if (!json_is_array(crons)) {
        json_decref(doc);
        return cli_error(CMD, CLI_USAGE, "%s has no \"crons\" array (Vercel's format: {\"crons\": [{\"path\": "
                         "\"/api/cron\", \"schedule\": \"0 5 * * *\"}]})", argv[optind]);
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
        if (!path || path[0] != '/' || !schedule || strpbrk(path, " \r\n\t"))
            rc = cli_error(CMD, CLI_USAGE, "crons[%zu] needs \"path\" (starting with /) and \"schedule\"", i);
        else if (taskdef_schedule(schedule, zone ? zone : "UTC", 1, timefmt_now_ms(), zone_out, &next, &terr) != 0)
            rc = cli_error(CMD, CLI_USAGE, "crons[%zu] (%s): %s", i, path, terr.message);
        if (rc) {
            json_decref(doc);
            return rc;
        }
    }
    struct cli_conn conn;
    rc = cli_connect(&conn, CMD, env_file, 0);
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
    json_t *out = json_array();
    int created = 0, updated = 0;
    PQclear(PQexec(conn.pg, "BEGIN"));
    json_array_foreach(crons, i, e)
    {
        const char *path = json_string_value(json_object_get(e, "path"));
        const char *schedule = json_string_value(json_object_get(e, "schedule"));
        char title[260], config[600];
        snprintf(title, sizeof title, "vercel cron %.200s", path);
        json_t *cfg = json_pack("{s:s}", "path", path);
        char *cfg_text = json_dumps(cfg, JSON_COMPACT);
        snprintf(config, sizeof config, "%s", cfg_text ? cfg_text : "{}");
        free(cfg_text);
        json_decref(cfg);
        /* the task of this user, agent and path, updated, or a new one (tasks.h writes both) */
        const char *p1[3] = {uid, agent, config};
        r = PQexecParams(conn.pg,
                         "SELECT id, status FROM tasks WHERE user_id = $1::bigint AND agent_type = $2"
                         " AND agent_config = $3::jsonb AND status <> 'deleted' ORDER BY id LIMIT 1",
                         3, NULL, p1, NULL, NULL, 0);
        if (PQresultStatus(r) != PGRES_TUPLES_OK) {
            rc = cli_error(CMD, CLI_FAILURE, "reading the tasks of %s: %s", path, PQresultErrorMessage(r));
            PQclear(r);
            break;
        }
        const int is_new = PQntuples(r) == 0;
        int64_t id = is_new ? -1 : cli_i64(r, 0, 0);
        const int paused = !is_new && strcmp(PQgetvalue(r, 0, 1), "active") != 0;
        PQclear(r);
        struct task_fields f = TASK_FIELDS_UNSET;
        f.cron = schedule, f.timezone = zone, f.enabled = 1;
        const int64_t now = timefmt_now_ms(), user_id = strtoll(uid, NULL, 10);
        int trc;
        if (is_new) {
            f.title = title, f.agent = agent, f.config = config;
            trc = tasks_create(conn.pg, user_id, &f, now, &id, &next, &terr);
        } else if ((trc = tasks_edit(conn.pg, user_id, id, &f, now, &terr)) == 0 && paused)
            trc = tasks_set_status(conn.pg, user_id, id, "active", now, &terr);
        if (trc != 0) {
            rc = cli_error(CMD, trc == AC_EINVAL ? CLI_USAGE : CLI_FAILURE, "writing %s: %s", path, terr.message);
            break;
        }
        taskdef_schedule(schedule, zone, id, now, zone_out, &next, &terr); /* the zone and slot just written */
        created += is_new, updated += !is_new;
        char when[TIMEFMT_RFC3339_MAX];
        json_array_append_new(out, json_pack("{s:I, s:s, s:s, s:s, s:s, s:b}", "task", (json_int_t)id, "path", path,
                                             "schedule", schedule, "timezone", zone_out, "nextRunAt",
                                             cli_time(next, when), "created", is_new));
    }
    PQclear(PQexec(conn.pg, rc ? "ROLLBACK" : "COMMIT"));
    cli_disconnect(&conn);
    json_decref(doc);
    if (rc) {
        json_decref(out);
        return rc;
    }
    if (json)
        cli_print_json(json_pack("{s:i, s:i, s:o}", "created", created, "updated", updated, "tasks", out));
    else {
        json_array_foreach(out, i, e)
        printf("task %-6" JSON_INTEGER_FORMAT " %-40s %-16s %s, next %s\n", json_integer_value(json_object_get(e, "task")),
               json_string_value(json_object_get(e, "path")), json_string_value(json_object_get(e, "schedule")),
               json_string_value(json_object_get(e, "timezone")), json_string_value(json_object_get(e, "nextRunAt")));
        printf("%d task%s created, %d updated\n", created, created == 1 ? "" : "s", updated);
        json_decref(out);
    }
    return CLI_OK;
}
