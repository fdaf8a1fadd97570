/* SPDX-License-Identifier: MIT */
/* Configuration loading: one table describes every setting (its type, bounds and default);
 * the env file is parsed the way systemd parses EnvironmentFile=, and every value is checked
 * before any daemon starts, so a bad setting stops start-up with a line that names it. */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum kind { STRING, INT, URL_PG, URL_REDIS, LISTEN, LOG_FORMAT, LOG_LEVEL };

struct setting {
    const char *name;
    enum kind kind;
    size_t offset, size; /* where in struct config */
    long min, max;       /* INT bounds */
    const char *fallback;
};

#define STR(name, field, kind, def) {name, kind, offsetof(struct config, field), sizeof(((struct config *)0)->field), 0, 0, def}
#define NUM(name, field, lo, hi, def) {name, INT, offsetof(struct config, field), sizeof(int), lo, hi, def}

static const struct setting settings[] = {
    STR("DATABASE_URL", database_url, URL_PG, ""),
    STR("REDIS_URL", redis_url, URL_REDIS, ""),
    STR("CRON_SECRET", cron_secret, STRING, ""),
    STR("METRICS_TOKEN", metrics_token, STRING, ""),
    NUM("AGENT_WORKER_CONCURRENCY", worker_concurrency, 1, 1024, "5"),
    NUM("POLL_INTERVAL_MS", poll_interval_ms, 10, 3600000, "10000"),
    NUM("SCHEDULE_LOOKAHEAD_MS", schedule_lookahead_ms, 0, 60000, "5000"),
    NUM("STATUS_INTERVAL_S", status_interval_s, 1, 3600, "30"),
    NUM("RUN_RETENTION_DAYS", run_retention_days, 0, 3650, "30"),
    NUM("RETENTION_INTERVAL_S", retention_interval_s, 1, 86400, "3600"),
    NUM("SESSION_TTL_S", session_ttl_s, 300, 2592000, "43200"),
    NUM("SHUTDOWN_GRACE_S", shutdown_grace_s, 0, 3600, "30"),
    NUM("WORKER_LEASE_S", worker_lease_s, 2, 3600, "30"),
    NUM("QUEUE_SHARDS", queue_shards, 1, 16, "1"),
    STR("HTTP_LISTEN", http_listen, LISTEN, "127.0.0.1:8080"),
    NUM("HTTP_MAX_CONNECTIONS", http_max_connections, 1, 100000, "1024"),
    STR("TLS_CERT_FILE", tls_cert_file, STRING, ""),
    STR("REDIS_TLS_CA_FILE", redis_tls_ca_file, STRING, ""),
    STR("REDIS_TLS_CERT_FILE", redis_tls_cert_file, STRING, ""),
    STR("REDIS_TLS_KEY_FILE", redis_tls_key_file, STRING, ""),
    STR("TLS_KEY_FILE", tls_key_file, STRING, ""),
    STR("AGENTS_FILE", agents_file, STRING, ""),
    STR("LLM_BASE_URL", llm_base_url, STRING, ""),
    STR("LLM_API_KEY", llm_api_key, STRING, ""),
    {"LOG_FORMAT", LOG_FORMAT, offsetof(struct config, log_format), sizeof(enum log_format), 0, 0, "text"},
    STR("LOG_LEVEL", log_level, LOG_LEVEL, "info"),
    NUM("ALERT_INTERVAL_S", alert_interval_s, 1, 3600, "15"),
    STR("ALERT_SIGNING_KEY", alert_signing_key, STRING, ""),
    STR("ALERT_EMAIL_FROM", alert_email_from, STRING, ""),
    STR("SENDMAIL_PATH", sendmail_path, STRING, "/usr/sbin/sendmail"),
    STR("PUBLIC_URL", public_url, STRING, ""),
    STR("OTEL_EXPORTER_OTLP_ENDPOINT", otel_endpoint, STRING, ""),
    STR("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", otel_traces_endpoint, STRING, ""),
    STR("OTEL_EXPORTER_OTLP_HEADERS", otel_headers, STRING, ""),
    STR("OTEL_EXPORTER_OTLP_PROTOCOL", otel_protocol, STRING, "http/json"),
    STR("OTEL_SERVICE_NAME", otel_service_name, STRING, ""),
    STR("OTEL_SDK_DISABLED", otel_sdk_disabled, STRING, "false"),
};
#define NSETTINGS (sizeof settings / sizeof settings[0])

