/* SPDX-License-Identifier: MIT */
/* The HTTP client's machinery. A connection is a non-blocking socket watched by one uv_poll;
 * its state (connecting, TLS handshake, sending, receiving, idle) decides what a readiness
 * event means. mbedTLS talks to the socket itself (mbedtls_net_send/recv in non-blocking
 * mode) and says through WANT_READ/WANT_WRITE which readiness to wait for next.
 *
 * Lifetimes: a request owns a timer and, while resolving, a getaddrinfo request; a connection
 * owns its poll handle. Each is freed only in its last close (or cancel) callback. A kept-alive
 * connection that the server closed is found out on the next use: if it fails before a byte
 * of the response arrived, the request is retried once on a new connection. */
#include "http_client.h"
#include "url.h"

#include <errno.h>
#include <inttypes.h>
#include <llhttp.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define SYSTEM_CA_BUNDLE "/etc/ssl/certs/ca-certificates.crt"
#define IDLE_KEEP_MS 30000
#define MAX_REDIRECTS 5
#define READ_CHUNK 16384

struct tls_conf {
    char ca_file[512];
    int insecure;
    mbedtls_ssl_config conf;
    mbedtls_x509_crt ca;
    struct tls_conf *next;
};

enum conn_state { CONN_CONNECTING, CONN_HANDSHAKE, CONN_SENDING, CONN_RECEIVING, CONN_IDLE };

struct conn {
    struct http_client *client;
    uv_poll_t poll;
    int fd;
    char origin[1200]; /* scheme://host:port plus the TLS settings: what may share it */
    enum conn_state state;
    int tls;
    mbedtls_net_context net;
    mbedtls_ssl_context ssl;
    struct http_request *req;
    int64_t idle_since;
    struct conn *next_idle;
    int closing;
};

struct http_request {
    struct http_client *client;
    struct http_request *next, *prev; /* in flight */
    http_done_cb cb;
    void *data;
    char method[8];
    char *url;
    char **headers;
    char *body;
    size_t body_len;
    char ca_file[512];
    int insecure, follow_redirects, redirects, retried;
    int64_t connect_timeout_ms, read_timeout_ms, deadline_ms;
    size_t max_response_bytes;
    /* the current attempt */
    int tls, port;
    char host[256], path[4096];
    char *out;
    size_t out_len, out_off;
    struct conn *conn;
    int reused;
    uv_getaddrinfo_t gai;
    int resolving;
    struct addrinfo *addrs, *addr; /* the resolved addresses, and the one being tried */
    uv_timer_t timer;
    /* the response */
    llhttp_t parser;
    int complete, got_bytes, header_is, no_reuse;
    char hname[16];  /* the header name being read, in pieces (longer ones matter to nobody) */
    size_t hname_len, hval_len;
    char hval[2048]; /* the value of a header that matters, in pieces */
    char *rbody;
    size_t rbody_len, rbody_cap;
    int64_t retry_after_ms;
    char location[2048];
    int done;
};

struct http_client {
    uv_loop_t *loop;
    mbedtls_entropy_context entropy;
    mbedtls_ctr_drbg_context drbg;
    struct tls_conf *confs;
    struct conn *idle;
    struct http_request *inflight;
    int freeing, handles;
};

static llhttp_settings_t parser_settings;

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void start_attempt(struct http_request *r);
static void conn_close(struct conn *c);
static void on_idle_event(uv_poll_t *p, int status, int events);

/* ---- finishing ---- */

static void maybe_free_client(struct http_client *c)
{
    if (!c->freeing || c->handles > 0 || c->inflight)
        return;
    for (struct tls_conf *t = c->confs, *n; t; t = n) {
        n = t->next;
        mbedtls_ssl_config_free(&t->conf);
        mbedtls_x509_crt_free(&t->ca);
        free(t);
    }
    mbedtls_ctr_drbg_free(&c->drbg);
    mbedtls_entropy_free(&c->entropy);
    free(c);
}

static void request_free(struct http_request *r)
{
    uv_freeaddrinfo(r->addrs);
    for (char **h = r->headers; h && *h; h++)
        free(*h);
    free(r->headers);
    free(r->url);
    free(r->body);
    free(r->out);
    free(r->rbody);
    free(r);
}

