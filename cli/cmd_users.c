/* SPDX-License-Identifier: MIT */
/* `agentcron users` (add, list, show, credits) and `agentcron keys` (create, list, revoke). A
 * key is printed once, when it is made; only its SHA-256 is stored. Credits changes are
 * appended to the ledger in the same transaction as the change. */
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "accounts.h"
#include "cli_util.h"
#include "commands.h"
#include "timefmt.h"
#include "usage.h"

static const char users_usage[] =
    "usage: agentcron users add EMAIL [--credits N] [--max-concurrent N] [--plan NAME]\n"
    "       agentcron users list\n"
    "       agentcron users show USER\n"
    "       agentcron users credits USER [--grant N] [--allowance N] [--note TEXT]\n"
    "Every subcommand takes --json and --env-file FILE. USER is an email or a user id.\n"
    "\n"
    "--credits (add) and --allowance (credits) set the monthly allowance; --grant adds credits\n"
    "for the current period only. Each change is a row in the user's credit ledger, which\n"
    "`credits` prints (this period's charges always add up to credits_used).\n"
    "\n"
    "exit status: 0 ok, 1 failure (e.g. no such user), 2 usage or invalid input\n";

static const char keys_usage[] =
    "usage: agentcron keys create USER [--name NAME] [--operator]\n"
    "       agentcron keys list [--user USER]\n"
    "       agentcron keys revoke ID\n"
    "Every subcommand takes --json and --env-file FILE.\n"
    "\n"
    "create prints the new API key once (ak_...): store it now, it cannot be shown again; the\n"
    "database keeps only its SHA-256. revoke disables a key at once, and ends the dashboard\n"
    "sessions signed in with it. An --operator key sees and manages every user's tasks, runs,\n"
    "credits and keys (the API and the dashboard); any other key only its own user's.\n"
    "\n"
    "exit status: 0 ok, 1 failure (e.g. no such user or key), 2 usage or invalid input\n";

struct opts {
    const char *credits, *max_concurrent, *plan, *grant, *allowance, *note, *name, *user, *env_file;
    int json, operator;
};

static int parse(int argc, char **argv, const char *cmd, const char *usage, struct opts *o)
{
    static const struct option options[] = {
        {"credits", required_argument, NULL, 'c'},   {"max-concurrent", required_argument, NULL, 'm'},
        {"plan", required_argument, NULL, 'p'},      {"grant", required_argument, NULL, 'g'},
        {"allowance", required_argument, NULL, 'a'}, {"note", required_argument, NULL, 'n'},
        {"name", required_argument, NULL, 'N'},      {"user", required_argument, NULL, 'u'},
        {"json", no_argument, NULL, 'j'},            {"env-file", required_argument, NULL, 'e'},
        {"help", no_argument, NULL, 'h'},            {"operator", no_argument, NULL, 'O'},
        {NULL, 0, NULL, 0},
    };
    memset(o, 0, sizeof *o);
    optind = 2;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (c) {
        case 'c': o->credits = optarg; break;
        case 'm': o->max_concurrent = optarg; break;
        case 'p': o->plan = optarg; break;
        case 'g': o->grant = optarg; break;
        case 'a': o->allowance = optarg; break;
        case 'n': o->note = optarg; break;
        case 'N': o->name = optarg; break;
        case 'u': o->user = optarg; break;
        case 'O': o->operator = 1; break;
        case 'j': o->json = 1; break;
        case 'e': o->env_file = optarg; break;
        case 'h': fputs(usage, stdout); return -1;
        default: return cli_error(cmd, CLI_USAGE, "unknown or incomplete option %s; see --help", argv[optind - 1]);
        }
    }
    return 0;
}

static int check_count(const char *cmd, const char *option, const char *text, long long max)
{
    char *end;
    const long long v = text ? strtoll(text, &end, 10) : 0;
    if (text && (!text[0] || *end || v < 0 || v > max))
        return cli_error(cmd, CLI_USAGE, "%s \"%s\" must be a whole number from 0 to %lld", option, text, max);
    return 0;
}

