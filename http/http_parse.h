/* SPDX-License-Identifier: MIT */
/* HTTP/1.1 requests from bytes (llhttp underneath), one at a time, with hard limits: the
 * request line and headers together at most HTTP_MAX_HEAD bytes, a body at most
 * HTTP_MAX_BODY. Pure: no sockets, so it is unit-tested and fuzzed as it is. Not thread-safe
 * per parser; any number of parsers may run at once. */
#ifndef AGENTCRON_HTTP_PARSE_H
#define AGENTCRON_HTTP_PARSE_H

#include <llhttp.h>
#include <stddef.h>

#define HTTP_MAX_HEAD 16384
#define HTTP_MAX_BODY (1024 * 1024)
#define HTTP_MAX_HEADERS 64

struct http_header {
    char *name, *value; /* NUL-terminated, inside the request's storage */
};

struct http_req {
    char method[16];
    char *target;       /* as sent: path and query */
    char *path;         /* the path alone, percent-decoding left to the router */
    char *query;        /* after '?', or "" */
    struct http_header headers[HTTP_MAX_HEADERS];
    int nheaders;
    char *body;         /* NUL-terminated (a body may contain NULs: use body_len) */
    size_t body_len;
    int keep_alive;     /* the client wants the connection kept */
    int http_minor;
};

struct http_parser {
    llhttp_t ll;
    llhttp_settings_t settings;
    struct http_req req;
    char *head;             /* request line pieces and headers, copied */
    size_t head_len, head_cap;
    size_t body_cap;
    int in_value, complete, error_status;
    char error[128];
};

/* Starts (or restarts) a parser for the next request on a connection. */
void http_parser_init(struct http_parser *p);
void http_parser_free(struct http_parser *p);

/* Feeds bytes; returns how many it used. After a complete request (p->complete) the rest is
 * for the next one: handle it, then http_parser_next() and feed the rest. On a malformed or
 * oversized request it returns with p->error_status (400, 413, 431, 501, 505) and p->error
 * set; the connection should answer that and close. */
size_t http_parser_feed(struct http_parser *p, const char *data, size_t len);

/* Readies the parser for the next request on the same connection. */
void http_parser_next(struct http_parser *p);

/* The value of header name (case-insensitive), or NULL. */
const char *http_req_header(const struct http_req *req, const char *name);

#endif
