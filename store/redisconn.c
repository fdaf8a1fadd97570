/* SPDX-License-Identifier: MIT */
/* Redis connections (see redisconn.h). */
#include "redisconn.h"

#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

struct redisContext *redisconn_open(const char *url, int timeout_ms, char *err, size_t errlen)
{
    char shown[1024];
    config_redact_url(url, shown, sizeof shown);
    char host[256] = "127.0.0.1", password[512] = "";
    int port = 6379, db = 0;
    const struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    redisContext *c;
    if (!strncmp(url, "unix://", 7)) {
        c = redisConnectUnixWithTimeout(url + 7, tv);
    } else {
        const char *rest = !strncmp(url, "redis://", 8) ? url + 8 : NULL;
        if (!rest) {
            snprintf(err, errlen, "REDIS_URL %s must start with redis:// or unix:// (rediss:// is not supported yet)", shown);
            return NULL;
        }
        const char *at = strchr(rest, '@');
        if (at) {
            const char *colon = memchr(rest, ':', (size_t)(at - rest));
            const char *pw = colon ? colon + 1 : rest;
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
        c = redisConnectWithTimeout(host, port, tv);
    }
    if (!c || c->err) {
        snprintf(err, errlen, "cannot connect to REDIS_URL %s: %s", shown, c ? c->errstr : "out of memory");
        redisFree(c);
        return NULL;
    }
    redisSetTimeout(c, tv);
    redisReply *r = NULL;
    if (password[0])
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
