/* SPDX-License-Identifier: MIT */
/* The orchestrator's retention passes (retention_job.h). */
#include "retention_job.h"

#include <libpq-fe.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "pgconn.h"
#include "retention.h"
#include "timefmt.h"

#define FIRST_PASS_MS 10000 /* after start: let the first passes of the scheduler go first */
#define RETRY_MS 60000      /* after a failed batch */

struct retention_job {
    uv_loop_t *loop;
    uv_timer_t timer;
    uv_work_t work;
    char *database_url;
    int days, interval_ms, busy, stopping;
    PGconn *pg;        /* the thread pool's, between batches too */
    int locked;        /* this connection holds the retention lock (for the pass in progress) */
    int rc;            /* of the last batch: 1 more, 0 done, -1 failed, 2 another orchestrator does it */
    char err[512];
    struct retention_pass pass;
    int64_t started_ms;
    void (*done)(void *data);
    void *done_data;
};

static void run_batch(uv_work_t *w)
{
    struct retention_job *j = w->data;
    j->err[0] = 0;
    if (!j->pg && !(j->pg = (PGconn *)pgconn_open(j->database_url, "agentcron-retention", j->err, sizeof j->err))) {
        j->rc = -1;
        return;
    }
    if (!j->locked) {
        const int got = retention_lock((struct pg_conn *)j->pg, j->err, sizeof j->err);
        if (got <= 0) {
            j->rc = got < 0 ? -1 : 2;
            return;
        }
        j->locked = 1;
    }
    j->rc = retention_step((struct pg_conn *)j->pg, j->days, &j->pass, j->err, sizeof j->err);
    if (j->rc <= 0) { /* the pass ends (or stops): let another orchestrator have the next */
        retention_unlock((struct pg_conn *)j->pg);
        j->locked = 0;
    }
    if (j->rc < 0 || PQstatus(j->pg) != CONNECTION_OK) {
        PQfinish(j->pg); /* a new one next time */
        j->pg = NULL, j->locked = 0;
    }
}

static void on_timer(uv_timer_t *t);

static void finish(struct retention_job *j)
{
    PQfinish(j->pg);
    j->pg = NULL;
    void (*done)(void *) = j->done;
    void *data = j->done_data;
    free(j->database_url);
    free(j);
    if (done)
        done(data);
}

static void on_closed(uv_handle_t *h)
{
    finish(h->data);
}

static void after_batch(uv_work_t *w, int status)
{
    struct retention_job *j = w->data;
    (void)status;
    j->busy = 0;
    if (j->stopping) {
        uv_close((uv_handle_t *)&j->timer, on_closed);
        return;
    }
    if (j->rc == 1) { /* more: the next batch at once, from the loop */
        uv_timer_start(&j->timer, on_timer, 0, 0);
        return;
    }
    if (j->rc == 0)
        LOG(j->pass.removed.runs || j->pass.removed.gaps ? LOG_INFO : LOG_DEBUG, "retention.pass",
            LOG_I("runs", j->pass.removed.runs), LOG_I("attempts", j->pass.removed.attempts),
            LOG_I("slot_rows", j->pass.removed.gaps), LOG_I("batches", j->pass.steps),
            LOG_I("ms", timefmt_now_ms() - j->started_ms), LOG_I("retention_days", j->days));
    else if (j->rc < 0)
        LOG(LOG_ERROR, "retention.failed", LOG_S("error", j->err), LOG_I("runs_removed", j->pass.removed.runs),
            LOG_S("action", "tried again in a minute"));
    memset(&j->pass, 0, sizeof j->pass);
    uv_timer_start(&j->timer, on_timer, j->rc < 0 ? RETRY_MS : (uint64_t)j->interval_ms, 0);
}

static void on_timer(uv_timer_t *t)
{
    struct retention_job *j = t->data;
    if (j->busy || j->stopping)
        return;
    if (!j->pass.steps)
        j->started_ms = timefmt_now_ms();
    j->busy = 1;
    j->work.data = j;
    if (uv_queue_work(j->loop, &j->work, run_batch, after_batch) != 0) {
        j->busy = 0;
        uv_timer_start(&j->timer, on_timer, RETRY_MS, 0);
    }
}

struct retention_job *retention_job_start(uv_loop_t *loop, const char *database_url, int days, int interval_s)
{
    struct retention_job *j = calloc(1, sizeof *j);
    if (!j || !(j->database_url = strdup(database_url))) {
        free(j);
        return NULL;
    }
    j->loop = loop, j->days = days, j->interval_ms = interval_s * 1000;
    uv_timer_init(loop, &j->timer);
    j->timer.data = j;
    uv_timer_start(&j->timer, on_timer, j->interval_ms < FIRST_PASS_MS ? (uint64_t)j->interval_ms : FIRST_PASS_MS, 0);
    return j;
}

void retention_job_stop(struct retention_job *j, void (*done)(void *data), void *data)
{
    j->stopping = 1, j->done = done, j->done_data = data;
    uv_timer_stop(&j->timer);
    if (!j->busy) /* else after_batch closes it */
        uv_close((uv_handle_t *)&j->timer, on_closed);
}