static void on_timer_closed(uv_handle_t *h)
{
    struct http_request *r = h->data;
    struct http_client *c = r->client;
    c->handles--;
    request_free(r);
    maybe_free_client(c);
}

/* Ends a request: the callback fires once, then the request goes away once its timer closed
 * and no address lookup is outstanding. */
static void finish(struct http_request *r, int error, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void finish(struct http_request *r, int error, const char *fmt, ...)
{
    if (r->done)
        return;
    r->done = 1;
    struct http_client *c = r->client;
    if (r->prev)
        r->prev->next = r->next;
    else
        c->inflight = r->next;
    if (r->next)
        r->next->prev = r->prev;
    struct http_response res = {.error = error, .retry_after_ms = r->retry_after_ms, .reused_connection = r->reused};
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(res.message, sizeof res.message, fmt, ap);
        va_end(ap);
    }
    if (error == HTTP_OK) {
        res.status = r->parser.status_code;
        res.body = r->rbody ? r->rbody : "";
        res.body_len = r->rbody_len;
    }
    struct conn *conn = r->conn;
    r->conn = NULL;
    if (conn) {
        conn->req = NULL;
        if (error == HTTP_OK && !r->no_reuse && llhttp_should_keep_alive(&r->parser) && !c->freeing) {
            conn->state = CONN_IDLE;
            conn->idle_since = mono_ms();
            conn->next_idle = c->idle;
            c->idle = conn;
            uv_poll_start(&conn->poll, UV_READABLE | UV_DISCONNECT, on_idle_event);
        } else
            conn_close(conn);
    }
    r->cb(&res, r->data);
    if (r->resolving)
        uv_cancel((uv_req_t *)&r->gai); /* on_resolved sees done and closes the timer */
    else
        uv_close((uv_handle_t *)&r->timer, on_timer_closed);
}

/* ---- connections ---- */

static void on_conn_closed(uv_handle_t *h)
{
    struct conn *c = h->data;
    struct http_client *client = c->client;
    if (c->tls)
        mbedtls_ssl_free(&c->ssl);
    close(c->fd);
    free(c);
    client->handles--;
    maybe_free_client(client);
}

static void conn_close(struct conn *c)
{
    if (c->closing)
        return;
    c->closing = 1;
    struct http_client *client = c->client;
    for (struct conn **p = &client->idle; *p; p = &(*p)->next_idle)
        if (*p == c) {
            *p = c->next_idle;
            break;
        }
    uv_close((uv_handle_t *)&c->poll, on_conn_closed);
}

static void on_idle_event(uv_poll_t *p, int status, int events)
{
    (void)status, (void)events;
    conn_close(p->data); /* an idle connection has nothing to say: the server closed it */
}

/* A failure on the connection: retried once on a new connection if the request went out on
 * a reused one and nothing came back (the server had closed it meanwhile). */
static void conn_failed(struct conn *c, int error, const char *what)
{
    struct http_request *r = c->req;
    c->req = NULL;
    conn_close(c);
    if (!r)
        return;
    r->conn = NULL;
    if (r->reused && !r->got_bytes && !r->retried) {
        r->retried = 1;
        start_attempt(r);
        return;
    }
    finish(r, error, "%s %s:%d: %s", r->tls ? "https" : "http", r->host, r->port, what);
}

static const char *tls_error(int rc, char *buf, size_t len)
{
    mbedtls_strerror(rc, buf, len);
    return buf;
}

static void poll_for(struct conn *c, int want_write);
static void connect_failed(struct conn *c, const char *why);
static void on_conn_event(uv_poll_t *p, int status, int events);
static void on_timeout(uv_timer_t *t);
static int redirect(struct http_request *r);
static void arm_io_timer(struct http_request *r);

static void send_some(struct conn *c)
{
    struct http_request *r = c->req;
    while (r->out_off < r->out_len) {
        ssize_t n;
        if (c->tls) {
            n = mbedtls_ssl_write(&c->ssl, (const unsigned char *)r->out + r->out_off, r->out_len - r->out_off);
            if (n == MBEDTLS_ERR_SSL_WANT_READ || n == MBEDTLS_ERR_SSL_WANT_WRITE) {
                poll_for(c, n == MBEDTLS_ERR_SSL_WANT_WRITE);
                return;
            }
        } else {
            n = send(c->fd, r->out + r->out_off, r->out_len - r->out_off, MSG_NOSIGNAL);
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
                poll_for(c, 1);
                return;
            }
        }
        if (n < 0) {
            conn_failed(c, AC_EIO, "sending the request failed");
            return;
        }
        r->out_off += (size_t)n;
    }
    c->state = CONN_RECEIVING;
    poll_for(c, 0);
}

