/* SPDX-License-Identifier: MIT */
/* Server-side TLS (mbedTLS) over memory buffers, so a libuv stream can carry it: the caller
 * moves ciphertext between the socket and a session, and reads and writes plaintext. TLS 1.2
 * (the newest mbedTLS 2.28 offers) with ECDHE and AEAD suites only. Credentials are shared by
 * reference: a reload makes new credentials for new connections while open ones keep theirs.
 * Loop-thread only. */
#ifndef AGENTCRON_TLS_SERVER_H
#define AGENTCRON_TLS_SERVER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct tls_creds;
struct tls_session;

/* Loads a PEM certificate chain and its private key, checks that they belong together, and
 * makes a server configuration of them. NULL with *err naming the file and what to do. */
struct tls_creds *tls_creds_load(const char *cert_file, const char *key_file, char *err, size_t err_len);

/* Drops a reference; the last one (the loader's or a session's) frees the credentials. */
void tls_creds_unref(struct tls_creds *creds);

/* The leaf certificate's subject and the end of its validity (Unix ms), for logs. */
void tls_creds_describe(const struct tls_creds *creds, char *subject, size_t subject_len, int64_t *not_after_ms);

/* A session for one connection, holding a reference to creds. NULL when out of memory. */
struct tls_session *tls_session_new(struct tls_creds *creds);
void tls_session_free(struct tls_session *s);

/* Where ciphertext read from the socket goes: *space bytes free at the returned pointer (0 when
 * the session holds all it will buffer; read again after tls_session_read). */
char *tls_session_inbuf(struct tls_session *s, size_t *space);

/* n bytes were written at tls_session_inbuf. */
void tls_session_received(struct tls_session *s, size_t n);

/* Advances the handshake, then decrypts into out (at most cap bytes). Returns the plaintext
 * bytes (0: nothing yet, read more from the socket), or -1 with *err when the peer broke the
 * protocol or closed the session: close the connection. Output the handshake produced is
 * waiting in tls_session_take_output. */
ssize_t tls_session_read(struct tls_session *s, char *out, size_t cap, char *err, size_t err_len);

/* Whether the client began with plain HTTP instead of a TLS handshake. */
int tls_session_plain_http(const struct tls_session *s);

/* Whether the handshake has completed. */
int tls_session_established(const struct tls_session *s);

/* Encrypts plaintext into the pending output. -1 on an error (close the connection). */
int tls_session_write(struct tls_session *s, const char *buf, size_t len);

/* Hands over the ciphertext waiting to be sent (the caller frees it); NULL when none. */
char *tls_session_take_output(struct tls_session *s, size_t *len);

#endif
