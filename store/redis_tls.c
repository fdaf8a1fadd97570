/* SPDX-License-Identifier: MIT */
/* The TLS relay to Redis (see redis_tls.h). */
#include "redis_tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define SYSTEM_CA_BUNDLE "/etc/ssl/certs/ca-certificates.crt"

struct relay {
    char host[256];
    unsigned char ip[16]; /* host's address when host is one (as Redis Cluster names its nodes) */
    size_t ip_len;        /* 4, 16, or 0 for a host name */
    int port, timeout_ms, listen_fd;
    char path[108];
    int connections; /* relayed connections open (under count_lock) */
    int closing;     /* evicted: its accept loop frees it (under count_lock) */
    uint64_t used;   /* when it was last asked for, a count of lookups (under lock) */
    mbedtls_ssl_config conf;
    mbedtls_x509_crt ca, cert;
    mbedtls_pk_context key;
    mbedtls_entropy_context entropy;
    mbedtls_ctr_drbg_context drbg;
};

/* lock: the table, held while a relay is made (its first handshake may take its timeout);
 * count_lock: the relays' connection counts, taken as connections come and go, and after lock
 * when both are. */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER, count_lock = PTHREAD_MUTEX_INITIALIZER;
/* When all are taken, one without connections is closed to make room (the nodes of a managed
 * cluster change addresses over its failovers). */
static struct relay *relays[REDIS_TLS_MAX_RELAYS];
static uint64_t lookups;   /* the clock of relay.used */
static unsigned sockets;   /* relays made: each listens on a path never used before */
static char dir[64];
static char ca_path[1024], cert_path[1024], key_path[1024];

void redis_tls_files(const char *ca_file, const char *cert_file, const char *key_file)
{
    pthread_mutex_lock(&lock);
    snprintf(ca_path, sizeof ca_path, "%s", ca_file ? ca_file : "");
    snprintf(cert_path, sizeof cert_path, "%s", cert_file ? cert_file : "");
    snprintf(key_path, sizeof key_path, "%s", key_file ? key_file : "");
    pthread_mutex_unlock(&lock);
}

static const char *tls_error(int rc, char *buf, size_t len)
{
    mbedtls_strerror(rc, buf, len);
    return buf;
}

/* For a server named by its IP address (REDIS_URL, or a cluster's redirect): the certificate
 * must carry that address among its subject alternative names. mbedTLS 2.28 checks names only
 * against DNS entries, so the check of the name is this, not mbedtls_ssl_set_hostname (and no
 * SNI: RFC 6066 leaves addresses out of it). */
static int verify_ip(void *arg, mbedtls_x509_crt *crt, int depth, uint32_t *flags)
{
    const struct relay *r = arg;
    if (depth != 0)
        return 0;
    for (const mbedtls_x509_sequence *san = &crt->subject_alt_names; san && san->buf.p; san = san->next)
        if (san->buf.tag == (MBEDTLS_ASN1_CONTEXT_SPECIFIC | MBEDTLS_X509_SAN_IP_ADDRESS) &&
            san->buf.len == r->ip_len && !memcmp(san->buf.p, r->ip, r->ip_len))
            return 0;
    *flags |= MBEDTLS_X509_BADCERT_CN_MISMATCH;
    return 0;
}

