/* SPDX-License-Identifier: MIT */
/* The orchestrator's retention (core/retention.h) on its libuv loop: a pass soon after start
 * and then every interval, one batch at a time on the thread pool with a connection of its
 * own, so that it never holds a thread (or a lock) the scheduler waits for. Of several
 * orchestrators, the one holding the retention lock does it. Loop thread only. */
#ifndef AGENTCRON_RETENTION_JOB_H
#define AGENTCRON_RETENTION_JOB_H

#include <uv.h>

struct retention_job;

/* Starts the passes (days: RUN_RETENTION_DAYS). NULL without memory. */
struct retention_job *retention_job_start(uv_loop_t *loop, const char *database_url, int days, int interval_s);

/* Stops: the batch in progress finishes, then done(data) is called and the job is freed. */
void retention_job_stop(struct retention_job *j, void (*done)(void *data), void *data);

#endif
