/* SPDX-License-Identifier: MIT */
/* agentcron's configuration (docs/configuration.md): environment variables and an optional
 * env file in systemd's EnvironmentFile= format, parsed once into an immutable struct. */
#ifndef AGENTCRON_CONFIG_H
#define AGENTCRON_CONFIG_H

#include <stddef.h>

/* A daemon's exit status when its configuration is wrong: systemd does not restart it
 * (RestartPreventExitStatus=2 in the units), since the same configuration fails the same way. */
#define CONFIG_EXIT_STATUS 2

/* The default env file, read when present and no other is named. */
#define CONFIG_DEFAULT_ENV_FILE "/etc/agentcron/agentcron.env"

enum log_format { LOG_FORMAT_TEXT, LOG_FORMAT_JSON };

/* Secrets the env file holds for agents: a variable that is not a setting (REPORT_TOKEN=...),
 * which an agent names in AGENTS_FILE (bearer_env, api_key_env, ...). */
#define CONFIG_MAX_SECRETS 32
struct config_secret {
    char name[128];
    char value[1024];
    int line; /* in the env file */
};

struct config {
    char database_url[1024];
    char redis_url[1024]; /* REDIS_URL, or built from REDIS_HOST, REDIS_PORT, REDIS_PASSWORD */
    char cron_secret[512];
    char metrics_token[512]; /* METRICS_TOKEN: when set, GET /metrics wants it as a bearer */
    int worker_concurrency; /* AGENT_WORKER_CONCURRENCY, 1-1024, default 5 */
    int poll_interval_ms;   /* POLL_INTERVAL_MS, 10-3600000, default 10000 */
    int schedule_lookahead_ms; /* SCHEDULE_LOOKAHEAD_MS, 0-60000, default 5000: runs readied before their slot */
    int status_interval_s;  /* STATUS_INTERVAL_S, 1-3600, default 30 */
    int run_retention_days; /* RUN_RETENTION_DAYS, 0-3650 (0: keep forever), default 30 */
    int retention_interval_s; /* RETENTION_INTERVAL_S, 1-86400, default 3600 */
    int session_ttl_s; /* SESSION_TTL_S, 300-2592000, default 43200: a dashboard sign-in lasts */
    int shutdown_grace_s;   /* SHUTDOWN_GRACE_S, 0-3600, default 30 */
    int worker_lease_s;     /* WORKER_LEASE_S, 2-3600, default 30: a dead worker's runs return after this */
    int queue_shards;       /* QUEUE_SHARDS, 1-16, default 1: queue shards over Redis Cluster masters (shards.h) */
    char http_listen[256];  /* HTTP_LISTEN, host:port, default 127.0.0.1:8080; "off": no HTTP server */
    int http_max_connections; /* HTTP_MAX_CONNECTIONS, 1-100000, default 1024 */
    char tls_cert_file[1024], tls_key_file[1024];
    /* rediss://: the CA that signed Redis's certificate (default: the system's), and a client
     * certificate and key when Redis asks for one (tls-auth-clients) */
    char redis_tls_ca_file[1024], redis_tls_cert_file[1024], redis_tls_key_file[1024];
    char agents_file[1024];
    char llm_base_url[1024], llm_api_key[512];
    enum log_format log_format; /* LOG_FORMAT, text (default) or json */
    char log_level[8];          /* LOG_LEVEL: debug, info (default), warn, error */
    char env_file[1024];        /* the env file read, "" for none */
    /* alerts (docs/alerts.md) */
    int alert_interval_s;        /* ALERT_INTERVAL_S, 1-3600, default 15: how often rules are evaluated */
    char alert_signing_key[512]; /* ALERT_SIGNING_KEY: signs webhook alerts (X-Agentcron-Signature) */
    char alert_email_from[320];  /* ALERT_EMAIL_FROM, default agentcron@<host name> */
    char sendmail_path[1024];    /* SENDMAIL_PATH, default /usr/sbin/sendmail */
    char public_url[1024];       /* PUBLIC_URL: the dashboard's address in alerts, default from HTTP_LISTEN */
    /* traces (docs/tracing.md): the standard OpenTelemetry variables */
    char otel_endpoint[1024], otel_traces_endpoint[1024], otel_headers[2048];
    char otel_protocol[32], otel_service_name[128], otel_sdk_disabled[16];
    struct config_secret secrets[CONFIG_MAX_SECRETS]; /* the env file's variables that are not settings */
    int nsecrets;
};

/* Why loading failed: one line naming the setting, its value and what is accepted. */
struct config_error {
    char message[768];
};

/* Loads the configuration. Each setting comes from the environment, else from `env_file`
 * (NULL: CONFIG_DEFAULT_ENV_FILE if it exists), else its default. The env file's other
 * variables are kept in cfg->secrets: whether an agent names each one is for its caller to
 * check once AGENTS_FILE is loaded (agents_check_secrets), so that a typo is still caught. An
 * env file that is named but unreadable, holds a malformed line or a name that is no variable
 * name, or any value out of range, fails with -1 and *err; 0 on success. Required settings are
 * checked by their users (config_require). Not thread-safe (reads the environment). */
int config_load(struct config *cfg, const char *env_file, struct config_error *err);

/* The value of a variable an agent names: for a setting (CRON_SECRET, the usual bearer of a
 * Vercel cron route), its value as loaded; else the env file's (so that a reload that changed
 * the file takes effect even where systemd exported the old one), else the environment's; NULL
 * when none sets it. The string lives as long as cfg (or the environment). */
const char *config_secret(const struct config *cfg, const char *name);

/* How long a daemon's status report lives in Redis: three report periods, at least 90 s. A
 * report says it (ttlS), so that its age can be read off its key's TTL on Redis's clock. */
int config_report_ttl_s(const struct config *cfg);

/* Checks that the named settings (a NULL-terminated list, e.g. "DATABASE_URL") are set;
 * -1 with *err naming the first missing one, else 0. */
int config_require(const struct config *cfg, const char *const names[], struct config_error *err);

/* The dashboard's address for links (alerts): PUBLIC_URL without a trailing slash, else the
 * scheme, host and port HTTP_LISTEN serves ("http://127.0.0.1:8080"; this host's name for a
 * wildcard address or "off"). */
void config_public_url(const struct config *cfg, char *out, size_t len);

/* Copies a connection URL with any password replaced by "***", for messages and logs. */
void config_redact_url(const char *url, char *out, size_t len);

#endif