/* The user's row as JSON, by email or id; NULL after printing that there is none. */
static json_t *load_user(PGconn *pg, const char *cmd, const char *user)
{
    json_t *u = NULL;
    char err[512];
    if (accounts_user(pg, user, 0, &u, err, sizeof err) != 0)
        cli_error(cmd, CLI_FAILURE, "%s", err);
    return u;
}

static json_int_t i_of(const json_t *o, const char *k)
{
    return json_integer_value(json_object_get(o, k));
}

static json_t *ledger(PGconn *pg, json_int_t user)
{
    json_t *rows;
    char err[512];
    if (accounts_ledger(pg, user, 20, &rows, err, sizeof err) != 0) {
        cli_error("users", CLI_FAILURE, "%s", err);
        return json_array();
    }
    return rows;
}

/* This period's usage from the daily summaries (usage.h), or null if they cannot be read. */
static json_t *period_usage(PGconn *pg, const json_t *u)
{
    char today[TIMEFMT_RFC3339_MAX], err[512], from[16], to[16];
    cli_time(timefmt_now_ms(), today);
    snprintf(from, sizeof from, "%.10s", json_string_value(json_object_get(u, "periodStart")));
    snprintf(to, sizeof to, "%.10s", today);
    json_t *doc;
    if (usage_report(pg, 0, i_of(u, "id"), from, to, &doc, err, sizeof err) != 0) {
        cli_error("users", CLI_FAILURE, "usage: %s", err);
        return json_null();
    }
    return doc;
}

/* One line of usage numbers. */
static void print_usage_line(const char *label, const json_t *v)
{
    char p95[32] = "-";
    if (json_is_integer(json_object_get(v, "p95DurationMs")))
        snprintf(p95, sizeof p95, "%" JSON_INTEGER_FORMAT " ms", i_of(v, "p95DurationMs"));
    printf("  %-24.24s %6" JSON_INTEGER_FORMAT " runs: %" JSON_INTEGER_FORMAT " ok, %" JSON_INTEGER_FORMAT
           " failed, %" JSON_INTEGER_FORMAT " timed out, %" JSON_INTEGER_FORMAT " cancelled, %" JSON_INTEGER_FORMAT
           " no credits; %" JSON_INTEGER_FORMAT " attempts, %" JSON_INTEGER_FORMAT " tokens, %" JSON_INTEGER_FORMAT
           " credits, p95 %s\n",
           label, i_of(v, "runs"), i_of(v, "succeeded"), i_of(v, "failed"), i_of(v, "timedOut"), i_of(v, "cancelled"),
           i_of(v, "insufficientCredits"), i_of(v, "attempts"), i_of(v, "promptTokens") + i_of(v, "completionTokens"),
           i_of(v, "credits"), p95);
}

