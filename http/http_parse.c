/* SPDX-License-Identifier: MIT */
/* The request line and headers are copied into one fixed buffer (HTTP_MAX_HEAD + 1 bytes, so
 * the pointers into it never move); llhttp's *_complete callbacks end each piece with a NUL.
 * The parser pauses after each complete request, so pipelined requests are taken one by one. */
#include "http_parse.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static struct http_parser *of(llhttp_t *ll)
{
    return ll->data;
}

static int fail(struct http_parser *p, int status, const char *why)
{
    if (!p->error_status) {
        p->error_status = status;
        snprintf(p->error, sizeof p->error, "%s", why);
    }
    return HPE_USER;
}

/* Appends a piece of the request line or a header to the head buffer. */
static int append(struct http_parser *p, const char *at, size_t len)
{
    if (p->head_len + len + 1 > HTTP_MAX_HEAD)
        return fail(p, 431, "the request line and headers are over 16 KiB");
    memcpy(p->head + p->head_len, at, len);
    p->head_len += len;
    return 0;
}

static int end_piece(struct http_parser *p)
{
    if (p->head_len + 1 > HTTP_MAX_HEAD)
        return fail(p, 431, "the request line and headers are over 16 KiB");
    p->head[p->head_len++] = 0;
    return 0;
}

static int on_url(llhttp_t *ll, const char *at, size_t len)
{
    struct http_parser *p = of(ll);
    if (!p->req.target)
        p->req.target = p->head + p->head_len;
    return append(p, at, len);
}

static int on_url_complete(llhttp_t *ll)
{
    return end_piece(of(ll));
}

static int on_header_field(llhttp_t *ll, const char *at, size_t len)
{
    struct http_parser *p = of(ll);
    if (!p->in_value && (p->req.nheaders == 0 || p->req.headers[p->req.nheaders - 1].value)) {
        if (p->req.nheaders == HTTP_MAX_HEADERS)
            return fail(p, 431, "more than 64 headers");
        p->req.headers[p->req.nheaders++] = (struct http_header){.name = p->head + p->head_len};
    }
    return append(p, at, len);
}

static int on_header_field_complete(llhttp_t *ll)
{
    struct http_parser *p = of(ll);
    p->in_value = 1;
    return end_piece(p);
}

static int on_header_value(llhttp_t *ll, const char *at, size_t len)
{
    struct http_parser *p = of(ll);
    struct http_header *h = &p->req.headers[p->req.nheaders - 1];
    if (!h->value)
        h->value = p->head + p->head_len;
    return append(p, at, len);
}

static int on_header_value_complete(llhttp_t *ll)
{
    struct http_parser *p = of(ll);
    struct http_header *h = &p->req.headers[p->req.nheaders - 1];
    if (!h->value) /* an empty value */
        h->value = p->head + p->head_len;
    while (p->head + p->head_len > h->value && (p->head[p->head_len - 1] == ' ' || p->head[p->head_len - 1] == '\t'))
        p->head_len--; /* trailing whitespace is not part of a value (RFC 9110 5.5) */
    p->in_value = 0;
    return end_piece(p);
}

static int on_headers_complete(llhttp_t *ll)
{
    struct http_parser *p = of(ll);
    struct http_req *r = &p->req;
    if (!r->target || r->target[0] != '/')
        return fail(p, 400, "the request target must be a path starting with /");
    if (ll->http_major != 1)
        return fail(p, 505, "only HTTP/1.x is served");
    snprintf(r->method, sizeof r->method, "%s", llhttp_method_name((llhttp_method_t)ll->method));
    r->http_minor = ll->http_minor;
    r->keep_alive = llhttp_should_keep_alive(ll);
    /* split path and query in place (the target stays whole in a copy) */
    const size_t tlen = strlen(r->target);
    if (p->head_len + tlen + 2 > HTTP_MAX_HEAD)
        return fail(p, 431, "the request line and headers are over 16 KiB");
    r->path = p->head + p->head_len;
    memcpy(r->path, r->target, tlen + 1);
    p->head_len += tlen + 1;
    char *q = strchr(r->path, '?');
    r->query = q ? q + 1 : r->path + tlen;
    if (q)
        *q = 0;
    if (ll->content_length > HTTP_MAX_BODY && ll->content_length != UINT64_MAX)
        return fail(p, 413, "the body is over 1 MiB");
    return 0;
}

static int on_body(llhttp_t *ll, const char *at, size_t len)
{
    struct http_parser *p = of(ll);
    struct http_req *r = &p->req;
    if (r->body_len + len > HTTP_MAX_BODY)
        return fail(p, 413, "the body is over 1 MiB");
    if (r->body_len + len + 1 > p->body_cap) {
        size_t cap = p->body_cap ? p->body_cap : 4096;
        while (cap < r->body_len + len + 1)
            cap *= 2;
        char *grown = realloc(r->body, cap);
        if (!grown)
            return fail(p, 503, "out of memory");
        r->body = grown, p->body_cap = cap;
    }
    memcpy(r->body + r->body_len, at, len);
    r->body_len += len;
    r->body[r->body_len] = 0;
    return 0;
}

static int on_message_complete(llhttp_t *ll)
{
    of(ll)->complete = 1;
    return HPE_PAUSED;
}

void http_parser_init(struct http_parser *p)
{
    memset(p, 0, sizeof *p);
    llhttp_settings_init(&p->settings);
    p->settings.on_url = on_url;
    p->settings.on_url_complete = on_url_complete;
    p->settings.on_header_field = on_header_field;
    p->settings.on_header_field_complete = on_header_field_complete;
    p->settings.on_header_value = on_header_value;
    p->settings.on_header_value_complete = on_header_value_complete;
    p->settings.on_headers_complete = on_headers_complete;
    p->settings.on_body = on_body;
    p->settings.on_message_complete = on_message_complete;
    llhttp_init(&p->ll, HTTP_REQUEST, &p->settings);
    p->ll.data = p;
    p->head = malloc(HTTP_MAX_HEAD);
    if (!p->head)
        fail(p, 503, "out of memory");
}

void http_parser_free(struct http_parser *p)
{
    free(p->head);
    free(p->req.body);
    p->head = NULL, p->req.body = NULL;
}

void http_parser_next(struct http_parser *p)
{
    char *head = p->head, *body = p->req.body;
    const size_t body_cap = p->body_cap;
    p->req = (struct http_req){.body = body};
    if (body)
        body[0] = 0;
    p->body_cap = body_cap;
    p->head = head, p->head_len = 0;
    p->in_value = p->complete = 0;
    llhttp_resume(&p->ll);
}

size_t http_parser_feed(struct http_parser *p, const char *data, size_t len)
{
    if (p->error_status || p->complete || !p->head)
        return 0;
    const llhttp_errno_t e = llhttp_execute(&p->ll, data, len);
    if (e == HPE_OK)
        return len;
    if (e == HPE_PAUSED) /* a whole request; the rest is the next one's */
        return (size_t)(llhttp_get_error_pos(&p->ll) - data);
    if (!p->error_status) {
        char why[128];
        snprintf(why, sizeof why, "malformed request: %s", llhttp_get_error_reason(&p->ll));
        fail(p, e == HPE_INVALID_METHOD ? 501 : 400, why);
    }
    return 0;
}

const char *http_req_header(const struct http_req *req, const char *name)
{
    for (int i = 0; i < req->nheaders; i++)
        if (req->headers[i].name && !strcasecmp(req->headers[i].name, name))
            return req->headers[i].value;
    return NULL;
}
