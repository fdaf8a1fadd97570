/* SPDX-License-Identifier: MIT */
/* Schema migrations (see migrate.h). The advisory lock serialises concurrent runs: the second
 * waits, then finds nothing pending. Each file runs in its own transaction together with its
 * schema_migrations row, so a failing file leaves no trace, and the checksum (computed by
 * Postgres) catches a file edited after it was applied. */
#include "migrate.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <libpq-fe.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "paths.h"
#include "pgconn.h"

#define MAX_SQL_BYTES (1 << 20)
/* pg_advisory_lock key: "agentcron migrate" hashed once, fixed forever. */
#define LOCK_KEY "7163514227340093"

static const char sql_create_table[] =
    "CREATE TABLE IF NOT EXISTS schema_migrations ("
    " version integer PRIMARY KEY,"
    " name text NOT NULL,"
    " checksum text NOT NULL,"
    " applied_at timestamptz NOT NULL DEFAULT now())";
static const char sql_record[] =
    "INSERT INTO schema_migrations (version, name, checksum)"
    " VALUES ($1::integer, $2, encode(sha256(convert_to($3::text, 'UTF8')), 'hex'))";
static const char sql_checksum_of[] =
    "SELECT checksum = encode(sha256(convert_to($2::text, 'UTF8')), 'hex') FROM schema_migrations WHERE version = $1::integer";

static int fail(struct migrate_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(struct migrate_error *err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    err->message[strcspn(err->message, "\n")] = 0; /* libpq messages end in newlines */
    return -1;
}

void migrate_default_dir(char *out, size_t len)
{
    paths_share_dir("migrations", "AGENTCRON_MIGRATIONS_DIR", out, len);
}

/* "0001_init.sql" -> version 1, name "init"; 0 if it matches, -1 otherwise. */
static int parse_file_name(const char *file, int *version, char *name, size_t len)
{
    const size_t n = strlen(file);
    if (n < 10 || strcmp(file + n - 4, ".sql") != 0 || file[4] != '_')
        return -1;
    for (int i = 0; i < 4; i++)
        if (!isdigit((unsigned char)file[i]))
            return -1;
    for (size_t i = 5; i < n - 4; i++)
        if (!islower((unsigned char)file[i]) && !isdigit((unsigned char)file[i]) && file[i] != '_')
            return -1;
    if (n - 9 >= len)
        return -1;
    *version = atoi(file) /* leading zeros are fine for atoi */;
    memcpy(name, file + 5, n - 9);
    name[n - 9] = 0;
    return *version > 0 ? 0 : -1;
}

static int by_version(const void *a, const void *b)
{
    return ((const struct migration *)a)->version - ((const struct migration *)b)->version;
}

static char *read_sql(const char *path, struct migrate_error *err)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return fail(err, "cannot read %s: %s", path, strerror(errno)), NULL;
    char *buf = malloc(MAX_SQL_BYTES + 1);
    const size_t n = buf ? fread(buf, 1, MAX_SQL_BYTES + 1, f) : 0;
    const int bad = !buf || ferror(f) || n > MAX_SQL_BYTES;
    fclose(f);
    if (bad) {
        free(buf);
        return fail(err, "cannot read %s (unreadable or larger than 1 MiB)", path), NULL;
    }
    buf[n] = 0;
    if (strlen(buf) != n) {
        free(buf);
        return fail(err, "%s contains a NUL byte", path), NULL;
    }
    return buf;
}

