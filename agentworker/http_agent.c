/* SPDX-License-Identifier: MIT */
/* The http executor: one request through the HTTP client.
 *
 * http: GET or POST {task, run, goal, scheduledFor, attempt} with the headers a receiver
 * checks: Authorization (what a Vercel cron route compares with CRON_SECRET), Idempotency-Key
 * (the run id, the same on every attempt) and X-Agentcron-Signature: t=<unix s>,v1=<hex
 * HMAC-SHA256(key, "<t>.<body>")>, with a second v1 from the previous key during rotation.
 * The body also carries the run's completed steps, its run token and where to report steps
 * (docs/steps.md).
 *
 * 2xx succeeds; 429 with Retry-After waits without spending an attempt; 408, 429 and
 * 5xx are retried; other 4xx are not. Tokens come from the response's "usage". */
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "config.h"
#include "executor_int.h"
#include "http_client.h"
#include "signature.h"
#include "url.h"
#include "timefmt.h"

#define MAX_HEADERS 48

/* A secret named by an env var setting; NULL and an error if the variable is unset. */
static const char *secret_from(const struct run_spec *spec, const json_t *settings, const char *key, const char *fallback,
                               struct run_result *res)
{
    const char *var = executor_setting_str(settings, key, NULL);
    if (!var)
        return fallback;
    const char *v = config_secret(spec->secrets, var);
    if (!v || !v[0]) {
        res->outcome = OUTCOME_FAILED_FINAL;
        snprintf(res->error, sizeof res->error,
                 "invalid agent configuration: %s names the environment variable %s, which is not set in the worker's "
                 "environment (add it to the env file)",
                 key, var);
        return NULL;
    }
    return v;
}

static void on_response(const struct http_response *hr, void *data)
{
    struct execution *x = data;
    struct run_result *res = &x->res;
    x->req = NULL;
    if (hr->error != HTTP_OK) {
        res->outcome = x->stopping                       ? x->stop_reason
                     : hr->error == AC_ETIMEDOUT       ? OUTCOME_TIMED_OUT
                     : hr->error == AC_EINVAL          ? OUTCOME_FAILED_FINAL
                                                         : OUTCOME_FAILED;
        snprintf(res->error, sizeof res->error, "%s", hr->message);
        executor_finish(x);
        return;
    }
    res->http_status = hr->status;
    json_t *doc = json_loadb(hr->body, hr->body_len, 0, NULL);
    executor_usage(doc, res);
    res->output = executor_clean_text(hr->body, hr->body_len, RUN_OUTPUT_MAX);
    json_decref(doc);
    const int s = hr->status;
    if (s / 100 == 2)
        res->outcome = OUTCOME_SUCCEEDED;
    else {
        res->outcome = s == 429 && hr->retry_after_ms >= 0     ? OUTCOME_RATE_LIMITED
                     : s == 408 || s == 429 || s / 100 == 5     ? OUTCOME_FAILED
                                                                : OUTCOME_FAILED_FINAL;
        res->retry_after_ms = hr->retry_after_ms;
        char snippet[300] = "";
        if (res->output && res->output[0])
            snprintf(snippet, sizeof snippet, ": %.280s", res->output);
        snprintf(res->error, sizeof res->error, "HTTP %d%s%s", s,
                 res->outcome == OUTCOME_FAILED_FINAL ? " (4xx: not retried)" : "", snippet);
    }
    executor_finish(x);
}

static int http_request_parts(struct execution *x, const struct run_spec *spec, char **url, const char **bearer)
{
    const json_t *s = spec->settings;
    const char *base = executor_setting_str(s, "url", "");
    const char *path = executor_setting_str(s, "path", NULL);
    if (path) { /* the agent's origin with the task's path */
        int tls, port;
        char host[256], old_path[4096];
        if (http_url_split(base, &tls, host, sizeof host, &port, old_path, sizeof old_path) != 0)
            return -1;
        *url = http_url_make(tls, host, port, path);
    } else
        *url = strdup(base);
    *bearer = secret_from(spec, s, "bearer_env", NULL, &x->res);
    if (json_object_get(s, "bearer_env") && !*bearer)
        return -1;
    char when[TIMEFMT_RFC3339_MAX];
    timefmt_rfc3339(spec->scheduled_for_ms, 0, 1, when);
    json_t *body = json_pack("{s:I, s:I, s:s, s:s, s:i}", "task", (json_int_t)spec->task_id, "run",
                             (json_int_t)spec->run_id, "goal", spec->goal, "scheduledFor", when, "attempt",
                             spec->attempt);
    /* durable steps (docs/steps.md): what is done already, and how to report the rest */
    json_t *steps = spec->steps_json ? json_loads(spec->steps_json, 0, NULL) : json_array();
    json_object_set_new(body, "steps", steps ? steps : json_array());
    if (spec->run_token && spec->run_token[0]) {
        json_object_set_new(body, "runToken", json_string(spec->run_token));
        json_object_set_new(body, "stepsUrl", json_string(spec->steps_url));
    }
    x->req_body = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    return x->req_body && *url ? 0 : -1;
}