/* Settings read only to build REDIS_URL. */
static const char *const redis_parts[] = {"REDIS_HOST", "REDIS_PORT", "REDIS_PASSWORD"};

static int fail(struct config_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(struct config_error *err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    return -1;
}

/* The env file's values: at most one per known name (the last one wins, as in systemd). */
struct file_values {
    char *value[NSETTINGS + 3];
    int line[NSETTINGS + 3];
    struct config *cfg; /* where the other variables go, as secrets */
};

/* An environment variable's name: a letter or _, then letters, digits and _. */
static int is_variable_name(const char *s)
{
    if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || *s == '_'))
        return 0;
    for (; *s; s++)
        if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_'))
            return 0;
    return 1;
}

/* Keeps a variable that is not a setting, for an agent to read (the last one wins). */
static int keep_secret(struct config *cfg, const char *path, int line, const char *name, const char *value,
                       struct config_error *err)
{
    struct config_secret *sec = NULL;
    for (int i = 0; i < cfg->nsecrets && !sec; i++)
        if (!strcmp(cfg->secrets[i].name, name))
            sec = &cfg->secrets[i];
    if (!sec && cfg->nsecrets == CONFIG_MAX_SECRETS)
        return fail(err, "config: %s line %d: more than %d variables that are not settings", path, line,
                    CONFIG_MAX_SECRETS);
    if (strlen(name) >= sizeof sec->name || strlen(value) >= sizeof sec->value)
        return fail(err, "config: %s line %d: %.60s or its value is too long (%zu and %zu bytes at most)", path, line,
                    name, sizeof sec->name - 1, sizeof sec->value - 1);
    if (!sec)
        sec = &cfg->secrets[cfg->nsecrets++];
    snprintf(sec->name, sizeof sec->name, "%s", name);
    snprintf(sec->value, sizeof sec->value, "%s", value);
    sec->line = line;
    return 0;
}

static int index_of(const char *name)
{
    for (size_t i = 0; i < NSETTINGS; i++)
        if (!strcmp(settings[i].name, name))
            return (int)i;
    for (size_t i = 0; i < 3; i++)
        if (!strcmp(redis_parts[i], name))
            return (int)(NSETTINGS + i);
    return -1;
}

/* Unquotes a value in place: "..." (with \" \\ \n escapes) or '...' (literal), else trimmed. */
static int unquote(char *v)
{
    const size_t len = strlen(v);
    if (len && (v[0] == '"' || v[0] == '\'')) {
        const char q = v[0];
        char *out = v;
        size_t i = 1;
        for (; i < len && v[i] != q; i++) {
            if (q == '"' && v[i] == '\\' && i + 1 < len) {
                i++;
                *out++ = v[i] == 'n' ? '\n' : v[i];
            } else {
                *out++ = v[i];
            }
        }
        if (i >= len || i + 1 != len) /* unterminated, or text after the closing quote */
            return -1;
        *out = 0;
        return 0;
    }
    char *end = v + len;
    while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
        *--end = 0;
    return 0;
}

static int read_env_file(const char *path, struct file_values *fv, struct config_error *err)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return fail(err, "config: cannot read the env file %s: %s", path, strerror(errno));
    char line[4096];
    int n = 0, rc = 0;
    while (rc == 0 && fgets(line, sizeof line, f)) {
        n++;
        if (!strchr(line, '\n') && !feof(f)) {
            rc = fail(err, "config: %s line %d is longer than %zu bytes", path, n, sizeof line - 1);
            break;
        }
        line[strcspn(line, "\r\n")] = 0;
        char *s = line;
        while (*s == ' ' || *s == '\t')
            s++;
        if (!*s || *s == '#' || *s == ';')
            continue;
        char *eq = strchr(s, '=');
        if (!eq) {
            rc = fail(err, "config: %s line %d is not KEY=value: \"%.60s\"", path, n, s);
            break;
        }
        *eq = 0;
        char *key_end = eq;
        while (key_end > s && (key_end[-1] == ' ' || key_end[-1] == '\t'))
            *--key_end = 0;
        char *value = eq + 1;
        while (*value == ' ' || *value == '\t')
            value++;
        const int i = index_of(s);
        if (i < 0 && !is_variable_name(s)) {
            rc = fail(err, "config: %s line %d: \"%.60s\" is not a variable name (letters, digits and _); see "
                           "deploy/agentcron.env.example", path, n, s);
            break;
        }
        if (unquote(value) != 0) {
            rc = fail(err, "config: %s line %d: the quotes around %s's value do not match", path, n, s);
            break;
        }
        if (i < 0) { /* not a setting: a secret for an agent, checked once the agents are known */
            rc = keep_secret(fv->cfg, path, n, s, value, err);
            continue;
        }
        free(fv->value[i]);
        if (!(fv->value[i] = strdup(value))) {
            rc = fail(err, "config: out of memory reading %s", path);
            break;
        }
        fv->line[i] = n;
    }
    if (rc == 0 && ferror(f))
        rc = fail(err, "config: error reading %s: %s", path, strerror(errno));
    fclose(f);
    return rc;
}

