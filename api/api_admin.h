/* SPDX-License-Identifier: MIT */
/* The API's routes for the whole system and for accounts (docs/api.md): the overview, the dead
 * set and its requeue, users and their credits, API keys. An operator sees and manages all of
 * them; a user sees the overview of their own runs, themselves, and their own keys (health,
 * the queue and granting credits are an operator's). Blocking: called on the API's lanes. */
#ifndef AGENTCRON_API_ADMIN_H
#define AGENTCRON_API_ADMIN_H

#include <pthread.h>
#include <stdint.h>

#include "response.h"

struct connpair;
struct http_req;
struct principal;

/* The operator's overview (every user's runs, and the system's health) costs Postgres tens of
 * milliseconds at 10 million runs; every open operator dashboard asks for it every 2 s. So the
 * lanes share one answer for OVERVIEW_CACHE_MS: 20 dashboards cost one query in 5 s, not 50.
 * A user's overview reads only that user's runs and is not shared. */
#define OVERVIEW_CACHE_MS 5000
struct overview_cache {
    pthread_mutex_t lock;
    char *text;    /* the last answer (JSON), or NULL */
    int64_t at_ms; /* when it was made */
};

void overview_cache_init(struct overview_cache *c);
void overview_cache_free(struct overview_cache *c);

/* Serves req when its path is one of these routes: 1 (answered in *out), or 0. */
int api_admin_serve(struct connpair *c, const struct principal *p, const struct http_req *req,
                    struct overview_cache *cache, struct api_response *out);

#endif
