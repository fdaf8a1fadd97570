/* SPDX-License-Identifier: MIT */
/* The HTTP request parser: requests split anywhere, pipelined requests one at a time, chunked
 * bodies, and every limit answered with its status. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "http_parse.h"
#include "url.h"

/* Feeds text one byte at a time, as a slow client would send it. */
static void feed_bytewise(struct http_parser *p, const char *text)
{
    for (size_t i = 0; text[i] && !p->complete && !p->error_status; i++)
        http_parser_feed(p, text + i, 1);
}

static void split_anywhere(void **state)
{
    (void)state;
    static const char req[] = "POST /check-scheduled-tasks?x=1 HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer  k \r\n"
                              "Content-Length: 5\r\n\r\nhello";
    struct http_parser p;
    http_parser_init(&p);
    feed_bytewise(&p, req);
    assert_true(p.complete);
    assert_string_equal(p.req.method, "POST");
    assert_string_equal(p.req.path, "/check-scheduled-tasks");
    assert_string_equal(p.req.query, "x=1");
    assert_string_equal(p.req.target, "/check-scheduled-tasks?x=1");
    assert_string_equal(http_req_header(&p.req, "authorization"), "Bearer  k");
    assert_null(http_req_header(&p.req, "cookie"));
    assert_int_equal(p.req.body_len, 5);
    assert_string_equal(p.req.body, "hello");
    assert_true(p.req.keep_alive);
    http_parser_free(&p);
}

static void pipelined_and_chunked(void **state)
{
    (void)state;
    static const char two[] = "GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
                              "POST /b HTTP/1.1\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
                              "3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
    struct http_parser p;
    http_parser_init(&p);
    size_t used = http_parser_feed(&p, two, strlen(two));
    assert_true(p.complete);
    assert_string_equal(p.req.path, "/a");
    assert_int_equal(p.req.body_len, 0);
    http_parser_next(&p);
    used += http_parser_feed(&p, two + used, strlen(two) - used);
    assert_true(p.complete);
    assert_int_equal(used, strlen(two));
    assert_string_equal(p.req.path, "/b");
    assert_string_equal(p.req.body, "abcde");
    assert_false(p.req.keep_alive);
    http_parser_free(&p);
}

static void limits(void **state)
{
    (void)state;
    static const struct {
        const char *prefix;
        int status;
    } cases[] = {
        {"GET / HTTP/1.1\r\nX: ", 431},                                           /* a header over 16 KiB */
        {"POST / HTTP/1.1\r\nContent-Length: 1048577\r\n\r\n", 413},              /* body over 1 MiB */
        {"GET http://a/ HTTP/1.1\r\n\r\n", 400},                                  /* absolute form */
        {"GET / HTTP/2.0\r\n\r\n", 505},
        {"BREW / HTTP/1.1\r\n\r\n", 501},
        {"GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400}, /* smuggling */
        {"GET / HTTP/1.1\r\nBad\x01Header: x\r\n\r\n", 400},
    };
    char *big = malloc(20000);
    memset(big, 'a', 19999);
    big[19999] = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct http_parser p;
        http_parser_init(&p);
        http_parser_feed(&p, cases[i].prefix, strlen(cases[i].prefix));
        if (!p.error_status)
            http_parser_feed(&p, big, strlen(big));
        if (p.error_status != cases[i].status)
            fail_msg("case %zu: status %d (%s), want %d", i, p.error_status, p.error, cases[i].status);
        assert_true(p.error[0] != 0);
        assert_int_equal(http_parser_feed(&p, "more", 4), 0); /* nothing more after an error */
        http_parser_free(&p);
    }
    /* 65 headers */
    struct http_parser p;
    http_parser_init(&p);
    http_parser_feed(&p, "GET / HTTP/1.1\r\n", 16);
    for (int i = 0; i < 65 && !p.error_status; i++) {
        char h[32];
        snprintf(h, sizeof h, "X-%d: y\r\n", i);
        http_parser_feed(&p, h, strlen(h));
    }
    assert_int_equal(p.error_status, 431);
    http_parser_free(&p);
    free(big);
}

/* Query parameters: decoded, the first occurrence, a prefix of another name is not the name,
 * and malformed or oversized values refused. */
static void query_parameters(void **state)
{
    (void)state;
    char v[16];
    assert_int_equal(http_query_get("a=1&status=failed&b=2", "status", v, sizeof v), 1);
    assert_string_equal(v, "failed");
    assert_int_equal(http_query_get("xstatus=1&status=ok", "status", v, sizeof v), 1);
    assert_string_equal(v, "ok");
    assert_int_equal(http_query_get("since=2026-01-01T00%3A00%3A00Z", "since", v, sizeof v), -1); /* too long */
    char big[64];
    assert_int_equal(http_query_get("since=2026-01-01T00%3A00%3A00%2B01%3A00", "since", big, sizeof big), 1);
    assert_string_equal(big, "2026-01-01T00:00:00+01:00");
    assert_int_equal(http_query_get("q=a+b%20c", "q", v, sizeof v), 1);
    assert_string_equal(v, "a b c");
    assert_int_equal(http_query_get("flag&x=1", "flag", v, sizeof v), 1);
    assert_string_equal(v, "");
    assert_int_equal(http_query_get("status=a&status=b", "status", v, sizeof v), 1);
    assert_string_equal(v, "a");
    assert_int_equal(http_query_get("status=failed", "stat", v, sizeof v), 0);
    assert_int_equal(http_query_get("", "status", v, sizeof v), 0);
    assert_int_equal(http_query_get(NULL, "status", v, sizeof v), 0);
    assert_int_equal(http_query_get("x=%zz", "x", v, sizeof v), -1);
    assert_int_equal(http_query_get("x=%4", "x", v, sizeof v), -1);
    assert_int_equal(http_query_get("x=%00", "x", v, sizeof v), -1);
    assert_int_equal(http_query_get("x=0123456789abcdef", "x", v, sizeof v), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(split_anywhere),
        cmocka_unit_test(pipelined_and_chunked),
        cmocka_unit_test(limits),
        cmocka_unit_test(query_parameters),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
