/* SPDX-License-Identifier: MIT */
/* The orchestrator's alert thread (see alert_job.h). */
#include "alert_job.h"

#include <hiredis/hiredis.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "deliver.h"
#include "evaluate.h"
#include "http_sync.h"
#include "log.h"
#include "pgconn.h"
#include "redisconn.h"
#include "timefmt.h"

#define DELIVERIES_PER_PASS 20
#define PRUNE_INTERVAL_MS 3600000 /* resolved incidents older than RUN_RETENTION_DAYS go this often */
#define REDIS_TIMEOUT_MS 2000

struct alert_job {
    uv_loop_t *loop;
    const struct config *cfg;
    char public_url[1100];
    uv_thread_t thread;
    uv_mutex_t lock;
    uv_cond_t wake;
    int stopping;          /* under lock */
    uv_work_t joiner;      /* joins the thread off the loop thread */
    void (*done)(void *data);
    void *done_data;
};

/* Waits up to ms or until stopped. 1 if stopping. */
static int pause_ms(struct alert_job *j, int64_t ms)
{
    uv_mutex_lock(&j->lock);
    if (!j->stopping && ms > 0)
        uv_cond_timedwait(&j->wake, &j->lock, (uint64_t)ms * 1000000u);
    const int stop = j->stopping;
    uv_mutex_unlock(&j->lock);
    return stop;
}

static void run(void *arg)
{
    struct alert_job *j = arg;
    const struct config *cfg = j->cfg;
    char err[768];
    PGconn *pg = NULL;
    redisContext *redis = NULL;
    struct http_sync *http = http_sync_new(err, sizeof err);
    if (!http) {
        LOG(LOG_ERROR, "alerts.failed", LOG_S("error", err), LOG_S("action", "alerts are off until a restart"));
        return;
    }
    const struct alert_channels ch = {.http = http, .signing_key = cfg->alert_signing_key,
                                      .email_from = cfg->alert_email_from, .sendmail_path = cfg->sendmail_path};
    int64_t failing_since = 0, pruned_at = 0;
    while (!pause_ms(j, failing_since ? 5000 : (int64_t)cfg->alert_interval_s * 1000)) {
        if (!pg && !(pg = (PGconn *)pgconn_open(cfg->database_url, "agentcron-alerts", err, sizeof err)))
            goto failed;
        if (!redis || redis->err) { /* conditions on the reports need it; the rest go on without */
            if (redis)
                redisFree(redis);
            redis = redisconn_open(cfg->redis_url, REDIS_TIMEOUT_MS, err, sizeof err);
        }
        if (timefmt_now_ms() - pruned_at >= PRUNE_INTERVAL_MS) {
            long long removed;
            if (alerts_prune((struct pg_conn *)pg, cfg->run_retention_days, &removed, err, sizeof err) != 0)
                goto failed;
            pruned_at = timefmt_now_ms();
            if (removed)
                LOG(LOG_INFO, "alerts.pruned", LOG_I("removed", removed), LOG_I("retention_days", cfg->run_retention_days));
        }
        struct alert_pass pass;
        if (alerts_evaluate((struct pg_conn *)pg, redis, j->public_url, &pass, err, sizeof err) != 0)
            goto failed;
        if (pass.opened || pass.repeated || pass.resolved)
            LOG(LOG_INFO, "alerts.evaluated", LOG_I("rules", pass.rules), LOG_I("opened", pass.opened),
                LOG_I("repeated", pass.repeated), LOG_I("resolved", pass.resolved));
        struct alert_delivery_pass sent;
        do {
            if (alerts_deliver_due((struct pg_conn *)pg, &ch, DELIVERIES_PER_PASS, &sent, err, sizeof err) != 0)
                goto failed;
        } while (sent.sent + sent.retrying + sent.given_up == DELIVERIES_PER_PASS && !pause_ms(j, 0));
        if (failing_since)
            LOG(LOG_INFO, "alerts.recovered", LOG_I("failed_for_ms", timefmt_now_ms() - failing_since));
        failing_since = 0;
        continue;
    failed:
        if (!failing_since) {
            failing_since = timefmt_now_ms();
            LOG(LOG_ERROR, "alerts.failed", LOG_S("error", err), LOG_S("action", "tried again every 5 s"));
        }
        if (pg && PQstatus(pg) != CONNECTION_OK) {
            PQfinish(pg);
            pg = NULL;
        }
    }
    PQfinish(pg);
    if (redis)
        redisFree(redis);
    http_sync_free(http);
}

struct alert_job *alert_job_start(uv_loop_t *loop, const struct config *cfg, const char *public_url)
{
    struct alert_job *j = calloc(1, sizeof *j);
    if (!j)
        return NULL;
    j->loop = loop, j->cfg = cfg;
    snprintf(j->public_url, sizeof j->public_url, "%s", public_url);
    uv_mutex_init(&j->lock);
    uv_cond_init(&j->wake);
    if (uv_thread_create(&j->thread, run, j) != 0) {
        LOG(LOG_ERROR, "alerts.failed", LOG_S("error", "cannot start the alert thread"));
        uv_cond_destroy(&j->wake);
        uv_mutex_destroy(&j->lock);
        free(j);
        return NULL;
    }
    return j;
}

static void join(uv_work_t *w)
{
    struct alert_job *j = w->data;
    uv_thread_join(&j->thread);
}

static void joined(uv_work_t *w, int status)
{
    struct alert_job *j = w->data;
    (void)status;
    void (*done)(void *) = j->done;
    void *data = j->done_data;
    uv_cond_destroy(&j->wake);
    uv_mutex_destroy(&j->lock);
    free(j);
    if (done)
        done(data);
}

void alert_job_stop(struct alert_job *j, void (*done)(void *data), void *data)
{
    j->done = done, j->done_data = data;
    uv_mutex_lock(&j->lock);
    j->stopping = 1;
    uv_cond_signal(&j->wake);
    uv_mutex_unlock(&j->lock);
    j->joiner.data = j;
    if (uv_queue_work(j->loop, &j->joiner, join, joined) != 0) {
        uv_thread_join(&j->thread);
        joined(&j->joiner, 0);
    }
}