/* TCP to the server and the TLS handshake, within timeout_ms. 0, or -1 with err. */
static int open_tls(struct relay *r, mbedtls_net_context *net, mbedtls_ssl_context *ssl, char *err, size_t len)
{
    char port[8], why[160];
    snprintf(port, sizeof port, "%d", r->port);
    mbedtls_net_init(net);
    mbedtls_ssl_init(ssl);
    int rc = mbedtls_net_connect(net, r->host, port, MBEDTLS_NET_PROTO_TCP);
    if (rc) {
        snprintf(err, len, "cannot connect to %s:%d: %s", r->host, r->port, tls_error(rc, why, sizeof why));
        return -1;
    }
    /* Requests go out as soon as written, as hiredis's own TCP does: with Nagle's algorithm a
     * request larger than a segment waited for the server's delayed acknowledgement (enqueueing
     * 1,000 jobs in one call took 100 ms over TLS against 13 ms in the clear). */
    const int one = 1;
    setsockopt(net->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if ((rc = mbedtls_ssl_setup(ssl, &r->conf)) || (!r->ip_len && (rc = mbedtls_ssl_set_hostname(ssl, r->host)))) {
        snprintf(err, len, "TLS setup failed: %s", tls_error(rc, why, sizeof why));
        return -1;
    }
    if (r->ip_len)
        mbedtls_ssl_set_verify(ssl, verify_ip, r);
    mbedtls_ssl_set_bio(ssl, net, mbedtls_net_send, NULL, mbedtls_net_recv_timeout);
    while ((rc = mbedtls_ssl_handshake(ssl)) != 0) {
        if (rc == MBEDTLS_ERR_SSL_WANT_READ || rc == MBEDTLS_ERR_SSL_WANT_WRITE)
            continue;
        const uint32_t flags = mbedtls_ssl_get_verify_result(ssl);
        if ((flags & MBEDTLS_X509_BADCERT_CN_MISMATCH) && r->ip_len)
            snprintf(err, len,
                     "the TLS certificate of Redis at %s:%d does not list the address %s among its names: add it to"
                     " the certificate (IP:%s), or use a host name it was issued for",
                     r->host, r->port, r->host, r->host);
        else if (flags & MBEDTLS_X509_BADCERT_CN_MISMATCH)
            snprintf(err, len,
                     "the TLS certificate of Redis at %s:%d is for another host name: use the name it was issued for"
                     " in REDIS_URL",
                     r->host, r->port);
        else if (flags && flags != (uint32_t)-1) {
            char info[256];
            mbedtls_x509_crt_verify_info(info, sizeof info, "", flags);
            info[strcspn(info, "\n")] = 0;
            snprintf(err, len,
                     "the TLS certificate of Redis at %s:%d is not trusted (%s): set REDIS_TLS_CA_FILE to the CA that"
                     " signed it",
                     r->host, r->port, info);
        } else
            snprintf(err, len, "TLS handshake with Redis at %s:%d failed: %s%s", r->host, r->port,
                     tls_error(rc, why, sizeof why),
                     cert_path[0] ? "" : " (if the server wants a client certificate (tls-auth-clients), set"
                                         " REDIS_TLS_CERT_FILE and REDIS_TLS_KEY_FILE)");
        return -1;
    }
    return 0;
}

/* Copies both ways until either side closes. */
static void *relay_connection(void *arg)
{
    void **a = arg;
    struct relay *r = a[0];
    const int client = (int)(intptr_t)a[1];
    free(arg);
    mbedtls_net_context net;
    mbedtls_ssl_context ssl;
    char err[512];
    if (open_tls(r, &net, &ssl, err, sizeof err) == 0) {
        unsigned char buf[16384];
        for (;;) {
            struct pollfd p[2] = {{.fd = client, .events = POLLIN}, {.fd = net.fd, .events = POLLIN}};
            if (!mbedtls_ssl_get_bytes_avail(&ssl) && poll(p, 2, -1) < 0 && errno != EINTR)
                break;
            if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
                const ssize_t n = read(client, buf, sizeof buf);
                if (n <= 0)
                    break;
                ssize_t off = 0;
                int rc = 0;
                while (off < n && (rc = mbedtls_ssl_write(&ssl, buf + off, (size_t)(n - off))) > 0)
                    off += rc;
                if (off < n)
                    break;
            }
            if ((p[1].revents & (POLLIN | POLLHUP | POLLERR)) || mbedtls_ssl_get_bytes_avail(&ssl)) {
                const int n = mbedtls_ssl_read(&ssl, buf, sizeof buf);
                if (n == MBEDTLS_ERR_SSL_WANT_READ || n == MBEDTLS_ERR_SSL_WANT_WRITE)
                    continue;
                if (n <= 0)
                    break;
                ssize_t off = 0, w;
                while (off < n && (w = write(client, buf + off, (size_t)(n - off))) > 0)
                    off += w;
                if (off < n)
                    break;
            }
        }
        mbedtls_ssl_close_notify(&ssl);
    }
    mbedtls_ssl_free(&ssl);
    mbedtls_net_free(&net);
    close(client);
    pthread_mutex_lock(&count_lock);
    r->connections--; /* r may be freed from here on */
    pthread_mutex_unlock(&count_lock);
    return NULL;
}

static void relay_free(struct relay *r)
{
    if (r->listen_fd >= 0)
        close(r->listen_fd);
    mbedtls_ssl_config_free(&r->conf);
    mbedtls_x509_crt_free(&r->ca);
    mbedtls_x509_crt_free(&r->cert);
    mbedtls_pk_free(&r->key);
    mbedtls_ctr_drbg_free(&r->drbg);
    mbedtls_entropy_free(&r->entropy);
    free(r);
}

/* Accepts hiredis's connections to r's socket, a thread each, until r is evicted; then frees
 * r (no connection of it is open: only a relay without any is evicted, and none is counted
 * after). */
