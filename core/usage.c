/* SPDX-License-Identifier: MIT */
/* Usage from the daily summaries (usage.h): one grouping-sets query over a few hundred rows. */
#include "usage.h"

#include <inttypes.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "errors.h"

/* The upper bounds of the buckets but the last (open): agentcron_duration_buckets() of
 * migrations/0007 holds the lower bounds, 0 and these. */
static const int64_t bounds[USAGE_BUCKETS - 1] = {10,     20,     50,      100,     200,     500,    1000,
                                                  2000,   5000,   10000,   20000,   50000,   100000, 200000,
                                                  500000, 1000000, 2000000, 5000000, 10000000};

int64_t usage_quantile(const int64_t counts[USAGE_BUCKETS], double q)
{
    int64_t total = 0;
    for (int i = 0; i < USAGE_BUCKETS; i++)
        total += counts[i];
    if (total <= 0)
        return -1;
    const double rank = q * (double)total;
    int64_t before = 0;
    for (int i = 0; i < USAGE_BUCKETS; i++) {
        if (counts[i] > 0 && (double)(before + counts[i]) >= rank) {
            const int64_t lo = i ? bounds[i - 1] : 0;
            if (i == USAGE_BUCKETS - 1)
                return lo; /* the open bucket: at least its lower bound */
            const double within = (rank - (double)before) / (double)counts[i];
            return lo + (int64_t)((double)(bounds[i] - lo) * (within < 0 ? 0 : within));
        }
        before += counts[i];
    }
    return bounds[USAGE_BUCKETS - 2];
}

/* "{1,2,3}" into counts. */
static void parse_hist(const char *text, int64_t counts[USAGE_BUCKETS])
{
    memset(counts, 0, USAGE_BUCKETS * sizeof *counts);
    const char *p = text[0] == '{' ? text + 1 : text;
    for (int i = 0; i < USAGE_BUCKETS && *p && *p != '}'; i++) {
        char *end;
        counts[i] = strtoll(p, &end, 10);
        p = *end == ',' ? end + 1 : end;
    }
}

/* The sums of the groups a report shows (the whole range, each task, agent and day), the
 * histograms summed bucket by bucket in the same pass: an aggregate that adds arrays calls a
 * function per row (100 ms for a user's month), unnest and regroup took 40. */
#define B(n) "sum(d.duration_hist[" #n "])"
static const char sql_usage[] =
    "SELECT CASE WHEN grouping(d.task_id) = 0 THEN 'task' WHEN grouping(d.agent) = 0 THEN 'agent'"
    " WHEN grouping(d.day) = 0 THEN 'day' ELSE 'total' END,"
    " d.task_id, d.agent, to_char(d.day, 'YYYY-MM-DD'), sum(d.succeeded), sum(d.failed), sum(d.timed_out),"
    " sum(d.cancelled), sum(d.insufficient_credits), sum(d.attempts), sum(d.prompt_tokens), sum(d.completion_tokens),"
    " sum(d.credits), sum(d.duration_ms), ARRAY[" B(1) "," B(2) "," B(3) "," B(4) "," B(5) "," B(6) "," B(7) ","
    B(8) "," B(9) "," B(10) "," B(11) "," B(12) "," B(13) "," B(14) "," B(15) "," B(16) "," B(17) "," B(18) ","
    B(19) "," B(20) "]::text, min(t.title)"
    " FROM usage_daily d JOIN tasks t ON t.id = d.task_id"
    " WHERE ($1::bigint = 0 OR d.user_id = $1::bigint) AND d.day BETWEEN $2::date AND $3::date"
    " GROUP BY GROUPING SETS ((), (d.task_id), (d.agent), (d.day)) ORDER BY 1, 2, 3, 4";
#undef B

static int64_t cell(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? 0 : strtoll(PQgetvalue(r, row, col), NULL, 10);
}

