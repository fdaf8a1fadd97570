/* SPDX-License-Identifier: MIT */
/* The llm executor: an agent loop over an OpenAI-compatible /v1/chat/completions, every step
 * checkpointed (docs/steps.md). A model call is step `model-N`: credits are reserved for it
 * first, its max_tokens fitted to what was granted, and its answer (the assistant message) is
 * recorded with its tokens. Each tool call the model makes is step `tool-<call id>`: a POST of
 * its arguments to the tool's url (tools are defined in AGENTS_FILE only), its answer recorded
 * and given back to the model. The loop ends when the model answers without tool calls (the
 * answer is the run's output), or fails after max_steps model calls.
 *
 * A new attempt rebuilds the conversation from the completed steps and goes on from the first
 * step not done: nothing completed is executed or charged again. The tokens are all charged
 * through the steps, so the attempt itself reports none. */
#include <inttypes.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "executor_int.h"
#include "http_client.h"
#include "steps.h"

#define MAX_STEPS_DEFAULT 8
#define MIN_COMPLETION_TOKENS 16 /* a call is not worth making with less room to answer */
#define TOOL_RESULT_MAX 60000    /* bytes of a tool's answer kept (a step's output is at most 64 KiB) */
#define TOOL_TIMEOUT_DEFAULT_MS 30000

struct llm_loop {
    struct http_client *http;
    json_t *settings;        /* the effective settings (a reference) */
    json_t *messages;        /* the conversation so far */
    json_t *tool_defs;       /* the request's "tools", or NULL */
    char *url, *bearer;
    const struct config *secrets;
    int64_t run_id, tokens_per_credit, timeout_ms, max_tokens, call_max_tokens;
    int model_steps, max_steps;
    char traceparent[64];
    step_submit_fn submit;
    void *step_ctx;
    int waiting_step;        /* a step operation is out: its answer moves the loop on */
    json_t *pending;         /* the tool call being made, or the model's message being recorded */
    char step_id[STEP_ID_MAX + 1];
};

static void next_step(struct execution *x);

