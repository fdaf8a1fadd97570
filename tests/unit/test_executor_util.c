/* SPDX-License-Identifier: MIT */
/* The executors' pure helpers (clean UTF-8, token usage, tails, URL splitting) and the HTTP
 * client on a real loop against a loopback server thread: keep-alive reuse, a server that
 * closed the kept connection, chunked bodies, the size cap, timeouts, refused connections,
 * malformed responses, cancellation, and no handle left behind. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "executor_int.h"
#include "http_client.h"

static void clean_text(void **state)
{
    (void)state;
    char *t = executor_clean_text("ok \xc3\xa9 \xff\x00z", 9, 100);
    assert_string_equal(t, "ok \xc3\xa9 \xef\xbf\xbd\xef\xbf\xbdz");
    free(t);
    t = executor_clean_text("ab\xc3\xa9", 4, 3); /* the cut falls inside é: dropped whole */
    assert_string_equal(t, "ab");
    free(t);
    t = executor_clean_text("\xed\xa0\x80\xc0\xaf", 5, 100); /* a surrogate, an overlong '/' */
    assert_string_equal(t, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
    free(t);
}

static void usage_numbers(void **state)
{
    (void)state;
    static const struct {
        const char *json;
        int has;
        int64_t p, c;
    } cases[] = {
        {"{\"usage\": {\"prompt_tokens\": 10, \"completion_tokens\": 5}}", 1, 10, 5},
        {"{\"usage\": {\"total_tokens\": 42}}", 1, 0, 42},
        {"{\"usage\": {\"prompt_tokens\": 10, \"total_tokens\": 42}}", 1, 10, 32},
        {"{\"usage\": {\"prompt_tokens\": -3, \"completion_tokens\": \"7\"}}", 1, 0, 0},
        {"{\"usage\": {\"prompt_tokens\": 9223372036854775807}}", 1, (int64_t)1 << 40, 0},
        {"{\"usage\": 5}", 0, 0, 0},
        {"{}", 0, 0, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *doc = json_loads(cases[i].json, 0, NULL);
        struct run_result r = {0};
        assert_int_equal(executor_usage(doc, &r), cases[i].has);
        assert_int_equal(r.prompt_tokens, cases[i].p);
        assert_int_equal(r.completion_tokens, cases[i].c);
        assert_int_equal(r.total_tokens, cases[i].p + cases[i].c);
        json_decref(doc);
    }
}

static void tails(void **state)
{
    (void)state;
    struct tail t = {.max = 8};
    tail_append(&t, "abc", 3);
    tail_append(&t, "defgh", 5);
    assert_int_equal(t.len, 8);
    assert_false(t.truncated);
    tail_append(&t, "ij", 2);
    assert_memory_equal(t.buf, "cdefghij", 8);
    assert_true(t.truncated);
    tail_append(&t, "0123456789", 10);
    assert_memory_equal(t.buf, "23456789", 8);
    tail_free(&t);
}

static void url_split(void **state)
{
    (void)state;
    int tls, port;
    char host[256], path[256];
    assert_int_equal(http_url_split("https://a.example/x?y=1#frag", &tls, host, sizeof host, &port, path, sizeof path), 0);
    assert_true(tls);
    assert_string_equal(host, "a.example");
    assert_int_equal(port, 443);
    assert_string_equal(path, "/x?y=1");
    assert_int_equal(http_url_split("http://[::1]:8080", &tls, host, sizeof host, &port, path, sizeof path), 0);
    assert_string_equal(host, "::1");
    assert_int_equal(port, 8080);
    assert_string_equal(path, "/");
    assert_int_equal(http_url_split("http://h?q", &tls, host, sizeof host, &port, path, sizeof path), 0);
    assert_string_equal(path, "/?q");
    static const char *const bad[] = {"ftp://h/", "http://", "http://user@h/", "http://h:0/", "http://h:99999/",
                                      "http://h/a b", "http://h/a\r\nX: y", "http://[::1/", "http://h:80x/"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (http_url_split(bad[i], &tls, host, sizeof host, &port, path, sizeof path) != -1)
            fail_msg("accepted %s", bad[i]);
}

/* ---- the client against a scripted loopback server ---- */

struct server {
    int fd, port;
    const char *const *answers; /* one per accepted request; "" closes without answering */
    int requests, connections;
    pthread_t thread;
};

static void *serve(void *arg)
{
    struct server *s = arg;
    for (int i = 0; s->answers[i];) {
        const int c = accept(s->fd, NULL, NULL);
        if (c < 0)
            return NULL;
        s->connections++;
        char buf[8192];
        size_t have = 0;
        for (;;) { /* requests on this connection until the script says close */
            char *end;
            while (!(end = memmem(buf, have, "\r\n\r\n", 4))) {
                const ssize_t n = read(c, buf + have, sizeof buf - have);
                if (n <= 0)
                    goto next;
                have += (size_t)n;
            }
            const size_t used = (size_t)(end + 4 - buf);
            const char *cl = strcasestr(buf, "Content-Length: ");
            size_t body = cl && cl < end ? (size_t)atol(cl + 16) : 0;
            while (have < used + body) {
                const ssize_t n = read(c, buf + have, sizeof buf - have);
                if (n <= 0)
                    goto next;
                have += (size_t)n;
            }
            memmove(buf, buf + used + body, have - used - body);
            have -= used + body;
            s->requests++;
            const char *answer = s->answers[i++];
            if (!answer || !answer[0] || !strncmp(answer, "SLEEP", 5)) {
                if (answer && !strncmp(answer, "SLEEP", 5))
                    usleep(300000);
                break;
            }
            if (write(c, answer, strlen(answer)) < 0)
                break;
            if (strstr(answer, "Connection: close") || !s->answers[i])
                break;
        }
    next:
        close(c);
    }
    return NULL;
}

static void server_start(struct server *s, const char *const *answers)
{
    memset(s, 0, sizeof *s);
    s->answers = answers;
    s->fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    assert_int_equal(bind(s->fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(s->fd, 16), 0);
    getsockname(s->fd, (struct sockaddr *)&a, &len);
    s->port = ntohs(a.sin_port);
    pthread_create(&s->thread, NULL, serve, s);
}

static void server_stop(struct server *s)
{
    shutdown(s->fd, SHUT_RDWR);
    close(s->fd);
    pthread_join(s->thread, NULL);
}

struct outcome {
    int done, error, status;
    char body[256], message[256];
    int64_t retry_after;
    int reused;
};

static void on_done(const struct http_response *r, void *data)
{
    struct outcome *o = data;
    o->done++;
    o->error = r->error, o->status = r->status, o->retry_after = r->retry_after_ms, o->reused = r->reused_connection;
    snprintf(o->body, sizeof o->body, "%s", r->error == HTTP_OK ? r->body : "");
    snprintf(o->message, sizeof o->message, "%s", r->message);
}

static void fetch(uv_loop_t *loop, struct http_client *c, int port, const char *path, const struct http_request_opts *extra,
                  struct outcome *o)
{
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
    struct http_request_opts opts = extra ? *extra : (struct http_request_opts){0};
    opts.method = opts.method ? opts.method : "GET";
    opts.url = url;
    char err[256];
    memset(o, 0, sizeof *o);
    assert_non_null(http_client_request(c, &opts, on_done, o, err, sizeof err));
    while (!o->done)
        uv_run(loop, UV_RUN_ONCE);
    assert_int_equal(o->done, 1);
}

static void client_on_a_loop(void **state)
{
    (void)state;
    static const char *const answers[] = {
        "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
        "HTTP/1.1 429 Too Many\r\nRetry-After: 7\r\nContent-Length: 0\r\n\r\n", /* same connection */
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
        "", /* closes the kept connection without answering: retried on a new one */
        "HTTP/1.1 201 Created\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
        "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" /* then 100 bytes the cap refuses */
        "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
        "HTTP/9.9 abc\r\n\r\n",
        "SLEEP",
        "SLEEP",
        "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
        NULL,
    };
    struct server s;
    server_start(&s, answers);
    uv_loop_t loop;
    uv_loop_init(&loop);
    char err[256];
    struct http_client *c = http_client_new(&loop, err, sizeof err);
    assert_non_null(c);
    struct outcome o;
    fetch(&loop, c, s.port, "/a", NULL, &o);
    assert_int_equal(o.error, HTTP_OK);
    assert_int_equal(o.status, 200);
    assert_string_equal(o.body, "hello");
    assert_false(o.reused);
    fetch(&loop, c, s.port, "/b", NULL, &o);
    assert_int_equal(o.status, 429);
    assert_int_equal(o.retry_after, 7000);
    assert_true(o.reused);
    fetch(&loop, c, s.port, "/c", NULL, &o);
    assert_string_equal(o.body, "abcde");
    const struct http_request_opts post = {.method = "POST", .body = "{}", .body_len = 2};
    fetch(&loop, c, s.port, "/d", &post, &o); /* the server drops the kept connection: a new one */
    assert_int_equal(o.error, HTTP_OK);
    assert_int_equal(o.status, 201);
    assert_string_equal(o.body, "ok");
    const struct http_request_opts capped = {.max_response_bytes = 10};
    fetch(&loop, c, s.port, "/e", &capped, &o);
    assert_int_equal(o.error, HTTP_ETOOBIG);
    fetch(&loop, c, s.port, "/f", NULL, &o);
    assert_int_equal(o.error, HTTP_EIO);
    assert_non_null(strstr(o.message, "malformed response"));
    const struct http_request_opts quick = {.timeout_ms = 100};
    fetch(&loop, c, s.port, "/g", &quick, &o);
    assert_int_equal(o.error, HTTP_ETIMEDOUT);
    assert_non_null(strstr(o.message, "did not answer in time"));
    const struct http_request_opts silent = {.read_timeout_ms = 100, .timeout_ms = 5000};
    fetch(&loop, c, s.port, "/g2", &silent, &o);
    assert_int_equal(o.error, HTTP_ETIMEDOUT);
    assert_non_null(strstr(o.message, "sent nothing for 100 ms"));
    /* cancelled: the callback fires once, at once */
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/h", s.port);
    const struct http_request_opts opts = {.method = "GET", .url = url};
    memset(&o, 0, sizeof o);
    struct http_request *r = http_client_request(c, &opts, on_done, &o, err, sizeof err);
    http_request_cancel(r);
    assert_int_equal(o.done, 1);
    assert_int_equal(o.error, HTTP_ECANCELED);
    server_stop(&s);
    /* nobody listens now */
    fetch(&loop, c, s.port, "/i", NULL, &o);
    assert_int_equal(o.error, HTTP_ECONNECT);
    /* invalid requests never start */
    const struct http_request_opts bad_url = {.method = "GET", .url = "gopher://x"};
    assert_null(http_client_request(c, &bad_url, on_done, &o, err, sizeof err));
    const char *bad_header[] = {"X: a\r\nY: b", NULL};
    const struct http_request_opts injected = {.method = "GET", .url = url, .headers = bad_header};
    assert_null(http_client_request(c, &injected, on_done, &o, err, sizeof err));
    assert_string_equal(err, "header 0 contains a line break");
    http_client_free(c);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(clean_text),
        cmocka_unit_test(usage_numbers),
        cmocka_unit_test(tails),
        cmocka_unit_test(url_split),
        cmocka_unit_test(client_on_a_loop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
