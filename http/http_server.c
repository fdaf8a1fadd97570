/* SPDX-License-Identifier: MIT */
/* The server's connections. Bytes read are kept in a bounded input buffer (for HTTPS, the
 * ciphertext in the TLS session's) and fed to the parser one request at a time: while a request
 * is with the handler, what follows it (a pipelined request) only accumulates, and reading
 * pauses when the buffer is full (backpressure). Pausing only then, not after every request,
 * saves two epoll_ctl calls per request. A connection is freed only when no request of it is
 * being handled, so a handler may answer late. */
#include "http_server.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "timefmt.h"
#include "tls_server.h"

#define INPUT_MAX 32768 /* unparsed bytes a connection may hold (bodies are copied out as parsed) */

struct http_conn {
    struct http_server *srv;
    uv_tcp_t tcp;
    uv_timer_t timer;
    struct http_parser parser;
    char *in;
    size_t in_len;
    int busy;         /* a request is with the handler */
    int want_close;   /* close once the current response is written */
    int closing, handles;
    int reading;
    int reject;       /* over HTTP_MAX_CONNECTIONS: answer 503 once the channel is up */
    int gone;         /* the client closed its side or the connection failed */
    struct tls_session *tls; /* NULL for plain HTTP */
    int64_t started_ms; /* the current request's first byte (wall clock, for the access log) */
    uint64_t deadline;  /* loop time by which the current request must have arrived, or 0 */
    char peer[64];
    struct http_conn *next, *prev;
};

struct http_server {
    uv_loop_t *loop;
    uv_tcp_t listener;
    http_handler handler;
    void *data;
    int max_connections, nconn, port;
    int unfreed; /* connections whose handles are not closed yet */
    struct http_count counts[HTTP_COUNTS_MAX];
    int ncounts;
    int64_t date_second; /* the second date_header was made for */
    char date_header[40];
    struct http_conn *conns;
    struct tls_creds *creds; /* NULL for plain HTTP; new connections take these */
    char cert_file[1024], key_file[1024];
    int stopping, listener_closed;
    void (*on_closed)(void *);
    void *closed_data;
};

struct write_req {
    uv_write_t req;
    struct http_conn *conn;
    char *buf;
    int response; /* the end of a response, not TLS handshake bytes */
};

static void process(struct http_conn *c);
static void maybe_finish_stop(struct http_server *s);

/* ---- closing ---- */

static void on_conn_handle_closed(uv_handle_t *h)
{
    struct http_conn *c = h->data;
    if (--c->handles > 0)
        return;
    struct http_server *s = c->srv;
    http_parser_free(&c->parser);
    tls_session_free(c->tls);
    free(c->in);
    free(c);
    s->unfreed--;
    maybe_finish_stop(s);
}

static void conn_close(struct http_conn *c)
{
    if (c->closing)
        return;
    if (c->busy) { /* the handler still holds the request: close after it answers */
        c->want_close = 1;
        if (c->reading)
            uv_read_stop((uv_stream_t *)&c->tcp), c->reading = 0;
        return;
    }
    c->closing = 1;
    struct http_server *s = c->srv;
    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    s->nconn--;
    uv_close((uv_handle_t *)&c->timer, on_conn_handle_closed);
    uv_close((uv_handle_t *)&c->tcp, on_conn_handle_closed);
}

/* ---- writing ---- */

const char *http_status_text(int status)
{
    switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 402: return "Payment Required";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 413: return "Content Too Large";
    case 415: return "Unsupported Media Type";
    case 422: return "Unprocessable Content";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
    }
}

static void on_written(uv_write_t *w, int status)
{
    struct write_req *wr = (struct write_req *)w;
    struct http_conn *c = wr->conn;
    const int response = wr->response;
    free(wr->buf);
    free(wr);
    if (!response) { /* handshake bytes: what comes next depends on the client */
        if (status < 0)
            conn_close(c);
        return;
    }
    c->busy = 0;
    if (status < 0 || c->want_close || c->srv->stopping) {
        c->want_close = 1;
        conn_close(c);
        return;
    }
    http_parser_next(&c->parser);
    c->started_ms = 0, c->deadline = 0;
    process(c); /* a pipelined request may be waiting already */
}