static void feed(struct conn *c, const char *buf, size_t n)
{
    struct http_request *r = c->req;
    r->got_bytes = 1;
    const llhttp_errno_t e = llhttp_execute(&r->parser, buf, n);
    if (r->done)
        return;
    if (e == HPE_PAUSED_UPGRADE || e == HPE_PAUSED || r->complete) {
        if (e != HPE_OK && llhttp_get_error_pos(&r->parser) != buf + n)
            r->no_reuse = 1; /* bytes after the response: not a connection to reuse */
        if (!redirect(r))
            finish(r, HTTP_OK, NULL);
        return;
    }
    if (e != HPE_OK) {
        const int toobig = r->rbody_len > r->max_response_bytes;
        c->req = NULL, r->conn = NULL;
        conn_close(c);
        if (toobig)
            finish(r, AC_ETOOBIG, "the response from %s is larger than max_response_bytes (%zu)", r->host,
                   r->max_response_bytes);
        else
            finish(r, AC_EIO, "malformed response from %s:%d: %s", r->host, r->port, llhttp_errno_name(e));
    }
}

static void receive_some(struct conn *c)
{
    char buf[READ_CHUNK];
    for (;;) {
        ssize_t n;
        if (c->tls) {
            n = mbedtls_ssl_read(&c->ssl, (unsigned char *)buf, sizeof buf);
            if (n == MBEDTLS_ERR_SSL_WANT_READ || n == MBEDTLS_ERR_SSL_WANT_WRITE) {
                poll_for(c, n == MBEDTLS_ERR_SSL_WANT_WRITE);
                return;
            }
            if (n == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY)
                n = 0;
        } else {
            n = recv(c->fd, buf, sizeof buf, 0);
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
                poll_for(c, 0);
                return;
            }
        }
        if (n < 0) {
            conn_failed(c, AC_EIO, "the connection broke while reading the response");
            return;
        }
        struct http_request *r = c->req;
        if (n == 0) { /* EOF: complete if the response ends with the connection */
            if (r->got_bytes && llhttp_finish(&r->parser) == HPE_OK && r->complete) {
                r->parser.flags |= F_CONNECTION_CLOSE;
                finish(r, HTTP_OK, NULL);
            } else
                conn_failed(c, AC_EIO, "the server closed the connection before the response was complete");
            return;
        }
        feed(c, buf, (size_t)n);
        if (c->req != r || r->done)
            return;
        if (r->read_timeout_ms > 0)
            arm_io_timer(r); /* progress: the read timeout starts again */
    }
}

static void handshake(struct conn *c)
{
    const int rc = mbedtls_ssl_handshake(&c->ssl);
    if (rc == MBEDTLS_ERR_SSL_WANT_READ || rc == MBEDTLS_ERR_SSL_WANT_WRITE) {
        poll_for(c, rc == MBEDTLS_ERR_SSL_WANT_WRITE);
        return;
    }
    char msg[400], why[160];
    if (rc != 0) {
        const uint32_t flags = mbedtls_ssl_get_verify_result(&c->ssl);
        if (flags && flags != (uint32_t)-1) {
            char info[160];
            mbedtls_x509_crt_verify_info(info, sizeof info, "", flags);
            info[strcspn(info, "\n")] = 0;
            snprintf(msg, sizeof msg, "TLS certificate not accepted (%s); name a ca_file for the agent if the server "
                     "uses a private CA", info);
            c->req->retried = 1;
            conn_failed(c, AC_ETLS, msg);
            return;
        }
        snprintf(msg, sizeof msg, "TLS handshake failed: %s", tls_error(rc, why, sizeof why));
        c->req->retried = 1;
        conn_failed(c, AC_ECONNECT, msg);
        return;
    }
    c->state = CONN_SENDING;
    send_some(c);
}

