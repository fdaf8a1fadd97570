/* SPDX-License-Identifier: MIT */
/* The step API an http agent's app calls back while it runs (docs/steps.md), authenticated by
 * the run token its request carried (`Authorization: Bearer act1...`), not by an API key:
 *
 *   POST /api/runs/{id}/steps                  {"step", "output", "usage"}: a completed step
 *   POST /api/runs/{id}/steps/{step}/reserve   {"credits", "atLeast"}: credits before a step
 *
 * Blocking (Postgres, Redis): called on the API's lanes. */
#ifndef AGENTCRON_API_STEPS_H
#define AGENTCRON_API_STEPS_H

#include "response.h"

struct agent_set;
struct connpair;
struct http_req;

/* Whether req is one of the routes above (then it is answered in *out, whatever its method). */
int api_steps_owns(const struct http_req *req);

void api_steps_serve(struct connpair *c, const struct agent_set *agents, const struct http_req *req,
                     struct api_response *out);

#endif
