/* SPDX-License-Identifier: MIT */
/* Times cron_next() over a corpus of expressions in several zones and records fire times for
 * comparison with peers. Usage: cron_bench CORPUS_FILE ZONE... > results.json
 * For each expression and zone: the best of 5 runs of a chain of next() calls, in ns per call,
 * and the first 30 fire times after each of a few instants around 2026's DST transitions. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cronparse.h"
#include "timefmt.h"
#include "tzdata.h"

#define CHAIN 20000
#define RUNS 5
#define FIRES 30

static const char *const probe_starts[] = {
    "2026-03-07T00:00:00Z", "2026-03-28T00:00:00Z", "2026-04-03T12:00:00Z",
    "2026-10-02T12:00:00Z", "2026-10-24T00:00:00Z", "2026-10-31T00:00:00Z",
};

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int64_t parse_time(const char *s)
{
    int64_t ms = 0;
    const char *why;
    if (timefmt_parse_rfc3339(s, &ms, &why) != 0)
        abort();
    return ms;
}

/* ns per next() for a chain of CHAIN calls from 2026-01-01, best of RUNS. */
static double time_next(const struct cron_expr *e, const struct cron_zone *z)
{
    const int64_t start = parse_time("2026-01-01T00:00:00Z");
    double best = 1e30;
    volatile int64_t sink = 0;
    for (int r = 0; r < RUNS; r++) {
        int64_t t = start;
        const double t0 = now_ns();
        for (int i = 0; i < CHAIN; i++) {
            struct cron_fire f;
            if (cron_next(e, z, t, &f) != 0)
                t = start;
            else
                t = f.ms;
        }
        const double per = (now_ns() - t0) / CHAIN;
        sink += t;
        if (per < best)
            best = per;
    }
    (void)sink;
    return best;
}

static json_t *fires_after(const struct cron_expr *e, const struct cron_zone *z)
{
    json_t *all = json_object();
    for (size_t s = 0; s < sizeof probe_starts / sizeof probe_starts[0]; s++) {
        json_t *list = json_array();
        int64_t t = parse_time(probe_starts[s]);
        for (int i = 0; i < FIRES; i++) {
            struct cron_fire f;
            if (cron_next(e, z, t, &f) != 0)
                break;
            char buf[TIMEFMT_RFC3339_MAX];
            timefmt_rfc3339(f.ms, 0, 1, buf);
            json_array_append_new(list, json_string(buf));
            t = f.ms;
        }
        json_object_set_new(all, probe_starts[s], list);
    }
    return all;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: cron_bench CORPUS_FILE ZONE...\n");
        return 2;
    }
    struct tzdata_status tz_status;
    struct tzdata_error tz_err;
    if (tzdata_init(NULL, &tz_status, &tz_err) != 0) {
        fprintf(stderr, "cron_bench: %s\n", tz_err.message);
        return 1;
    }
    FILE *in = fopen(argv[1], "r");
    if (!in) {
        fprintf(stderr, "cron_bench: cannot open corpus %s\n", argv[1]);
        return 1;
    }
    json_t *results = json_array();
    char line[1100];
    while (fgets(line, sizeof line, in)) {
        line[strcspn(line, "\n")] = 0;
        if (!line[0] || line[0] == '#')
            continue;
        struct cron_expr *e;
        struct cron_error err;
        if (cron_parse(line, NULL, &e, &err) != 0) {
            fprintf(stderr, "cron_bench: %s: %s\n", line, err.message);
            return 1;
        }
        for (int zi = 2; zi < argc; zi++) {
            struct cron_zone *z;
            if (cron_zone_open(argv[zi], &z, &err) != 0) {
                fprintf(stderr, "cron_bench: %s\n", err.message);
                return 1;
            }
            json_array_append_new(results, json_pack("{s:s, s:s, s:f, s:o}", "expr", line, "zone", argv[zi],
                                                     "ns", time_next(e, z), "fires", fires_after(e, z)));
            cron_zone_free(z);
        }
        cron_free(e);
    }
    fclose(in);
    json_t *doc = json_pack("{s:i, s:o}", "chain", CHAIN, "results", results);
    json_dumpf(doc, stdout, JSON_COMPACT);
    putchar('\n');
    json_decref(doc);
    return 0;
}