/* The request's timer: the sooner of the total deadline and read_timeout_ms from now. */
static void arm_io_timer(struct http_request *r)
{
    const int64_t now = mono_ms();
    int64_t due = r->deadline_ms;
    if (r->read_timeout_ms > 0 && now + r->read_timeout_ms < due)
        due = now + r->read_timeout_ms;
    uv_timer_start(&r->timer, on_timeout, due > now ? (uint64_t)(due - now) : 0, 0);
}

static void connected(struct conn *c)
{
    int soerr = 0;
    socklen_t len = sizeof soerr;
    getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &soerr, &len);
    if (soerr) {
        connect_failed(c, strerror(soerr));
        return;
    }
    struct http_request *r = c->req;
    arm_io_timer(r); /* from here the read timeout and the total deadline count */
    c->state = c->tls ? CONN_HANDSHAKE : CONN_SENDING;
    c->tls ? handshake(c) : send_some(c);
}

static void on_conn_event(uv_poll_t *p, int status, int events)
{
    struct conn *c = p->data;
    (void)events;
    if (!c->req || c->closing)
        return;
    if (status < 0 && c->state == CONN_CONNECTING) {
        connect_failed(c, uv_strerror(status));
        return;
    }
    switch (c->state) {
    case CONN_CONNECTING: connected(c); break;
    case CONN_HANDSHAKE: handshake(c); break;
    case CONN_SENDING: send_some(c); break;
    case CONN_RECEIVING: receive_some(c); break;
    case CONN_IDLE: break;
    }
}

static void poll_for(struct conn *c, int want_write)
{
    uv_poll_start(&c->poll, want_write ? UV_WRITABLE : UV_READABLE, on_conn_event);
}

/* ---- TLS settings, shared by connections with the same CA choice ---- */

static struct tls_conf *tls_conf_for(struct http_client *client, const char *ca_file, int insecure, char *err,
                                     size_t len)
{
    for (struct tls_conf *t = client->confs; t; t = t->next)
        if (t->insecure == insecure && strcmp(t->ca_file, ca_file) == 0)
            return t;
    struct tls_conf *t = calloc(1, sizeof *t);
    if (!t) {
        snprintf(err, len, "out of memory");
        return NULL;
    }
    snprintf(t->ca_file, sizeof t->ca_file, "%s", ca_file);
    t->insecure = insecure;
    mbedtls_ssl_config_init(&t->conf);
    mbedtls_x509_crt_init(&t->ca);
    const char *bundle = ca_file[0] ? ca_file : SYSTEM_CA_BUNDLE;
    int rc = insecure ? 0 : mbedtls_x509_crt_parse_file(&t->ca, bundle);
    if (rc < 0) {
        char why[160];
        snprintf(err, len, "cannot load CA certificates from %s: %s", bundle, tls_error(rc, why, sizeof why));
        goto fail;
    }
    rc = mbedtls_ssl_config_defaults(&t->conf, MBEDTLS_SSL_IS_CLIENT, MBEDTLS_SSL_TRANSPORT_STREAM,
                                     MBEDTLS_SSL_PRESET_DEFAULT);
    if (rc) {
        snprintf(err, len, "TLS configuration failed");
        goto fail;
    }
    mbedtls_ssl_conf_min_version(&t->conf, MBEDTLS_SSL_MAJOR_VERSION_3, MBEDTLS_SSL_MINOR_VERSION_3); /* TLS 1.2+ */
    mbedtls_ssl_conf_authmode(&t->conf, insecure ? MBEDTLS_SSL_VERIFY_NONE : MBEDTLS_SSL_VERIFY_REQUIRED);
    mbedtls_ssl_conf_ca_chain(&t->conf, &t->ca, NULL);
    mbedtls_ssl_conf_rng(&t->conf, mbedtls_ctr_drbg_random, &client->drbg);
    t->next = client->confs;
    client->confs = t;
    return t;
fail:
    mbedtls_ssl_config_free(&t->conf);
    mbedtls_x509_crt_free(&t->ca);
    free(t);
    return NULL;
}

/* ---- attempts ---- */

static int set_target(struct http_request *r, const char *url);

static void origin_of(const struct http_request *r, char *out, size_t len)
{
    snprintf(out, len, "%s://%s:%d|%s|%d", r->tls ? "https" : "http", r->host, r->port, r->ca_file, r->insecure);
}