static void print_user(const json_t *u)
{
    printf("user %" JSON_INTEGER_FORMAT ": %s (plan %s)\n", i_of(u, "id"), json_string_value(json_object_get(u, "email")),
           json_string_value(json_object_get(u, "plan")));
    printf("  credits     %" JSON_INTEGER_FORMAT " used, %" JSON_INTEGER_FORMAT " reserved of %" JSON_INTEGER_FORMAT
           " monthly + %" JSON_INTEGER_FORMAT " granted, this period since %s\n",
           i_of(u, "creditsUsed"), i_of(u, "creditsReserved"), i_of(u, "monthlyCredits"), i_of(u, "grantedCredits"),
           json_string_value(json_object_get(u, "periodStart")));
    if (i_of(u, "maxConcurrentRuns"))
        printf("  limit       %" JSON_INTEGER_FORMAT " runs at once\n", i_of(u, "maxConcurrentRuns"));
    printf("  tasks       %" JSON_INTEGER_FORMAT "; active API keys %" JSON_INTEGER_FORMAT "\n", i_of(u, "tasks"),
           i_of(u, "activeKeys"));
    const json_t *use = json_object_get(u, "usage");
    if (json_is_object(use)) {
        printf("\nusage this period (%s to %s, UTC days):\n", json_string_value(json_object_get(use, "from")),
               json_string_value(json_object_get(use, "to")));
        print_usage_line("all tasks", json_object_get(use, "total"));
        size_t i;
        json_t *v;
        json_array_foreach(json_object_get(use, "byAgent"), i, v)
        {
            char label[128];
            snprintf(label, sizeof label, "agent %s", json_string_value(json_object_get(v, "agent")));
            print_usage_line(label, v);
        }
        json_array_foreach(json_object_get(use, "byTask"), i, v)
        {
            char label[128];
            snprintf(label, sizeof label, "task %" JSON_INTEGER_FORMAT " %s", i_of(v, "task"),
                     json_string_value(json_object_get(v, "title")));
            print_usage_line(label, v);
        }
    }
    const json_t *rows = json_object_get(u, "ledger");
    if (json_array_size(rows)) {
        printf("\nledger (newest first):\n  %-21s %-13s %8s %8s %s\n", "AT", "REASON", "DELTA", "RUN", "NOTE");
        size_t i;
        json_t *v;
        json_array_foreach(rows, i, v)
        {
            char run[24] = "-";
            if (json_is_integer(json_object_get(v, "run")))
                snprintf(run, sizeof run, "%" JSON_INTEGER_FORMAT, i_of(v, "run"));
            printf("  %-21s %-13s %8" JSON_INTEGER_FORMAT " %8s %s\n", json_string_value(json_object_get(v, "at")),
                   json_string_value(json_object_get(v, "reason")), i_of(v, "delta"), run,
                   json_string_value(json_object_get(v, "note")));
        }
    }
}

static int exec_ok(PGconn *pg, const char *cmd, const char *sql, int n, const char *const *params, const char *what)
{
    PGresult *r = PQexecParams(pg, sql, n, NULL, params, NULL, NULL, 0);
    const int ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
    if (!ok)
        cli_error(cmd, CLI_FAILURE, "%s: %s", what, PQresultErrorMessage(r));
    PQclear(r);
    return ok ? 0 : CLI_FAILURE;
}

static int users_add(struct cli_conn *c, const char *email, const struct opts *o)
{
    if (check_count("users", "--credits", o->credits, 1000000000000LL) ||
        check_count("users", "--max-concurrent", o->max_concurrent, 100000))
        return CLI_USAGE;
    if (!strchr(email, '@') || strlen(email) > 320 || email[0] == '@')
        return cli_error("users", CLI_USAGE, "\"%s\" is not an email address", email);
    if (o->max_concurrent && !strcmp(o->max_concurrent, "0"))
        return cli_error("users", CLI_USAGE, "--max-concurrent must be at least 1 (leave it out for no limit)");
    const char *params[4] = {email, o->credits ? o->credits : "0", o->max_concurrent, o->plan ? o->plan : "free"};
    PQclear(PQexec(c->pg, "BEGIN"));
    int rc = exec_ok(c->pg, "users",
                     "WITH u AS (INSERT INTO users (email, monthly_credits, max_concurrent_runs, plan)"
                     " VALUES ($1, $2::bigint, $3::int, $4) RETURNING id, monthly_credits)"
                     " INSERT INTO credit_ledger (user_id, delta, reason, note)"
                     " SELECT id, monthly_credits, 'allowance', 'monthly allowance set' FROM u",
                     4, params, "adding the user");
    PQclear(PQexec(c->pg, rc ? "ROLLBACK" : "COMMIT"));
    if (rc)
        return rc;
    json_t *u = load_user(c->pg, "users", email);
    if (!u)
        return CLI_FAILURE;
    if (o->json)
        cli_print_json(u);
    else {
        printf("user %" JSON_INTEGER_FORMAT " added: %s, %" JSON_INTEGER_FORMAT " credits a month\n", i_of(u, "id"),
               email, i_of(u, "monthlyCredits"));
        json_decref(u);
    }
    return CLI_OK;
}