/* Writes bytes to the socket as they are (taking buf). -1 (buf freed) on error. */
static int write_bytes(struct http_conn *c, char *buf, size_t len, int response)
{
    struct write_req *wr = calloc(1, sizeof *wr);
    if (!wr) {
        free(buf);
        return -1;
    }
    wr->conn = c, wr->buf = buf, wr->response = response;
    const uv_buf_t b = uv_buf_init(buf, (unsigned)len);
    if (uv_write(&wr->req, (uv_stream_t *)&c->tcp, &b, 1, on_written) < 0) {
        free(buf), free(wr);
        return -1;
    }
    return 0;
}

/* Sends a response (taking buf), through TLS when the connection has it. -1 on error. */
static int write_response(struct http_conn *c, char *buf, size_t len)
{
    if (c->tls) {
        const int rc = tls_session_write(c->tls, buf, len);
        free(buf);
        if (rc != 0 || !(buf = tls_session_take_output(c->tls, &len)))
            return -1;
    }
    return write_bytes(c, buf, len, 1);
}

/* Sends what TLS produced on its own (handshake messages, alerts). */
static int flush_tls(struct http_conn *c)
{
    size_t len;
    char *out = tls_session_take_output(c->tls, &len);
    return out ? write_bytes(c, out, len, 0) : 0;
}

/* Counts a request under its route: the path with each run of digits as {id}, so the set of
 * labels stays small; past HTTP_COUNTS_MAX routes, the rest count as "other". */
static void count_request(struct http_server *s, const char *path, int status)
{
    char route[64];
    size_t o = 0;
    for (const char *p = path; *p && o + 5 < sizeof route; p++) {
        if (*p >= '0' && *p <= '9') {
            memcpy(route + o, "{id}", 4), o += 4;
            while (p[1] >= '0' && p[1] <= '9')
                p++;
        } else
            route[o++] = *p;
    }
    route[o] = 0;
    for (int i = 0; i < s->ncounts; i++)
        if (s->counts[i].status == status && !strcmp(s->counts[i].route, route)) {
            s->counts[i].count++;
            return;
        }
    if (s->ncounts == HTTP_COUNTS_MAX - 1 && strcmp(route, "other") != 0) {
        count_request(s, "other", status);
        return;
    }
    if (s->ncounts < HTTP_COUNTS_MAX) {
        struct http_count *n = &s->counts[s->ncounts++];
        snprintf(n->route, sizeof n->route, "%s", route);
        n->status = status, n->count = 1;
    }
}

/* The Date header every response carries (RFC 9110, IMF-fixdate), made once a second. */
static const char *date_header(struct http_server *s)
{
    const int64_t second = timefmt_now_ms() / 1000;
    if (second != s->date_second) {
        const time_t t = (time_t)second;
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(s->date_header, sizeof s->date_header, "%a, %d %b %Y %H:%M:%S GMT", &tm);
        s->date_second = second;
    }
    return s->date_header;
}

static void send_response(struct http_conn *c, int status, const char *content_type, const char *extra_headers,
                          const char *body, size_t body_len, const char *method, const char *target)
{
    const int close_after = c->want_close || !c->parser.req.keep_alive || c->parser.error_status;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) {
        c->busy = 0, c->want_close = 1;
        conn_close(c);
        return;
    }
    /* answers are not cached unless the handler says how (the dashboard's files revalidate) */
    const int cache_given = extra_headers && strstr(extra_headers, "Cache-Control:");
    fprintf(f, "HTTP/1.1 %d %s\r\nDate: %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s"
               "X-Content-Type-Options: nosniff\r\nServer: agentcron\r\n%s%s\r\n",
            status, http_status_text(status), date_header(c->srv), content_type ? content_type : "application/json",
            body_len, cache_given ? "" : "Cache-Control: no-store\r\n", extra_headers ? extra_headers : "",
            close_after ? "Connection: close\r\n" : "");
    fwrite(body, 1, body_len, f);
    fclose(f);
    if (close_after)
        c->want_close = 1;
    const int64_t ms = c->started_ms ? timefmt_now_ms() - c->started_ms : 0;
    count_request(c->srv, target, status);
    LOG(LOG_INFO, "http.request", LOG_S("method", method), LOG_S("path", target), LOG_I("status", status),
        LOG_I("ms", ms), LOG_S("client", c->peer));
    c->busy = 1;
    uv_timer_stop(&c->timer);
    if (write_response(c, buf, len) < 0) {
        c->busy = 0, c->want_close = 1;
        conn_close(c);
    }
}