static void attach(struct http_request *r, struct conn *c)
{
    r->conn = c;
    c->req = r;
    r->out_off = 0;
}

/* Connects to the address r->addr, or to the next one when a socket cannot even be started;
 * finishes the request when none is left. */
static void connect_addr(struct http_request *r)
{
    struct http_client *client = r->client;
    int fd = -1, rc = 0;
    for (; r->addr; r->addr = r->addr->ai_next) {
        fd = socket(r->addr->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        rc = fd < 0 ? -errno : 0;
        if (rc == 0 && connect(fd, r->addr->ai_addr, r->addr->ai_addrlen) < 0 && errno != EINPROGRESS)
            rc = -errno;
        if (rc == 0)
            break;
        if (fd >= 0)
            close(fd);
        fd = -1;
    }
    struct conn *c = fd >= 0 ? calloc(1, sizeof *c) : NULL;
    if (!c) {
        if (fd >= 0)
            close(fd);
        finish(r, AC_ECONNECT, "cannot connect to %s:%d: %s", r->host, r->port,
               rc ? strerror(-rc) : fd >= 0 ? "out of memory" : "no address");
        return;
    }
    const int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->client = client;
    c->fd = fd;
    c->tls = r->tls;
    c->state = CONN_CONNECTING;
    origin_of(r, c->origin, sizeof c->origin);
    uv_poll_init_socket(client->loop, &c->poll, fd);
    c->poll.data = c;
    client->handles++;
    attach(r, c);
    if (c->tls) {
        char err[800];
        struct tls_conf *t = tls_conf_for(client, r->ca_file, r->insecure, err, sizeof err);
        mbedtls_ssl_init(&c->ssl);
        mbedtls_net_init(&c->net);
        c->net.fd = fd;
        if (!t || mbedtls_ssl_setup(&c->ssl, &t->conf) != 0 || mbedtls_ssl_set_hostname(&c->ssl, r->host) != 0) {
            r->retried = 1;
            conn_failed(c, AC_ETLS, t ? "TLS setup failed" : err);
            return;
        }
        mbedtls_ssl_set_bio(&c->ssl, &c->net, mbedtls_net_send, mbedtls_net_recv, NULL);
    }
    poll_for(c, 1);
}

/* The connection to r->addr could not be made: the next address is tried (a name with an
 * IPv6 and an IPv4 address, a server listening on only one), else the request fails. */
static void connect_failed(struct conn *c, const char *why)
{
    struct http_request *r = c->req;
    r->retried = 1;
    if (!r->addr || !r->addr->ai_next) {
        conn_failed(c, AC_ECONNECT, why);
        return;
    }
    c->req = NULL, r->conn = NULL;
    conn_close(c);
    r->addr = r->addr->ai_next;
    connect_addr(r);
}

static void on_resolved(uv_getaddrinfo_t *g, int status, struct addrinfo *ai)
{
    struct http_request *r = g->data;
    r->resolving = 0;
    if (r->done) { /* ended meanwhile: the request goes away with its timer */
        uv_freeaddrinfo(ai);
        uv_close((uv_handle_t *)&r->timer, on_timer_closed);
        return;
    }
    if (status < 0 || !ai) {
        uv_freeaddrinfo(ai);
        finish(r, AC_ECONNECT, "cannot resolve %s: %s", r->host, uv_strerror(status));
        return;
    }
    uv_freeaddrinfo(r->addrs); /* an earlier attempt's */
    r->addrs = r->addr = ai;
    connect_addr(r);
}

static struct conn *take_idle(struct http_client *client, const char *origin)
{
    const int64_t now = mono_ms();
    for (struct conn **p = &client->idle; *p;) {
        struct conn *c = *p;
        if (now - c->idle_since > IDLE_KEEP_MS) {
            conn_close(c); /* unlinks it */
            continue;
        }
        if (strcmp(c->origin, origin) == 0) {
            *p = c->next_idle;
            c->next_idle = NULL;
            return c;
        }
        p = &c->next_idle;
    }
    return NULL;
}

static int build_request(struct http_request *r)
{
    free(r->out);
    r->out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&r->out, &len);
    if (!f)
        return -1;
    char authority[300];
    if (http_url_authority(r->tls, r->host, r->port, authority, sizeof authority) != 0) {
        fclose(f);
        return -1;
    }
    fprintf(f, "%s %s HTTP/1.1\r\nHost: %s\r\nConnection: keep-alive\r\n", r->method, r->path, authority);
    for (char **h = r->headers; h && *h; h++)
        fprintf(f, "%s\r\n", *h);
    if (r->body)
        fprintf(f, "Content-Length: %zu\r\n", r->body_len);
    fputs("\r\n", f);
    if (r->body)
        fwrite(r->body, 1, r->body_len, f);
    const int bad = ferror(f);
    fclose(f);
    r->out_len = len;
    return bad ? -1 : 0;
}

