/* SPDX-License-Identifier: MIT */
/* One line per event, to stderr: `ts=... level=info event=run.enqueued run=12 task=3` (text)
 * or the same keys as a JSON object. Under systemd (JOURNAL_STREAM set) each line starts with
 * its journald priority (<6> ...). Thread-safe: a line is written with one write(2). */
#ifndef AGENTCRON_LOG_H
#define AGENTCRON_LOG_H

#include <stdint.h>

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

enum log_field_type { LOG_FIELD_END, LOG_FIELD_STR, LOG_FIELD_INT, LOG_FIELD_DOUBLE };

struct log_field {
    const char *key;
    enum log_field_type type;
    const char *s;
    int64_t i;
    double d;
};

#define LOG_S(k, v) ((struct log_field){.key = (k), .type = LOG_FIELD_STR, .s = (v)})
#define LOG_I(k, v) ((struct log_field){.key = (k), .type = LOG_FIELD_INT, .i = (int64_t)(v)})
#define LOG_D(k, v) ((struct log_field){.key = (k), .type = LOG_FIELD_DOUBLE, .d = (double)(v)})

/* Configures the process's logger: json or text, and the lowest level written ("debug",
 * "info", "warn", "error"). Call once at start-up, before threads. */
void log_setup(int json, const char *min_level);

/* Writes one event with its fields: an array ended by a LOG_FIELD_END field, or NULL. */
void log_event(enum log_level level, const char *event, const struct log_field *fields);

/* LOG(LOG_INFO, "run.enqueued", LOG_I("run", id), LOG_S("task", name)): at least one field. */
#define LOG(level, event, ...) log_event(level, event, (const struct log_field[]){__VA_ARGS__, {0}})

#endif
