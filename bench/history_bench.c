/* SPDX-License-Identifier: MIT */
/* The run history's queries at scale (bench/run-history.sh makes the history): each query of
 * `agentcron runs list` (every filter, a deep page), `runs show`, a user's month of usage and
 * `tasks slots` for a day, through the same functions the CLI and the API call, with random
 * arguments; prints p50 and p99 in ms per query, as JSON lines.
 *   history_bench DATABASE_URL ITERATIONS */
#include <inttypes.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "history.h"
#include "pgconn.h"
#include "usage.h"

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int64_t scalar(PGconn *pg, const char *sql)
{
    PGresult *r = PQexec(pg, sql);
    const int64_t v = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) ? strtoll(PQgetvalue(r, 0, 0), NULL, 10) : -1;
    PQclear(r);
    return v;
}

enum query { Q_ALL, Q_DEEP, Q_TASK, Q_USER, Q_FAILED, Q_SUCCEEDED, Q_AGENT, Q_MANUAL, Q_DAY, Q_USER_FAILED, Q_SHOW,
             Q_USAGE, Q_SLOTS, Q_COUNT };
static const char *const names[Q_COUNT] = {
    "runs list (newest)", "runs list (page 2000 via cursor)", "runs list --task", "runs list --user",
    "runs list --status failed", "runs list --status succeeded", "runs list --agent", "runs list --trigger manual",
    "runs list --since/--until (1 day)", "runs list --user --status failed", "runs show", "users show (a month of usage)",
    "tasks slots (1 day)"};

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: history_bench DATABASE_URL ITERATIONS\n");
        return 2;
    }
    const int n = atoi(argv[2]);
    char err[1024];
    PGconn *pg = (PGconn *)pgconn_open(argv[1], "history_bench", err, sizeof err);
    if (!pg) {
        fprintf(stderr, "history_bench: %s\n", err);
        return 1;
    }
    const int64_t tasks = scalar(pg, "SELECT max(id) FROM tasks"), users = scalar(pg, "SELECT max(id) FROM users");
    const int64_t runs = scalar(pg, "SELECT max(id) FROM task_runs");
    const int64_t first_ms = scalar(pg, "SELECT (extract(epoch FROM min(scheduled_for)) * 1000)::bigint FROM task_runs");
    const int64_t last_ms = scalar(pg, "SELECT (extract(epoch FROM max(scheduled_for)) * 1000)::bigint FROM task_runs");
    /* a cursor 2000 pages of 50 deep */
    char deep[64];
    {
        PGresult *r = PQexec(pg, "SELECT (extract(epoch FROM scheduled_for) * 1000000)::bigint || '.' || id FROM task_runs"
                                 " ORDER BY scheduled_for DESC, id DESC OFFSET 100000 LIMIT 1");
        snprintf(deep, sizeof deep, "%s", PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) ? PQgetvalue(r, 0, 0) : "");
        PQclear(r);
    }
    srand(42);
    double *ms = malloc((size_t)n * sizeof *ms);
    for (int q = 0; q < Q_COUNT; q++) {
        for (int i = 0; i < n; i++) {
            char user[24], agent[24], day[16];
            struct history_filter f = {.limit = 50};
            const int64_t task = 1 + rand() % tasks, u = 1 + rand() % users;
            snprintf(user, sizeof user, "%" PRId64, u);
            snprintf(agent, sizeof agent, "agent%d", rand() % 10);
            const int64_t at = first_ms + (int64_t)((double)rand() / RAND_MAX * (double)(last_ms - first_ms - 86400000));
            json_t *doc = NULL;
            int rc = 0;
            const double t0 = now_ms();
            switch (q) {
            case Q_ALL: rc = history_list((struct pg_conn *)pg, 0, &f, &doc, err, sizeof err); break;
            case Q_DEEP: f.cursor = deep; rc = history_list((struct pg_conn *)pg, 0, &f, &doc, err, sizeof err); break;
            case Q_TASK: f.task_id = task; rc = history_list((struct pg_conn *)pg, 0, &f, &doc, err, sizeof err); break;
            case Q_USER: rc = history_list((struct pg_conn *)pg, u, &f, &doc, err, sizeof err); break;
            case Q_FAILED: f.status = "failed"; rc = history_list((struct pg_conn *)pg, 0, &f, &doc, err, sizeof err); break;
            case Q_SUCCEEDED:
                f.status = "succeeded";
                rc = history_list((struct pg_conn *)pg, 0, &f, &doc, err, sizeof err);
                break;
            case Q_AGENT: f.agent = agent; rc = history_list((struct pg_conn *)pg, 0, &f, &doc, err, sizeof err); break;
            case Q_MANUAL:
                f.trigger = "manual";
                rc = history_list((struct pg_conn *)pg, 0, &f, &doc, err, sizeof err);
                break;
            case Q_DAY:
                f.since_ms = at, f.until_ms = at + 86400000;
                rc = history_list((struct pg_conn *)pg, 0, &f, &doc, err, sizeof err);
                break;
            case Q_USER_FAILED:
                f.status = "failed";
                rc = history_list((struct pg_conn *)pg, u, &f, &doc, err, sizeof err);
                break;
            case Q_SHOW: rc = history_run((struct pg_conn *)pg, 0, 1 + rand() % runs, &doc, err, sizeof err); break;
            case Q_USAGE: {
                char from[16];
                time_t t = (time_t)(at / 1000);
                struct tm tm;
                gmtime_r(&t, &tm);
                strftime(from, sizeof from, "%Y-%m-01", &tm);
                strftime(day, sizeof day, "%Y-%m-28", &tm);
                rc = usage_report((struct pg_conn *)pg, 0, u, from, day, &doc, err, sizeof err);
                break;
            }
            case Q_SLOTS: rc = history_slots((struct pg_conn *)pg, 0, task, at, at + 86400000, &doc, err, sizeof err); break;
            }
            ms[i] = now_ms() - t0;
            if (rc != 0 && rc != HISTORY_NOT_FOUND) {
                fprintf(stderr, "history_bench: %s: %s\n", names[q], err);
                return 1;
            }
            json_decref(doc);
        }
        qsort(ms, (size_t)n, sizeof *ms, cmp_double);
        printf("{\"query\": \"%s\", \"n\": %d, \"p50_ms\": %.2f, \"p99_ms\": %.2f}\n", names[q], n, ms[n / 2],
               ms[(int)((double)n * 0.99) < n ? (int)((double)n * 0.99) : n - 1]);
        fflush(stdout);
    }
    free(ms);
    PQfinish(pg);
    return 0;
}
