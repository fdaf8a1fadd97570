/* SPDX-License-Identifier: MIT */
/* The API's routes for the whole system and for accounts (docs/api.md): the overview, the dead
 * set and its requeue, users and their credits, API keys. An operator sees and manages all of
 * them; a user sees the overview of their own runs, themselves, and their own keys (health,
 * the queue and granting credits are an operator's). Blocking: called on the API's lanes. */
#ifndef AGENTCRON_API_ADMIN_H
#define AGENTCRON_API_ADMIN_H

#include "response.h"

struct connpair;
struct http_req;
struct principal;

/* Serves req when its path is one of these routes: 1 (answered in *out), or 0. */
int api_admin_serve(struct connpair *c, const struct principal *p, const struct http_req *req,
                    struct api_response *out);

#endif
