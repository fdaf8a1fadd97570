/* SPDX-License-Identifier: MIT */
/* `agentcron migrate [--status]`: bring the database schema up to date, or show where it is. */
#include <getopt.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "config.h"
#include "migrate.h"
#include "pgconn.h"

static const char usage_text[] =
    "usage: agentcron migrate [--status] [--json] [--dir DIR] [--env-file FILE]\n"
    "\n"
    "Applies the pending schema migrations to DATABASE_URL, in order, each in its own\n"
    "transaction; concurrent runs are safe (the second waits, then finds nothing to do).\n"
    "\n"
    "  --status         list applied and pending migrations instead\n"
    "  --json           with --status: as JSON\n"
    "  --dir DIR        the migrations (default $AGENTCRON_MIGRATIONS_DIR, or\n"
    "                   ../share/agentcron/migrations beside the agentcron binary)\n"
    "  --env-file FILE  read settings from FILE (default " CONFIG_DEFAULT_ENV_FILE " if present)\n"
    "\n"
    "exit status: 0 ok, 1 failure (database unreachable, a migration failed), 2 usage\n";

static void announce(const struct migration *m, void *ctx)
{
    (void)ctx;
    printf("applying %04d_%s.sql\n", m->version, m->name);
    fflush(stdout);
}

static int print_status(const struct migration_set *set, int json)
{
    if (json) {
        json_t *list = json_array();
        for (size_t i = 0; i < set->count; i++) {
            const struct migration *m = &set->items[i];
            json_array_append_new(list, json_pack("{s:i, s:s, s:s, s:s?, s:b}", "version", m->version, "name", m->name,
                                                  "state", m->applied ? "applied" : "pending", "appliedAt",
                                                  m->applied ? m->applied_at : NULL, "modified", m->modified));
        }
        json_t *doc = json_pack("{s:o}", "migrations", list);
        json_dumpf(doc, stdout, JSON_COMPACT);
        putchar('\n');
        json_decref(doc);
        return CLI_OK;
    }
    printf("%-8s %-32s %-9s %s\n", "VERSION", "NAME", "STATE", "APPLIED AT");
    for (size_t i = 0; i < set->count; i++) {
        const struct migration *m = &set->items[i];
        printf("%04d     %-32s %-9s %s%s\n", m->version, m->name, m->applied ? "applied" : "pending",
               m->applied_at, m->modified ? "  (file changed since it was applied)" : "");
    }
    return CLI_OK;
}

int cmd_migrate(int argc, char **argv)
{
    static const struct option options[] = {
        {"status", no_argument, NULL, 's'},          {"json", no_argument, NULL, 'j'},
        {"dir", required_argument, NULL, 'd'},       {"env-file", required_argument, NULL, 'e'},
        {"help", no_argument, NULL, 'h'},            {NULL, 0, NULL, 0},
    };
    const char *dir = NULL, *env_file = NULL;
    int status_only = 0, json = 0, c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (c) {
        case 's': status_only = 1; break;
        case 'j': json = 1; break;
        case 'd': dir = optarg; break;
        case 'e': env_file = optarg; break;
        case 'h': fputs(usage_text, stdout); return CLI_OK;
        default:
            fprintf(stderr, "agentcron migrate: unknown or incomplete option \"%s\"; see `agentcron migrate --help`\n",
                    argv[optind - 1]);
            return CLI_USAGE;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "agentcron migrate: unexpected argument \"%s\"; see `agentcron migrate --help`\n", argv[optind]);
        return CLI_USAGE;
    }
    struct config cfg;
    struct config_error cerr;
    static const char *const required[] = {"DATABASE_URL", NULL};
    if (config_load(&cfg, env_file, &cerr) != 0 || config_require(&cfg, required, &cerr) != 0) {
        fprintf(stderr, "agentcron migrate: %s\n", cerr.message);
        return CLI_USAGE;
    }
    char default_dir[4096];
    if (!dir) {
        migrate_default_dir(default_dir, sizeof default_dir);
        dir = default_dir;
    }
    struct migration_set set;
    struct migrate_error err;
    if (migrate_scan(dir, &set, &err) != 0) {
        fprintf(stderr, "agentcron migrate: %s\n", err.message);
        return CLI_FAILURE;
    }
    char connect_err[1200];
    PGconn *conn = pgconn_open(cfg.database_url, "agentcron-migrate", connect_err, sizeof connect_err);
    int rc = CLI_OK;
    if (!conn) {
        fprintf(stderr, "agentcron migrate: %s\n", connect_err);
        rc = CLI_FAILURE;
    } else if (status_only) {
        rc = migrate_status(conn, &set, &err) == 0 ? print_status(&set, json) : CLI_FAILURE;
        if (rc != CLI_OK)
            fprintf(stderr, "agentcron migrate: %s\n", err.message);
    } else {
        size_t applied;
        if (migrate_apply(conn, &set, &applied, announce, NULL, &err) != 0) {
            fprintf(stderr, "agentcron migrate: %s\n", err.message);
            rc = CLI_FAILURE;
        } else if (applied) {
            printf("%zu migration%s applied; the schema is at version %04d\n", applied, applied == 1 ? "" : "s",
                   set.items[set.count - 1].version);
        } else {
            printf("nothing to apply; the schema is at version %04d\n", set.items[set.count - 1].version);
        }
    }
    PQfinish(conn);
    migrate_set_free(&set);
    return rc;
}
