/* SPDX-License-Identifier: MIT */
/* Schema migrations: numbered SQL files (NNNN_name.sql) applied in order, each in its own
 * transaction, recorded in schema_migrations with a checksum, under an advisory lock so that
 * concurrent runs apply each migration once. Synchronous libpq: for the CLI and for start-up
 * checks, never on an event loop. */
#ifndef AGENTCRON_MIGRATE_H
#define AGENTCRON_MIGRATE_H

#include <stddef.h>

struct pg_conn; /* libpq's PGconn */

struct migration {
    int version;
    char name[128];         /* "init" for 0001_init.sql */
    char *sql;              /* the file's text */
    int applied;            /* filled by migrate_status */
    char applied_at[40];    /* RFC 3339, when applied */
    int modified;           /* applied, but the file changed since */
};

struct migration_set {
    struct migration *items; /* ascending by version */
    size_t count;
};

struct migrate_error {
    char message[1024];
};

/* The migrations directory: $AGENTCRON_MIGRATIONS_DIR, else ../share/agentcron/migrations
 * beside the binary. */
void migrate_default_dir(char *out, size_t len);

/* Reads every NNNN_name.sql in dir. 0, or -1 with *err (unreadable directory or file, a
 * badly named .sql file, a duplicate version). Free with migrate_set_free. */
int migrate_scan(const char *dir, struct migration_set *set, struct migrate_error *err);
void migrate_set_free(struct migration_set *set);

/* Fills each migration's applied/applied_at/modified from the database. Fails (-1) when the
 * database holds a version the directory lacks (this agentcron is older than the schema). */
int migrate_status(struct pg_conn *conn, struct migration_set *set, struct migrate_error *err);

/* Applies what is pending, in order, calling progress(name, ctx) before each (may be NULL).
 * Refuses (-1) when an applied migration's file was modified. Stores the number applied. */
int migrate_apply(struct pg_conn *conn, struct migration_set *set, size_t *applied,
                  void (*progress)(const struct migration *m, void *ctx), void *ctx,
                  struct migrate_error *err);

/* Daemons call this before starting: 0 if every migration in migrate_default_dir() is applied
 * on the database at url, else -1 with *err saying what to do (connect, or run
 * `agentcron migrate`). app names the connection. */
int migrate_require_current(const char *url, const char *app, struct migrate_error *err);

#endif
