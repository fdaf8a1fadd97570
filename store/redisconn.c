/* SPDX-License-Identifier: MIT */
/* Redis connections (see redisconn.h). */
#include "redisconn.h"

#include <hiredis/hiredis.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "redis_tls.h"

#define MAX_HOSTS 8

/* REDIS_URL, taken apart. */
struct redis_url {
    int tls;
    const char *unix_path; /* unix://: the rest of the URL */
    struct {
        char name[256];
        int port;
    } hosts[MAX_HOSTS];
    int nhosts;
    char user[256], password[512];
    int db;
};

static int parse_url(const char *url, const char *shown, struct redis_url *u, char *err, size_t errlen)
{
    memset(u, 0, sizeof *u);
    if (!strncmp(url, "unix://", 7)) {
        u->unix_path = url + 7;
        return 0;
    }
    u->tls = !strncmp(url, "rediss://", 9);
    const char *rest = u->tls ? url + 9 : !strncmp(url, "redis://", 8) ? url + 8 : NULL;
    if (!rest) {
        snprintf(err, errlen, "REDIS_URL %s must start with redis://, rediss:// (TLS) or unix://", shown);
        return -1;
    }
    const char *at = strchr(rest, '@');
    if (at) { /* [user]:password or password: an ACL user's AUTH, or the default user's */
        const char *colon = memchr(rest, ':', (size_t)(at - rest));
        const char *pw = colon ? colon + 1 : rest;
        if (colon && colon > rest)
            snprintf(u->user, sizeof u->user, "%.*s", (int)(colon - rest), rest);
        snprintf(u->password, sizeof u->password, "%.*s", (int)(at - pw), pw);
        rest = at + 1;
    }
    do { /* host[:port], comma-separated */
        if (u->nhosts == MAX_HOSTS) {
            snprintf(err, errlen, "REDIS_URL %s names more than %d hosts", shown, MAX_HOSTS);
            return -1;
        }
        const size_t hostlen = strcspn(rest, ":/,");
        snprintf(u->hosts[u->nhosts].name, sizeof u->hosts[0].name, "%.*s", (int)(hostlen ? hostlen : 9),
                 hostlen ? rest : "127.0.0.1");
        rest += hostlen;
        int port = 6379;
        if (*rest == ':')
            port = (int)strtol(rest + 1, (char **)&rest, 10);
        if (port < 1 || port > 65535 || (*rest && *rest != '/' && *rest != ',')) {
            snprintf(err, errlen, "REDIS_URL %s has a bad port", shown);
            return -1;
        }
        u->hosts[u->nhosts++].port = port;
    } while (*rest == ',' && *++rest);
    if (*rest == '/')
        u->db = (int)strtol(rest + 1, NULL, 10);
    if (u->db < 0) {
        snprintf(err, errlen, "REDIS_URL %s has a bad database number", shown);
        return -1;
    }
    return 0;
}

/* Connects to one node and authenticates: the context, or NULL with the reason in why. */
static redisContext *connect_node(const struct redis_url *u, const char *host, int port, int timeout_ms,
                                  char *why, size_t len)
{
    const struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    redisContext *c;
    if (u->unix_path && !host)
        c = redisConnectUnixWithTimeout(u->unix_path, tv);
    else if (u->tls) {
        char path[108];
        if (redis_tls_relay(host, port, timeout_ms, path, sizeof path, why, len) != 0)
            return NULL;
        c = redisConnectUnixWithTimeout(path, tv);
    } else
        c = redisConnectWithTimeout(host, port, tv);
    if (!c || c->err) {
        snprintf(why, len, "%s", c ? c->errstr : "out of memory");
        redisFree(c);
        return NULL;
    }
    redisSetTimeout(c, tv);
    redisReply *r = NULL;
    if (u->password[0] && u->user[0])
        r = redisCommand(c, "AUTH %s %s", u->user, u->password);
    else if (u->password[0])
        r = redisCommand(c, "AUTH %s", u->password);
    if (u->password[0] && (!r || r->type == REDIS_REPLY_ERROR)) {
        snprintf(why, len, "%s", r ? r->str : c->errstr);
        freeReplyObject(r);
        redisFree(c);
        return NULL;
    }
    freeReplyObject(r);
    return c;
}

/* In Redis Cluster, where slot is served: 1 with the master's address and node id, 0 when no
 * node serves it, -1 when c could not say. */
static int slot_master(redisContext *c, long long slot, char host[256], int *port, char id[64])
{
    redisReply *r = redisCommand(c, "CLUSTER SLOTS");
    int found = r && r->type == REDIS_REPLY_ARRAY ? 0 : -1;
    for (size_t i = 0; found == 0 && i < r->elements; i++) {
        const redisReply *e = r->element[i];
        if (e->type != REDIS_REPLY_ARRAY || e->elements < 3 || slot < e->element[0]->integer ||
            slot > e->element[1]->integer)
            continue;
        const redisReply *m = e->element[2];
        if (m->type != REDIS_REPLY_ARRAY || m->elements < 3 || m->element[0]->type != REDIS_REPLY_STRING)
            break;
        /* an empty or "?" address means "the one you asked": keep host */
        if (m->element[0]->len && strcmp(m->element[0]->str, "?"))
            snprintf(host, 256, "%s", m->element[0]->str);
        *port = (int)m->element[1]->integer;
        snprintf(id, 64, "%s", m->element[2]->type == REDIS_REPLY_STRING ? m->element[2]->str : "");
        found = 1;
    }
    freeReplyObject(r);
    return found;
}

