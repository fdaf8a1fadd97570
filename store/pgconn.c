/* SPDX-License-Identifier: MIT */
/* Postgres connections (see pgconn.h). */
#include "pgconn.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <string.h>

#include "config.h"

/* Server notices ("relation already exists, skipping") are not the operator's business. */
static void ignore_notice(void *ctx, const char *message)
{
    (void)ctx, (void)message;
}

struct pg_conn *pgconn_open(const char *url, const char *application, char *err, size_t errlen)
{
    /* listed before dbname, so that values in the URL override them */
    static const char *const keys[] = {"connect_timeout", "application_name", "dbname", NULL};
    const char *values[] = {"10", application, url, NULL};
    PGconn *conn = PQconnectdbParams(keys, values, 1);
    if (conn && PQstatus(conn) == CONNECTION_OK) {
        PQsetNoticeProcessor(conn, ignore_notice, NULL);
        return conn;
    }
    char shown[1024];
    config_redact_url(url, shown, sizeof shown);
    char reason[512];
    snprintf(reason, sizeof reason, "%s", conn ? PQerrorMessage(conn) : "out of memory");
    reason[strcspn(reason, "\n")] = 0;
    snprintf(err, errlen, "cannot connect to DATABASE_URL %s: %s", shown, reason);
    PQfinish(conn);
    return NULL;
}

int pgconn_failed(struct pg_result *r, struct pg_conn *pg, const char *what, char *err, size_t errlen)
{
    snprintf(err, errlen, "%s: %s", what, r ? PQresultErrorMessage(r) : PQerrorMessage((PGconn *)pg));
    PQclear(r);
    return -1;
}
