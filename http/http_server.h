/* SPDX-License-Identifier: MIT */
/* An HTTP/1.1 server on a libuv loop, plain or over TLS: keep-alive, pipelining (one request
 * at a time per connection, in order), bounded everything (head 16 KiB, body 1 MiB,
 * connections), and timeouts so slow or stuck clients cannot pin it (the whole request, TLS
 * handshake included, must arrive within HTTP_REQUEST_TIMEOUT_MS; an idle kept-alive connection
 * closes after HTTP_IDLE_TIMEOUT_MS). One access-log line per request. Loop-thread only. */
#ifndef AGENTCRON_HTTP_SERVER_H
#define AGENTCRON_HTTP_SERVER_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "http_parse.h"

#define HTTP_REQUEST_TIMEOUT_MS 10000
#define HTTP_IDLE_TIMEOUT_MS 30000

struct http_server;
struct http_conn;

/* Called once per request; answer it with http_respond, now or later (the connection and the
 * request stay valid until then, even if the client hangs up). */
typedef void (*http_handler)(struct http_conn *conn, const struct http_req *req, void *data);

/* Listens on "host:port" ("[::1]:8080" for IPv6). With cert_file and key_file (PEM; both
 * or neither, "" or NULL for neither) it speaks HTTPS only (tls_server.h). NULL with *err (a
 * bad address, the port in use, an unreadable or mismatched certificate) on failure. */
struct http_server *http_server_start(uv_loop_t *loop, const char *listen, int max_connections, const char *cert_file,
                                      const char *key_file, http_handler handler, void *data, char *err,
                                      size_t err_len);

/* Reads the certificate and key files again (after a renewal): new connections get them,
 * open ones keep what they have. 0 on success; -1 with *err, the old ones kept; 1 when the
 * server is plain HTTP. */
int http_server_reload_tls(struct http_server *s, char *err, size_t err_len);

/* Whether the server speaks HTTPS. */
int http_server_is_tls(const struct http_server *s);

/* Stops accepting, closes idle connections, lets requests in progress answer, then closes
 * everything; on_closed fires once all handles are closed (the server is freed after it). */
void http_server_stop(struct http_server *s, void (*on_closed)(void *data), void *data);

/* Sends the response to the connection's current request. extra_headers: "Name: value\r\n"
 * lines or NULL. The body is copied. */
void http_respond(struct http_conn *conn, int status, const char *content_type, const char *extra_headers,
                  const char *body, size_t body_len);

/* Responds {"error": message, "field": field} (field may be NULL). */
void http_respond_error(struct http_conn *conn, int status, const char *field, const char *message,
                        const char *extra_headers);

/* Whether the client has closed its side (or the connection failed) since it sent the request
 * being handled: a handler that waits long may stop waiting. */
int http_conn_gone(const struct http_conn *conn);

/* The client's address ("127.0.0.1", "::1"), for logs and per-client limits. */
const char *http_conn_peer(const struct http_conn *conn);

/* The port actually listened on (useful with port 0). */
int http_server_port(const struct http_server *s);

/* Requests answered since start, by route (the path with numbers as {id}) and status. */
struct http_count {
    char route[64];
    int status;
    uint64_t count;
};
#define HTTP_COUNTS_MAX 128
/* Copies up to HTTP_COUNTS_MAX counts into out; returns how many. */
int http_server_counts(const struct http_server *s, struct http_count *out);

/* The reason phrase of a status code. */
const char *http_status_text(int status);

#endif
