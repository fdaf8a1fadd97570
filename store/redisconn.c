/* SPDX-License-Identifier: MIT */
/* Redis connections (see redisconn.h). */
#include "redisconn.h"

#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "redis_tls.h"

struct redisContext *redisconn_open(const char *url, int timeout_ms, char *err, size_t errlen)
{
    char shown[1024];
    config_redact_url(url, shown, sizeof shown);
    char host[256] = "127.0.0.1", user[256] = "", password[512] = "";
    int port = 6379, db = 0;
    const struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    redisContext *c;
    if (!strncmp(url, "unix://", 7)) {
        c = redisConnectUnixWithTimeout(url + 7, tv);
    } else {
        const int tls = !strncmp(url, "rediss://", 9);
        const char *rest = tls ? url + 9 : !strncmp(url, "redis://", 8) ? url + 8 : NULL;
        if (!rest) {
            snprintf(err, errlen, "REDIS_URL %s must start with redis://, rediss:// (TLS) or unix://", shown);
            return NULL;
        }
        const char *at = strchr(rest, '@');
        if (at) { /* [user]:password or password: an ACL user's AUTH, or the default user's */
            const char *colon = memchr(rest, ':', (size_t)(at - rest));
            const char *pw = colon ? colon + 1 : rest;
            if (colon && colon > rest)
                snprintf(user, sizeof user, "%.*s", (int)(colon - rest), rest);
            snprintf(password, sizeof password, "%.*s", (int)(at - pw), pw);
            rest = at + 1;
        }
        const size_t hostlen = strcspn(rest, ":/");
        if (hostlen)
            snprintf(host, sizeof host, "%.*s", (int)hostlen, rest);
        rest += hostlen;
        if (*rest == ':')
            port = (int)strtol(rest + 1, (char **)&rest, 10);
        if (*rest == '/')
            db = (int)strtol(rest + 1, NULL, 10);
        if (port < 1 || port > 65535 || db < 0) {
            snprintf(err, errlen, "REDIS_URL %s has a bad port or database number", shown);
            return NULL;
        }
        if (tls) {
            char path[108], why[512];
            if (redis_tls_relay(host, port, timeout_ms, path, sizeof path, why, sizeof why) != 0) {
                snprintf(err, errlen, "cannot connect to REDIS_URL %s over TLS: %s", shown, why);
                return NULL;
            }
            c = redisConnectUnixWithTimeout(path, tv);
        } else
            c = redisConnectWithTimeout(host, port, tv);
    }
    if (!c || c->err) {
        snprintf(err, errlen, "cannot connect to REDIS_URL %s: %s", shown, c ? c->errstr : "out of memory");
        redisFree(c);
        return NULL;
    }
    redisSetTimeout(c, tv);
    redisReply *r = NULL;
    if (password[0] && user[0])
        r = redisCommand(c, "AUTH %s %s", user, password);
    else if (password[0])
        r = redisCommand(c, "AUTH %s", password);
    if (!r || r->type != REDIS_REPLY_ERROR) {
        freeReplyObject(r);
        r = db ? redisCommand(c, "SELECT %d", db) : NULL;
    }
    if (r && r->type == REDIS_REPLY_ERROR) {
        snprintf(err, errlen, "REDIS_URL %s: %s", shown, r->str);
        freeReplyObject(r);
        redisFree(c);
        return NULL;
    }
    freeReplyObject(r);
    return c;
}

void redisconn_use_config(const struct config *cfg)
{
    redis_tls_files(cfg->redis_tls_ca_file, cfg->redis_tls_cert_file, cfg->redis_tls_key_file);
}
