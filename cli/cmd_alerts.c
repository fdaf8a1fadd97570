/* SPDX-License-Identifier: MIT */
/* `agentcron alerts` (add, list, show, rm, test): alert rules as data (alerts/rules.h). The
 * orchestrators evaluate them and send the alerts; `test` sends a sample from here, through the
 * rule's channel, with the orchestrator's settings (ALERT_SIGNING_KEY, SENDMAIL_PATH, ...). */
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_util.h"
#include "commands.h"
#include "deliver.h"
#include "errors.h"
#include "http_sync.h"
#include "rules.h"

static const char usage[] =
    "usage: agentcron alerts add NAME --when CONDITION --channel webhook|slack|email --to TARGET\n"
    "                            [--threshold N] [--for DURATION] [--repeat DURATION]\n"
    "                            [--user USER | --agent NAME | --task ID]\n"
    "       agentcron alerts list\n"
    "       agentcron alerts show ID\n"
    "       agentcron alerts rm ID\n"
    "       agentcron alerts test ID\n"
    "Every subcommand takes --json and --env-file FILE.\n"
    "\n"
    "CONDITION is one of:\n"
    "  run_failed            a run ended failed, timed_out or insufficient_credits (after its retries)\n"
    "  failures_in_row       the last --threshold N runs of a task all ended that way\n"
    "  slot_missed           a slot got no run (missed by a misfire policy, or skipped by overlap)\n"
    "  no_success            a scheduled task has not succeeded --for DURATION\n"
    "  credits_used          a user has used --threshold PERCENT of the month's credits\n"
    "  queue_wait            the oldest queued run has waited --for DURATION\n"
    "  orchestrators_below   fewer than --threshold N orchestrators report\n"
    "  workers_below         fewer than --threshold N workers report\n"
    "The scope is every task (and user) unless --user, --agent or --task narrows it. An incident\n"
    "is announced once, again every --repeat (default 1h) while it holds, and when it clears.\n"
    "DURATION is seconds or a number with s, m, h or d (\"15m\"). TARGET: a URL (webhook, slack)\n"
    "or an email address. test sends a sample alert now and says whether the channel took it.\n"
    "\n"
    "exit status: 0 ok, 1 failure (e.g. no such rule, the channel refused the test), 2 usage\n";

struct opts {
    const char *when, *channel, *to, *threshold, *duration, *repeat, *user, *agent, *task, *env_file;
    int json;
};

