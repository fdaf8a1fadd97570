/* SPDX-License-Identifier: MIT */
#include "response.h"

#include <jansson.h>
#include <libpq-fe.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void api_reply(struct api_response *out, int status, json_t *doc)
{
    out->status = status;
    out->doc = doc;
}

void api_error(struct api_response *out, int status, const char *field, const char *fmt, ...)
{
    char msg[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    json_t *doc = json_pack("{s:s}", "error", msg);
    if (!doc) { /* not UTF-8: a value a request sent, echoed, or a character the length limit cut */
        for (char *c = msg; *c; c++)
            if ((unsigned char)*c >= 0x80)
                *c = '?';
        doc = json_pack("{s:s}", "error", msg);
    }
    if (field)
        json_object_set_new(doc, "field", json_string(field));
    api_reply(out, status, doc);
}

void api_db_error(struct api_response *out, struct pg_conn *pg)
{
    api_error(out, 503, NULL, "the database is unavailable: %.200s", PQerrorMessage((PGconn *)pg));
    snprintf(out->extra, sizeof out->extra, "Retry-After: 5\r\n");
}

void api_method_not_allowed(struct api_response *out, const char *allow)
{
    api_error(out, 405, NULL, "use %s", allow);
    snprintf(out->extra, sizeof out->extra, "Allow: %s\r\n", allow);
}

int64_t api_path_id(const char *path, const char *prefix, const char **rest)
{
    const size_t n = strlen(prefix);
    if (strncmp(path, prefix, n) != 0)
        return 0;
    char *end;
    const long long id = strtoll(path + n, &end, 10);
    if (end == path + n || id <= 0)
        return 0;
    *rest = end;
    return id;
}