static void reset_response(struct http_request *r)
{
    llhttp_init(&r->parser, HTTP_RESPONSE, &parser_settings);
    r->parser.data = r;
    r->complete = r->got_bytes = 0;
    r->rbody_len = 0;
    r->no_reuse = 0;
    r->retry_after_ms = -1;
    r->location[0] = 0;
    r->hname_len = r->hval_len = 0;
}

static void start_attempt(struct http_request *r)
{
    reset_response(r);
    char origin[1200];
    origin_of(r, origin, sizeof origin);
    struct conn *c = r->retried ? NULL : take_idle(r->client, origin);
    r->reused = c != NULL;
    if (c) {
        attach(r, c);
        c->state = CONN_SENDING;
        arm_io_timer(r);
        send_some(c);
        return;
    }
    char port[8];
    snprintf(port, sizeof port, "%d", r->port);
    const struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    r->gai.data = r;
    const int rc = uv_getaddrinfo(r->client->loop, &r->gai, on_resolved, r->host, port, &hints);
    if (rc < 0) {
        finish(r, AC_ECONNECT, "cannot resolve %s: %s", r->host, uv_strerror(rc));
        return;
    }
    r->resolving = 1;
}

/* Follows a redirect when the request allows it: 1 if a new attempt started. */
static int redirect(struct http_request *r)
{
    const int status = r->parser.status_code;
    if (!r->follow_redirects || r->redirects >= MAX_REDIRECTS || !r->location[0] ||
        (status != 301 && status != 302 && status != 303 && status != 307 && status != 308))
        return 0;
    char *target = r->location[0] == '/' && r->location[1] != '/'
                       ? http_url_make(r->tls, r->host, r->port, r->location)
                       : strdup(r->location);
    if (!target)
        return 0;
    if (status == 303) {
        snprintf(r->method, sizeof r->method, "GET");
        free(r->body);
        r->body = NULL, r->body_len = 0;
    }
    struct conn *c = r->conn;
    const int unusable = set_target(r, target) != 0;
    free(target);
    if (unusable)
        return 0; /* an unusable Location: the 3xx is the answer */
    r->redirects++;
    r->conn = NULL;
    c->req = NULL;
    if (!r->no_reuse && llhttp_should_keep_alive(&r->parser)) {
        c->state = CONN_IDLE;
        c->idle_since = mono_ms();
        c->next_idle = r->client->idle;
        r->client->idle = c;
        uv_poll_start(&c->poll, UV_READABLE | UV_DISCONNECT, on_idle_event);
    } else
        conn_close(c);
    r->retried = 0;
    start_attempt(r);
    return 1;
}

static void on_timeout(uv_timer_t *t)
{
    struct http_request *r = t->data;
    const int connecting = r->resolving || (r->conn && r->conn->state <= CONN_HANDSHAKE);
    if (r->conn) {
        struct conn *c = r->conn;
        c->req = NULL, r->conn = NULL;
        conn_close(c);
    }
    if (connecting)
        finish(r, AC_ETIMEDOUT, "connecting to %s:%d timed out after %" PRId64 " ms", r->host, r->port,
               r->connect_timeout_ms);
    else if (mono_ms() < r->deadline_ms)
        finish(r, AC_ETIMEDOUT, "%s:%d sent nothing for %" PRId64 " ms (read_timeout_ms)", r->host, r->port,
               r->read_timeout_ms);
    else
        finish(r, AC_ETIMEDOUT, "%s:%d did not answer in time", r->host, r->port);
}