static void *accept_loop(void *arg)
{
    struct relay *r = arg;
    for (;;) {
        const int c = accept(r->listen_fd, NULL, NULL);
        const int e = errno;
        pthread_mutex_lock(&count_lock);
        const int closing = r->closing;
        r->connections += c >= 0 && !closing;
        pthread_mutex_unlock(&count_lock);
        if (closing) {
            if (c >= 0)
                close(c);
            break;
        }
        if (c < 0) {
            /* out of descriptors or memory, say: wait and go on, for a relay that stops accepting
             * hangs every later connection to it */
            if (e != EINTR && e != ECONNABORTED)
                usleep(100 * 1000);
            continue;
        }
        void **a = malloc(2 * sizeof *a);
        pthread_t t;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        if (!a || (a[0] = r, a[1] = (void *)(intptr_t)c, pthread_create(&t, &attr, relay_connection, a) != 0)) {
            free(a);
            close(c);
            pthread_mutex_lock(&count_lock);
            r->connections--;
            pthread_mutex_unlock(&count_lock);
        }
        pthread_attr_destroy(&attr);
    }
    relay_free(r);
    return NULL;
}

/* Makes room in a full table: closes the least recently asked-for relay that has no connection
 * open (under lock). Its socket goes at once, so a caller that was handed its path before fails
 * to connect and asks again; paths are not reused. The slot, or -1 if every relay is in use. */
static int evict_idle(void)
{
    int victim = -1;
    pthread_mutex_lock(&count_lock);
    for (int i = 0; i < REDIS_TLS_MAX_RELAYS; i++)
        if (relays[i] && !relays[i]->connections && (victim < 0 || relays[i]->used < relays[victim]->used))
            victim = i;
    if (victim >= 0) {
        struct relay *r = relays[victim];
        relays[victim] = NULL;
        r->closing = 1;
        unlink(r->path);
        shutdown(r->listen_fd, SHUT_RDWR); /* wakes its accept loop, which frees it */
    }
    pthread_mutex_unlock(&count_lock);
    return victim;
}

static void remove_dir(void)
{
    for (int i = 0; i < REDIS_TLS_MAX_RELAYS; i++)
        if (relays[i])
            unlink(relays[i]->path);
    if (dir[0])
        rmdir(dir);
}

/* A relay's TLS configuration from the files set. 0, or -1 with err. */
static int configure(struct relay *r, char *err, size_t len)
{
    char why[160];
    mbedtls_ssl_config_init(&r->conf);
    mbedtls_x509_crt_init(&r->ca);
    mbedtls_x509_crt_init(&r->cert);
    mbedtls_pk_init(&r->key);
    mbedtls_entropy_init(&r->entropy);
    mbedtls_ctr_drbg_init(&r->drbg);
    const char *bundle = ca_path[0] ? ca_path : SYSTEM_CA_BUNDLE;
    int rc = mbedtls_x509_crt_parse_file(&r->ca, bundle);
    if (rc < 0) {
        snprintf(err, len, "REDIS_TLS_CA_FILE: cannot load CA certificates from %s: %s", bundle,
                 tls_error(rc, why, sizeof why));
        return -1;
    }
    if (!cert_path[0] != !key_path[0]) {
        snprintf(err, len, "REDIS_TLS_CERT_FILE and REDIS_TLS_KEY_FILE go together: set both or neither");
        return -1;
    }
    if (cert_path[0] && (rc = mbedtls_x509_crt_parse_file(&r->cert, cert_path)) != 0) {
        snprintf(err, len, "REDIS_TLS_CERT_FILE %s: %s", cert_path, tls_error(rc, why, sizeof why));
        return -1;
    }
    if (mbedtls_ctr_drbg_seed(&r->drbg, mbedtls_entropy_func, &r->entropy, (const unsigned char *)"agentcron-redis", 15)) {
        snprintf(err, len, "cannot seed the TLS random generator");
        return -1;
    }
    if (key_path[0] && (rc = mbedtls_pk_parse_keyfile(&r->key, key_path, NULL)) != 0) {
        snprintf(err, len, "REDIS_TLS_KEY_FILE %s: %s", key_path, tls_error(rc, why, sizeof why));
        return -1;
    }
    if ((rc = mbedtls_ssl_config_defaults(&r->conf, MBEDTLS_SSL_IS_CLIENT, MBEDTLS_SSL_TRANSPORT_STREAM,
                                          MBEDTLS_SSL_PRESET_DEFAULT)) != 0) {
        snprintf(err, len, "TLS configuration failed: %s", tls_error(rc, why, sizeof why));
        return -1;
    }
    mbedtls_ssl_conf_min_version(&r->conf, MBEDTLS_SSL_MAJOR_VERSION_3, MBEDTLS_SSL_MINOR_VERSION_3); /* TLS 1.2+ */
    mbedtls_ssl_conf_authmode(&r->conf, MBEDTLS_SSL_VERIFY_REQUIRED);
    mbedtls_ssl_conf_ca_chain(&r->conf, &r->ca, NULL);
    mbedtls_ssl_conf_rng(&r->conf, mbedtls_ctr_drbg_random, &r->drbg);
    /* a server silent this long within a handshake or a record; between records, poll waits */
    mbedtls_ssl_conf_read_timeout(&r->conf, (uint32_t)r->timeout_ms);
    if (cert_path[0] && (rc = mbedtls_ssl_conf_own_cert(&r->conf, &r->cert, &r->key)) != 0) {
        snprintf(err, len, "REDIS_TLS_CERT_FILE and REDIS_TLS_KEY_FILE do not match: %s", tls_error(rc, why, sizeof why));
        return -1;
    }
    return 0;
}

