/* SPDX-License-Identifier: MIT */
/* TLS to Redis (REDIS_URL=rediss://...) with hiredis 0.14, which speaks only plain TCP and unix
 * sockets: a relay in the process. hiredis connects to a unix socket in a private directory
 * (mode 0700, removed at exit); a thread per connection opens TCP to the server, does the TLS
 * handshake with mbedTLS (TLS 1.2+, the server's certificate checked against REDIS_TLS_CA_FILE
 * or the system bundle, and against the host's name (with SNI) or, for a host given as an IP
 * address, that address; a client certificate when REDIS_TLS_CERT_FILE and REDIS_TLS_KEY_FILE
 * are set), and relays bytes both ways until either side closes. The bytes between hiredis and
 * the relay never leave the process's own socket pair. */
#ifndef AGENTCRON_REDIS_TLS_H
#define AGENTCRON_REDIS_TLS_H

#include <stddef.h>

/* The files of REDIS_TLS_CA_FILE, REDIS_TLS_CERT_FILE, REDIS_TLS_KEY_FILE ("" for none); the
 * daemons and the CLI set them once, after loading their configuration. */
void redis_tls_files(const char *ca_file, const char *cert_file, const char *key_file);

/* Relays a process keeps at once, one per Redis server: a cluster's masters and the replicas
 * that take over from them. */
#define REDIS_TLS_MAX_RELAYS 64

/* The unix socket that relays to host:port over TLS (started on first use, one per host and
 * port, up to REDIS_TLS_MAX_RELAYS; past that, the relay least recently asked for that has no
 * connection open is closed to make room), after a first handshake that
 * proves the server and its certificate: 0 with the path in out, or -1 with the reason in err
 * (connection refused, the certificate not trusted or not for host, a file that cannot be
 * read). Thread-safe. */
int redis_tls_relay(const char *host, int port, int timeout_ms, char *out, size_t out_len, char *err, size_t len);

#endif