void http_respond(struct http_conn *c, int status, const char *content_type, const char *extra_headers,
                  const char *body, size_t body_len)
{
    /* the path only, never the query (secrets sometimes travel in query strings), with bytes
     * that are not printable ASCII percent-encoded so a log line stays one clean line */
    char path[256];
    const char *src = c->parser.req.path ? c->parser.req.path : "-";
    size_t o = 0;
    for (; *src && o + 4 < sizeof path; src++) {
        const unsigned char ch = (unsigned char)*src;
        if (ch > 0x20 && ch < 0x7f && ch != '"' && ch != '\\')
            path[o++] = (char)ch;
        else
            o += (size_t)snprintf(path + o, sizeof path - o, "%%%02X", ch);
    }
    path[o] = 0;
    send_response(c, status, content_type, extra_headers, body ? body : "", body ? body_len : 0,
                  c->parser.req.method[0] ? c->parser.req.method : "-", path);
}

void http_respond_error(struct http_conn *c, int status, const char *field, const char *message,
                        const char *extra_headers)
{
    json_t *doc = json_pack("{s:s}", "error", message);
    if (field)
        json_object_set_new(doc, "field", json_string(field));
    char *text = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    http_respond(c, status, "application/json", extra_headers, text ? text : "{}", text ? strlen(text) : 2);
    free(text);
}

/* ---- reading ---- */

static void on_timeout(uv_timer_t *t)
{
    struct http_conn *c = t->data;
    if (c->busy)
        return;
    if (c->tls && !tls_session_established(c->tls)) { /* no channel to answer on */
        conn_close(c);
        return;
    }
    if (c->in_len || c->started_ms) { /* a request that did not arrive in time (slowloris) */
        c->want_close = 1;
        c->busy = 1; /* an answer, then close */
        if (c->reading)
            uv_read_stop((uv_stream_t *)&c->tcp), c->reading = 0;
        http_respond_error(c, 408, NULL, "the request did not arrive within 10 s", NULL);
        return;
    }
    conn_close(c); /* idle */
}

/* A request's first byte (its TLS handshake's, over HTTPS) starts its clock. The deadline is
 * absolute: a client trickling a byte at a time does not push it back (slowloris). */
static void request_started(struct http_conn *c)
{
    c->started_ms = timefmt_now_ms();
    c->deadline = uv_now(c->srv->loop) + HTTP_REQUEST_TIMEOUT_MS;
}

/* The connection's timer: the current request's deadline, or the idle timeout between requests. */
static void arm_timer(struct http_conn *c)
{
    const uint64_t now = uv_now(c->srv->loop);
    const uint64_t ms = !c->deadline ? HTTP_IDLE_TIMEOUT_MS : c->deadline > now ? c->deadline - now : 0;
    uv_timer_start(&c->timer, on_timeout, ms, 0);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct http_conn *c = h->data;
    (void)suggested;
    if (c->tls) { /* ciphertext goes to the session, plaintext comes out in process() */
        size_t space;
        char *at = tls_session_inbuf(c->tls, &space);
        *buf = uv_buf_init(at, (unsigned)space);
        return;
    }
    if (!c->in && !(c->in = malloc(INPUT_MAX))) {
        *buf = uv_buf_init(NULL, 0);
        return;
    }
    *buf = uv_buf_init(c->in + c->in_len, (unsigned)(INPUT_MAX - c->in_len));
}

static void start_reading(struct http_conn *c);

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
    struct http_conn *c = st->data;
    (void)buf;
    if (n == UV_ENOBUFS) { /* the buffer is full: pause until process() has made room */
        uv_read_stop(st), c->reading = 0;
        return;
    }
    if (n < 0) {
        c->gone = 1;
        conn_close(c); /* EOF or error; a request with the handler finishes first */
        return;
    }
    if (n == 0)
        return;
    if (!c->started_ms)
        request_started(c);
    if (c->tls)
        tls_session_received(c->tls, (size_t)n);
    else
        c->in_len += (size_t)n;
    process(c);
}