static void fail_with(struct execution *x, enum run_outcome o, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void fail_with(struct execution *x, enum run_outcome o, const char *fmt, ...)
{
    x->res.outcome = x->stopping ? x->stop_reason : o;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(x->res.error, sizeof x->res.error, fmt, ap);
    va_end(ap);
    executor_finish(x);
}

/* The outcome of an HTTP status that is not 2xx (as for http agents). */
static enum run_outcome status_outcome(const struct http_response *hr)
{
    const int s = hr->status;
    if (s == 429 && hr->retry_after_ms >= 0)
        return OUTCOME_RATE_LIMITED;
    return s == 408 || s == 429 || s / 100 == 5 ? OUTCOME_FAILED : OUTCOME_FAILED_FINAL;
}

static int submit(struct execution *x, const struct step_op *op, step_answer_cb cb)
{
    struct llm_loop *l = x->llm;
    if (l->submit(l->step_ctx, x, op, cb, NULL) != 0) {
        fail_with(x, OUTCOME_FAILED, "out of memory submitting step %s", op->step_id);
        return -1;
    }
    l->waiting_step = 1;
    return 0;
}

/* Common handling of a step answer: 0 to go on, -1 when the run has been ended. */
static int step_ok(struct execution *x, const struct step_answer *a, const char *error)
{
    struct llm_loop *l = x->llm;
    l->waiting_step = 0;
    if (x->stopping) {
        fail_with(x, x->stop_reason, "stopped at step %s", l->step_id);
        return -1;
    }
    if (error) {
        fail_with(x, OUTCOME_FAILED, "step %s could not be checkpointed: %s", l->step_id, error);
        return -1;
    }
    switch (a->status) {
    case STEP_RECORDED:
    case STEP_DUPLICATE:
    case STEP_GRANTED: return 0;
    case STEP_REFUSED:
        /* budget and run_limit: the run is marked and ends insufficient_credits */
        fail_with(x, !strcmp(a->reason, "cancelled") ? OUTCOME_CANCELLED : OUTCOME_FAILED_FINAL, "%s", a->message);
        return -1;
    case STEP_GONE: fail_with(x, OUTCOME_FAILED, "%s", a->message); return -1;
    case STEP_INVALID: fail_with(x, OUTCOME_FAILED_FINAL, "step %s: %s", l->step_id, a->message); return -1;
    }
    return -1;
}

/* ---- the conversation ---- */

/* The last assistant message and the tool call of it that has no answer yet (NULL: none). */
static json_t *unanswered_call(const json_t *messages, const json_t **assistant)
{
    *assistant = NULL;
    size_t last = json_array_size(messages);
    const char *role;
    while (last > 0 && (!(role = json_string_value(json_object_get(json_array_get(messages, last - 1), "role"))) ||
                        strcmp(role, "assistant") != 0))
        last--;
    if (!last)
        return NULL;
    *assistant = json_array_get(messages, last - 1);
    size_t i;
    json_t *call;
    json_array_foreach(json_object_get(*assistant, "tool_calls"), i, call)
    {
        const char *id = json_string_value(json_object_get(call, "id"));
        int answered = 0;
        for (size_t m = last; m < json_array_size(messages) && !answered; m++) {
            const char *to = json_string_value(json_object_get(json_array_get(messages, m), "tool_call_id"));
            answered = id && to && !strcmp(id, to);
        }
        if (!answered)
            return call;
    }
    return NULL;
}

/* A step id from a model's tool call id: the characters a step id allows, others as '-'. */
static void tool_step_id(const char *call_id, char out[STEP_ID_MAX + 1])
{
    snprintf(out, STEP_ID_MAX + 1, "tool-%.180s", call_id && call_id[0] ? call_id : "call");
    for (char *c = out + 5; *c; c++)
        if (!strchr(STEP_ID_CHARS, *c))
            *c = '-';
}

/* The conversation's message for a tool step's output ({"tool_call_id", "content"}). */
static json_t *tool_message(const json_t *output)
{
    return json_pack("{s:s, s:O, s:O}", "role", "tool", "tool_call_id", json_object_get(output, "tool_call_id"),
                     "content", json_object_get(output, "content"));
}

/* Lays the completed steps over the conversation's start. */
static int rebuild(struct llm_loop *l, const char *steps_json, char *err, size_t len)
{
    if (!steps_json)
        return 0;
    json_t *steps = json_loads(steps_json, 0, NULL);
    if (!json_is_array(steps)) {
        json_decref(steps);
        snprintf(err, len, "the run's completed steps are not a JSON array");
        return -1;
    }
    size_t i;
    json_t *st;
    json_array_foreach(steps, i, st)
    {
        const char *id = json_string_value(json_object_get(st, "id"));
        json_t *out = json_object_get(st, "output");
        if (id && !strncmp(id, "model-", 6) && json_is_object(out)) {
            json_array_append(l->messages, out);
            l->model_steps++;
        } else if (id && !strncmp(id, "tool-", 5) && json_is_object(out))
            json_array_append_new(l->messages, tool_message(out));
    }
    json_decref(steps);
    return 0;
}

/* The header lines of a call the loop makes (a model's or a tool's), into lines (8 slots). */
struct call_headers {
    char auth[1200], idem[300], run[64], trace[100];
    const char *lines[8];
};

static const char *const *call_headers(const struct llm_loop *l, const char *bearer, struct call_headers *h)
{
    size_t n = 0;
    memset(h->lines, 0, sizeof h->lines);
    h->lines[n++] = "User-Agent: agentcron/" AGENTCRON_VERSION;
    h->lines[n++] = "Content-Type: application/json";
    h->lines[n++] = "Accept: application/json";
    if (bearer) {
        snprintf(h->auth, sizeof h->auth, "Authorization: Bearer %s", bearer);
        h->lines[n++] = h->auth;
    }
    snprintf(h->idem, sizeof h->idem, "Idempotency-Key: %" PRId64 "-%s", l->run_id, l->step_id);
    h->lines[n++] = h->idem; /* the same for every attempt at this step */
    snprintf(h->run, sizeof h->run, "X-Agentcron-Run: %" PRId64, l->run_id);
    h->lines[n++] = h->run;
    if (l->traceparent[0]) {
        snprintf(h->trace, sizeof h->trace, "traceparent: %s", l->traceparent);
        h->lines[n++] = h->trace;
    }
    return h->lines;
}

/* ---- a tool call ---- */

static void on_tool_recorded(struct execution *x, const struct step_answer *a, const char *error, void *arg)
{
    (void)arg;
    struct llm_loop *l = x->llm;
    json_t *result = l->pending;
    l->pending = NULL;
    if (step_ok(x, a, error) == 0) {
        json_array_append_new(l->messages, tool_message(result));
        next_step(x);
    }
    json_decref(result);
}

/* Records the tool's answer (text) as the step, then goes on. */
static void tool_answered(struct execution *x, const char *call_id, const char *content)
{
    struct llm_loop *l = x->llm;
    l->pending = json_pack("{s:s, s:s}", "tool_call_id", call_id ? call_id : "", "content", content);
    char *text = l->pending ? json_dumps(l->pending, JSON_COMPACT) : NULL;
    const struct step_op op = {.step_id = l->step_id, .output = text};
    if (!text)
        fail_with(x, OUTCOME_FAILED, "out of memory recording step %s", l->step_id);
    else
        submit(x, &op, on_tool_recorded);
    free(text);
}

static void on_tool_response(const struct http_response *hr, void *data)
{
    struct execution *x = data;
    struct llm_loop *l = x->llm;
    x->req = NULL;
    json_t *call = l->pending;
    l->pending = NULL;
    const char *call_id = json_string_value(json_object_get(call, "id"));
    const char *name = json_string_value(json_object_get(json_object_get(call, "function"), "name"));
    char id[128];
    snprintf(id, sizeof id, "%s", call_id ? call_id : "");
    json_decref(call);
    if (hr->error != HTTP_OK) {
        fail_with(x, hr->error == AC_ETIMEDOUT ? OUTCOME_TIMED_OUT : OUTCOME_FAILED, "tool %s (step %s): %s",
                  name ? name : "?", l->step_id, hr->message);
        return;
    }
    if (hr->status / 100 == 5 || hr->status == 408 || hr->status == 429) { /* the tool's trouble: try the step again */
        fail_with(x, status_outcome(hr), "tool %s (step %s) answered HTTP %d", name ? name : "?", l->step_id, hr->status);
        return;
    }
    char *body = executor_clean_text(hr->body, hr->body_len, TOOL_RESULT_MAX);
    if (!body) {
        fail_with(x, OUTCOME_FAILED, "out of memory reading tool %s's answer", name ? name : "?");
        return;
    }
    if (hr->status / 100 != 2) { /* refused the arguments: the model may do better */
        char *said = malloc(strlen(body) + 64);
        if (said)
            sprintf(said, "error: HTTP %d: %s", hr->status, body);
        free(body);
        body = said;
    }
    if (body)
        tool_answered(x, id, body);
    else
        fail_with(x, OUTCOME_FAILED, "out of memory");
    free(body);
}

static void call_tool(struct execution *x, json_t *call)
{
    struct llm_loop *l = x->llm;
    const char *call_id = json_string_value(json_object_get(call, "id"));
    const json_t *fn = json_object_get(call, "function");
    const char *name = json_string_value(json_object_get(fn, "name"));
    const char *args = json_string_value(json_object_get(fn, "arguments"));
    tool_step_id(call_id, l->step_id);
    const json_t *tool = name ? json_object_get(json_object_get(l->settings, "tools"), name) : NULL;
    json_error_t jerr;
    json_t *parsed = args ? json_loads(args, JSON_DECODE_ANY, &jerr) : NULL;
    char said[300];
    if (!tool || !json_is_object(parsed)) { /* told to the model, as a step: a mistake it may correct */
        if (!tool)
            snprintf(said, sizeof said, "error: there is no tool named %.100s", name ? name : "(none)");
        else
            snprintf(said, sizeof said, "error: the arguments must be a JSON object");
        json_decref(parsed);
        tool_answered(x, call_id, said);
        return;
    }
    char *body = json_dumps(parsed, JSON_COMPACT);
    json_decref(parsed);
    free(x->req_body);
    x->req_body = body;
    const char *var = json_string_value(json_object_get(tool, "bearer_env"));
    struct call_headers h;
    const json_t *t = json_object_get(tool, "timeout_ms");
    const struct http_request_opts opts = {
        .method = "POST", .url = json_string_value(json_object_get(tool, "url")),
        .headers = call_headers(l, var ? config_secret(l->secrets, var) : NULL, &h),
        .body = body, .body_len = body ? strlen(body) : 0,
        .ca_file = executor_setting_str(l->settings, "ca_file", NULL),
        .insecure_skip_verify = json_is_true(json_object_get(l->settings, "insecure_skip_verify")),
        .connect_timeout_ms = executor_setting_int(l->settings, "connect_timeout_ms", 10000),
        .timeout_ms = t ? json_integer_value(t) : TOOL_TIMEOUT_DEFAULT_MS,
        .max_response_bytes = (size_t)executor_setting_int(l->settings, "max_response_bytes", 1 << 20),
    };
    l->pending = json_incref(call);
    char err[300];
    if (!body || !(x->req = http_client_request(l->http, &opts, on_tool_response, x, err, sizeof err))) {
        json_decref(l->pending);
        l->pending = NULL;
        fail_with(x, OUTCOME_FAILED_FINAL, "tool %s: %s", name, body ? err : "out of memory");
    }
}

/* ---- a model call ---- */

static void on_model_recorded(struct execution *x, const struct step_answer *a, const char *error, void *arg)
{
    (void)arg;
    struct llm_loop *l = x->llm;
    json_t *message = l->pending;
    l->pending = NULL;
    if (step_ok(x, a, error) == 0) {
        json_array_append(l->messages, message);
        l->model_steps++;
        next_step(x);
    }
    json_decref(message);
}

static void on_model_response(const struct http_response *hr, void *data)
{
    struct execution *x = data;
    struct llm_loop *l = x->llm;
    struct run_result *res = &x->res;
    x->req = NULL;
    if (hr->error != HTTP_OK) {
        fail_with(x, hr->error == AC_ETIMEDOUT ? OUTCOME_TIMED_OUT : hr->error == AC_EINVAL ? OUTCOME_FAILED_FINAL
                                                                                              : OUTCOME_FAILED,
                  "step %s: %s", l->step_id, hr->message);
        return;
    }
    res->http_status = hr->status;
    json_t *doc = json_loadb(hr->body, hr->body_len, 0, NULL);
    if (hr->status / 100 != 2) {
        char *snippet = executor_clean_text(hr->body, hr->body_len, 280);
        res->retry_after_ms = hr->retry_after_ms;
        fail_with(x, status_outcome(hr), "step %s: the LLM endpoint answered HTTP %d%s: %s", l->step_id, hr->status,
                  status_outcome(hr) == OUTCOME_FAILED_FINAL ? " (4xx: not retried)" : "", snippet ? snippet : "");
        free(snippet);
        json_decref(doc);
        return;
    }
    json_t *msg = json_object_get(json_array_get(json_object_get(doc, "choices"), 0), "message");
    const json_t *content = json_object_get(msg, "content");
    const json_t *calls = json_object_get(msg, "tool_calls");
    if (!json_is_object(msg) || (!json_is_string(content) && json_array_size(calls) == 0)) {
        fail_with(x, OUTCOME_FAILED, "step %s: the LLM endpoint answered %d without choices[0].message.content or "
                  "tool_calls", l->step_id, hr->status);
        json_decref(doc);
        return;
    }
    struct run_result usage = {0};
    executor_usage(doc, &usage);
    /* what the conversation keeps of the answer */
    json_t *kept = json_pack("{s:s, s:O}", "role", "assistant", "content", content ? content : json_null());
    if (json_array_size(calls))
        json_object_set(kept, "tool_calls", (json_t *)calls);
    json_decref(doc);
    char *text = kept ? json_dumps(kept, JSON_COMPACT) : NULL;
    if (!text || strlen(text) > STEP_OUTPUT_MAX) {
        json_decref(kept);
        free(text);
        fail_with(x, OUTCOME_FAILED_FINAL, "step %s: the model's answer is over %d bytes", l->step_id, STEP_OUTPUT_MAX);
        return;
    }
    l->pending = kept;
    const struct step_op op = {.step_id = l->step_id, .output = text, .prompt_tokens = usage.prompt_tokens,
                               .completion_tokens = usage.completion_tokens};
    submit(x, &op, on_model_recorded);
    free(text);
}

static void call_model(struct execution *x)
{
    struct llm_loop *l = x->llm;
    json_t *body = json_pack("{s:s, s:O, s:I}", "model", executor_setting_str(l->settings, "model", ""), "messages",
                             l->messages, "max_tokens", (json_int_t)l->call_max_tokens);
    if (l->tool_defs)
        json_object_set(body, "tools", l->tool_defs);
    if (json_object_get(l->settings, "temperature"))
        json_object_set(body, "temperature", json_object_get(l->settings, "temperature"));
    free(x->req_body);
    x->req_body = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    struct call_headers h;
    const struct http_request_opts opts = {
        .method = "POST", .url = l->url, .headers = call_headers(l, l->bearer, &h), .body = x->req_body,
        .body_len = x->req_body ? strlen(x->req_body) : 0,
        .ca_file = executor_setting_str(l->settings, "ca_file", NULL),
        .insecure_skip_verify = json_is_true(json_object_get(l->settings, "insecure_skip_verify")),
        .follow_redirects = json_is_true(json_object_get(l->settings, "follow_redirects")),
        .connect_timeout_ms = executor_setting_int(l->settings, "connect_timeout_ms", 10000),
        .read_timeout_ms = executor_setting_int(l->settings, "read_timeout_ms", 0),
        .timeout_ms = l->timeout_ms + 1000, /* the pool's timer ends the run; this is a backstop */
        .max_response_bytes = (size_t)executor_setting_int(l->settings, "max_response_bytes", 1 << 20),
    };
    char err[300];
    if (!x->req_body || !(x->req = http_client_request(l->http, &opts, on_model_response, x, err, sizeof err)))
        fail_with(x, OUTCOME_FAILED_FINAL, "invalid agent configuration: %s", x->req_body ? err : "out of memory");
}

/* The prompt's size in tokens, guessed from its bytes (about four a token in English). */
static int64_t prompt_estimate(const struct llm_loop *l)
{
    char *m = json_dumps(l->messages, JSON_COMPACT), *t = l->tool_defs ? json_dumps(l->tool_defs, JSON_COMPACT) : NULL;
    const int64_t bytes = (int64_t)(m ? strlen(m) : 0) + (int64_t)(t ? strlen(t) : 0);
    free(m), free(t);
    return bytes / 4 + 1;
}

static void on_model_reserved(struct execution *x, const struct step_answer *a, const char *error, void *arg)
{
    (void)arg;
    struct llm_loop *l = x->llm;
    if (step_ok(x, a, error) != 0)
        return;
    /* the answer may not cost more than was granted for it */
    const int64_t room = a->credits * l->tokens_per_credit - prompt_estimate(l);
    l->call_max_tokens = room < l->max_tokens ? room : l->max_tokens;
    if (l->call_max_tokens < MIN_COMPLETION_TOKENS)
        l->call_max_tokens = MIN_COMPLETION_TOKENS;
    call_model(x);
}

/* Decides what comes next: a tool call the model asked for, its next answer, or the end. */
static void next_step(struct execution *x)
{
    struct llm_loop *l = x->llm;
    if (x->stopping) {
        fail_with(x, x->stop_reason, "stopped between steps");
        return;
    }
    const json_t *assistant;
    json_t *call = unanswered_call(l->messages, &assistant);
    if (call) {
        call_tool(x, call);
        return;
    }
    const json_t *last = json_array_get(l->messages, json_array_size(l->messages) - 1);
    if (assistant && last == assistant) { /* answered without tool calls: done */
        const json_t *content = json_object_get(assistant, "content");
        x->res.output = executor_clean_text(json_is_string(content) ? json_string_value(content) : "",
                                            json_string_length(content), RUN_OUTPUT_MAX);
        x->res.outcome = OUTCOME_SUCCEEDED;
        executor_finish(x);
        return;
    }
    if (l->model_steps >= l->max_steps) {
        fail_with(x, OUTCOME_FAILED_FINAL, "the model did not finish within max_steps (%d model calls); raise the "
                  "agent's max_steps or simplify the goal", l->max_steps);
        return;
    }
    snprintf(l->step_id, sizeof l->step_id, "model-%d", l->model_steps + 1);
    const int64_t prompt = prompt_estimate(l), tpc = l->tokens_per_credit;
    const struct step_op op = {.reserve = 1, .step_id = l->step_id,
                               .credits = (prompt + l->max_tokens + tpc - 1) / tpc,
                               .at_least = (prompt + MIN_COMPLETION_TOKENS + tpc - 1) / tpc};
    submit(x, &op, on_model_reserved);
}

/* ---- start, stop ---- */

static char *llm_url(const char *base)
{
    size_t len = strlen(base);
    while (len && base[len - 1] == '/')
        len--;
    const int has_v1 = len >= 3 && strncmp(base + len - 3, "/v1", 3) == 0;
    char *url = malloc(len + 32);
    if (url)
        sprintf(url, "%.*s%s/chat/completions", (int)len, base, has_v1 ? "" : "/v1");
    return url;
}

/* The request's tools: [{"type": "function", "function": {name, description, parameters}}]. */
static json_t *tool_definitions(const json_t *tools)
{
    if (!json_object_size(tools))
        return NULL;
    json_t *defs = json_array();
    const char *name;
    json_t *t;
    json_object_foreach((json_t *)tools, name, t)
    {
        json_t *fn = json_pack("{s:s, s:O}", "name", name, "parameters", json_object_get(t, "parameters"));
        if (json_object_get(t, "description"))
            json_object_set(fn, "description", json_object_get(t, "description"));
        json_array_append_new(defs, json_pack("{s:s, s:o}", "type", "function", "function", fn));
    }
    return defs;
}

int llm_agent_start(struct http_client *http, struct execution *x, const struct run_spec *spec)
{
    struct run_result *res = &x->res;
    const json_t *s = spec->settings;
    const char *base = executor_setting_str(s, "base_url", spec->llm_base_url);
    if (!base || !base[0]) {
        res->outcome = OUTCOME_FAILED_FINAL;
        snprintf(res->error, sizeof res->error,
                 "invalid agent configuration: agent %s has no base_url and LLM_BASE_URL is not set", spec->agent->name);
        return -1;
    }
    const char *bearer = spec->llm_api_key;
    const char *var = executor_setting_str(s, "api_key_env", NULL);
    if (var) {
        bearer = config_secret(spec->secrets, var);
        if (!bearer || !bearer[0]) {
            res->outcome = OUTCOME_FAILED_FINAL;
            snprintf(res->error, sizeof res->error,
                     "invalid agent configuration: api_key_env names the environment variable %s, which is not set in "
                     "the worker's environment (add it to the env file)", var);
            return -1;
        }
    }
    if (!spec->submit_step) {
        res->outcome = OUTCOME_FAILED_FINAL;
        snprintf(res->error, sizeof res->error, "an llm agent needs the worker's step checkpoints");
        return -1;
    }
    struct llm_loop *l = calloc(1, sizeof *l);
    if (!l) {
        res->outcome = OUTCOME_FAILED;
        snprintf(res->error, sizeof res->error, "out of memory starting the run");
        return -1;
    }
    x->llm = l;
    l->http = http;
    l->settings = json_incref((json_t *)s);
    l->secrets = spec->secrets;
    l->run_id = spec->run_id, l->timeout_ms = spec->timeout_ms;
    l->tokens_per_credit = spec->agent->tokens_per_credit > 0 ? spec->agent->tokens_per_credit : 1000;
    l->max_tokens = executor_setting_int(s, "max_tokens", 1024);
    l->max_steps = (int)executor_setting_int(s, "max_steps", MAX_STEPS_DEFAULT);
    l->submit = spec->submit_step, l->step_ctx = spec->step_ctx;
    if (spec->traceparent)
        snprintf(l->traceparent, sizeof l->traceparent, "%s", spec->traceparent);
    l->url = llm_url(base);
    l->bearer = bearer ? strdup(bearer) : NULL;
    l->tool_defs = tool_definitions(json_object_get(s, "tools"));
    l->messages = json_array();
    const char *system = executor_setting_str(s, "system_prompt", NULL);
    if (system)
        json_array_append_new(l->messages, json_pack("{s:s, s:s}", "role", "system", "content", system));
    json_array_append_new(l->messages, json_pack("{s:s, s:s}", "role", "user", "content", spec->goal));
    if (!l->url || !l->messages || (bearer && !l->bearer)) {
        res->outcome = OUTCOME_FAILED;
        snprintf(res->error, sizeof res->error, "out of memory starting the run");
        return -1;
    }
    if (rebuild(l, spec->steps_json, res->error, sizeof res->error) != 0) {
        res->outcome = OUTCOME_FAILED_FINAL;
        return -1;
    }
    next_step(x);
    return 0;
}

void llm_agent_stop(struct execution *x)
{
    struct llm_loop *l = x->llm;
    if (x->req)
        http_request_cancel(x->req); /* its callback ends the run with the stop reason */
    else if (l && !l->waiting_step && !x->done)
        fail_with(x, x->stop_reason, "stopped");
    /* waiting for a step's answer: it ends the run when it comes (a second at most) */
}

void llm_agent_free(struct execution *x)
{
    struct llm_loop *l = x->llm;
    if (!l)
        return;
    json_decref(l->settings);
    json_decref(l->messages);
    json_decref(l->tool_defs);
    json_decref(l->pending);
    free(l->url);
    free(l->bearer);
    free(l);
    x->llm = NULL;
}
