/* SPDX-License-Identifier: MIT */
/* The HTTP server's start and stop on a real loop (http/http_server.c): a port already taken
 * is refused with a message naming it, and what the refused start leaves is freed by the loop
 * without touching anything else; a stopped server leaves no handle behind. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "http_server.h"

static void handler(struct http_conn *conn, const struct http_req *req, void *data)
{
    (void)req, (void)data;
    http_respond(conn, 200, "text/plain", NULL, "ok", 2);
}

static void on_closed(void *data)
{
    ++*(int *)data;
}

static void port_in_use(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    char err[512], listen[64];
    struct http_server *first = http_server_start(&loop, "127.0.0.1:0", 16, NULL, NULL, handler, NULL, err, sizeof err);
    assert_non_null(first);
    snprintf(listen, sizeof listen, "127.0.0.1:%d", http_server_port(first));
    struct http_server *second = http_server_start(&loop, listen, 16, NULL, NULL, handler, NULL, err, sizeof err);
    assert_null(second);
    assert_non_null(strstr(err, "cannot listen on HTTP_LISTEN"));
    assert_non_null(strstr(err, listen));
    uv_run(&loop, UV_RUN_NOWAIT); /* closes what the refused start left */
    int closed = 0;
    http_server_stop(first, on_closed, &closed);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(closed, 1);
    assert_int_equal(uv_loop_close(&loop), 0);
}

static void bad_configuration(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    char err[512];
    assert_null(http_server_start(&loop, "nonsense", 16, NULL, NULL, handler, NULL, err, sizeof err));
    assert_null(http_server_start(&loop, "127.0.0.1:0", 16, "/nonexistent/cert.pem", NULL, handler, NULL, err, sizeof err));
    assert_non_null(strstr(err, "TLS_KEY_FILE is not"));
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(port_in_use),
        cmocka_unit_test(bad_configuration),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