int migrate_scan(const char *dir, struct migration_set *set, struct migrate_error *err)
{
    memset(set, 0, sizeof *set);
    DIR *d = opendir(dir);
    if (!d)
        return fail(err, "cannot open the migrations directory %s: %s", dir, strerror(errno));
    size_t cap = 0;
    int rc = 0;
    for (struct dirent *e; rc == 0 && (e = readdir(d));) {
        const size_t n = strlen(e->d_name);
        if (n < 4 || strcmp(e->d_name + n - 4, ".sql") != 0)
            continue;
        struct migration m = {0};
        if (parse_file_name(e->d_name, &m.version, m.name, sizeof m.name) != 0) {
            rc = fail(err, "%s/%s: migration files are named NNNN_name.sql (four digits, then lower-case "
                           "letters, digits and _)", dir, e->d_name);
            break;
        }
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (!(m.sql = read_sql(path, err))) {
            rc = -1;
            break;
        }
        if (set->count == cap) {
            cap = cap ? cap * 2 : 16;
            struct migration *grown = realloc(set->items, cap * sizeof *grown);
            if (!grown) {
                free(m.sql);
                rc = fail(err, "out of memory");
                break;
            }
            set->items = grown;
        }
        set->items[set->count++] = m;
    }
    closedir(d);
    if (rc == 0 && set->count)
        qsort(set->items, set->count, sizeof *set->items, by_version);
    for (size_t i = 1; rc == 0 && i < set->count; i++)
        if (set->items[i].version == set->items[i - 1].version)
            rc = fail(err, "%s: two migrations have version %04d (%s and %s)", dir, set->items[i].version,
                      set->items[i - 1].name, set->items[i].name);
    if (rc == 0 && set->count == 0)
        rc = fail(err, "%s holds no migrations (NNNN_name.sql)", dir);
    if (rc != 0)
        migrate_set_free(set);
    return rc;
}

void migrate_set_free(struct migration_set *set)
{
    for (size_t i = 0; i < set->count; i++)
        free(set->items[i].sql);
    free(set->items);
    memset(set, 0, sizeof *set);
}

static int exec_ok(PGconn *conn, const char *sql, struct migrate_error *err)
{
    PGresult *r = PQexec(conn, sql);
    const int ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
    if (!ok)
        fail(err, "%s", PQerrorMessage(conn));
    PQclear(r);
    return ok ? 0 : -1;
}

static struct migration *find(struct migration_set *set, int version)
{
    for (size_t i = 0; i < set->count; i++)
        if (set->items[i].version == version)
            return &set->items[i];
    return NULL;
}

int migrate_status(struct pg_conn *conn, struct migration_set *set, struct migrate_error *err)
{
    PGresult *exists = PQexec(conn, "SELECT to_regclass('schema_migrations') IS NOT NULL");
    if (PQresultStatus(exists) != PGRES_TUPLES_OK) {
        fail(err, "cannot read the schema state: %s", PQerrorMessage(conn));
        PQclear(exists);
        return -1;
    }
    const int have_table = PQgetvalue(exists, 0, 0)[0] == 't';
    PQclear(exists);
    for (size_t i = 0; i < set->count; i++)
        set->items[i].applied = 0, set->items[i].modified = 0, set->items[i].applied_at[0] = 0;
    if (!have_table)
        return 0;
    PGresult *r = PQexecParams(conn, "SELECT version, to_char(applied_at AT TIME ZONE 'UTC', "
                                     "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') FROM schema_migrations ORDER BY version",
                               0, NULL, NULL, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        fail(err, "cannot read schema_migrations: %s", PQerrorMessage(conn));
        PQclear(r);
        return -1;
    }
    int rc = 0;
    for (int row = 0; rc == 0 && row < PQntuples(r); row++) {
        const int version = atoi(PQgetvalue(r, row, 0));
        struct migration *m = find(set, version);
        if (!m) {
            rc = fail(err, "the database has migration %04d, which this agentcron does not know: it is older than "
                           "the schema; upgrade agentcron", version);
            break;
        }
        m->applied = 1;
        snprintf(m->applied_at, sizeof m->applied_at, "%s", PQgetvalue(r, row, 1));
        const char *params[2];
        char v[16];
        snprintf(v, sizeof v, "%d", version);
        params[0] = v, params[1] = m->sql;
        PGresult *c = PQexecParams(conn, sql_checksum_of, 2, NULL, params, NULL, NULL, 0);
        if (PQresultStatus(c) == PGRES_TUPLES_OK && PQntuples(c) == 1)
            m->modified = PQgetvalue(c, 0, 0)[0] != 't';
        else
            rc = fail(err, "cannot check migration %04d: %s", version, PQerrorMessage(conn));
        PQclear(c);
    }
    PQclear(r);
    return rc;
}

