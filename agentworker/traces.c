/* SPDX-License-Identifier: MIT */
/* OTLP/HTTP JSON trace export (see traces.h). */
#include "traces.h"

#include <ctype.h>
#include <strings.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "http_client.h"
#include "log.h"

#define MAX_HEADERS 16
#define EXPORT_TIMEOUT_MS 10000

struct tracer {
    uv_loop_t *loop;
    struct http_client *http;
    uv_timer_t timer;
    char url[1100];
    char *headers[MAX_HEADERS + 2];
    json_t *resource;      /* {"attributes": [...]} */
    char *prefix;          /* the export request up to its spans */
    /* spans waiting, as JSON, each followed by a comma; ends[i]: where span i's comma ends */
    char *buf;
    size_t len, cap, count, ends[TRACES_QUEUE_MAX];
    char *body;            /* the request in flight */
    struct http_request *inflight;
    size_t inflight_spans;
    struct trace_counts counts;
    int64_t failing_since_ms; /* the collector's failures are logged once, then on recovery */
};

static void hex(const unsigned char *b, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef"; /* per span: printf per byte showed in profiles */
    for (size_t i = 0; i < n; i++)
        out[2 * i] = digits[b[i] >> 4], out[2 * i + 1] = digits[b[i] & 15];
    out[2 * n] = 0;
}

/* splitmix64's finaliser: every bit of x moves about half the output's. Trace ids need to be
 * unique and well spread, not secret; SHA-256 here was a tenth of the worker's CPU. */
static uint64_t mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15u;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9u;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebu;
    return x ^ (x >> 31);
}

static void put64(unsigned char *out, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        out[i] = (unsigned char)(v >> (56 - 8 * i));
}

static uint64_t get64(const unsigned char *in)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | in[i];
    return v;
}

void trace_ids_of(int64_t run_id, int64_t scheduled_for_ms, struct trace_ids *out)
{
    const uint64_t a = mix((uint64_t)run_id ^ 0x6167656e7463726fu), b = mix(a ^ (uint64_t)scheduled_for_ms);
    put64(out->trace, a ^ mix(b));
    put64(out->trace + 8, mix(b ^ 0x7472616365u) | 1); /* never all zero (W3C) */
    put64(out->run, mix(b ^ 0x72756eu) | 1);
}

void trace_span_id(const struct trace_ids *ids, const char *part, unsigned char out[8])
{
    uint64_t h = 0xcbf29ce484222325u ^ get64(ids->trace) ^ mix(get64(ids->trace + 8)); /* FNV-1a over the part */
    for (const unsigned char *p = (const unsigned char *)part; *p; p++)
        h = (h ^ *p) * 0x100000001b3u;
    put64(out, mix(h) | 1);
}

void trace_parent_header(const struct trace_ids *ids, const unsigned char span[8], char out[56])
{
    char t[33], s[17];
    hex(ids->trace, 16, t);
    hex(span, 8, s);
    snprintf(out, 56, "00-%s-%s-01", t, s);
}

/* "k=v,k2=v2" (OTEL_EXPORTER_OTLP_HEADERS, OTEL_RESOURCE_ATTRIBUTES): calls each(k, v) with
 * the value's %XX escapes decoded. -1 if an entry has no "=" or an empty key. */
