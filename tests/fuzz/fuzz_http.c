/* SPDX-License-Identifier: MIT */
/* libFuzzer target: any bytes as what a client sends on one connection, fed to the request
 * parser in pieces of varying size (the first byte picks the size), pipelined requests taken
 * one after another as the server does. Nothing may crash, overrun, leak or hang; every
 * request it accepts must respect the limits. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http_parse.h"

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
            http_parser_next(&p);
            requests++;
        }
        if (!left)
            break;
    }
    http_parser_free(&p);
    return 0;
}