static int users_list(struct cli_conn *c, int json)
{
    json_t *list;
    char err[512];
    if (accounts_users(c->pg, 0, &list, err, sizeof err) != 0)
        return cli_error("users", CLI_FAILURE, "%s", err);
    if (json) {
        cli_print_json(json_pack("{s:o}", "users", list));
        return CLI_OK;
    }
    printf("%-6s %-32s %-10s %10s %10s %10s %8s %6s\n", "ID", "EMAIL", "PLAN", "MONTHLY", "USED", "RESERVED", "LIMIT",
           "TASKS");
    size_t i;
    json_t *u;
    json_array_foreach(list, i, u)
    printf("%-6" JSON_INTEGER_FORMAT " %-32.32s %-10.10s %10" JSON_INTEGER_FORMAT " %10" JSON_INTEGER_FORMAT
           " %10" JSON_INTEGER_FORMAT " %8" JSON_INTEGER_FORMAT " %6" JSON_INTEGER_FORMAT "\n",
           i_of(u, "id"), json_string_value(json_object_get(u, "email")), json_string_value(json_object_get(u, "plan")),
           i_of(u, "monthlyCredits") + i_of(u, "grantedCredits"), i_of(u, "creditsUsed"), i_of(u, "creditsReserved"),
           i_of(u, "maxConcurrentRuns"), i_of(u, "tasks"));
    if (!json_array_size(list))
        printf("(no users: agentcron users add EMAIL --credits N)\n");
    json_decref(list);
    return CLI_OK;
}

static int users_credits(struct cli_conn *c, const char *user, const struct opts *o)
{
    if (check_count("users", "--grant", o->grant, 1000000000000LL) ||
        check_count("users", "--allowance", o->allowance, 1000000000000LL))
        return CLI_USAGE;
    json_t *u = load_user(c->pg, "users", user);
    if (!u)
        return CLI_FAILURE;
    char ids[24];
    snprintf(ids, sizeof ids, "%" JSON_INTEGER_FORMAT, i_of(u, "id"));
    json_decref(u);
    char err[512];
    if (accounts_credits(c->pg, strtoll(ids, NULL, 10), o->grant, o->allowance, o->note, err, sizeof err) != 0)
        return cli_error("users", CLI_FAILURE, "%s", err);
    if (!(u = load_user(c->pg, "users", ids)))
        return CLI_FAILURE;
    json_object_set_new(u, "ledger", ledger(c->pg, i_of(u, "id")));
    if (o->json)
        cli_print_json(u);
    else {
        print_user(u);
        json_decref(u);
    }
    return CLI_OK;
}

int cmd_users(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        fputs(users_usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? CLI_USAGE : CLI_OK;
    }
    const char *verb = argv[1];
    if (strcmp(verb, "add") && strcmp(verb, "list") && strcmp(verb, "show") && strcmp(verb, "credits"))
        return cli_error("users", CLI_USAGE, "unknown subcommand \"%s\"; see `agentcron users --help`", verb);
    struct opts o;
    int rc = parse(argc, argv, "users", users_usage, &o);
    if (rc)
        return rc < 0 ? CLI_OK : rc;
    const int list = !strcmp(verb, "list");
    if (list ? optind != argc : optind + 1 != argc)
        return cli_error("users", CLI_USAGE, list ? "list takes no arguments" : "%s needs one user (email or id)", verb);
    struct cli_conn c;
    if ((rc = cli_connect(&c, "users", o.env_file, 0)) != 0)
        return rc;
    if (!strcmp(verb, "add"))
        rc = users_add(&c, argv[optind], &o);
    else if (list)
        rc = users_list(&c, o.json);
    else if (!strcmp(verb, "credits"))
        rc = users_credits(&c, argv[optind], &o);
    else {
        json_t *u = load_user(c.pg, "users", argv[optind]);
        if (!u)
            rc = CLI_FAILURE;
        else {
            json_object_set_new(u, "ledger", ledger(c.pg, i_of(u, "id")));
            json_object_set_new(u, "usage", period_usage(c.pg, u));
            if (o.json)
                cli_print_json(u);
            else {
                print_user(u);
                json_decref(u);
            }
        }
    }
    cli_disconnect(&c);
    return rc;
}

/* ---- keys ---- */

