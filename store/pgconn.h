/* SPDX-License-Identifier: MIT */
/* Opening a Postgres connection from DATABASE_URL the same way everywhere: a connect timeout,
 * an application name, no notice chatter, and errors that show the URL without its password. */
#ifndef AGENTCRON_PGCONN_H
#define AGENTCRON_PGCONN_H

#include <stddef.h>

struct pg_conn; /* libpq's PGconn */

/* Connects (blocking, up to 10 s). Returns the connection, or NULL with a one-line message in
 * err naming the redacted URL and libpq's reason. Close with PQfinish. */
struct pg_conn *pgconn_open(const char *url, const char *application, char *err, size_t errlen);

/* For a statement that failed: "what: Postgres's reason" in err; clears r (may be NULL: the
 * connection's message). Returns -1. */
struct pg_result;
int pgconn_failed(struct pg_result *r, struct pg_conn *pg, const char *what, char *err, size_t errlen);

#endif