/* Where a value came from, for messages. */
static void origin(char *out, size_t len, const char *env_file, const struct file_values *fv, int i)
{
    if (getenv(i < (int)NSETTINGS ? settings[i].name : redis_parts[i - NSETTINGS]))
        snprintf(out, len, "from the environment");
    else if (fv->value[i])
        snprintf(out, len, "from %s line %d", env_file, fv->line[i]);
    else
        snprintf(out, len, "the default");
}

static const char *lookup(const struct file_values *fv, int i, const char *name)
{
    const char *env = getenv(name);
    return env ? env : fv->value[i];
}

static int set_value(struct config *cfg, const struct setting *s, const char *v, const char *from,
                     struct config_error *err)
{
    char *field = (char *)cfg + s->offset;
    switch (s->kind) {
    case INT: {
        char *end;
        errno = 0;
        const long n = strtol(v, &end, 10);
        if (!*v || *end || errno || n < s->min || n > s->max)
            return fail(err, "config: %s=\"%.60s\" (%s) is not a whole number from %ld to %ld", s->name, v, from,
                        s->min, s->max);
        *(int *)field = (int)n;
        return 0;
    }
    case LOG_FORMAT:
        if (strcmp(v, "text") && strcmp(v, "json"))
            return fail(err, "config: LOG_FORMAT=\"%.60s\" (%s) must be text or json", v, from);
        *(enum log_format *)field = strcmp(v, "json") ? LOG_FORMAT_TEXT : LOG_FORMAT_JSON;
        return 0;
    case LOG_LEVEL:
        if (strcmp(v, "debug") && strcmp(v, "info") && strcmp(v, "warn") && strcmp(v, "error"))
            return fail(err, "config: LOG_LEVEL=\"%.60s\" (%s) must be debug, info, warn or error", v, from);
        break;
    case URL_PG:
        if (*v && strncmp(v, "postgres://", 11) && strncmp(v, "postgresql://", 13))
            return fail(err, "config: DATABASE_URL (%s) must start with postgresql:// or postgres://", from);
        break;
    case URL_REDIS:
        if (*v && strncmp(v, "redis://", 8) && strncmp(v, "rediss://", 9) && strncmp(v, "unix://", 7))
            return fail(err, "config: REDIS_URL (%s) must start with redis://, rediss:// (TLS) or unix://", from);
        break;
    case LISTEN: {
        if (!strcmp(v, "off"))
            break; /* no HTTP server */
        const char *colon = strrchr(v, ':');
        char *end;
        const long port = colon ? strtol(colon + 1, &end, 10) : -1;
        if (!colon || colon == v || !colon[1] || *end || port < 1 || port > 65535)
            return fail(err, "config: %s=\"%.60s\" (%s) must be HOST:PORT, e.g. 127.0.0.1:8080 or [::1]:8080, or off",
                        s->name, v, from);
        break;
    }
    case STRING:
        break;
    }
    if (strlen(v) >= s->size) /* secrets are never echoed */
        return fail(err, "config: %s (%s) is longer than %zu bytes", s->name, from, s->size - 1);
    memcpy(field, v, strlen(v) + 1);
    return 0;
}

/* REDIS_URL wins; otherwise REDIS_HOST, REDIS_PORT and REDIS_PASSWORD make one. */
static int build_redis_url(struct config *cfg, const struct file_values *fv, struct config_error *err)
{
    if (cfg->redis_url[0])
        return 0;
    const char *host = lookup(fv, NSETTINGS, "REDIS_HOST"), *port = lookup(fv, NSETTINGS + 1, "REDIS_PORT");
    const char *password = lookup(fv, NSETTINGS + 2, "REDIS_PASSWORD");
    if (!host && !port && !password)
        return 0;
    char *end;
    const long p = port ? strtol(port, &end, 10) : 6379;
    if (port && (!*port || *end || p < 1 || p > 65535))
        return fail(err, "config: REDIS_PORT=\"%.20s\" must be a port number from 1 to 65535", port);
    if (host && strpbrk(host, "/@ "))
        return fail(err, "config: REDIS_HOST=\"%.60s\" must be a host name or address", host);
    const int n = snprintf(cfg->redis_url, sizeof cfg->redis_url, "redis://%s%s%s%s:%ld/0", password ? ":" : "",
                           password ? password : "", password ? "@" : "", host ? host : "127.0.0.1", p);
    if (n < 0 || (size_t)n >= sizeof cfg->redis_url)
        return fail(err, "config: REDIS_HOST and REDIS_PASSWORD are too long");
    return 0;
}