static int parse(int argc, char **argv, struct opts *o)
{
    static const struct option options[] = {
        {"when", required_argument, NULL, 'w'},     {"channel", required_argument, NULL, 'c'},
        {"to", required_argument, NULL, 't'},       {"threshold", required_argument, NULL, 'n'},
        {"for", required_argument, NULL, 'f'},      {"repeat", required_argument, NULL, 'r'},
        {"user", required_argument, NULL, 'u'},     {"agent", required_argument, NULL, 'a'},
        {"task", required_argument, NULL, 'T'},     {"json", no_argument, NULL, 'j'},
        {"env-file", required_argument, NULL, 'e'}, {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    memset(o, 0, sizeof *o);
    optind = 2;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (c) {
        case 'w': o->when = optarg; break;
        case 'c': o->channel = optarg; break;
        case 't': o->to = optarg; break;
        case 'n': o->threshold = optarg; break;
        case 'f': o->duration = optarg; break;
        case 'r': o->repeat = optarg; break;
        case 'u': o->user = optarg; break;
        case 'a': o->agent = optarg; break;
        case 'T': o->task = optarg; break;
        case 'j': o->json = 1; break;
        case 'e': o->env_file = optarg; break;
        case 'h': fputs(usage, stdout); return -1;
        default: return cli_error("alerts", CLI_USAGE, "unknown or incomplete option %s; see --help", argv[optind - 1]);
        }
    }
    return 0;
}

/* The rule's definition as rules.h takes it, from the options. */
static int definition(const char *name, const struct opts *o, json_t **out)
{
    json_t *d = json_pack("{s:s}", "name", name);
    const struct {
        const char *key, *value;
    } strs[] = {{"condition", o->when}, {"channel", o->channel}, {"target", o->to}, {"duration", o->duration},
                {"repeat", o->repeat}, {"user", o->user}, {"agent", o->agent}};
    for (size_t i = 0; i < sizeof strs / sizeof *strs; i++)
        if (strs[i].value)
            json_object_set_new(d, strs[i].key, json_string(strs[i].value));
    const struct {
        const char *key, *option, *value;
    } nums[] = {{"threshold", "--threshold", o->threshold}, {"task", "--task", o->task}};
    for (size_t i = 0; i < sizeof nums / sizeof *nums; i++) {
        if (!nums[i].value)
            continue;
        char *end;
        const long long v = strtoll(nums[i].value, &end, 10);
        if (!nums[i].value[0] || *end || v <= 0) {
            json_decref(d);
            return cli_error("alerts", CLI_USAGE, "%s \"%s\" must be a positive whole number", nums[i].option,
                             nums[i].value);
        }
        json_object_set_new(d, nums[i].key, json_integer(v));
    }
    *out = d;
    return 0;
}

static const char *s_of(const json_t *o, const char *k)
{
    const json_t *v = json_object_get(o, k);
    return json_is_string(v) ? json_string_value(v) : "-";
}

static void print_rule_line(const json_t *r)
{
    char scope[160] = "all";
    const char *sc = s_of(r, "scope");
    if (!strcmp(sc, "agent"))
        snprintf(scope, sizeof scope, "agent %s", s_of(r, "agent"));
    else if (strcmp(sc, "all"))
        snprintf(scope, sizeof scope, "%s %" JSON_INTEGER_FORMAT, sc,
                 json_integer_value(json_object_get(r, !strcmp(sc, "user") ? "user" : "task")));
    char cond[64];
    const json_t *th = json_object_get(r, "threshold"), *d = json_object_get(r, "durationS");
    if (json_is_integer(th))
        snprintf(cond, sizeof cond, "%s %" JSON_INTEGER_FORMAT, s_of(r, "condition"), json_integer_value(th));
    else if (json_is_integer(d))
        snprintf(cond, sizeof cond, "%s %" JSON_INTEGER_FORMAT "s", s_of(r, "condition"), json_integer_value(d));
    else
        snprintf(cond, sizeof cond, "%s", s_of(r, "condition"));
    printf("%-5" JSON_INTEGER_FORMAT " %-24.24s %-24s %-16s %-7s %-5s %" JSON_INTEGER_FORMAT "\n",
           json_integer_value(json_object_get(r, "id")), s_of(r, "name"), cond, scope, s_of(r, "channel"),
           json_is_true(json_object_get(r, "enabled")) ? "on" : "off",
           json_integer_value(json_object_get(r, "openIncidents")));
}

static void print_rule(const json_t *r)
{
    printf("rule %" JSON_INTEGER_FORMAT ": %s\n", json_integer_value(json_object_get(r, "id")), s_of(r, "name"));
    printf("  condition  %s", s_of(r, "condition"));
    if (json_is_integer(json_object_get(r, "threshold")))
        printf(" (threshold %" JSON_INTEGER_FORMAT ")", json_integer_value(json_object_get(r, "threshold")));
    if (json_is_integer(json_object_get(r, "durationS")))
        printf(" (for %" JSON_INTEGER_FORMAT " s)", json_integer_value(json_object_get(r, "durationS")));
    printf("\n  channel    %s to %s, repeated every %" JSON_INTEGER_FORMAT " s while open\n", s_of(r, "channel"),
           s_of(r, "target"), json_integer_value(json_object_get(r, "repeatS")));
    size_t i;
    json_t *x;
    json_t *incidents = json_object_get(r, "incidents"), *deliveries = json_object_get(r, "deliveries");
    if (incidents) {
        printf("incidents (newest first):\n");
        if (!json_array_size(incidents))
            printf("  none\n");
        json_array_foreach(incidents, i, x)
            printf("  %-6" JSON_INTEGER_FORMAT " %-14s opened %s  %s  notified %" JSON_INTEGER_FORMAT "x\n",
                   json_integer_value(json_object_get(x, "id")), s_of(x, "subject"), s_of(x, "openedAt"),
                   json_is_string(json_object_get(x, "resolvedAt")) ? "resolved" : "OPEN",
                   json_integer_value(json_object_get(x, "notifications")));
    }
    if (deliveries) {
        printf("deliveries (newest first):\n");
        if (!json_array_size(deliveries))
            printf("  none\n");
        json_array_foreach(deliveries, i, x) {
            printf("  %-6" JSON_INTEGER_FORMAT " %-8s %-7s attempts %" JSON_INTEGER_FORMAT "  %s\n",
                   json_integer_value(json_object_get(x, "id")), s_of(x, "kind"), s_of(x, "status"),
                   json_integer_value(json_object_get(x, "attempts")), s_of(x, "summary"));
            if (json_is_string(json_object_get(x, "lastError")))
                printf("         last error: %s\n", s_of(x, "lastError"));
        }
    }
}

static int run_test(struct cli_conn *c, int64_t id, int json)
{
    char err[768], url[1100];
    struct http_sync *http = http_sync_new(err, sizeof err);
    if (!http)
        return cli_error("alerts", CLI_FAILURE, "%s", err);
    config_public_url(&c->cfg, url, sizeof url);
    const struct alert_channels ch = {.http = http, .signing_key = c->cfg.alert_signing_key,
                                      .email_from = c->cfg.alert_email_from, .sendmail_path = c->cfg.sendmail_path};
    int64_t delivery = 0;
    const int rc = alerts_send_test(c->pg, &ch, id, 0, url, &delivery, err, sizeof err);
    http_sync_free(http);
    if (rc == 1)
        return cli_error("alerts", CLI_FAILURE, "%s", err);
    if (rc != 0)
        return cli_error("alerts", CLI_FAILURE, "the test alert of rule %" PRId64 " was not taken: %s", id, err);
    if (json)
        cli_print_json(json_pack("{s:I, s:I, s:b}", "rule", (json_int_t)id, "delivery", (json_int_t)delivery, "sent", 1));
    else
        printf("sent a test alert of rule %" PRId64 " (delivery %" PRId64 ")\n", id, delivery);
    return CLI_OK;
}

int cmd_alerts(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        fputs(usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? CLI_USAGE : CLI_OK;
    }
    const char *verb = argv[1];
    const int add = !strcmp(verb, "add"), list = !strcmp(verb, "list");
    if (!add && !list && strcmp(verb, "show") && strcmp(verb, "rm") && strcmp(verb, "test"))
        return cli_error("alerts", CLI_USAGE, "unknown subcommand \"%s\"; see `agentcron alerts --help`", verb);
    struct opts o;
    int rc = parse(argc, argv, &o);
    if (rc)
        return rc < 0 ? CLI_OK : rc;
    if (list ? optind != argc : optind + 1 != argc)
        return cli_error("alerts", CLI_USAGE, list ? "list takes no arguments" : add ? "add needs one NAME"
                                                                                    : "%s needs one rule id", verb);
    int64_t id = 0;
    if (!add && !list && cli_parse_id(argv[optind], &id) != 0)
        return cli_error("alerts", CLI_USAGE, "\"%s\" is not a rule id (a positive number)", argv[optind]);
    json_t *def = NULL;
    if (add && (rc = definition(argv[optind], &o, &def)) != 0)
        return rc;
    struct cli_conn c;
    if ((rc = cli_connect(&c, "alerts", o.env_file, 0)) != 0) {
        json_decref(def);
        return rc;
    }
    char err[768], field[32];
    json_t *doc = NULL;
    if (add) {
        const int r = alert_rule_create(c.pg, def, 0, &doc, field, err, sizeof err);
        rc = r == 0 ? CLI_OK : cli_error("alerts", r == AC_EINVAL ? CLI_USAGE : CLI_FAILURE, "%s", err);
    } else if (list)
        rc = alert_rules_list(c.pg, 0, &doc, err, sizeof err) == 0 ? CLI_OK : cli_error("alerts", CLI_FAILURE, "%s", err);
    else if (!strcmp(verb, "show"))
        rc = alert_rule_show(c.pg, id, 0, &doc, err, sizeof err) == 0 ? CLI_OK : cli_error("alerts", CLI_FAILURE, "%s", err);
    else if (!strcmp(verb, "rm")) {
        rc = alert_rule_remove(c.pg, id, 0, err, sizeof err) == 0 ? CLI_OK : cli_error("alerts", CLI_FAILURE, "%s", err);
        if (rc == CLI_OK)
            doc = json_pack("{s:I, s:b}", "id", (json_int_t)id, "removed", 1);
    } else
        rc = run_test(&c, id, o.json);
    json_decref(def);
    if (doc && o.json)
        cli_print_json(doc);
    else if (doc) {
        if (list) {
            printf("%-5s %-24s %-24s %-16s %-7s %-5s %s\n", "ID", "NAME", "CONDITION", "SCOPE", "CHANNEL", "STATE",
                   "OPEN");
            size_t i;
            json_t *r;
            json_array_foreach(doc, i, r)
                print_rule_line(r);
        } else if (!strcmp(verb, "rm"))
            printf("removed alert rule %" PRId64 "\n", id);
        else
            print_rule(doc);
        json_decref(doc);
    }
    cli_disconnect(&c);
    return rc;
}
