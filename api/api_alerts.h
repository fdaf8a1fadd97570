/* SPDX-License-Identifier: MIT */
/* The alert rules' routes (docs/api.md): GET and POST /api/alerts, GET and DELETE
 * /api/alerts/{id}, POST /api/alerts/{id}/test. An operator's key manages every rule; a user's
 * key makes and sees only its own, which watch only that user's tasks and credits and send only
 * to https:// URLs or email. Blocking: called on the API's lanes. */
#ifndef AGENTCRON_API_ALERTS_H
#define AGENTCRON_API_ALERTS_H

#include "response.h"

struct config;
struct connpair;
struct http_req;
struct principal;

/* Serves req when its path is one of these routes: 1 (answered in *out), or 0. */
int api_alerts_serve(struct connpair *c, const struct principal *p, const struct http_req *req,
                     const struct config *cfg, struct api_response *out);

#endif
