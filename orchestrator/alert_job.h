/* SPDX-License-Identifier: MIT */
/* The orchestrator's alerts (docs/alerts.md): every ALERT_INTERVAL_S, evaluate the rules
 * (alerts/evaluate.h) and send the deliveries that are due (alerts/deliver.h). It runs on a
 * thread of its own with its own Postgres and Redis connections: a channel that hangs for its
 * full timeout delays only other alerts, never a scheduling pass, an API request or a run.
 * Loop thread only (start and stop). */
#ifndef AGENTCRON_ALERT_JOB_H
#define AGENTCRON_ALERT_JOB_H

#include <uv.h>

struct alert_job;
struct config;

/* Starts the thread. public_url: the dashboard's address for the links in alerts. NULL with a
 * log line when it cannot start. cfg must outlive the job. */
struct alert_job *alert_job_start(uv_loop_t *loop, const struct config *cfg, const char *public_url);

/* Stops it: what it is sending finishes (its timeout at most), then done(data) runs on the loop
 * and the job is freed. */
void alert_job_stop(struct alert_job *j, void (*done)(void *data), void *data);

#endif