static void start_reading(struct http_conn *c)
{
    if (c->reading || c->closing || c->want_close)
        return;
    size_t space = c->in ? INPUT_MAX - c->in_len : INPUT_MAX;
    if (c->tls)
        tls_session_inbuf(c->tls, &space);
    if (!space) /* full: process() makes room first */
        return;
    if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) == 0)
        c->reading = 1;
}

/* Decrypts what TLS has into the input buffer and sends what the handshake wrote. 0 when
 * plaintext may flow, 1 while the handshake is still going, -1 when the connection is done. */
static int pull_tls(struct http_conn *c)
{
    if (!c->in && !(c->in = malloc(INPUT_MAX)))
        return -1;
    char err[200];
    ssize_t n;
    while ((n = tls_session_read(c->tls, c->in + c->in_len, INPUT_MAX - c->in_len, err, sizeof err)) > 0)
        c->in_len += (size_t)n;
    if (flush_tls(c) != 0)
        return -1;
    if (n < 0) {
        if (!tls_session_established(c->tls)) /* port scanners and wrong trust stores, mostly */
            LOG(LOG_WARN, "http.tls_failed", LOG_S("client", c->peer), LOG_S("reason", err));
        return -1;
    }
    return tls_session_established(c->tls) ? 0 : 1;
}

/* Parses what is buffered; hands a complete request to the handler. */
static void process(struct http_conn *c)
{
    if (c->busy || c->closing)
        return;
    if (c->tls && tls_session_plain_http(c->tls)) { /* say so in plain HTTP, as nginx does */
        tls_session_free(c->tls);
        c->tls = NULL;
        c->want_close = 1, c->busy = 1;
        if (c->reading)
            uv_read_stop((uv_stream_t *)&c->tcp), c->reading = 0;
        http_respond_error(c, 400, NULL, "this port speaks HTTPS: use https://", NULL);
        return;
    }
    if (c->tls) {
        const int rc = pull_tls(c);
        if (rc < 0) {
            conn_close(c);
            return;
        }
        if (rc > 0) {
            arm_timer(c);
            start_reading(c);
            return;
        }
    }
    if (c->reject) {
        c->want_close = 1, c->busy = 1;
        http_respond_error(c, 503, NULL, "too many connections (HTTP_MAX_CONNECTIONS); try again shortly",
                           "Retry-After: 1\r\n");
        return;
    }
    struct http_parser *p = &c->parser;
    if (c->in_len && !c->started_ms)
        request_started(c); /* a pipelined request: its time starts now */
    if (c->in_len) {
        const size_t used = http_parser_feed(p, c->in, c->in_len);
        memmove(c->in, c->in + used, c->in_len - used);
        c->in_len -= used;
    }
    if (p->error_status) {
        c->want_close = 1;
        c->busy = 1;
        if (c->reading)
            uv_read_stop((uv_stream_t *)&c->tcp), c->reading = 0;
        http_respond_error(c, p->error_status, NULL, p->error, NULL);
        return;
    }
    if (p->complete) { /* reading goes on into the bounded buffer: no syscalls to pause it */
        c->busy = 1;
        uv_timer_stop(&c->timer);
        c->srv->handler(c, &p->req, c->srv->data);
        return;
    }
    if (c->in_len == INPUT_MAX) { /* cannot happen with the parser's own limits; be safe */
        c->want_close = 1, c->busy = 1;
        http_respond_error(c, 431, NULL, "the request is too large", NULL);
        return;
    }
    arm_timer(c);
    start_reading(c);
}

/* At the connection limit, room for a newcomer is made by closing the connection whose request
 * has been arriving longest (a slowloris client, most likely), else an idle kept-alive one;
 * never one whose request is being answered. 1 if one was closed. */
