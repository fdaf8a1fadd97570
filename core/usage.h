/* SPDX-License-Identifier: MIT */
/* Usage from the daily summaries (usage_daily, kept by a trigger as runs end): runs by outcome,
 * attempts, tokens, credits, total and p95 duration, per user, task, agent and day, without
 * reading the runs. Blocking. */
#ifndef AGENTCRON_USAGE_H
#define AGENTCRON_USAGE_H

#include <stddef.h>
#include <stdint.h>

struct pg_conn;
struct json_t;

/* The duration buckets of migrations/0007 (agentcron_duration_buckets). */
#define USAGE_BUCKETS 20

/* {"from", "to", "total": {...}, "byTask": [...], "byAgent": [...], "byDay": [...]} for the runs
 * that ended in the UTC days [from_day, to_day] ("YYYY-MM-DD"), of user_id (0: every user).
 * scope: 0 for an operator, else the only user it may see (user_id must then be that user or
 * 0). 0 with *out, AC_EINVAL (a bad day; err says which), or AC_EIO. */
int usage_report(struct pg_conn *pg, int64_t scope, int64_t user_id, const char *from_day, const char *to_day,
                 struct json_t **out, char *err, size_t len);

/* The quantile q in (0, 1] of a duration histogram (counts per bucket), interpolated within
 * its bucket as Prometheus does; -1 if it is empty. */
int64_t usage_quantile(const int64_t counts[USAGE_BUCKETS], double q);

#endif
