/* SPDX-License-Identifier: MIT */
/* `agentcron next`: the fire times of a cron expression in a timezone, for people (a
 * description and a table marking DST gaps and overlaps) and for scripts (--json). */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "cronparse.h"
#include "timefmt.h"

#define MAX_COUNT 1000

static const char usage_text[] =
    "usage: agentcron next [--tz ZONE] [--from TIME] [-n COUNT] [--prev] [--hash-key KEY] [--json]\n"
    "                      EXPRESSION\n"
    "\n"
    "Shows when a cron expression fires. EXPRESSION has 5 fields (minute hour day-of-month\n"
    "month day-of-week) or 6 (seconds first), or is a macro such as @daily; it may start with\n"
    "TZ=ZONE or CRON_TZ=ZONE. Quote it, or pass its fields as separate arguments.\n"
    "\n"
    "options:\n"
    "  --tz ZONE        IANA timezone to evaluate in (default UTC, or the TZ= prefix)\n"
    "  --from TIME      start from this RFC 3339 instant, e.g. 2026-03-08T05:30:00Z or\n"
    "                   2026-03-08T01:30:00-05:00 (default: now)\n"
    "  -n, --count N    how many fire times, 1-1000 (default 5)\n"
    "  --prev           list earlier fire times instead, newest first\n"
    "  --hash-key KEY   key for H fields (the task id)\n"
    "  --json           print {\"expression\", \"timezone\", \"description\", \"next\": [RFC 3339\n"
    "                   times with the zone's offset; Z in UTC]}\n"
    "  -h, --help       show this help\n"
    "\n"
    "exit status: 0 ok, 1 failure, 2 invalid option, expression or timezone\n";

struct next_args {
    const char *tz, *hash_key;
    int64_t from_ms;
    int count, prev, json;
    char expression[CRON_MAX_EXPR_LEN + 2];
};

static int usage_error(const char *fmt, const char *value)
{
    fprintf(stderr, "agentcron next: ");
    fprintf(stderr, fmt, value);
    fprintf(stderr, "; see `agentcron next --help`\n");
    return CLI_USAGE;
}

/* Joins the remaining arguments with single spaces, so `next 0 9 '*' '*' 1-5` works. */
static int join_expression(struct next_args *a, int argc, char **argv)
{
    size_t len = 0;
    a->expression[0] = 0;
    for (int i = optind; i < argc; i++) {
        const size_t n = strlen(argv[i]);
        if (len + n + 1 > CRON_MAX_EXPR_LEN + 1)
            return usage_error("the expression is longer than %s bytes", "1024");
        if (len)
            a->expression[len++] = ' ';
        memcpy(a->expression + len, argv[i], n + 1);
        len += n;
    }
    return len ? CLI_OK : usage_error("%sno cron expression given", "");
}

static int parse_args(struct next_args *a, int argc, char **argv)
{
    static const struct option options[] = {
        {"tz", required_argument, NULL, 't'},     {"from", required_argument, NULL, 'f'},
        {"count", required_argument, NULL, 'n'},  {"prev", no_argument, NULL, 'p'},
        {"hash-key", required_argument, NULL, 'k'}, {"json", no_argument, NULL, 'j'},
        {"env-file", required_argument, NULL, 'e'}, {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    *a = (struct next_args){.count = 5, .from_ms = timefmt_now_ms()};
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "n:h", options, NULL)) != -1) {
        switch (c) {
        case 't':
            a->tz = optarg;
            break;
        case 'f': {
            const char *why;
            if (timefmt_parse_rfc3339(optarg, &a->from_ms, &why) != 0) {
                fprintf(stderr, "agentcron next: --from \"%.64s\" is not an RFC 3339 time: %s\n", optarg, why);
                return CLI_USAGE;
            }
            break;
        }
        case 'n': {
            char *end;
            const long n = strtol(optarg, &end, 10);
            if (*optarg == 0 || *end || n < 1 || n > MAX_COUNT)
                return usage_error("-n/--count takes a number from 1 to 1000, not \"%.32s\"", optarg);
            a->count = (int)n;
            break;
        }
        case 'p':
            a->prev = 1;
            break;
        case 'k':
            a->hash_key = optarg;
            break;
        case 'j':
            a->json = 1;
            break;
        case 'e': /* taken as every subcommand takes it; next needs no setting */
            break;
        case 'h':
            fputs(usage_text, stdout);
            return -1;
        default:
            return usage_error("unknown or incomplete option \"%s\"", argv[optind - 1]);
        }
    }
    return join_expression(a, argc, argv);
}