static int keys_create(struct cli_conn *c, const char *user, const struct opts *o)
{
    json_t *u = load_user(c->pg, "keys", user);
    if (!u)
        return CLI_FAILURE;
    char key[ACCOUNTS_KEY_LEN], prefix[16], err[512];
    int64_t id;
    const int rc = accounts_key_create(c->pg, i_of(u, "id"), o->name, o->operator, key, prefix, &id, err, sizeof err);
    json_decref(u);
    if (rc)
        return cli_error("keys", CLI_FAILURE, "%s", err);
    if (o->json)
        cli_print_json(json_pack("{s:I, s:s, s:s, s:s, s:s}", "id", (json_int_t)id, "key", key, "prefix", prefix, "user",
                                 user, "role", o->operator ? "operator" : "user"));
    else
        printf("%s\n%skey %" PRId64 " for %s: shown once, store it now (only its SHA-256 is kept)\n", key,
               o->operator ? "operator " : "", id, user);
    return CLI_OK;
}

static int keys_list(struct cli_conn *c, const struct opts *o)
{
    json_t *list;
    char err[512];
    if (accounts_keys(c->pg, 0, o->user, &list, err, sizeof err) != 0)
        return cli_error("keys", CLI_FAILURE, "%s", err);
    if (o->json) {
        cli_print_json(json_pack("{s:o}", "keys", list));
        return CLI_OK;
    }
    printf("%-6s %-12s %-8s %-20s %-32s %-21s %s\n", "ID", "PREFIX", "ROLE", "NAME", "USER", "CREATED", "REVOKED");
    size_t i;
    json_t *k;
    json_array_foreach(list, i, k)
    {
        const char *revoked = json_string_value(json_object_get(k, "revokedAt"));
        printf("%-6" JSON_INTEGER_FORMAT " %-12s %-8s %-20.20s %-32.32s %-21s %s\n", i_of(k, "id"),
               json_string_value(json_object_get(k, "prefix")), json_string_value(json_object_get(k, "role")),
               json_string_value(json_object_get(k, "name")),
               json_string_value(json_object_get(k, "user")), json_string_value(json_object_get(k, "createdAt")),
               revoked ? revoked : "-");
    }
    if (!json_array_size(list))
        printf("(no keys)\n");
    json_decref(list);
    return CLI_OK;
}

static int keys_revoke(struct cli_conn *c, const char *id_text, int json)
{
    int64_t id;
    if (cli_parse_id(id_text, &id) != 0)
        return cli_error("keys", CLI_USAGE, "revoke needs a key ID (a positive number), not %s", id_text);
    char prefix[40], err[512];
    if (accounts_key_revoke(c->pg, id, 0, prefix, err, sizeof err) != 0)
        return cli_error("keys", CLI_FAILURE, "%s", err);
    if (json)
        cli_print_json(json_pack("{s:I, s:s, s:b}", "id", (json_int_t)id, "prefix", prefix, "revoked", 1));
    else
        printf("key %" PRId64 " (%s...) revoked\n", id, prefix);
    return CLI_OK;
}

int cmd_keys(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        fputs(keys_usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? CLI_USAGE : CLI_OK;
    }
    const char *verb = argv[1];
    if (strcmp(verb, "create") && strcmp(verb, "list") && strcmp(verb, "revoke"))
        return cli_error("keys", CLI_USAGE, "unknown subcommand \"%s\"; see `agentcron keys --help`", verb);
    struct opts o;
    int rc = parse(argc, argv, "keys", keys_usage, &o);
    if (rc)
        return rc < 0 ? CLI_OK : rc;
    const int list = !strcmp(verb, "list");
    if (list ? optind != argc : optind + 1 != argc)
        return cli_error("keys", CLI_USAGE, list ? "list takes no arguments (--user filters)"
                                                 : "%s needs one argument; see --help", verb);
    struct cli_conn c;
    if ((rc = cli_connect(&c, "keys", o.env_file, 0)) != 0)
        return rc;
    if (!strcmp(verb, "create"))
        rc = keys_create(&c, argv[optind], &o);
    else if (list)
        rc = keys_list(&c, &o);
    else
        rc = keys_revoke(&c, argv[optind], o.json);
    cli_disconnect(&c);
    return rc;
}