static int each_pair(const char *list, int (*each)(void *ctx, const char *k, const char *v), void *ctx)
{
    char buf[2048];
    snprintf(buf, sizeof buf, "%s", list);
    for (char *save = NULL, *item = strtok_r(buf, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(item, '=');
        if (!eq)
            return -1;
        *eq = 0;
        char *k = item, *v = eq + 1, *w = v;
        while (isspace((unsigned char)*k))
            k++;
        for (char *e = k + strlen(k); e > k && isspace((unsigned char)e[-1]);)
            *--e = 0;
        for (const char *r = v; *r; r++) {
            if (r[0] == '%' && isxdigit((unsigned char)r[1]) && isxdigit((unsigned char)r[2])) {
                char h[3] = {r[1], r[2], 0};
                *w++ = (char)strtol(h, NULL, 16);
                r += 2;
            } else
                *w++ = *r;
        }
        *w = 0;
        if (!*k || each(ctx, k, v) != 0)
            return -1;
    }
    return 0;
}

static int add_header(void *ctx, const char *k, const char *v)
{
    struct tracer *t = ctx;
    int n = 0;
    while (t->headers[n])
        n++;
    if (n >= MAX_HEADERS || strpbrk(k, ": \r\n") || strpbrk(v, "\r\n"))
        return -1;
    return asprintf(&t->headers[n], "%s: %s", k, v) < 0 ? -1 : 0;
}

static void resource_attr(json_t *resource, const char *k, const char *v)
{
    json_array_append_new(json_object_get(resource, "attributes"),
                          json_pack("{s:s, s:{s:s}}", "key", k, "value", "stringValue", v));
}

static int add_resource_attr(void *ctx, const char *k, const char *v)
{
    resource_attr(ctx, k, v);
    return 0;
}

static void on_timer(uv_timer_t *h);

static int check_pair(void *ctx, const char *k, const char *v)
{
    int *n = ctx;
    return ++*n > MAX_HEADERS || strpbrk(k, ": \r\n") || strpbrk(v, "\r\n") ? -1 : 0;
}

int tracer_check_config(const struct config *cfg, char *err, size_t len)
{
    if (!strcasecmp(cfg->otel_sdk_disabled, "true") || (!cfg->otel_endpoint[0] && !cfg->otel_traces_endpoint[0]))
        return 0;
    const char *url = cfg->otel_traces_endpoint[0] ? cfg->otel_traces_endpoint : cfg->otel_endpoint;
    int headers = 0, attrs = 0;
    const char *resource = getenv("OTEL_RESOURCE_ATTRIBUTES");
    if (strcmp(cfg->otel_protocol, "http/json") != 0)
        snprintf(err, len,
                 "OTEL_EXPORTER_OTLP_PROTOCOL=\"%.40s\": agentcron exports traces over OTLP/HTTP with JSON; set it to"
                 " http/json (the collector's OTLP/HTTP receiver takes both) or remove it",
                 cfg->otel_protocol);
    else if (strncmp(url, "http://", 7) && strncmp(url, "https://", 8))
        snprintf(err, len, "%s=\"%.200s\" is not an http:// or https:// URL",
                 cfg->otel_traces_endpoint[0] ? "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT" : "OTEL_EXPORTER_OTLP_ENDPOINT", url);
    else if (each_pair(cfg->otel_headers, check_pair, &headers) != 0)
        snprintf(err, len, "OTEL_EXPORTER_OTLP_HEADERS must be up to %d name=value pairs separated by commas"
                           " (values %%-encoded)", MAX_HEADERS);
    else if (resource && each_pair(resource, check_pair, &attrs) != 0)
        snprintf(err, len, "OTEL_RESOURCE_ATTRIBUTES must be up to %d key=value pairs separated by commas", MAX_HEADERS);
    else
        return 0;
    return -1;
}

int tracer_new(uv_loop_t *loop, struct http_client *http, const struct config *cfg, const char *service,
               struct tracer **out, char *err, size_t len)
{
    *out = NULL;
    if (!strcasecmp(cfg->otel_sdk_disabled, "true") || (!cfg->otel_endpoint[0] && !cfg->otel_traces_endpoint[0]))
        return 0;
    if (tracer_check_config(cfg, err, len) != 0)
        return -1;
    struct tracer *t = calloc(1, sizeof *t);
    if (!t) {
        snprintf(err, len, "out of memory");
        return -1;
    }
    if (cfg->otel_traces_endpoint[0])
        snprintf(t->url, sizeof t->url, "%s", cfg->otel_traces_endpoint);
    else {
        const size_t n = strlen(cfg->otel_endpoint);
        snprintf(t->url, sizeof t->url, "%.*s/v1/traces", (int)(n && cfg->otel_endpoint[n - 1] == '/' ? n - 1 : n),
                 cfg->otel_endpoint);
    }
    t->headers[0] = strdup("Content-Type: application/json");
    if (!t->headers[0] || each_pair(cfg->otel_headers, add_header, t) != 0) {
        snprintf(err, len, "out of memory");
        tracer_free(t);
        return -1;
    }
    t->resource = json_pack("{s:[]}", "attributes");
    const char *attrs = getenv("OTEL_RESOURCE_ATTRIBUTES");
    if (attrs && each_pair(attrs, add_resource_attr, t->resource) != 0) {
        snprintf(err, len, "out of memory");
        tracer_free(t);
        return -1;
    }
    char host[256] = "";
    gethostname(host, sizeof host - 1);
    resource_attr(t->resource, "service.name", cfg->otel_service_name[0] ? cfg->otel_service_name : service);
    resource_attr(t->resource, "service.version", AGENTCRON_VERSION);
    resource_attr(t->resource, "host.name", host);
    char *resource = json_dumps(t->resource, JSON_COMPACT);
    if (!resource || asprintf(&t->prefix, "{\"resourceSpans\":[{\"resource\":%s,\"scopeSpans\":[{\"scope\":"
                                          "{\"name\":\"agentcron\",\"version\":\"" AGENTCRON_VERSION "\"},\"spans\":[",
                              resource) < 0) {
        free(resource);
        snprintf(err, len, "out of memory");
        tracer_free(t);
        return -1;
    }
    free(resource);
    t->loop = loop, t->http = http;
    uv_timer_init(loop, &t->timer);
    t->timer.data = t;
    uv_timer_start(&t->timer, on_timer, TRACES_FLUSH_MS, TRACES_FLUSH_MS);
    *out = t;
    return 0;
}

/* ---- writing spans ---- */

static int reserve(struct tracer *t, size_t more)
{
    if (t->len + more <= t->cap)
        return 0;
    size_t cap = t->cap ? t->cap : 65536;
    while (cap < t->len + more)
        cap *= 2;
    char *b = realloc(t->buf, cap);
    if (!b)
        return -1;
    t->buf = b, t->cap = cap;
    return 0;
}

static void put(struct tracer *t, const char *s, size_t n)
{
    memcpy(t->buf + t->len, s, n); /* reserved by the caller */
    t->len += n;
}
#define PUT_LITERAL(t, s) put((t), (s), sizeof(s) - 1)

/* The length of the valid UTF-8 sequence at s, 0 if there is none. */
static size_t utf8_len(const unsigned char *s)
{
    const size_t n = s[0] < 0x80 ? 1 : (s[0] & 0xe0) == 0xc0 && s[0] >= 0xc2 ? 2 : (s[0] & 0xf0) == 0xe0 ? 3
                   : (s[0] & 0xf8) == 0xf0 && s[0] <= 0xf4                   ? 4
                                                                               : 0;
    for (size_t i = 1; i < n; i++)
        if ((s[i] & 0xc0) != 0x80)
            return 0;
    return n;
}

/* s as a JSON string, at most max bytes of it; bytes that are not UTF-8 become U+FFFD. */
static int put_string(struct tracer *t, const char *s, size_t max)
{
    const size_t n = strnlen(s, max);
    if (reserve(t, n * 6 + 2) != 0)
        return -1;
    t->buf[t->len++] = '"';
    for (size_t i = 0; i < n;) {
        size_t j = i; /* a run of plain ASCII goes in one copy */
        while (j < n && (unsigned char)s[j] >= 0x20 && (unsigned char)s[j] < 0x80 && s[j] != '"' && s[j] != '\\')
            j++;
        if (j > i) {
            put(t, s + i, j - i);
            i = j;
            continue;
        }
        const unsigned char c = (unsigned char)s[i];
        size_t u;
        if (c == '"' || c == '\\') {
            t->buf[t->len++] = '\\', t->buf[t->len++] = (char)c, i++;
        } else if (c < 0x20) {
            t->len += (size_t)sprintf(t->buf + t->len, "\\u%04x", c), i++;
        } else if ((u = utf8_len((const unsigned char *)s + i)) && i + u <= n) {
            put(t, s + i, u), i += u;
        } else {
            PUT_LITERAL(t, "\xef\xbf\xbd"), i++;
        }
    }
    t->buf[t->len++] = '"';
    return 0;
}

/* attrs as the elements of an OTLP attribute array. */
static int put_attrs(struct tracer *t, const struct trace_attr *attrs, size_t nattrs)
{
    for (size_t i = 0; i < nattrs; i++) {
        if (reserve(t, 64) != 0)
            return -1;
        if (i)
            PUT_LITERAL(t, ",");
        PUT_LITERAL(t, "{\"key\":");
        if (put_string(t, attrs[i].key, 100) != 0 || reserve(t, 64) != 0)
            return -1;
        if (attrs[i].str) {
            PUT_LITERAL(t, ",\"value\":{\"stringValue\":");
            if (put_string(t, attrs[i].str, 1024) != 0 || reserve(t, 8) != 0)
                return -1;
            PUT_LITERAL(t, "}}");
        } else
            t->len += (size_t)sprintf(t->buf + t->len, ",\"value\":{\"intValue\":\"%" PRId64 "\"}}", attrs[i].num);
    }
    return 0;
}

void tracer_span(struct tracer *t, const struct trace_ids *ids, const unsigned char span[8],
                 const unsigned char *parent, const char *name, int kind, int64_t start_ms, int64_t end_ms,
                 const char *error, const struct trace_attr *attrs, size_t nattrs, const struct trace_event *event)
{
    if (!t)
        return;
    if (t->count == TRACES_QUEUE_MAX) {
        t->counts.dropped++;
        return;
    }
    const size_t mark = t->len;
    char tid[33], sid[17], pid[17] = "", head[256];
    hex(ids->trace, 16, tid);
    hex(span, 8, sid);
    if (parent)
        hex(parent, 8, pid);
    int ok = reserve(t, sizeof head + 64) == 0;
    if (ok) {
        const int n = snprintf(head, sizeof head,
                               "{\"traceId\":\"%s\",\"spanId\":\"%s\"%s%s%s,\"kind\":%d,\"startTimeUnixNano\":\"%" PRId64
                               "000000\",\"endTimeUnixNano\":\"%" PRId64 "000000\",\"name\":",
                               tid, sid, parent ? ",\"parentSpanId\":\"" : "", pid, parent ? "\"" : "", kind, start_ms,
                               end_ms > start_ms ? end_ms : start_ms);
        put(t, head, (size_t)n);
        ok = put_string(t, name, 200) == 0 && reserve(t, 32) == 0;
        if (ok)
            PUT_LITERAL(t, ",\"attributes\":[");
    }
    ok = ok && put_attrs(t, attrs, nattrs) == 0 && reserve(t, 256) == 0;
    if (ok && event) {
        t->len += (size_t)sprintf(t->buf + t->len, "],\"events\":[{\"timeUnixNano\":\"%" PRId64 "000000\",\"name\":",
                                  event->at_ms);
        ok = put_string(t, event->name, 100) == 0 && reserve(t, 32) == 0;
        if (ok)
            PUT_LITERAL(t, ",\"attributes\":[");
        ok = ok && put_attrs(t, event->attrs, event->nattrs) == 0 && reserve(t, 8) == 0;
        if (ok)
            PUT_LITERAL(t, "]}");
    }
    if (ok && reserve(t, 64) == 0) {
        t->len += (size_t)sprintf(t->buf + t->len, "],\"status\":{\"code\":%d", error ? 2 : 1);
        if (error) {
            PUT_LITERAL(t, ",\"message\":");
            ok = put_string(t, error, 1024) == 0 && reserve(t, 8) == 0;
        }
        if (ok)
            PUT_LITERAL(t, "}},");
    } else
        ok = 0;
    if (!ok) { /* out of memory: this span is lost, the others stand */
        t->len = mark;
        t->counts.dropped++;
        return;
    }
    t->ends[t->count++] = t->len;
    if (t->count >= TRACES_BATCH_MAX && !t->inflight)
        on_timer(&t->timer);
}

static void on_exported(const struct http_response *res, void *data)
{
    struct tracer *t = data;
    const size_t n = t->inflight_spans;
    t->inflight = NULL, t->inflight_spans = 0;
    free(t->body);
    t->body = NULL;
    if (res->error == HTTP_OK && res->status >= 200 && res->status < 300) {
        t->counts.exported += (int64_t)n;
        if (t->failing_since_ms) {
            LOG(LOG_INFO, "traces.recovered", LOG_S("endpoint", t->url));
            t->failing_since_ms = 0;
        }
        return;
    }
    t->counts.failed += (int64_t)n;
    if (!t->failing_since_ms && res->error != AC_ECANCELED) {
        t->failing_since_ms = 1;
        char why[300];
        if (res->error == HTTP_OK)
            snprintf(why, sizeof why, "HTTP %d", res->status);
        else
            snprintf(why, sizeof why, "%s", res->message);
        LOG(LOG_WARN, "traces.export_failed", LOG_S("endpoint", t->url), LOG_S("error", why), LOG_I("spans", (int64_t)n),
            LOG_S("action", "spans are dropped (counted) until the collector answers; runs are not affected"));
    }
}

static void on_timer(uv_timer_t *h)
{
    struct tracer *t = h->data;
    if (t->inflight || !t->count)
        return;
    const size_t n = t->count < TRACES_BATCH_MAX ? t->count : TRACES_BATCH_MAX;
    const size_t spans_len = t->ends[n - 1] - 1; /* without the last comma */
    static const char suffix[] = "]}]}]}";
    const size_t prefix_len = strlen(t->prefix);
    if (!(t->body = malloc(prefix_len + spans_len + sizeof suffix))) {
        t->counts.failed += (int64_t)n; /* they go; the next ones may fit */
    } else {
        memcpy(t->body, t->prefix, prefix_len);
        memcpy(t->body + prefix_len, t->buf, spans_len);
        memcpy(t->body + prefix_len + spans_len, suffix, sizeof suffix);
    }
    const size_t taken = t->ends[n - 1];
    memmove(t->buf, t->buf + taken, t->len - taken);
    t->len -= taken;
    for (size_t i = n; i < t->count; i++)
        t->ends[i - n] = t->ends[i] - taken;
    t->count -= n;
    if (!t->body)
        return;
    const struct http_request_opts opts = {.method = "POST", .url = t->url, .headers = (const char *const *)t->headers,
                                           .body = t->body, .body_len = prefix_len + spans_len + sizeof suffix - 1,
                                           .timeout_ms = EXPORT_TIMEOUT_MS, .connect_timeout_ms = EXPORT_TIMEOUT_MS,
                                           .max_response_bytes = 65536};
    char err[300];
    t->inflight_spans = n;
    t->inflight = http_client_request(t->http, &opts, on_exported, t, err, sizeof err);
    if (!t->inflight) {
        t->counts.failed += (int64_t)n;
        t->inflight_spans = 0;
        free(t->body);
        t->body = NULL;
    }
}

void tracer_counts(const struct tracer *t, struct trace_counts *out)
{
    if (t)
        *out = t->counts;
    else
        memset(out, 0, sizeof *out);
}

static void on_closed(uv_handle_t *h)
{
    struct tracer *t = h->data;
    free(t->buf);
    free(t->prefix);
    free(t);
}

void tracer_free(struct tracer *t)
{
    if (!t)
        return;
    if (t->inflight)
        http_request_cancel(t->inflight); /* on_exported runs now */
    for (int i = 0; t->headers[i]; i++)
        free(t->headers[i]);
    json_decref(t->resource);
    if (!t->loop) { /* never started */
        free(t->prefix);
        free(t);
        return;
    }
    t->counts.dropped += (int64_t)t->count;
    uv_close((uv_handle_t *)&t->timer, on_closed);
}
