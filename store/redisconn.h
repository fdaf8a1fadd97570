/* SPDX-License-Identifier: MIT */
/* Opening a Redis connection from REDIS_URL: redis://[[user]:password@]host[:port][,host[:port]...][/db],
 * rediss:// (the same over TLS, through redis_tls.h) or unix:///path/to/socket, with connect
 * and command timeouts, AUTH (an ACL user's when the URL names one) and SELECT. Several hosts
 * are tried in order until one answers.
 *
 * Redis Cluster is found, not configured: when the server answers CLUSTER KEYSLOT, the
 * connection is made to the master that serves the slot of the key it is opened for (every key
 * of one queue shares a hash tag, so one slot, so one node: docs/architecture.md). When the
 * cluster later says the slot is served elsewhere (MOVED after a failover or a resharding, ASK,
 * TRYAGAIN or CLUSTERDOWN during one), redisconn_redirected marks the connection broken, and the
 * reconnect every caller already does after a lost connection asks the cluster again. */
#ifndef AGENTCRON_REDISCONN_H
#define AGENTCRON_REDISCONN_H

#include <stddef.h>

struct redisContext;
struct redisReply;

/* The key whose slot a connection serves unless told otherwise: the default queue's. */
#define REDISCONN_HOME_KEY "agentcron:{default}:home"

/* Connects (blocking, up to timeout_ms; commands time out after the same) to the node serving
 * REDISCONN_HOME_KEY. Returns the context, or NULL with a one-line message in err that never
 * shows the password. Free with redisFree. */
struct redisContext *redisconn_open(const char *url, int timeout_ms, char *err, size_t errlen);

/* redisconn_open for the node that serves key's slot (a queue shard's: queue.h). */
struct redisContext *redisconn_open_for(const char *url, const char *key, int timeout_ms, char *err, size_t errlen);

/* Whether reply r is Redis Cluster saying that c's node no longer serves the slot (MOVED, ASK,
 * TRYAGAIN, CLUSTERDOWN). If so, c is marked broken (c->err, with the reason in c->errstr), as a
 * lost connection is: drop it, reconnect, retry. Nothing was done by the refused command.
 * Following ASK on the spot would let a queue script see a slot half moved, so a slot that is
 * migrating is waited out instead; the caller's retry lands once it has moved. */
int redisconn_redirected(struct redisContext *c, const struct redisReply *r);

/* Whether c cannot serve another command: it failed (c->err), or its server closed it, which an
 * idle connection shows by being readable with nothing asked (a poll, no round trip). A killed
 * node leaves one such connection in every process and thread that had one; each would
 * otherwise fail once, in turn, before it is replaced. */
int redisconn_broken(const struct redisContext *c);

/* redisCommand, then redisconn_redirected on its reply: for commands outside the queue's scripts
 * (queue.c checks its own replies). */
struct redisReply *redisconn_command(struct redisContext *c, const char *format, ...)
    __attribute__((format(printf, 2, 3)));

/* Takes REDIS_TLS_CA_FILE, REDIS_TLS_CERT_FILE and REDIS_TLS_KEY_FILE from cfg for rediss://
 * connections (redis_tls.h); every program calls it once after loading its configuration. */
struct config;
void redisconn_use_config(const struct config *cfg);

#endif