static int evict_one(struct http_server *s, const struct http_conn *newcomer)
{
    struct http_conn *victim = NULL;
    for (struct http_conn *c = s->conns; c; c = c->next) {
        if (c == newcomer || c->busy || c->closing)
            continue;
        if (!victim || (c->started_ms && (!victim->started_ms || c->started_ms < victim->started_ms)))
            victim = c;
    }
    if (!victim)
        return 0;
    LOG(LOG_WARN, "http.evicted", LOG_S("client", victim->peer),
        LOG_S("state", victim->started_ms ? "request incomplete" : "idle"),
        LOG_I("held_ms", victim->started_ms ? timefmt_now_ms() - victim->started_ms : 0),
        LOG_S("reason", "HTTP_MAX_CONNECTIONS reached: the slowest connection makes room"));
    conn_close(victim);
    return 1;
}

static void on_connection(uv_stream_t *l, int status)
{
    struct http_server *s = l->data;
    if (status < 0 || s->stopping)
        return;
    struct http_conn *c = calloc(1, sizeof *c);
    if (!c)
        return;
    c->srv = s;
    uv_tcp_init(s->loop, &c->tcp);
    uv_timer_init(s->loop, &c->timer);
    c->tcp.data = c->timer.data = c;
    c->handles = 2;
    s->unfreed++;
    http_parser_init(&c->parser);
    c->next = s->conns;
    if (s->conns)
        s->conns->prev = c;
    s->conns = c;
    s->nconn++;
    if (uv_accept(l, (uv_stream_t *)&c->tcp) != 0) {
        conn_close(c);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    struct sockaddr_storage ss;
    int len = sizeof ss;
    snprintf(c->peer, sizeof c->peer, "?");
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) == 0) {
        if (ss.ss_family == AF_INET6)
            uv_ip6_name((struct sockaddr_in6 *)&ss, c->peer, sizeof c->peer);
        else
            uv_ip4_name((struct sockaddr_in *)&ss, c->peer, sizeof c->peer);
    }
    c->reject = s->nconn > s->max_connections && !evict_one(s, c); /* still over the limit: say so and go */
    if (s->creds && !(c->tls = tls_session_new(s->creds))) {
        conn_close(c);
        return;
    }
    process(c);
}

/* ---- the server ---- */

static int parse_listen(const char *listen, struct sockaddr_storage *addr, char *err, size_t len)
{
    char host[128];
    const char *colon = strrchr(listen, ':');
    int port = colon ? atoi(colon + 1) : -1;
    if (!colon || port < 0 || port > 65535 || (size_t)(colon - listen) >= sizeof host) {
        snprintf(err, len, "HTTP_LISTEN \"%s\" must be host:port, e.g. 127.0.0.1:8080 or [::1]:8080", listen);
        return -1;
    }
    const char *h = listen;
    size_t hl = (size_t)(colon - listen);
    if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']')
        h++, hl -= 2;
    memcpy(host, h, hl);
    host[hl] = 0;
    if (uv_ip4_addr(host, port, (struct sockaddr_in *)addr) != 0 &&
        uv_ip6_addr(host, port, (struct sockaddr_in6 *)addr) != 0) {
        snprintf(err, len, "HTTP_LISTEN \"%s\": \"%s\" is not an IPv4 or IPv6 address", listen, host);
        return -1;
    }
    return 0;
}

/* Loads the certificate and key into s->creds (new connections use them) and logs what was
 * loaded; the previous credentials stay with the connections that hold them. */
static int load_tls(struct http_server *s, char *err, size_t err_len)
{
    struct tls_creds *creds = tls_creds_load(s->cert_file, s->key_file, err, err_len);
    if (!creds)
        return -1;
    tls_creds_unref(s->creds);
    s->creds = creds;
    char subject[256], until[TIMEFMT_RFC3339_MAX];
    int64_t not_after;
    tls_creds_describe(creds, subject, sizeof subject, &not_after);
    timefmt_rfc3339(not_after, 0, 0, until);
    const int64_t left_ms = not_after - timefmt_now_ms();
    const char *note = left_ms < 0                          ? "the certificate has expired: replace it, then send SIGHUP"
                       : left_ms < 14LL * 24 * 3600 * 1000 ? "the certificate expires within 14 days: renew it, then send SIGHUP"
                                                            : "ok";
    LOG(strcmp(note, "ok") ? LOG_WARN : LOG_INFO, "http.tls_loaded", LOG_S("cert", s->cert_file),
        LOG_S("subject", subject), LOG_S("not_after", until), LOG_S("note", note));
    return 0;
}