struct redisContext *redisconn_open_for(const char *url, const char *key, int timeout_ms, char *err, size_t errlen)
{
    char shown[1024], why[512] = "no host";
    config_redact_url(url, shown, sizeof shown);
    struct redis_url u;
    if (parse_url(url, shown, &u, err, errlen) != 0)
        return NULL;
    redisContext *c = NULL;
    int seed = 0;
    if (u.unix_path)
        c = connect_node(&u, NULL, 0, timeout_ms, why, sizeof why);
    for (; !c && seed < u.nhosts; seed++)
        c = connect_node(&u, u.hosts[seed].name, u.hosts[seed].port, timeout_ms, why, sizeof why);
    if (!c) {
        snprintf(err, errlen, "cannot connect to REDIS_URL %s: %s", shown, why);
        return NULL;
    }
    /* A server without cluster support (or one that will not say) is a plain Redis. */
    redisReply *r = redisCommand(c, "CLUSTER KEYSLOT %s", key);
    const long long slot = r && r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
    freeReplyObject(r);
    if (slot < 0) {
        r = u.db ? redisCommand(c, "SELECT %d", u.db) : NULL;
        if (r && r->type == REDIS_REPLY_ERROR) {
            snprintf(err, errlen, "REDIS_URL %s: %s", shown, r->str);
            freeReplyObject(r);
            redisFree(c);
            return NULL;
        }
        freeReplyObject(r);
        return c;
    }
    if (u.db) {
        snprintf(err, errlen, "REDIS_URL %s names database %d, but Redis Cluster has only database 0: drop \"/%d\"",
                 shown, u.db, u.db);
        redisFree(c);
        return NULL;
    }
    char host[256], id[64];
    int port = 0;
    snprintf(host, sizeof host, "%s", u.unix_path ? "127.0.0.1" : u.hosts[seed - 1].name);
    const int found = slot_master(c, slot, host, &port, id);
    if (found == 0)
        snprintf(err, errlen,
                 "Redis Cluster at REDIS_URL %s: no node serves slot %lld (of %s); is every slot assigned "
                 "(redis-cli --cluster check)?", shown, slot, key);
    else if (found < 0)
        snprintf(err, errlen, "Redis Cluster at REDIS_URL %s: CLUSTER SLOTS failed: %s", shown,
                 c->errstr[0] ? c->errstr : "unexpected reply");
    if (found <= 0) {
        redisFree(c);
        return NULL;
    }
    r = redisCommand(c, "CLUSTER MYID");
    const int here = r && r->type == REDIS_REPLY_STRING && !strcmp(r->str, id);
    freeReplyObject(r);
    if (here)
        return c;
    redisFree(c);
    if (!(c = connect_node(&u, host, port, timeout_ms, why, sizeof why)))
        snprintf(err, errlen, "cannot connect to REDIS_URL %s: Redis Cluster serves slot %lld (of %s) at %s:%d: %s",
                 shown, slot, key, host, port, why);
    return c;
}

struct redisContext *redisconn_open(const char *url, int timeout_ms, char *err, size_t errlen)
{
    return redisconn_open_for(url, REDISCONN_HOME_KEY, timeout_ms, err, errlen);
}

int redisconn_redirected(struct redisContext *c, const struct redisReply *r)
{
    static const char *const refusals[] = {"MOVED ", "ASK ", "TRYAGAIN", "CLUSTERDOWN"};
    if (!r || r->type != REDIS_REPLY_ERROR)
        return 0;
    for (size_t i = 0; i < sizeof refusals / sizeof *refusals; i++)
        if (!strncmp(r->str, refusals[i], strlen(refusals[i]))) {
            c->err = REDIS_ERR_OTHER;
            snprintf(c->errstr, sizeof c->errstr, "Redis Cluster: %.80s (reconnecting)", r->str);
            return 1;
        }
    return 0;
}

struct redisReply *redisconn_command(struct redisContext *c, const char *format, ...)
{
    va_list ap;
    va_start(ap, format);
    redisReply *r = redisvCommand(c, format, ap);
    va_end(ap);
    redisconn_redirected(c, r);
    return r;
}

void redisconn_use_config(const struct config *cfg)
{
    redis_tls_files(cfg->redis_tls_ca_file, cfg->redis_tls_cert_file, cfg->redis_tls_key_file);
}

int redisconn_broken(const struct redisContext *c)
{
    if (c->err)
        return 1;
    struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
    return poll(&pfd, 1, 0) != 0; /* readable (closed, or unasked data), or the fd is bad */
}
