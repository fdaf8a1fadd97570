/* SPDX-License-Identifier: MIT */
/* The orchestrator's HTTP surface (docs/api.md): GET /healthz, GET /readyz, GET|POST
 * /check-scheduled-tasks (also /api/cron/check-scheduled-tasks) behind `Authorization: Bearer
 * $CRON_SECRET`, compared in constant time, with failed attempts limited per client address,
 * and the task API (api_tasks.h). Work that needs Postgres or Redis runs on libuv's thread pool
 * with the API's own connections. Loop-thread only. */
#ifndef AGENTCRON_HTTP_API_H
#define AGENTCRON_HTTP_API_H

#include <stdint.h>
#include <uv.h>

struct config;
struct agent_set;
struct api;

/* Asks the orchestrator for a scheduling pass now; it calls api_tick_done when it ends. */
typedef void (*api_tick_fn)(void *data);

/* Starts the HTTP server on cfg->http_listen, HTTPS when cfg names a certificate and key; the
 * task API checks agentType against agents (the caller's, loaded and checked at start; it must
 * outlive the API). NULL with *err (bad address, port in use, a certificate that cannot be
 * used). */
struct api *api_start(uv_loop_t *loop, const struct config *cfg, const struct agent_set *agents, api_tick_fn tick,
                      void *tick_data, char *err, size_t err_len);

/* A scheduling pass ended: answers the POSTs waiting for it (enqueued runs, or the error). */
void api_tick_done(struct api *a, int ok, int64_t enqueued, const char *error);

/* Stops the server; on_stopped fires when every connection and job is done. */
void api_stop(struct api *a, void (*on_stopped)(void *data), void *data);

/* SIGHUP: reads the certificate and key again (http_server_reload_tls). */
int api_reload_tls(struct api *a, char *err, size_t err_len);

/* SIGHUP: the task API checks agentType against agents from now on (the caller keeps them, and
 * any set swapped out, alive until the API has stopped). Loop-thread only. */
void api_reload_agents(struct api *a, const struct agent_set *agents);

/* Whether the surface speaks HTTPS. */
int api_is_tls(const struct api *a);

/* The port listened on. */
int api_port(const struct api *a);

/* Whether two secrets are equal, in time that depends on neither (both are hashed first, so
 * not even their lengths show). */
int api_secret_equal(const char *a, const char *b);

#endif
