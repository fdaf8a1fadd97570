/* SPDX-License-Identifier: MIT */
/* libFuzzer target: any bytes as what a client sends on one connection, fed to the request
 * parser in pieces of varying size (the first byte picks the size), pipelined requests taken
 * one after another as the server does; each body is then checked as the task API checks
 * POST /api/agent/execute (JSON, types, sizes, priorities, the cron contract, zones), each
 * query as the schedule preview reads it, and each Cookie header as a session is found in it.
 * Nothing may crash, overrun, leak or hang; every request it accepts must respect the limits,
 * and a body or query is either accepted whole or refused with a 400 naming why. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agents.h"
#include "api_tasks.h"
#include "http_parse.h"
#include "preview.h"
#include "session.h"

static void check_execute_body(const struct http_req *r)
{
    static struct agent_set agents;
    static int loaded;
    struct agents_error aerr;
    if (!loaded && agents_load(&agents, NULL, &aerr) != 0)
        abort();
    loaded = 1;
    struct api_response out;
    memset(&out, 0, sizeof out);
    struct execute_body b;
    if (api_tasks_parse_execute(r->body, r->body_len, &agents, &b, &out) == 0) {
        if (out.status || !b.goal || !b.agent || !b.title || strlen(b.title) > 200 || b.priority < 1 ||
            b.priority > 4 || (b.cron && !b.zone[0]))
            abort();
        api_tasks_execute_body_free(&b);
    } else if (out.status != 400 || !json_is_string(json_object_get(out.doc, "error"))) {
        abort();
    }
    json_decref(out.doc);
}

static void check_preview_and_cookie(const struct http_req *r)
{
    struct api_response out;
    memset(&out, 0, sizeof out);
    api_schedule_preview(r->query, 1767225600000LL, &out);
    if ((out.status != 200 && out.status != 400) || !out.doc ||
        (out.status == 400 && !json_is_string(json_object_get(out.doc, "field"))) ||
        (out.status == 200 && json_array_size(json_object_get(out.doc, "next")) > PREVIEW_COUNT_MAX))
        abort();
    json_decref(out.doc);
    const char *cookies = http_req_header(r, "Cookie");
    char token[72];
    if (cookies && session_cookie_get(cookies, SESSION_COOKIE, token, sizeof token) == 1 && strlen(token) >= sizeof token)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const size_t piece = (size_t)data[0] % 64 + 1;
    const char *in = (const char *)data + 1;
    size_t left = size - 1;
    struct http_parser p;
    http_parser_init(&p);
    char buf[64 + 1];
    for (int requests = 0; requests < 1000;) {
        /* the server keeps unparsed bytes; here: the next piece */
        size_t n = left < piece ? left : piece;
        memcpy(buf, in, n);
        in += n, left -= n;
        size_t off = 0;
        while (off < n) {
            const size_t used = http_parser_feed(&p, buf + off, n - off);
            off += used;
            if (p.error_status) {
                if (p.error_status < 400 || p.error_status > 599 || !p.error[0])
                    abort();
                http_parser_free(&p);
                return 0;
            }
            if (!p.complete) {
                if (off != n)
                    abort(); /* an incomplete request takes everything it is given */
                break;
            }
            const struct http_req *r = &p.req;
            if (r->nheaders > HTTP_MAX_HEADERS || r->body_len > HTTP_MAX_BODY || !r->path || r->path[0] != '/' ||
                strlen(r->target) >= HTTP_MAX_HEAD)
                abort();
            for (int i = 0; i < r->nheaders; i++)
                if (!r->headers[i].name || !r->headers[i].value)
                    abort();
            (void)http_req_header(r, "Authorization");
            if (r->body_len)
                check_execute_body(r);
            check_preview_and_cookie(r);
            http_parser_next(&p);
            requests++;
        }
        if (!left)
            break;
    }
    http_parser_free(&p);
    return 0;
}