/* ---- llhttp callbacks ---- */

static int64_t parse_retry_after(const char *v)
{
    char *end;
    const long long s = strtoll(v, &end, 10);
    if (end != v && *end == 0 && s >= 0)
        return s > 86400 ? 86400000 : s * 1000;
    struct tm tm = {0};
    const char *rest = strptime(v, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    if (!rest)
        return -1;
    const int64_t at = (int64_t)timegm(&tm) * 1000, now = (int64_t)time(NULL) * 1000;
    return at > now ? at - now : 0;
}

/* A header's name and value may each arrive in any number of pieces (one per read that holds
 * part of it): they are gathered and looked at only when complete. */
static int on_header_field(llhttp_t *p, const char *at, size_t len)
{
    struct http_request *r = p->data;
    if (r->hname_len + len < sizeof r->hname)
        memcpy(r->hname + r->hname_len, at, len);
    r->hname_len += len;
    return 0;
}

static int on_header_field_complete(llhttp_t *p)
{
    struct http_request *r = p->data;
    const int fits = r->hname_len < sizeof r->hname;
    r->header_is = fits && r->hname_len == 11 && strncasecmp(r->hname, "Retry-After", 11) == 0 ? 1
                 : fits && r->hname_len == 8 && strncasecmp(r->hname, "Location", 8) == 0  ? 2
                                                                                          : 0;
    r->hname_len = r->hval_len = 0;
    return 0;
}

static int on_header_value(llhttp_t *p, const char *at, size_t len)
{
    struct http_request *r = p->data;
    if (r->header_is && r->hval_len + len < sizeof r->hval)
        memcpy(r->hval + r->hval_len, at, len);
    r->hval_len += len;
    return 0;
}

static int on_header_value_complete(llhttp_t *p)
{
    struct http_request *r = p->data;
    size_t n = r->hval_len;
    if (!r->header_is || n >= sizeof r->hval || n >= sizeof r->location)
        return 0; /* not one we read, or too long to be a sound one: ignored */
    while (n && (r->hval[n - 1] == ' ' || r->hval[n - 1] == '\t'))
        n--;
    r->hval[n] = 0;
    if (r->header_is == 1)
        r->retry_after_ms = n < 64 ? parse_retry_after(r->hval) : -1;
    else
        memcpy(r->location, r->hval, n + 1);
    return 0;
}

static int on_body(llhttp_t *p, const char *at, size_t len)
{
    struct http_request *r = p->data;
    if (r->rbody_len + len > r->max_response_bytes) {
        r->rbody_len += len;
        return -1;
    }
    if (r->rbody_len + len + 1 > r->rbody_cap) {
        size_t cap = r->rbody_cap ? r->rbody_cap : 4096;
        while (cap < r->rbody_len + len + 1)
            cap *= 2;
        char *grown = realloc(r->rbody, cap);
        if (!grown)
            return -1;
        r->rbody = grown, r->rbody_cap = cap;
    }
    memcpy(r->rbody + r->rbody_len, at, len);
    r->rbody_len += len;
    r->rbody[r->rbody_len] = 0;
    return 0;
}

static int on_message_complete(llhttp_t *p)
{
    struct http_request *r = p->data;
    r->complete = 1;
    return HPE_PAUSED; /* anything after it on this connection is not ours */
}

/* ---- public ---- */

/* The request's first attempt, one loop turn after http_client_request. */
static void on_start(uv_timer_t *t)
{
    struct http_request *r = t->data;
    const int64_t total = r->deadline_ms - mono_ms();
    uv_timer_start(&r->timer, on_timeout,
                   (uint64_t)(total <= 0 ? 0 : r->connect_timeout_ms < total ? r->connect_timeout_ms : total), 0);
    start_attempt(r);
}

struct http_client *http_client_new(uv_loop_t *loop, char *err, size_t err_len)
{
    if (!parser_settings.on_body) { /* set on the loop thread before any request */
        llhttp_settings_init(&parser_settings);
        parser_settings.on_header_field = on_header_field;
        parser_settings.on_header_field_complete = on_header_field_complete;
        parser_settings.on_header_value = on_header_value;
        parser_settings.on_header_value_complete = on_header_value_complete;
        parser_settings.on_body = on_body;
        parser_settings.on_message_complete = on_message_complete;
    }
    struct http_client *c = calloc(1, sizeof *c);
    if (!c) {
        snprintf(err, err_len, "out of memory");
        return NULL;
    }
    c->loop = loop;
    mbedtls_entropy_init(&c->entropy);
    mbedtls_ctr_drbg_init(&c->drbg);
    if (mbedtls_ctr_drbg_seed(&c->drbg, mbedtls_entropy_func, &c->entropy, (const unsigned char *)"agentcron", 9)) {
        snprintf(err, err_len, "cannot seed the TLS random generator");
        mbedtls_ctr_drbg_free(&c->drbg);
        mbedtls_entropy_free(&c->entropy);
        free(c);
        return NULL;
    }
    return c;
}

void http_client_free(struct http_client *c)
{
    if (!c)
        return;
    c->freeing = 1;
    while (c->inflight)
        http_request_cancel(c->inflight);
    while (c->idle)
        conn_close(c->idle);
    maybe_free_client(c);
}

static int set_target(struct http_request *r, const char *url)
{
    char *copy = strdup(url);
    if (!copy || http_url_split(url, &r->tls, r->host, sizeof r->host, &r->port, r->path, sizeof r->path)) {
        free(copy);
        return -1;
    }
    free(r->url);
    r->url = copy;
    return build_request(r);
}

struct http_request *http_client_request(struct http_client *c, const struct http_request_opts *o, http_done_cb cb,
                                         void *data, char *err, size_t err_len)
{
    if (!o->url || !o->method || (strcmp(o->method, "GET") != 0 && strcmp(o->method, "POST") != 0)) {
        snprintf(err, err_len, "method must be GET or POST");
        return NULL;
    }
    struct http_request *r = calloc(1, sizeof *r);
    size_t nh = 0;
    while (o->headers && o->headers[nh])
        nh++;
    if (!r || !(r->headers = calloc(nh + 1, sizeof *r->headers)))
        goto oom;
    for (size_t i = 0; i < nh; i++) {
        if (strpbrk(o->headers[i], "\r\n")) {
            snprintf(err, err_len, "header %zu contains a line break", i);
            request_free(r);
            return NULL;
        }
        if (!(r->headers[i] = strdup(o->headers[i])))
            goto oom;
    }
    if (o->body && !(r->body = malloc(o->body_len + 1)))
        goto oom;
    if (o->body)
        memcpy(r->body, o->body, o->body_len), r->body_len = o->body_len;
    r->client = c, r->cb = cb, r->data = data;
    snprintf(r->method, sizeof r->method, "%s", o->method);
    snprintf(r->ca_file, sizeof r->ca_file, "%s", o->ca_file ? o->ca_file : "");
    r->insecure = o->insecure_skip_verify, r->follow_redirects = o->follow_redirects;
    r->connect_timeout_ms = o->connect_timeout_ms > 0 ? o->connect_timeout_ms : 10000;
    r->read_timeout_ms = o->read_timeout_ms;
    r->deadline_ms = mono_ms() + (o->timeout_ms > 0 ? o->timeout_ms : 30000);
    r->max_response_bytes = o->max_response_bytes ? o->max_response_bytes : (1u << 20);
    if (set_target(r, o->url)) {
        snprintf(err, err_len, "invalid URL \"%.200s\": use http(s)://host[:port]/path", o->url);
        request_free(r);
        return NULL;
    }
    uv_timer_init(c->loop, &r->timer);
    r->timer.data = r;
    c->handles++;
    r->next = c->inflight;
    if (c->inflight)
        c->inflight->prev = r;
    c->inflight = r;
    /* The first attempt starts from the loop, not from here: whatever it does (an address that
     * fails to resolve at once, a kept-alive connection found broken) then calls back after
     * this returns, never into a caller still setting up. */
    uv_timer_start(&r->timer, on_start, 0, 0);
    return r;
oom:
    snprintf(err, err_len, "out of memory");
    if (r)
        request_free(r);
    return NULL;
}

void http_request_cancel(struct http_request *r)
{
    if (r->conn) {
        struct conn *c = r->conn;
        c->req = NULL, r->conn = NULL;
        conn_close(c);
    }
    finish(r, AC_ECANCELED, "cancelled");
}
