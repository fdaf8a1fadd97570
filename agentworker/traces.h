/* SPDX-License-Identifier: MIT */
/* A trace per run, exported over OTLP/HTTP with JSON (docs/tracing.md) when the standard
 * OpenTelemetry variables name a collector (OTEL_EXPORTER_OTLP_ENDPOINT or
 * OTEL_EXPORTER_OTLP_TRACES_ENDPOINT; OTEL_EXPORTER_OTLP_HEADERS, OTEL_SERVICE_NAME,
 * OTEL_RESOURCE_ATTRIBUTES, OTEL_SDK_DISABLED).
 *
 * A run's trace and span ids are derived from the run (its id and slot), so every worker that
 * takes part in it (each attempt may run elsewhere) joins the same trace without asking anyone:
 *   agentcron.run (root: the slot to the end; an event "enqueued" when it was queued)
 *     > agentcron.attempt (one per attempt)
 *         > agentcron.call (the http or llm call, whose id goes to the receiver in traceparent)
 *
 * Spans are buffered (at most TRACES_QUEUE_MAX; more are dropped and counted) and sent in
 * batches of up to TRACES_BATCH_MAX every second through the worker's HTTP client, one request
 * at a time: exporting never blocks or slows a run, and a collector that is down costs only
 * the spans (counted as failed). Loop thread only. */
#ifndef AGENTCRON_TRACES_H
#define AGENTCRON_TRACES_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct config;
struct http_client;

#define TRACES_QUEUE_MAX 2048
#define TRACES_BATCH_MAX 512
#define TRACES_FLUSH_MS 1000

struct tracer;

/* What a run's trace is made of: ids derived from (run id, slot). */
struct trace_ids {
    unsigned char trace[16];
    unsigned char run[8];     /* the root span */
};
void trace_ids_of(int64_t run_id, int64_t scheduled_for_ms, struct trace_ids *out);
/* The span id of one part of the run: "enqueue", "attempt:N", "http:N". */
void trace_span_id(const struct trace_ids *ids, const char *part, unsigned char out[8]);
/* The W3C traceparent of span id (55 characters and a NUL). */
void trace_parent_header(const struct trace_ids *ids, const unsigned char span[8], char out[56]);

struct trace_counts {
    int64_t exported, dropped, failed; /* spans: taken by the collector, over the queue, lost in export */
};

/* Checks the OTEL_* settings (protocol, URL, headers, resource attributes): 0, or -1 with the
 * reason in err, for a daemon to refuse to start with. */
int tracer_check_config(const struct config *cfg, char *err, size_t len);

/* From cfg's OTEL_* settings: 0 with *out NULL when tracing is off, 0 with a tracer, or -1 with
 * the reason in err (a configuration to refuse at start). service: the default service.name. */
int tracer_new(uv_loop_t *loop, struct http_client *http, const struct config *cfg, const char *service,
               struct tracer **out, char *err, size_t len);

/* A span's attribute: a string (str non-NULL) or an integer. */
struct trace_attr {
    const char *key, *str;
    int64_t num;
};
#define TRACE_STR(k, v) {(k), (v) ? (v) : "", 0}
#define TRACE_INT(k, v) {(k), NULL, (v)}

/* Something that happened at an instant within a span (a span event). */
struct trace_event {
    const char *name;
    int64_t at_ms;
    const struct trace_attr *attrs;
    size_t nattrs;
};

/* Queues a finished span, written out as OTLP JSON at once (a few hundred bytes; no
 * allocation per span). parent NULL: a root. kind: 1 internal, 3 client. error: NULL for an
 * ok status, else its message. event: NULL, or one event. t NULL: nothing. */
void tracer_span(struct tracer *t, const struct trace_ids *ids, const unsigned char span[8],
                 const unsigned char *parent, const char *name, int kind, int64_t start_ms, int64_t end_ms,
                 const char *error, const struct trace_attr *attrs, size_t nattrs, const struct trace_event *event);

void tracer_counts(const struct tracer *t, struct trace_counts *out);

/* Stops the timer and frees the tracer; a request in flight is cancelled with the HTTP client.
 * Spans still queued are counted as dropped. */
void tracer_free(struct tracer *t);

#endif
