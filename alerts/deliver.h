/* SPDX-License-Identifier: MIT */
/* Sending alerts (docs/alerts.md) through their rule's channel:
 *  - webhook: POST of the alert as JSON, signed like the http agent's calls
 *    (X-Agentcron-Signature with ALERT_SIGNING_KEY), Idempotency-Key alert-<delivery id>;
 *  - slack: POST {"text"} to a Slack-compatible incoming webhook: a readable line with the
 *    task, the run, the error and a link to the run's dashboard page;
 *  - email: a plain-text message handed to the local MTA through the sendmail interface
 *    (SENDMAIL_PATH -t -i), which queues, relays and retries it.
 * A delivery that fails is tried again with backoff (10 s, 30 s, 90 s, ... up to an hour
 * apart) and given up after ALERT_MAX_ATTEMPTS. Every request is bounded (10 s for HTTP, 30 s
 * for sendmail). Blocking: the orchestrator runs this on a thread of its own. */
#ifndef AGENTCRON_ALERT_DELIVER_H
#define AGENTCRON_ALERT_DELIVER_H

#include <stddef.h>
#include <stdint.h>

struct http_sync;
struct pg_conn;

#define ALERT_MAX_ATTEMPTS 10

struct alert_channels {
    struct http_sync *http;    /* for webhook and slack */
    const char *signing_key;   /* ALERT_SIGNING_KEY, "" unset: webhook deliveries fail saying so */
    const char *email_from;    /* ALERT_EMAIL_FROM */
    const char *sendmail_path; /* SENDMAIL_PATH */
    const char *ca_file;       /* NULL: the system's CA bundle */
};

/* Sends one alert (payload: the JSON alert_deliveries holds) to target through channel. 0 when
 * the receiver took it, -1 with the reason in err. */
int alert_send(const struct alert_channels *ch, const char *channel, const char *target, int64_t delivery_id,
               const char *payload, char *err, size_t len);

struct alert_delivery_pass {
    int sent, retrying, given_up;
};

/* Sends up to max deliveries that are due, claiming them first (another orchestrator skips
 * them; one whose sender died is claimed again two minutes later), and records each result.
 * 0, or -1 with *err when Postgres failed. */
int alerts_deliver_due(struct pg_conn *pg, const struct alert_channels *ch, int max, struct alert_delivery_pass *out,
                       char *err, size_t len);

/* `agentcron alerts test`: records a test delivery of rule id (within scope: 0 all, else that
 * user's) with a sample alert and sends it now. 0 sent, 1 no such rule, -1 failed (err says
 * why; the delivery is recorded as failed, not retried). */
int alerts_send_test(struct pg_conn *pg, const struct alert_channels *ch, int64_t rule_id, int64_t scope,
                     const char *public_url, int64_t *delivery_id, char *err, size_t len);

#endif
