/* SPDX-License-Identifier: MIT */
/* mbedTLS reads from and writes to two memory buffers here (its bio callbacks), never to the
 * socket: the HTTP server owns the socket and its backpressure, and TLS stays a transform. */
#include "tls_server.h"

#include <errno.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/pk.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Ciphertext a session buffers: two records of the largest size TLS 1.2 allows. */
#define TLS_IN_MAX (2 * (16384 + 2048 + 5))

struct tls_creds {
    int refs;
    mbedtls_entropy_context entropy;
    mbedtls_ctr_drbg_context drbg;
    mbedtls_x509_crt chain;
    mbedtls_pk_context key;
    mbedtls_ssl_config conf;
};

struct tls_session {
    struct tls_creds *creds;
    mbedtls_ssl_context ssl;
    int established;
    char in[TLS_IN_MAX];
    size_t in_off, in_len;
    char *out;
    size_t out_len, out_cap;
};

/* Forward secrecy and authenticated encryption only. */
static const int modern_suites[] = {
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,       MBEDTLS_TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,       MBEDTLS_TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, MBEDTLS_TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
    0};

static const char *tls_strerror(int rc, char *buf, size_t len)
{
    mbedtls_strerror(rc, buf, len);
    return buf;
}

void tls_creds_unref(struct tls_creds *c)
{
    if (!c || --c->refs > 0)
        return;
    mbedtls_ssl_config_free(&c->conf);
    mbedtls_pk_free(&c->key);
    mbedtls_x509_crt_free(&c->chain);
    mbedtls_ctr_drbg_free(&c->drbg);
    mbedtls_entropy_free(&c->entropy);
    free(c);
}

struct tls_creds *tls_creds_load(const char *cert_file, const char *key_file, char *err, size_t err_len)
{
    char why[160];
    if (access(cert_file, R_OK) != 0) {
        snprintf(err, err_len, "cannot read TLS_CERT_FILE %s: %s", cert_file, strerror(errno));
        return NULL;
    }
    if (access(key_file, R_OK) != 0) {
        snprintf(err, err_len, "cannot read TLS_KEY_FILE %s: %s", key_file, strerror(errno));
        return NULL;
    }
    struct tls_creds *c = calloc(1, sizeof *c);
    if (!c) {
        snprintf(err, err_len, "out of memory");
        return NULL;
    }
    c->refs = 1;
    mbedtls_entropy_init(&c->entropy);
    mbedtls_ctr_drbg_init(&c->drbg);
    mbedtls_x509_crt_init(&c->chain);
    mbedtls_pk_init(&c->key);
    mbedtls_ssl_config_init(&c->conf);
    int rc = mbedtls_ctr_drbg_seed(&c->drbg, mbedtls_entropy_func, &c->entropy,
                                   (const unsigned char *)"agentcron-tls-server", 20);
    if (rc != 0) {
        snprintf(err, err_len, "cannot seed the TLS random generator: %s", tls_strerror(rc, why, sizeof why));
        goto fail;
    }
    if ((rc = mbedtls_x509_crt_parse_file(&c->chain, cert_file)) != 0) {
        snprintf(err, err_len, "TLS_CERT_FILE %s is not a PEM certificate chain (%s); put the server certificate first, "
                 "then its intermediates", cert_file, tls_strerror(rc, why, sizeof why));
        goto fail;
    }
    if ((rc = mbedtls_pk_parse_keyfile(&c->key, key_file, NULL)) != 0) {
        snprintf(err, err_len, "TLS_KEY_FILE %s is not an unencrypted PEM or DER private key (%s)", key_file,
                 tls_strerror(rc, why, sizeof why));
        goto fail;
    }
    if (mbedtls_pk_check_pair(&c->chain.pk, &c->key) != 0) {
        snprintf(err, err_len, "TLS_KEY_FILE %s is not the private key of the first certificate in TLS_CERT_FILE %s",
                 key_file, cert_file);
        goto fail;
    }
    rc = mbedtls_ssl_config_defaults(&c->conf, MBEDTLS_SSL_IS_SERVER, MBEDTLS_SSL_TRANSPORT_STREAM,
                                     MBEDTLS_SSL_PRESET_DEFAULT);
    if (rc == 0)
        rc = mbedtls_ssl_conf_own_cert(&c->conf, &c->chain, &c->key);
    if (rc != 0) {
        snprintf(err, err_len, "cannot configure TLS with %s: %s", cert_file, tls_strerror(rc, why, sizeof why));
        goto fail;
    }
    mbedtls_ssl_conf_min_version(&c->conf, MBEDTLS_SSL_MAJOR_VERSION_3, MBEDTLS_SSL_MINOR_VERSION_3);
    mbedtls_ssl_conf_ciphersuites(&c->conf, modern_suites);
    mbedtls_ssl_conf_rng(&c->conf, mbedtls_ctr_drbg_random, &c->drbg);
    return c;
fail:
    tls_creds_unref(c);
    return NULL;
}