int config_load(struct config *cfg, const char *env_file, struct config_error *err)
{
    memset(cfg, 0, sizeof *cfg);
    struct file_values fv = {.cfg = cfg};
    int rc = 0;
    if (!env_file && access(CONFIG_DEFAULT_ENV_FILE, F_OK) == 0)
        env_file = CONFIG_DEFAULT_ENV_FILE;
    if (env_file) {
        snprintf(cfg->env_file, sizeof cfg->env_file, "%s", env_file);
        rc = read_env_file(env_file, &fv, err);
    }
    for (size_t i = 0; rc == 0 && i < NSETTINGS; i++) {
        const char *v = lookup(&fv, (int)i, settings[i].name);
        char from[512];
        origin(from, sizeof from, env_file, &fv, (int)i);
        rc = set_value(cfg, &settings[i], v ? v : settings[i].fallback, from, err);
    }
    if (rc == 0)
        rc = build_redis_url(cfg, &fv, err);
    for (size_t i = 0; i < NSETTINGS + 3; i++)
        free(fv.value[i]);
    return rc;
}

int config_report_ttl_s(const struct config *cfg)
{
    return cfg->status_interval_s * 3 > 90 ? cfg->status_interval_s * 3 : 90;
}

const char *config_secret(const struct config *cfg, const char *name)
{
    for (size_t i = 0; cfg && i < NSETTINGS; i++) /* a setting (CRON_SECRET, LLM_API_KEY): its value as loaded */
        if (!strcmp(settings[i].name, name) && settings[i].kind == STRING) { /* not the servers' URLs */
            const char *v = (const char *)cfg + settings[i].offset;
            return *v ? v : NULL;
        }
    for (int i = 0; cfg && i < cfg->nsecrets; i++)
        if (!strcmp(cfg->secrets[i].name, name))
            return cfg->secrets[i].value;
    return getenv(name);
}

int config_require(const struct config *cfg, const char *const names[], struct config_error *err)
{
    for (size_t n = 0; names[n]; n++)
        for (size_t i = 0; i < NSETTINGS; i++)
            if (!strcmp(settings[i].name, names[n]) && settings[i].kind != INT && settings[i].kind != LOG_FORMAT &&
                !*((const char *)cfg + settings[i].offset))
                return fail(err, "config: %s is not set; set it in the environment or the env file (see "
                                 "deploy/agentcron.env.example)", names[n]);
    return 0;
}

void config_redact_url(const char *url, char *out, size_t len)
{
    const char *scheme = strstr(url, "://");
    const char *at = scheme ? strchr(scheme + 3, '@') : NULL;
    const char *colon = at ? memchr(scheme + 3, ':', (size_t)(at - scheme - 3)) : NULL;
    if (!colon) {
        snprintf(out, len, "%s", url);
        return;
    }
    snprintf(out, len, "%.*s:***%s", (int)(colon - url), url, at);
}

/* The dashboard's address (see config.h). */
void config_public_url(const struct config *cfg, char *out, size_t len)
{
    if (cfg->public_url[0]) {
        snprintf(out, len, "%.*s", (int)strcspn(cfg->public_url, "#"), cfg->public_url);
        const size_t n = strlen(out);
        if (n && out[n - 1] == '/')
            out[n - 1] = 0;
        return;
    }
    char host[256] = "localhost";
    const char *listen = cfg->http_listen, *colon = strrchr(listen, ':');
    if (strcmp(listen, "off") != 0 && colon && colon != listen && strncmp(listen, "0.0.0.0:", 8) && strncmp(listen, "[::]:", 5))
        snprintf(host, sizeof host, "%.*s", (int)(colon - listen), listen);
    else
        gethostname(host, sizeof host - 1);
    snprintf(out, len, "%s://%s%s", cfg->tls_cert_file[0] ? "https" : "http", host,
             strcmp(listen, "off") && colon ? colon : "");
}
