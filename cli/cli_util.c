/* SPDX-License-Identifier: MIT */
#include "cli_util.h"

#include <hiredis/hiredis.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agents.h"
#include "commands.h"
#include "pgconn.h"
#include "redisconn.h"
#include "shards.h"
#include "timefmt.h"

int cli_error(const char *cmd, int status, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "agentcron %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return status;
}

int cli_connect(struct cli_conn *c, const char *cmd, const char *env_file, int want_redis)
{
    memset(c, 0, sizeof *c);
    struct config_error cerr;
    const char *required[] = {"DATABASE_URL", want_redis ? "REDIS_URL" : NULL, NULL};
    if (config_load(&c->cfg, env_file, &cerr) != 0 || config_require(&c->cfg, required, &cerr) != 0)
        return cli_error(cmd, CLI_USAGE, "%s", cerr.message);
    struct agent_set set;
    struct agents_error aerr;
    if (c->cfg.nsecrets && agents_load(&set, c->cfg.agents_file, &aerr) == 0) { /* a misspelt secret's name */
        const int misspelt = agents_check_secrets(&set, &c->cfg, 0, &aerr);
        agents_free(&set);
        if (misspelt)
            return cli_error(cmd, CLI_USAGE, "%s", aerr.message);
    }
    char err[1024];
    if (!(c->pg = pgconn_open(c->cfg.database_url, "agentcron-cli", err, sizeof err)))
        return cli_error(cmd, CLI_FAILURE, "%s", err);
    redisconn_use_config(&c->cfg);
    shards_use_config(&c->cfg);
    if (want_redis && !(c->redis = redisconn_open(c->cfg.redis_url, 5000, err, sizeof err))) {
        cli_disconnect(c);
        return cli_error(cmd, CLI_FAILURE, "%s", err);
    }
    return 0;
}

void cli_disconnect(struct cli_conn *c)
{
    PQfinish(c->pg);
    if (c->redis)
        redisFree(c->redis);
    c->pg = NULL, c->redis = NULL;
}

void cli_print_json(json_t *doc)
{
    json_dumpf(doc, stdout, JSON_COMPACT);
    putchar('\n');
    json_decref(doc);
}

int cli_parse_id(const char *text, int64_t *id)
{
    char *end;
    const long long v = strtoll(text, &end, 10);
    if (!text[0] || *end || v <= 0)
        return -1;
    *id = v;
    return 0;
}

const char *cli_time(int64_t ms, char *out)
{
    if (ms < 0)
        return strcpy(out, "-");
    timefmt_rfc3339(ms, 0, 1, out);
    return out;
}

int64_t cli_i64(const void *pgresult, int row, int col)
{
    const PGresult *r = pgresult;
    return PQgetisnull(r, row, col) ? 0 : strtoll(PQgetvalue(r, row, col), NULL, 10);
}

int cli_column_width(const json_t *list, const char *key, int min, int max)
{
    int width = min;
    size_t i;
    const json_t *v;
    json_array_foreach(list, i, v)
    {
        const int len = (int)json_string_length(json_object_get(v, key));
        width = len > width ? len : width;
    }
    return width > max ? max : width;
}