void tls_creds_describe(const struct tls_creds *c, char *subject, size_t subject_len, int64_t *not_after_ms)
{
    if (mbedtls_x509_dn_gets(subject, subject_len, &c->chain.subject) < 0 && subject_len)
        subject[0] = 0;
    const mbedtls_x509_time *t = &c->chain.valid_to;
    struct tm tm = {.tm_year = t->year - 1900, .tm_mon = t->mon - 1, .tm_mday = t->day,
                    .tm_hour = t->hour, .tm_min = t->min, .tm_sec = t->sec};
    *not_after_ms = (int64_t)timegm(&tm) * 1000;
}

/* ---- sessions ---- */

static int bio_recv(void *ctx, unsigned char *buf, size_t len)
{
    struct tls_session *s = ctx;
    const size_t have = s->in_len - s->in_off;
    if (!have)
        return MBEDTLS_ERR_SSL_WANT_READ;
    const size_t n = len < have ? len : have;
    memcpy(buf, s->in + s->in_off, n);
    s->in_off += n;
    if (s->in_off == s->in_len)
        s->in_off = s->in_len = 0;
    return (int)n;
}

static int bio_send(void *ctx, const unsigned char *buf, size_t len)
{
    struct tls_session *s = ctx;
    if (s->out_len + len > s->out_cap) {
        size_t cap = s->out_cap ? s->out_cap : 4096;
        while (cap < s->out_len + len)
            cap *= 2;
        char *grown = realloc(s->out, cap);
        if (!grown)
            return MBEDTLS_ERR_SSL_ALLOC_FAILED;
        s->out = grown, s->out_cap = cap;
    }
    memcpy(s->out + s->out_len, buf, len);
    s->out_len += len;
    return (int)len;
}

struct tls_session *tls_session_new(struct tls_creds *creds)
{
    struct tls_session *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    mbedtls_ssl_init(&s->ssl);
    if (mbedtls_ssl_setup(&s->ssl, &creds->conf) != 0) {
        mbedtls_ssl_free(&s->ssl);
        free(s);
        return NULL;
    }
    mbedtls_ssl_set_bio(&s->ssl, s, bio_send, bio_recv, NULL);
    s->creds = creds;
    creds->refs++;
    return s;
}

void tls_session_free(struct tls_session *s)
{
    if (!s)
        return;
    mbedtls_ssl_free(&s->ssl);
    tls_creds_unref(s->creds);
    free(s->out);
    free(s);
}

char *tls_session_inbuf(struct tls_session *s, size_t *space)
{
    if (s->in_off) {
        memmove(s->in, s->in + s->in_off, s->in_len - s->in_off);
        s->in_len -= s->in_off, s->in_off = 0;
    }
    *space = sizeof s->in - s->in_len;
    return s->in + s->in_len;
}

void tls_session_received(struct tls_session *s, size_t n)
{
    s->in_len += n;
}

static int want_more(int rc)
{
    return rc == MBEDTLS_ERR_SSL_WANT_READ || rc == MBEDTLS_ERR_SSL_WANT_WRITE;
}

ssize_t tls_session_read(struct tls_session *s, char *out, size_t cap, char *err, size_t err_len)
{
    char why[160];
    if (!s->established) {
        const int rc = mbedtls_ssl_handshake(&s->ssl);
        if (want_more(rc))
            return 0;
        if (rc != 0) {
            snprintf(err, err_len, "TLS handshake failed: %s", tls_strerror(rc, why, sizeof why));
            return -1;
        }
        s->established = 1;
    }
    if (!cap)
        return 0;
    const int n = mbedtls_ssl_read(&s->ssl, (unsigned char *)out, cap);
    if (n > 0)
        return n;
    if (want_more(n))
        return 0;
    if (n == 0 || n == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY)
        snprintf(err, err_len, "the client closed the TLS session");
    else
        snprintf(err, err_len, "TLS error: %s", tls_strerror(n, why, sizeof why));
    return -1;
}

int tls_session_plain_http(const struct tls_session *s)
{
    /* a TLS connection starts with a handshake record (type 22); HTTP with a method's letter */
    return !s->established && s->in_len > s->in_off && s->in[s->in_off] >= 'A' && s->in[s->in_off] <= 'Z';
}

int tls_session_established(const struct tls_session *s)
{
    return s->established;
}

int tls_session_write(struct tls_session *s, const char *buf, size_t len)
{
    while (len) {
        const int n = mbedtls_ssl_write(&s->ssl, (const unsigned char *)buf, len);
        if (n <= 0)
            return -1; /* never "want write": the output buffer grows */
        buf += n, len -= (size_t)n;
    }
    return 0;
}

char *tls_session_take_output(struct tls_session *s, size_t *len)
{
    char *out = s->out;
    *len = s->out_len;
    if (!out || !s->out_len)
        return NULL;
    s->out = NULL, s->out_len = s->out_cap = 0;
    return out;
}
