/* SPDX-License-Identifier: MIT */
/* Alert rules as data (docs/alerts.md): made, listed, shown and removed by the CLI and the API
 * with the same checks. A rule has a scope (all, a user, an agent, a task), a condition, a
 * channel (webhook, slack, email) with its target, and a repeat interval. An operator's rule
 * (owner 0) may watch anything; a user's rule watches only that user's tasks and credits.
 * Blocking; one thread at a time per connection. */
#ifndef AGENTCRON_ALERT_RULES_H
#define AGENTCRON_ALERT_RULES_H

#include <stddef.h>
#include <stdint.h>

#define ALERT_NOT_FOUND 1 /* no such rule (within the scope) */
#define ALERT_RULES_PER_USER 100

struct json_t;
struct pg_conn;

/* A duration: a whole number of seconds, or one with a unit ("90s", "15m", "2h", "7d").
 * 0 and *seconds, or -1. */
int alert_duration_parse(const char *text, int64_t *seconds);

/* Makes a rule from def, a JSON object: name, condition, channel and target are required;
 * scope ("all" unless user, agent or task is given), user (id or email), agent, task (id),
 * threshold, duration and repeat (seconds or "15m"), enabled. owner: 0 for an operator,
 * else the user making it (scope then defaults to that user; other users' tasks, system-wide
 * conditions and plain-http targets are refused). 0 with *out (the rule as alert_rule_show
 * gives it), AC_EINVAL with the reason in err (field: the offending key), or AC_EIO. */
int alert_rule_create(struct pg_conn *pg, const struct json_t *def, int64_t owner, struct json_t **out,
                      char field[32], char *err, size_t len);

/* The rules visible to scope (0: all; else the user's own). 0 with *out (an array), or AC_EIO. */
int alert_rules_list(struct pg_conn *pg, int64_t scope, struct json_t **out, char *err, size_t len);

/* A rule with its open incidents and its last 20 deliveries. 0, ALERT_NOT_FOUND, or AC_EIO. */
int alert_rule_show(struct pg_conn *pg, int64_t id, int64_t scope, struct json_t **out, char *err, size_t len);

/* Removes a rule (its incidents and deliveries go with it). 0, ALERT_NOT_FOUND, or AC_EIO. */
int alert_rule_remove(struct pg_conn *pg, int64_t id, int64_t scope, char *err, size_t len);

#endif
