/* SPDX-License-Identifier: MIT */
/* agentcron-worker: runs due runs from the Redis queue with the operator's agents and records
 * them in Postgres (docs/architecture.md). Any number may run, on any number of machines. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>
#include <uv.h>

#include "agents.h"
#include "exec_child.h"
#include "config.h"
#include "log.h"
#include "migrate.h"
#include "redisconn.h"
#include "shards.h"
#include "traces.h"
#include "worker.h"

static const char usage_text[] =
    "usage: agentcron-worker [--env-file FILE] [--instance NAME] [--concurrency N]\n"
    "\n"
    "Runs queued runs with the agents of AGENTS_FILE, AGENT_WORKER_CONCURRENCY at a time (or N).\n"
    "Settings come from the environment, then FILE (default " CONFIG_DEFAULT_ENV_FILE " if present);\n"
    "see deploy/agentcron.env.example. SIGTERM or SIGINT: stop taking runs, let running ones finish\n"
    "for SHUTDOWN_GRACE_S, return the rest to the queue, exit 0. SIGHUP: read AGENTS_FILE and the env\n"
    "file's secrets again (a broken one is logged and the old kept).\n";

struct daemon {
    uv_loop_t *loop;
    uv_signal_t sigterm, sigint, sighup;
    const char *env_file;
    struct agents_generation *reloaded; /* the newest reload, linked to the older ones */
    uv_timer_t watchdog;
    struct worker_pool *pool;
};

static void on_stopped(void *data)
{
    struct daemon *d = data;
    uv_close((uv_handle_t *)&d->sigterm, NULL);
    uv_close((uv_handle_t *)&d->sigint, NULL);
    uv_close((uv_handle_t *)&d->sighup, NULL);
    uv_close((uv_handle_t *)&d->watchdog, NULL);
}

static void on_signal(uv_signal_t *s, int signum)
{
    struct daemon *d = s->data;
    sd_notify(0, "STOPPING=1");
    LOG(LOG_INFO, "worker.signal", LOG_S("signal", signum == SIGTERM ? "SIGTERM" : "SIGINT"));
    if (d->pool)
        worker_pool_stop(d->pool, on_stopped, d);
    d->pool = NULL;
}

/* SIGHUP: the agents and their secrets anew, without losing or re-running a run. */
static void on_sighup(uv_signal_t *s, int signum)
{
    struct daemon *d = s->data;
    (void)signum;
    if (!d->pool) /* stopping */
        return;
    struct agents_error err;
    struct agents_generation *g = agents_reload(d->env_file, 1, d->reloaded, &err);
    if (!g) {
        LOG(LOG_ERROR, "agents.reload_failed", LOG_S("reason", err.message),
            LOG_S("action", "kept the agents in force; fix the file and send SIGHUP again"));
        return;
    }
    d->reloaded = g;
    worker_pool_reload(d->pool, &g->set, g->cfg);
    LOG(LOG_INFO, "agents.reloaded", LOG_S("file", g->cfg->agents_file), LOG_I("agents", (int64_t)g->set.count));
}

static void on_watchdog(uv_timer_t *t)
{
    (void)t;
    sd_notify(0, "WATCHDOG=1");
}

int main(int argc, char **argv)
{
    const int child = exec_child_main(argc, argv); /* an exec run's command, starting */
    if (child >= 0)
        return child;
    const char *env_file = NULL, *instance = NULL;
    int concurrency = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--env-file") && i + 1 < argc)
            env_file = argv[++i];
        else if (!strcmp(argv[i], "--instance") && i + 1 < argc)
            instance = argv[++i];
        else if (!strcmp(argv[i], "--concurrency") && i + 1 < argc) {
            char *end;
            const long v = strtol(argv[++i], &end, 10);
            if (*end || v < 1 || v > 1024)
                return fprintf(stderr, "agentcron-worker: --concurrency \"%s\" must be 1-1024\n", argv[i]), 2;
            concurrency = (int)v;
        } else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
            return fputs(usage_text, stdout), 0;
        else if (!strcmp(argv[i], "--version"))
            return printf("agentcron-worker %s\n", AGENTCRON_VERSION), 0;
        else
            return fprintf(stderr, "agentcron-worker: unknown or incomplete option \"%s\"; see --help\n", argv[i]), 2;
    }
    static struct config cfg;
    struct config_error cerr;
    static const char *const required[] = {"DATABASE_URL", "REDIS_URL", NULL};
    if (config_load(&cfg, env_file, &cerr) != 0 || config_require(&cfg, required, &cerr) != 0) {
        fprintf(stderr, "agentcron-worker: %s\n", cerr.message);
        return CONFIG_EXIT_STATUS;
    }
    log_setup(cfg.log_format == LOG_FORMAT_JSON, cfg.log_level);
    redisconn_use_config(&cfg);
    shards_use_config(&cfg);
    char terr[512];
    if (tracer_check_config(&cfg, terr, sizeof terr) != 0) {
        fprintf(stderr, "agentcron-worker: %s\n", terr);
        return CONFIG_EXIT_STATUS;
    }
    static struct agent_set agents;
    struct agents_error aerr;
    if (agents_load(&agents, cfg.agents_file, &aerr) != 0 || agents_check_secrets(&agents, &cfg, 1, &aerr) != 0) {
        LOG(LOG_ERROR, "worker.cannot_start", LOG_S("reason", aerr.message));
        return CONFIG_EXIT_STATUS;
    }
    struct migrate_error merr;
    if (migrate_require_current(cfg.database_url, "agentcron-worker", &merr) != 0) {
        LOG(LOG_ERROR, "worker.cannot_start", LOG_S("reason", merr.message));
        return 1;
    }
    char name[160], host[64] = "host";
    gethostname(host, sizeof host - 1);
    if (instance)
        snprintf(name, sizeof name, "%s", instance);
    else
        snprintf(name, sizeof name, "%s:%d", host, (int)getpid());
    setenv("UV_THREADPOOL_SIZE", "8", 0); /* five lanes, DNS and headroom; before the pool starts */
    static struct daemon d;
    d.loop = uv_default_loop();
    char err[512];
    d.pool = worker_pool_start(d.loop, &cfg, &agents, name, concurrency ? concurrency : cfg.worker_concurrency, err,
                               sizeof err);
    if (!d.pool) {
        LOG(LOG_ERROR, "worker.cannot_start", LOG_S("reason", err));
        return 1;
    }
    uv_signal_init(d.loop, &d.sigterm), d.sigterm.data = &d;
    uv_signal_init(d.loop, &d.sigint), d.sigint.data = &d;
    uv_signal_start(&d.sigterm, on_signal, SIGTERM);
    uv_signal_start(&d.sigint, on_signal, SIGINT);
    d.env_file = env_file;
    uv_signal_init(d.loop, &d.sighup), d.sighup.data = &d;
    uv_signal_start(&d.sighup, on_sighup, SIGHUP);
    uv_timer_init(d.loop, &d.watchdog);
    uint64_t usec = 0;
    if (sd_watchdog_enabled(0, &usec) > 0)
        uv_timer_start(&d.watchdog, on_watchdog, usec / 2000, usec / 2000);
    sd_notify(0, "READY=1");
    uv_run(d.loop, UV_RUN_DEFAULT);
    const int closed = uv_loop_close(d.loop);
    agents_free(&agents);
    agents_generations_free(d.reloaded);
    LOG(LOG_INFO, "worker.exit", LOG_S("instance", name), LOG_I("loop_closed", closed == 0));
    return 0;
}
