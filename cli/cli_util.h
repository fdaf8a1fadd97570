/* SPDX-License-Identifier: MIT */
/* What the agentcron subcommands share: loading the configuration and connecting the way the
 * daemons do, printing JSON, parsing ids and times, and errors in one format. */
#ifndef AGENTCRON_CLI_UTIL_H
#define AGENTCRON_CLI_UTIL_H

#include <stdint.h>

#include "config.h"

struct pg_conn;
struct redisContext;
struct json_t;

/* The connections a command uses; close with cli_disconnect. */
struct cli_conn {
    struct config cfg;
    struct pg_conn *pg;
    struct redisContext *redis; /* NULL unless asked for */
};

/* Loads the configuration (env_file as --env-file gave it, may be NULL) and connects to
 * Postgres, and to Redis if want_redis. On failure prints "agentcron CMD: why" and returns the
 * exit status (CLI_USAGE for a bad configuration, CLI_FAILURE when a server is unreachable);
 * 0 on success. */
int cli_connect(struct cli_conn *c, const char *cmd, const char *env_file, int want_redis);
void cli_disconnect(struct cli_conn *c);

/* Prints "agentcron CMD: message" on stderr and returns status. */
int cli_error(const char *cmd, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Prints doc as one line of JSON on stdout and drops the reference. */
void cli_print_json(struct json_t *doc);

/* Parses a positive id: 0, or -1 if text is not one. */
int cli_parse_id(const char *text, int64_t *id);

/* The width of a table's column: the longest value of key among the objects of list, at least
 * min (the heading's) and at most max (longer values are cut there). */
int cli_column_width(const struct json_t *list, const char *key, int min, int max);

/* Formats a time (ms) as RFC 3339 UTC, or "-" for a negative one, into out (TIMEFMT_RFC3339_MAX). */
const char *cli_time(int64_t ms, char *out);

/* The value of a result cell as int64 (0 if NULL). */
int64_t cli_i64(const void *pgresult, int row, int col);

#endif
