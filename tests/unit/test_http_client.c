/* SPDX-License-Identifier: MIT */
/* The HTTP client (http/http_client.c) and its URL rules (http/url.c) on a real loop against
 * loopback server threads: keep-alive reuse, a server that closed the kept connection, chunked
 * bodies, the size cap, timeouts, refused connections, malformed responses, cancellation,
 * headers split across reads, no callback from inside the starting call, IPv6 and names with
 * several addresses, and no handle left behind. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
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

#include "http_client.h"
#include "url.h"

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
    const char *const *answers; /* one per accepted request; "" closes without answering;
                                   "TRICKLE..." sends the rest a byte at a time, 1 ms apart */
    int requests, connections;
    char last_head[1024];       /* the request line and headers of the last request */
    pthread_t thread;
};

/* Sends an answer whole, or (TRICKLE) a byte at a time, so that every header name and value
 * reaches the client split across reads. */
static int send_answer(int c, const char *answer)
{
    if (strncmp(answer, "TRICKLE", 7) != 0)
        return write(c, answer, strlen(answer)) < 0 ? -1 : 0;
    const int one = 1;
    setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    for (const char *p = answer + 7; *p; p++) {
        if (write(c, p, 1) != 1)
            return -1;
        usleep(1000);
    }
    return 0;
}

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
            snprintf(s->last_head, sizeof s->last_head, "%.*s", (int)used, buf);
            memmove(buf, buf + used + body, have - used - body);
            have -= used + body;
            s->requests++;
            const char *answer = s->answers[i++];
            if (!answer || !answer[0] || !strncmp(answer, "SLEEP", 5)) {
                if (answer && !strncmp(answer, "SLEEP", 5))
                    usleep(300000);
                break;
            }
            if (send_answer(c, answer) != 0)
                break;
            if (strstr(answer, "Connection: close") || !s->answers[i])
                break;
        }
    next:
        close(c);
    }
    return NULL;
}

