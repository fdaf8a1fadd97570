/* SPDX-License-Identifier: MIT */
/* X-Agentcron-Signature, the header a receiver checks to know a request came from agentcron
 * (http agents' calls and webhook alerts): t=<unix seconds>,v1=<hex HMAC-SHA256(key,
 * "<t>.<body>")> (docs/agents.md shows how to verify it). */
#ifndef AGENTCRON_SIGNATURE_H
#define AGENTCRON_SIGNATURE_H

/* The hex HMAC-SHA256 of "<stamp>.<body>" under key. */
void signature_hmac_hex(const char *key, const char *stamp, const char *body, char hex[65]);

#endif