static json_t *row_json(const PGresult *r, int i)
{
    int64_t hist[USAGE_BUCKETS];
    parse_hist(PQgetvalue(r, i, 14), hist);
    const int64_t runs = cell(r, i, 4) + cell(r, i, 5) + cell(r, i, 6) + cell(r, i, 7) + cell(r, i, 8);
    const int64_t p95 = usage_quantile(hist, 0.95);
    json_t *o = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "runs", (json_int_t)runs,
                          "succeeded", (json_int_t)cell(r, i, 4), "failed", (json_int_t)cell(r, i, 5), "timedOut",
                          (json_int_t)cell(r, i, 6), "cancelled", (json_int_t)cell(r, i, 7), "insufficientCredits",
                          (json_int_t)cell(r, i, 8), "attempts", (json_int_t)cell(r, i, 9), "promptTokens",
                          (json_int_t)cell(r, i, 10), "completionTokens", (json_int_t)cell(r, i, 11), "credits",
                          (json_int_t)cell(r, i, 12), "durationMs", (json_int_t)cell(r, i, 13));
    json_object_set_new(o, "p95DurationMs", p95 >= 0 ? json_integer(p95) : json_null());
    return o;
}

/* "YYYY-MM-DD", a day that exists (2026-02-31 does not: Postgres would refuse it as a failure). */
static int valid_day(const char *d)
{
    struct tm tm = {0};
    const char *end = strlen(d) == 10 ? strptime(d, "%Y-%m-%d", &tm) : NULL;
    if (!end || *end)
        return 0;
    const int mday = tm.tm_mday, mon = tm.tm_mon;
    const time_t t = timegm(&tm); /* normalises the 31st of February into March */
    return t != (time_t)-1 && tm.tm_mday == mday && tm.tm_mon == mon;
}

int usage_report(struct pg_conn *conn, int64_t scope, int64_t user_id, const char *from_day, const char *to_day,
                 json_t **out, char *err, size_t len)
{
    PGconn *pg = (PGconn *)conn;
    *out = NULL;
    if (!valid_day(from_day) || !valid_day(to_day)) {
        snprintf(err, len, "day \"%.20s\" is not a date: give YYYY-MM-DD", valid_day(from_day) ? to_day : from_day);
        return AC_EINVAL;
    }
    if (scope && user_id && user_id != scope) {
        snprintf(err, len, "a user key sees only its own usage");
        return AC_EINVAL;
    }
    char users[24];
    snprintf(users, sizeof users, "%" PRId64, scope ? scope : user_id);
    const char *params[3] = {users, from_day, to_day};
    PGresult *r = PQexecParams(pg, sql_usage, 3, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        snprintf(err, len, "postgres: reading usage: %s", PQresultErrorMessage(r));
        err[strcspn(err, "\n")] = 0;
        PQclear(r);
        return AC_EIO;
    }
    json_t *doc = json_pack("{s:s, s:s}", "from", from_day, "to", to_day);
    json_t *by_task = json_array(), *by_agent = json_array(), *by_day = json_array(), *total = NULL;
    for (int i = 0; i < PQntuples(r); i++) {
        const char *kind = PQgetvalue(r, i, 0);
        json_t *o = row_json(r, i);
        if (!strcmp(kind, "task")) {
            json_object_set_new(o, "task", json_integer(cell(r, i, 1)));
            json_object_set_new(o, "title", json_string(PQgetvalue(r, i, 15)));
            json_array_append_new(by_task, o);
        } else if (!strcmp(kind, "agent")) {
            json_object_set_new(o, "agent", json_string(PQgetvalue(r, i, 2)));
            json_array_append_new(by_agent, o);
        } else if (!strcmp(kind, "day")) {
            json_object_set_new(o, "day", json_string(PQgetvalue(r, i, 3)));
            json_array_append_new(by_day, o);
        } else {
            json_decref(total);
            total = o;
        }
    }
    PQclear(r);
    if (!total) { /* no rows at all: zeros */
        total = json_pack("{s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:n}", "runs", 0, "succeeded", 0,
                          "failed", 0, "timedOut", 0, "cancelled", 0, "insufficientCredits", 0, "attempts", 0,
                          "promptTokens", 0, "completionTokens", 0, "credits", 0, "durationMs", 0, "p95DurationMs");
    }
    json_object_set_new(doc, "total", total);
    json_object_set_new(doc, "byTask", by_task);
    json_object_set_new(doc, "byAgent", by_agent);
    json_object_set_new(doc, "byDay", by_day);
    *out = doc;
    return 0;
}