/* The line of `sql` at which a 1-based character position falls. */
static int line_of(const char *sql, const char *position)
{
    long pos = position ? strtol(position, NULL, 10) : 0;
    int line = 1;
    for (const char *c = sql; *c && --pos > 0; c++)
        line += *c == '\n';
    return line;
}

static int apply_one(PGconn *conn, struct migration *m, struct migrate_error *err)
{
    if (exec_ok(conn, "BEGIN", err) != 0)
        return -1;
    PGresult *r = PQexec(conn, m->sql);
    const ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK && st != PGRES_EMPTY_QUERY) {
        const char *msg = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
        fail(err, "migration %04d_%s.sql failed at line %d: %s; nothing of it was applied", m->version, m->name,
             line_of(m->sql, PQresultErrorField(r, PG_DIAG_STATEMENT_POSITION)), msg ? msg : PQerrorMessage(conn));
        PQclear(r);
        PQclear(PQexec(conn, "ROLLBACK"));
        return -1;
    }
    PQclear(r);
    char v[16];
    snprintf(v, sizeof v, "%d", m->version);
    const char *params[3] = {v, m->name, m->sql};
    r = PQexecParams(conn, sql_record, 3, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        fail(err, "cannot record migration %04d: %s", m->version, PQerrorMessage(conn));
        PQclear(r);
        PQclear(PQexec(conn, "ROLLBACK"));
        return -1;
    }
    PQclear(r);
    return exec_ok(conn, "COMMIT", err);
}

int migrate_apply(struct pg_conn *conn, struct migration_set *set, size_t *applied,
                  void (*progress)(const struct migration *m, void *ctx), void *ctx, struct migrate_error *err)
{
    *applied = 0;
    if (exec_ok(conn, "SELECT pg_advisory_lock(" LOCK_KEY ")", err) != 0)
        return -1;
    int rc = exec_ok(conn, sql_create_table, err);
    if (rc == 0)
        rc = migrate_status(conn, set, err);
    for (size_t i = 0; rc == 0 && i < set->count; i++)
        if (set->items[i].modified)
            rc = fail(err, "migration %04d_%s.sql was changed after it was applied; restore the original and add "
                           "a new migration instead", set->items[i].version, set->items[i].name);
    for (size_t i = 0; rc == 0 && i < set->count; i++) {
        struct migration *m = &set->items[i];
        if (m->applied)
            continue;
        if (progress)
            progress(m, ctx);
        rc = apply_one(conn, m, err);
        if (rc == 0)
            m->applied = 1, (*applied)++;
    }
    struct migrate_error ignored;
    exec_ok(conn, "SELECT pg_advisory_unlock(" LOCK_KEY ")", &ignored);
    return rc;
}

int migrate_require_current(const char *url, const char *app, struct migrate_error *err)
{
    char dir[4096];
    PGconn *c = pgconn_open(url, app, err->message, sizeof err->message);
    if (!c)
        return -1;
    migrate_default_dir(dir, sizeof dir);
    struct migration_set set;
    int rc = migrate_scan(dir, &set, err);
    if (rc == 0) {
        rc = migrate_status(c, &set, err);
        size_t pending = 0;
        for (size_t i = 0; rc == 0 && i < set.count; i++)
            pending += !set.items[i].applied;
        if (rc == 0 && pending) {
            snprintf(err->message, sizeof err->message,
                     "the database schema is behind: %zu migration%s pending; run `agentcron migrate`", pending,
                     pending == 1 ? "" : "s");
            rc = -1;
        }
        migrate_set_free(&set);
    }
    PQfinish(c);
    return rc;
}