/* A server on 127.0.0.1 (family AF_INET) or on [::1] alone (AF_INET6). */
static void server_start_on(struct server *s, int family, const char *const *answers)
{
    memset(s, 0, sizeof *s);
    s->answers = answers;
    s->fd = socket(family, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    struct sockaddr_in6 a6 = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
    const int one = 1;
    setsockopt(s->fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    struct sockaddr *sa = family == AF_INET6 ? (struct sockaddr *)&a6 : (struct sockaddr *)&a;
    socklen_t len = family == AF_INET6 ? sizeof a6 : sizeof a;
    assert_int_equal(bind(s->fd, sa, len), 0);
    assert_int_equal(listen(s->fd, 16), 0);
    getsockname(s->fd, sa, &len);
    s->port = ntohs(family == AF_INET6 ? a6.sin6_port : a.sin_port);
    pthread_create(&s->thread, NULL, serve, s);
}

static void server_start(struct server *s, const char *const *answers)
{
    server_start_on(s, AF_INET, answers);
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

static void fetch_url(uv_loop_t *loop, struct http_client *c, const char *url, const struct http_request_opts *extra,
                      struct outcome *o)
{
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

static void fetch(uv_loop_t *loop, struct http_client *c, int port, const char *path, const struct http_request_opts *extra,
                  struct outcome *o)
{
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
    fetch_url(loop, c, url, extra, o);
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
    assert_int_equal(o.error, AC_ETOOBIG);
    fetch(&loop, c, s.port, "/f", NULL, &o);
    assert_int_equal(o.error, AC_EIO);
    assert_non_null(strstr(o.message, "malformed response"));
    const struct http_request_opts quick = {.timeout_ms = 100};
    fetch(&loop, c, s.port, "/g", &quick, &o);
    assert_int_equal(o.error, AC_ETIMEDOUT);
    assert_non_null(strstr(o.message, "did not answer in time"));
    const struct http_request_opts silent = {.read_timeout_ms = 100, .timeout_ms = 5000};
    fetch(&loop, c, s.port, "/g2", &silent, &o);
    assert_int_equal(o.error, AC_ETIMEDOUT);
    assert_non_null(strstr(o.message, "sent nothing for 100 ms"));
    /* cancelled: the callback fires once, at once */
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/h", s.port);
    const struct http_request_opts opts = {.method = "GET", .url = url};
    memset(&o, 0, sizeof o);
    struct http_request *r = http_client_request(c, &opts, on_done, &o, err, sizeof err);
    http_request_cancel(r);
    assert_int_equal(o.done, 1);
    assert_int_equal(o.error, AC_ECANCELED);
    server_stop(&s);
    /* nobody listens now */
    fetch(&loop, c, s.port, "/i", NULL, &o);
    assert_int_equal(o.error, AC_ECONNECT);
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


static void url_authority(void **state)
{
    (void)state;
    char out[64];
    assert_int_equal(http_url_authority(0, "example.com", 80, out, sizeof out), 0);
    assert_string_equal(out, "example.com");
    assert_int_equal(http_url_authority(1, "example.com", 8443, out, sizeof out), 0);
    assert_string_equal(out, "example.com:8443");
    assert_int_equal(http_url_authority(0, "::1", 8080, out, sizeof out), 0);
    assert_string_equal(out, "[::1]:8080");
    assert_int_equal(http_url_authority(1, "2001:db8::1", 443, out, sizeof out), 0);
    assert_string_equal(out, "[2001:db8::1]");
    assert_int_equal(http_url_authority(0, "a-very-long-host-name.example.com", 80, out, 8), -1);
    char *url = http_url_make(0, "::1", 9000, "/hook?x=1");
    assert_string_equal(url, "http://[::1]:9000/hook?x=1");
    free(url);
}

/* Every header name and value split across reads, a byte at a time: the Retry-After and a
 * redirect's Location must still be read whole. */
static void headers_split_across_reads(void **state)
{
    (void)state;
    static const char *const answers[] = {
        "TRICKLEHTTP/1.1 429 Too Many\r\nRetry-After: 120\r\nContent-Length: 0\r\n\r\n",
        "TRICKLEHTTP/1.1 302 Found\r\nLocation: /moved/here?x=1\r\nContent-Length: 0\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nmoved",
        NULL,
    };
    struct server s;
    server_start(&s, answers);
    uv_loop_t loop;
    uv_loop_init(&loop);
    char err[256];
    struct http_client *c = http_client_new(&loop, err, sizeof err);
    struct outcome o;
    fetch(&loop, c, s.port, "/a", NULL, &o);
    assert_int_equal(o.status, 429);
    assert_int_equal(o.retry_after, 120000);
    const struct http_request_opts follow = {.follow_redirects = 1};
    fetch(&loop, c, s.port, "/b", &follow, &o);
    assert_int_equal(o.error, HTTP_OK);
    assert_int_equal(o.status, 200);
    assert_string_equal(o.body, "moved");
    assert_non_null(strstr(s.last_head, "GET /moved/here?x=1 HTTP/1.1\r\n"));
    server_stop(&s);
    http_client_free(c);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
}

/* What the caller does after http_client_request returns must be safe: the callback never
 * fires from inside the call, even when the address fails to resolve at once (libuv refuses a
 * host name that is not valid UTF-8 before any lookup). */
struct execution_like {
    struct outcome o;
    int started;  /* set by the caller after http_client_request returned */
    int early;    /* the callback came before that */
};

static void on_done_checked(const struct http_response *r, void *data)
{
    struct execution_like *x = data;
    if (!x->started)
        x->early = 1;
    on_done(r, &x->o);
}

static void never_calls_back_from_the_call(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    char err[256];
    struct http_client *c = http_client_new(&loop, err, sizeof err);
    const struct http_request_opts opts = {.method = "GET", .url = "http://bad\xff\xfehost.example/"};
    struct execution_like x = {0};
    struct http_request *r = http_client_request(c, &opts, on_done_checked, &x, err, sizeof err);
    assert_non_null(r);
    x.started = 1;
    assert_false(x.early);
    assert_int_equal(x.o.done, 0);
    while (!x.o.done)
        uv_run(&loop, UV_RUN_ONCE);
    assert_int_equal(x.o.done, 1);
    assert_int_equal(x.o.error, AC_ECONNECT);
    assert_non_null(strstr(x.o.message, "cannot resolve"));
    /* cancelled before its first attempt: one callback, nothing left behind */
    const struct http_request_opts later = {.method = "GET", .url = "http://127.0.0.1:1/"};
    memset(&x, 0, sizeof x);
    r = http_client_request(c, &later, on_done_checked, &x, err, sizeof err);
    x.started = 1;
    http_request_cancel(r);
    assert_int_equal(x.o.done, 1);
    assert_int_equal(x.o.error, AC_ECANCELED);
    http_client_free(c);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(x.o.done, 1);
    assert_int_equal(uv_loop_close(&loop), 0);
}

/* An IPv6 literal goes in brackets in the Host header; a name with several addresses is tried
 * at each until one answers. The test's hosts file (nss_wrapper, tests/CMakeLists.txt) gives
 * dual.agentcron.test ::1 first, then 127.0.0.1. */
static void ipv6_and_every_address(void **state)
{
    (void)state;
    static const char *const answers[] = {"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nv6", NULL};
    static const char *const answers4[] = {"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nv4", NULL};
    uv_loop_t loop;
    uv_loop_init(&loop);
    char err[256], url[128], host[64];
    struct http_client *c = http_client_new(&loop, err, sizeof err);
    struct outcome o;
    struct server s;
    server_start_on(&s, AF_INET6, answers);
    snprintf(url, sizeof url, "http://[::1]:%d/hook", s.port);
    fetch_url(&loop, c, url, NULL, &o);
    assert_int_equal(o.error, HTTP_OK);
    assert_string_equal(o.body, "v6");
    snprintf(host, sizeof host, "\r\nHost: [::1]:%d\r\n", s.port);
    if (!strstr(s.last_head, host))
        fail_msg("expected %s in %s", host, s.last_head);
    server_stop(&s);

    if (!getenv("NSS_WRAPPER_HOSTS"))
        fail_msg("run under nss_wrapper with NSS_WRAPPER_HOSTS (as CTest does) to resolve dual.agentcron.test");
    server_start_on(&s, AF_INET, answers4); /* nothing on ::1: the first address is refused */
    snprintf(url, sizeof url, "http://dual.agentcron.test:%d/hook", s.port);
    fetch_url(&loop, c, url, NULL, &o);
    if (o.error != HTTP_OK)
        fail_msg("the second address was not tried: %s", o.message);
    assert_string_equal(o.body, "v4");
    snprintf(host, sizeof host, "\r\nHost: dual.agentcron.test:%d\r\n", s.port);
    assert_non_null(strstr(s.last_head, host));
    server_stop(&s);
    http_client_free(c);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(url_split),
        cmocka_unit_test(url_authority),
        cmocka_unit_test(client_on_a_loop),
        cmocka_unit_test(headers_split_across_reads),
        cmocka_unit_test(never_calls_back_from_the_call),
        cmocka_unit_test(ipv6_and_every_address),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