/* Opens the zone from --tz and/or the expression's TZ= prefix; they must agree. */
static int open_zone(const struct next_args *a, const struct cron_expr *expr, struct cron_zone **zone)
{
    struct cron_error err;
    const char *prefix = cron_expr_timezone(expr);
    if (cron_zone_open(a->tz ? a->tz : prefix, zone, &err) != 0) {
        fprintf(stderr, "agentcron next: %s\n", err.message);
        return CLI_USAGE;
    }
    if (a->tz && prefix) {
        struct cron_zone *other;
        if (cron_zone_open(prefix, &other, &err) != 0) {
            fprintf(stderr, "agentcron next: %s\n", err.message);
            return CLI_USAGE;
        }
        const int same = !strcmp(cron_zone_name(*zone), cron_zone_name(other));
        cron_zone_free(other);
        if (!same) {
            fprintf(stderr, "agentcron next: --tz %s disagrees with the expression's TZ=%s; give one "
                            "zone, or the same zone in both\n", a->tz, prefix);
            cron_zone_free(*zone);
            *zone = NULL;
            return CLI_USAGE;
        }
    }
    return CLI_OK;
}

static void print_human_line(const struct cron_fire *f, const struct cron_zone *zone)
{
    char local[TIMEFMT_RFC3339_MAX], utc[TIMEFMT_RFC3339_MAX];
    timefmt_rfc3339(f->ms, cron_zone_offset(zone, f->ms), 0, local);
    timefmt_rfc3339(f->ms, 0, 1, utc);
    local[10] = ' '; /* "2026-03-08 03:00:00-04:00" reads better in a table */
    printf("  %-25s  %s", local, utc);
    const int64_t wall = f->wall_s % 86400;
    if (f->kind == CRON_FIRE_GAP)
        printf("  (%02d:%02d:%02d does not exist that day: DST gap; fired as the clocks moved)",
               (int)(wall / 3600), (int)(wall / 60 % 60), (int)(wall % 60));
    else if (f->kind == CRON_FIRE_OVERLAP_1)
        printf("  (clocks go back later: the first %02d:%02d:%02d)", (int)(wall / 3600),
               (int)(wall / 60 % 60), (int)(wall % 60));
    else if (f->kind == CRON_FIRE_OVERLAP_2)
        printf("  (the second %02d:%02d:%02d, after the clocks went back)", (int)(wall / 3600),
               (int)(wall / 60 % 60), (int)(wall % 60));
    putchar('\n');
}

int cmd_next(int argc, char **argv)
{
    struct next_args a;
    int rc = parse_args(&a, argc, argv);
    if (rc != CLI_OK)
        return rc < 0 ? CLI_OK : rc;

    struct cron_expr *expr = NULL;
    struct cron_zone *zone = NULL;
    json_t *list = NULL;
    struct cron_error err;
    if (cron_parse(a.expression, a.hash_key, &expr, &err) != 0) {
        fprintf(stderr, "agentcron next: %s\n", err.message);
        return CLI_USAGE;
    }
    if ((rc = open_zone(&a, expr, &zone)) != CLI_OK)
        goto out;

    char description[512];
    cron_describe(expr, description, sizeof description);
    const int utc = !strcmp(cron_zone_name(zone), "UTC");
    if (a.json)
        list = json_array();
    else
        printf("%s (%s)\n", description, cron_zone_name(zone));

    int64_t t = a.from_ms;
    int found = 0;
    for (; found < a.count; found++) {
        struct cron_fire f;
        if ((a.prev ? cron_prev(expr, zone, t, &f) : cron_next(expr, zone, t, &f)) != 0)
            break;
        t = f.ms;
        if (a.json) {
            char when[TIMEFMT_RFC3339_MAX];
            timefmt_rfc3339(f.ms, cron_zone_offset(zone, f.ms), utc, when);
            json_array_append_new(list, json_string(when));
        } else {
            print_human_line(&f, zone);
        }
    }
    if (found < a.count)
        fprintf(stderr, "agentcron next: no further fire time %s (schedules are computed for "
                        "1970-2199)\n", a.prev ? "before that" : "after that");
    if (a.json) {
        json_t *doc = json_pack("{s:s, s:s, s:s, s:o}", "expression", a.expression, "timezone",
                                cron_zone_name(zone), "description", description, "next", list);
        list = NULL;
        if (!doc || json_dumpf(doc, stdout, JSON_COMPACT) != 0) {
            fprintf(stderr, "agentcron next: could not write JSON output\n");
            rc = CLI_FAILURE;
        }
        putchar('\n');
        json_decref(doc);
    }
out:
    json_decref(list);
    cron_zone_free(zone);
    cron_free(expr);
    return rc;
}
