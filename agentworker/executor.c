/* SPDX-License-Identifier: MIT */
/* Dispatch to the executor of an agent's kind, the noop executor, and what the executors
 * share: clean UTF-8 for Postgres, token usage from JSON, stream tails. */
#include "executor_int.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static struct execution *executor_new(execution_done_cb cb, void *data)
{
    struct execution *x = calloc(1, sizeof *x);
    if (x)
        x->cb = cb, x->data = data;
    return x;
}

void executor_release(struct execution *x)
{
    if (!x->done || x->open_handles > 0)
        return;
    run_result_clear(&x->res);
    tail_free(&x->out_tail);
    tail_free(&x->err_tail);
    tail_free(&x->live_out);
    tail_free(&x->live_err);
    free(x->stdin_json);
    free(x->req_body);
    llm_agent_free(x);
    exec_steps_free(x);
    free(x);
}

void executor_finish(struct execution *x)
{
    if (x->done)
        return;
    x->done = 1;
    if (x->stopping && x->res.outcome == OUTCOME_SUCCEEDED)
        x->res.outcome = x->stop_reason; /* stopped, yet it finished first: keep what it did */
    x->cb(x, &x->res, x->data);
    executor_release(x);
}

int executor_start(uv_loop_t *loop, struct http_client *http, const struct run_spec *spec, execution_done_cb cb,
                   void *data, struct execution **out, struct run_result *res)
{
    memset(res, 0, sizeof *res);
    struct execution *x = executor_new(cb, data);
    if (!x) {
        res->outcome = OUTCOME_FAILED;
        snprintf(res->error, sizeof res->error, "out of memory starting the run");
        return -1;
    }
    x->kind = spec->agent->kind;
    int rc = 0;
    switch (x->kind) {
    case AGENT_NOOP: break;
    case AGENT_EXEC: rc = exec_agent_start(loop, x, spec); break;
    case AGENT_HTTP: rc = http_agent_start(http, x, spec); break;
    case AGENT_LLM: rc = llm_agent_start(http, x, spec); break;
    }
    if (rc) {
        *res = x->res; /* hands over its strings */
        memset(&x->res, 0, sizeof x->res);
        x->done = 1;
        executor_release(x);
        return -1;
    }
    *out = x;
    if (x->kind == AGENT_NOOP) {
        x->res.outcome = OUTCOME_SUCCEEDED;
        executor_finish(x); /* the pool expects that; it copes with a callback inside start */
    }
    return 0;
}

void executor_stop(struct execution *x, enum run_outcome why)
{
    if (x->done || x->stopping)
        return;
    x->stopping = 1;
    x->stop_reason = why;
    if (x->kind == AGENT_EXEC)
        exec_agent_stop(x);
    else if (x->kind == AGENT_HTTP)
        http_agent_stop(x);
    else if (x->kind == AGENT_LLM)
        llm_agent_stop(x);
}

void run_result_clear(struct run_result *res)
{
    free(res->output);
    free(res->stderr_tail);
    res->output = res->stderr_tail = NULL;
}

/* Length of the valid UTF-8 sequence at s (at most n bytes), or 0 if invalid. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    size_t len;
    uint32_t cp;
    if (s[0] < 0x80)
        return s[0] ? 1 : 0;
    else if ((s[0] & 0xe0) == 0xc0)
        len = 2, cp = s[0] & 0x1f;
    else if ((s[0] & 0xf0) == 0xe0)
        len = 3, cp = s[0] & 0x0f;
    else if ((s[0] & 0xf8) == 0xf0)
        len = 4, cp = s[0] & 0x07;
    else
        return 0;
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3f);
    }
    static const uint32_t min[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

char *executor_clean_text(const char *data, size_t len, size_t max)
{
    char *out = malloc(max + 1);
    if (!out)
        return NULL;
    size_t o = 0;
    const unsigned char *s = (const unsigned char *)data;
    for (size_t i = 0; i < len;) {
        size_t n = utf8_seq(s + i, len - i);
        const char *piece = (const char *)s + i;
        if (n == 0) {
            piece = "\xef\xbf\xbd"; /* U+FFFD */
            n = 3;
            i++;
        } else
            i += n;
        if (o + n > max)
            break;
        memcpy(out + o, piece, n);
        o += n;
    }
    out[o] = 0;
    return out;
}

static int64_t usage_field(const json_t *usage, const char *key)
{
    const json_t *v = json_object_get(usage, key);
    return json_is_integer(v) && json_integer_value(v) >= 0 ? json_integer_value(v) : 0;
}

int executor_usage(const json_t *doc, struct run_result *res)
{
    const json_t *usage = json_object_get(doc, "usage");
    if (!json_is_object(usage))
        return 0;
    const int64_t limit = (int64_t)1 << 40; /* no endpoint reports more; keeps sums safe */
    int64_t p = usage_field(usage, "prompt_tokens"), c = usage_field(usage, "completion_tokens");
    int64_t t = usage_field(usage, "total_tokens");
    p = p > limit ? limit : p, c = c > limit ? limit : c, t = t > limit ? limit : t;
    if (t > p + c) /* only a total (or a total beyond the parts): count the rest as completion */
        c = t - p;
    res->prompt_tokens = p, res->completion_tokens = c, res->total_tokens = p + c;
    return 1;
}

int64_t executor_setting_int(const json_t *settings, const char *key, int64_t dflt)
{
    const json_t *v = json_object_get(settings, key);
    return json_is_integer(v) ? json_integer_value(v) : dflt;
}

const char *executor_setting_str(const json_t *settings, const char *key, const char *dflt)
{
    const json_t *v = json_object_get(settings, key);
    return json_is_string(v) ? json_string_value(v) : dflt;
}

void tail_append(struct tail *t, const char *data, size_t len)
{
    if (len >= t->max) { /* only the last max bytes matter */
        t->truncated |= len > t->max || t->len > 0;
        data += len - t->max;
        len = t->max;
        t->len = 0;
    }
    if (t->len + len > t->max) {
        const size_t drop = t->len + len - t->max;
        memmove(t->buf, t->buf + drop, t->len - drop);
        t->len -= drop;
        t->truncated = 1;
    }
    if (!t->buf) {
        t->buf = malloc(t->max);
        if (!t->buf)
            return;
    }
    memcpy(t->buf + t->len, data, len);
    t->len += len;
}

void tail_free(struct tail *t)
{
    free(t->buf);
    t->buf = NULL;
    t->len = 0;
}

/* Hands over a tail's buffer and starts it afresh. */
static void take_tail(struct tail *t, char **buf, size_t *len)
{
    *buf = t->len ? t->buf : NULL, *len = t->len;
    if (t->len)
        t->buf = NULL, t->cap = 0;
    t->len = 0, t->truncated = 0;
}

void executor_take_live(struct execution *x, char **out, size_t *out_len, char **err, size_t *err_len)
{
    take_tail(&x->live_out, out, out_len);
    take_tail(&x->live_err, err, err_len);
}