/* Whether the agent's headers set name (case-insensitive): then it replaces the default. */
static int agent_sets_header(const json_t *settings, const char *name)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)json_object_get(settings, "headers"), k, v)
    {
        if (!strcasecmp(k, name))
            return 1;
    }
    return 0;
}

int http_agent_start(struct http_client *http, struct execution *x, const struct run_spec *spec)
{
    const json_t *s = spec->settings;
    struct run_result *res = &x->res;
    char *url = NULL;
    const char *bearer = NULL;
    if (http_request_parts(x, spec, &url, &bearer) != 0) {
        if (!res->error[0]) {
            res->outcome = OUTCOME_FAILED;
            snprintf(res->error, sizeof res->error, "out of memory preparing the request");
        }
        free(url);
        return -1;
    }
    const char *method = executor_setting_str(s, "method", "POST");
    const int has_body = strcmp(method, "POST") == 0;
    char *lines[MAX_HEADERS + 10] = {0}; /* the fixed lines below, the agent's, a NULL */
    size_t n = 0;
    char buf[8][1200];
    if (!agent_sets_header(s, "User-Agent")) /* an agent may send its own (vercel-cron/1.0), once */
        lines[n++] = "User-Agent: agentcron/" AGENTCRON_VERSION;
    if (!agent_sets_header(s, "Accept"))
        lines[n++] = "Accept: application/json";
    if (has_body)
        lines[n++] = "Content-Type: application/json";
    if (bearer) {
        snprintf(buf[0], sizeof buf[0], "Authorization: Bearer %s", bearer);
        lines[n++] = buf[0];
    }
    snprintf(buf[1], sizeof buf[1], "Idempotency-Key: %" PRId64, spec->run_id);
    lines[n++] = buf[1];
    snprintf(buf[2], sizeof buf[2], "X-Agentcron-Run: %" PRId64, spec->run_id);
    lines[n++] = buf[2];
    if (spec->run_token && spec->run_token[0]) { /* for a GET receiver, which has no body */
        snprintf(buf[5], sizeof buf[5], "X-Agentcron-Run-Token: %s", spec->run_token);
        lines[n++] = buf[5];
    }
    if (spec->traceparent) { /* the receiver's spans join the run's trace (W3C Trace Context) */
        snprintf(buf[4], sizeof buf[4], "traceparent: %s", spec->traceparent);
        lines[n++] = buf[4];
    }
    if (json_object_get(s, "signing_key_env")) {
        const char *key = secret_from(spec, s, "signing_key_env", NULL, res);
        const char *previous_var = executor_setting_str(s, "signing_key_previous_env", NULL);
        const char *previous = key && previous_var ? config_secret(spec->secrets, previous_var) : NULL;
        if (!key) {
            free(url);
            return -1;
        }
        char stamp[24], mac[65], mac2[65];
        snprintf(stamp, sizeof stamp, "%lld", (long long)time(NULL));
        const char *signed_body = has_body ? x->req_body : "";
        signature_hmac_hex(key, stamp, signed_body, mac);
        if (previous && previous[0]) {
            signature_hmac_hex(previous, stamp, signed_body, mac2);
            snprintf(buf[3], sizeof buf[3], "X-Agentcron-Signature: t=%s,v1=%s,v1=%s", stamp, mac, mac2);
        } else
            snprintf(buf[3], sizeof buf[3], "X-Agentcron-Signature: t=%s,v1=%s", stamp, mac);
        lines[n++] = buf[3];
    }
    char *custom[MAX_HEADERS] = {0};
    size_t nc = 0;
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)json_object_get(s, "headers"), k, v)
    {
        if (nc == MAX_HEADERS)
            break;
        custom[nc] = malloc(strlen(k) + json_string_length(v) + 3);
        if (custom[nc]) {
            sprintf(custom[nc], "%s: %s", k, json_string_value(v));
            lines[n++] = custom[nc++];
        }
    }
    const struct http_request_opts opts = {
        .method = method,
        .url = url,
        .headers = (const char *const *)lines,
        .body = has_body ? x->req_body : NULL,
        .body_len = has_body ? strlen(x->req_body) : 0,
        .ca_file = executor_setting_str(s, "ca_file", NULL),
        .insecure_skip_verify = json_is_true(json_object_get(s, "insecure_skip_verify")),
        .follow_redirects = json_is_true(json_object_get(s, "follow_redirects")),
        .connect_timeout_ms = executor_setting_int(s, "connect_timeout_ms", 10000),
        .read_timeout_ms = executor_setting_int(s, "read_timeout_ms", 0),
        .timeout_ms = spec->timeout_ms + 1000, /* the pool's timer ends the run; this is a backstop */
        .max_response_bytes = (size_t)executor_setting_int(s, "max_response_bytes", 1 << 20),
    };
    char err[300];
    x->req = http_client_request(http, &opts, on_response, x, err, sizeof err);
    for (size_t i = 0; i < nc; i++)
        free(custom[i]);
    free(url);
    if (!x->req) {
        res->outcome = OUTCOME_FAILED_FINAL;
        snprintf(res->error, sizeof res->error, "invalid agent configuration: %s", err);
        return -1;
    }
    return 0;
}

void http_agent_stop(struct execution *x)
{
    if (x->req)
        http_request_cancel(x->req); /* on_response fires with the stop reason */
}