/* The listener of a server that never started: the server goes with it. */
static void on_unused_listener_closed(uv_handle_t *h)
{
    free(h->data);
}

struct http_server *http_server_start(uv_loop_t *loop, const char *listen, int max_connections, const char *cert_file,
                                      const char *key_file, http_handler handler, void *data, char *err,
                                      size_t err_len)
{
    struct sockaddr_storage addr;
    if (parse_listen(listen, &addr, err, err_len) != 0)
        return NULL;
    cert_file = cert_file ? cert_file : "", key_file = key_file ? key_file : "";
    if (!*cert_file != !*key_file) {
        snprintf(err, err_len, "%s is set but %s is not: set both for HTTPS, or neither for plain HTTP",
                 *cert_file ? "TLS_CERT_FILE" : "TLS_KEY_FILE", *cert_file ? "TLS_KEY_FILE" : "TLS_CERT_FILE");
        return NULL;
    }
    struct http_server *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, err_len, "out of memory");
        return NULL;
    }
    s->loop = loop, s->handler = handler, s->data = data, s->max_connections = max_connections;
    snprintf(s->cert_file, sizeof s->cert_file, "%s", cert_file);
    snprintf(s->key_file, sizeof s->key_file, "%s", key_file);
    if (*cert_file && load_tls(s, err, err_len) != 0) {
        free(s);
        return NULL;
    }
    uv_tcp_init(loop, &s->listener);
    s->listener.data = s;
    int rc = uv_tcp_bind(&s->listener, (const struct sockaddr *)&addr, 0);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&s->listener, 511, on_connection);
    if (rc != 0) {
        snprintf(err, err_len, "cannot listen on HTTP_LISTEN %s: %s (another process has the port? set HTTP_LISTEN)",
                 listen, uv_strerror(rc));
        tls_creds_unref(s->creds);
        uv_close((uv_handle_t *)&s->listener, on_unused_listener_closed); /* frees s */
        return NULL;
    }
    struct sockaddr_storage bound;
    int blen = sizeof bound;
    uv_tcp_getsockname(&s->listener, (struct sockaddr *)&bound, &blen);
    s->port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                                : ((struct sockaddr_in *)&bound)->sin_port);
    return s;
}

static void on_listener_closed(uv_handle_t *h)
{
    struct http_server *s = h->data;
    s->listener_closed = 1;
    maybe_finish_stop(s);
}

static void maybe_finish_stop(struct http_server *s)
{
    if (!s->stopping || !s->listener_closed || s->unfreed > 0)
        return;
    void (*cb)(void *) = s->on_closed;
    void *data = s->closed_data;
    tls_creds_unref(s->creds);
    free(s);
    if (cb)
        cb(data);
}

void http_server_stop(struct http_server *s, void (*on_closed)(void *data), void *data)
{
    if (s->stopping)
        return;
    s->stopping = 1;
    s->on_closed = on_closed, s->closed_data = data;
    for (struct http_conn *c = s->conns, *next; c; c = next) {
        next = c->next;
        conn_close(c); /* busy ones close after their answer */
    }
    uv_close((uv_handle_t *)&s->listener, on_listener_closed);
}

int http_server_reload_tls(struct http_server *s, char *err, size_t err_len)
{
    if (!s->creds) {
        snprintf(err, err_len, "HTTPS is off (TLS_CERT_FILE is not set): nothing to reload");
        return 1;
    }
    return load_tls(s, err, err_len);
}

int http_server_is_tls(const struct http_server *s)
{
    return s->creds != NULL;
}

int http_conn_gone(const struct http_conn *conn)
{
    return conn->gone;
}

const char *http_conn_peer(const struct http_conn *conn)
{
    return conn->peer;
}

int http_server_port(const struct http_server *s)
{
    return s->port;
}

int http_server_counts(const struct http_server *s, struct http_count *out)
{
    memcpy(out, s->counts, (size_t)s->ncounts * sizeof *out);
    return s->ncounts;
}