int redis_tls_relay(const char *host, int port, int timeout_ms, char *out, size_t out_len, char *err, size_t len)
{
    pthread_mutex_lock(&lock);
    int rc = -1, slot = -1;
    for (int i = 0; i < REDIS_TLS_MAX_RELAYS; i++) {
        if (relays[i] && !strcmp(relays[i]->host, host) && relays[i]->port == port) {
            relays[i]->used = ++lookups;
            snprintf(out, out_len, "%s", relays[i]->path);
            pthread_mutex_unlock(&lock);
            return 0;
        }
        if (!relays[i] && slot < 0)
            slot = i;
    }
    if (slot < 0)
        slot = evict_idle();
    struct relay *r = slot < 0 ? NULL : calloc(1, sizeof *r);
    if (!r) {
        if (slot < 0)
            snprintf(err, len,
                     "cannot reach Redis at %s:%d over TLS: this process has connections open to %d other Redis"
                     " servers, its most; close some or restart it",
                     host, port, REDIS_TLS_MAX_RELAYS);
        else
            snprintf(err, len, "out of memory");
        goto done;
    }
    snprintf(r->host, sizeof r->host, "%s", host);
    r->ip_len = inet_pton(AF_INET, host, r->ip) == 1 ? 4 : inet_pton(AF_INET6, host, r->ip) == 1 ? 16 : 0;
    r->port = port, r->timeout_ms = timeout_ms > 0 ? timeout_ms : 10000, r->listen_fd = -1;
    if (configure(r, err, len) != 0)
        goto fail;
    mbedtls_net_context net; /* prove the server and its certificate now, with a clear error */
    mbedtls_ssl_context ssl;
    const int ok = open_tls(r, &net, &ssl, err, len) == 0;
    if (ok)
        mbedtls_ssl_close_notify(&ssl);
    mbedtls_ssl_free(&ssl);
    mbedtls_net_free(&net);
    if (!ok)
        goto fail;
    if (!dir[0]) {
        const char *tmp = getenv("TMPDIR");
        snprintf(dir, sizeof dir, "%.40s/agentcron-redis-XXXXXX", tmp && tmp[0] && strlen(tmp) < 40 ? tmp : "/tmp");
        if (!mkdtemp(dir)) { /* 0700: only this user may connect */
            snprintf(err, len, "cannot make a directory for the Redis TLS relay (%s): %s", dir, strerror(errno));
            dir[0] = 0;
            goto fail;
        }
        atexit(remove_dir);
    }
    snprintf(r->path, sizeof r->path, "%s/%u.sock", dir, sockets++);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", r->path);
    if ((r->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
        bind(r->listen_fd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(r->listen_fd, 64) != 0) {
        snprintf(err, len, "cannot listen on %s for the Redis TLS relay: %s", r->path, strerror(errno));
        goto fail;
    }
    pthread_t t;
    if (pthread_create(&t, NULL, accept_loop, r) != 0) {
        snprintf(err, len, "cannot start the Redis TLS relay");
        goto fail;
    }
    pthread_detach(t);
    r->used = ++lookups;
    relays[slot] = r;
    snprintf(out, out_len, "%s", r->path);
    rc = 0;
    goto done;
fail:
    if (r->listen_fd >= 0)
        unlink(r->path);
    relay_free(r);
done:
    pthread_mutex_unlock(&lock);
    return rc;
}
