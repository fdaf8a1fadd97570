/* SPDX-License-Identifier: MIT */
/* An HTTP/1.1 client on a libuv loop: DNS through uv_getaddrinfo, non-blocking sockets driven
 * by uv_poll, TLS with mbedTLS (certificates verified against the system CA bundle or a named
 * CA file, SNI and host name checks on), responses parsed by llhttp. Every address a name
 * resolves to is tried in turn. Connections are kept
 * alive and reused per origin; every request has a connect timeout and a total deadline, a
 * response size cap, and follows redirects only when asked to.
 *
 * Loop-thread only. The callback contract: if http_client_request returns NULL its callback
 * never fires; otherwise it fires exactly once (on cancel and on http_client_free too), and
 * never before http_client_request has returned. */
#ifndef AGENTCRON_HTTP_CLIENT_H
#define AGENTCRON_HTTP_CLIENT_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "errors.h"

/* A response's error is HTTP_OK or one of errors.h: AC_EINVAL, bad URL or options;
 * AC_ECONNECT, DNS, connect or TLS handshake failed; AC_EIO, the connection broke or the
 * response is malformed; AC_ETIMEDOUT, the connect timeout or the total deadline passed;
 * AC_ETOOBIG, the response exceeded max_response_bytes; AC_ECANCELED, http_request_cancel or
 * http_client_free; AC_ETLS, the certificate was not trusted or did not match the host. */
#define HTTP_OK 0

struct http_client;
struct http_request;

struct http_request_opts {
    const char *method;          /* "GET" or "POST" */
    const char *url;             /* http:// or https:// */
    const char *const *headers;  /* NULL-terminated "Name: value" lines, or NULL */
    const char *body;            /* may be NULL */
    size_t body_len;
    const char *ca_file;         /* NULL: the system bundle */
    int insecure_skip_verify;    /* tests only: no certificate checks */
    int follow_redirects;        /* up to 5, keeping the method except after 303 */
    int64_t connect_timeout_ms;  /* default 10 s */
    int64_t read_timeout_ms;     /* the longest silence once connected; 0: only the deadline */
    int64_t timeout_ms;          /* total deadline, default 30 s */
    size_t max_response_bytes;   /* body cap, default 1 MiB */
};

struct http_response {
    int error;              /* HTTP_OK or an AC_E* code */
    char message[256];      /* what went wrong, when error != HTTP_OK */
    int status;             /* HTTP status when error == HTTP_OK */
    const char *body;       /* NUL-terminated; valid only during the callback */
    size_t body_len;
    int64_t retry_after_ms; /* from Retry-After (seconds or an HTTP date), -1 if absent */
    int reused_connection;  /* whether it went over a kept-alive connection */
};

typedef void (*http_done_cb)(const struct http_response *res, void *data);

/* A client with its connection pool. NULL with *err on failure (no entropy, out of memory). */
struct http_client *http_client_new(uv_loop_t *loop, char *err, size_t err_len);

/* Cancels every request in flight (their callbacks fire with AC_ECANCELED), closes every
 * connection and frees the client once its handles have closed (run the loop to finish). */
void http_client_free(struct http_client *c);

/* Starts a request; the options are copied. NULL with *err when they are invalid (nothing
 * started, cb never fires). */
struct http_request *http_client_request(struct http_client *c, const struct http_request_opts *opts, http_done_cb cb,
                                         void *data, char *err, size_t err_len);

/* Stops a request: its connection is closed and cb fires with AC_ECANCELED (at once). A
 * request whose callback has fired must not be cancelled. */
void http_request_cancel(struct http_request *r);

#endif
