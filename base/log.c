/* SPDX-License-Identifier: MIT */
/* The event logger (see log.h). Each line is built in a bounded buffer and written with one
 * write(2), so lines from threads never interleave; values are quoted or JSON-escaped so a
 * hostile value cannot forge another field or line. */
#include "log.h"

#include "timefmt.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LINE_MAX_BYTES 8192

static int log_json;
static enum log_level log_min = LOG_INFO;
static int journald; /* stderr goes to the journal: prefix priorities */

static const char *const level_names[] = {"debug", "info", "warn", "error"};
static const int journal_priority[] = {7, 6, 4, 3};

void log_setup(int json, const char *min_level)
{
    log_json = json;
    for (int l = LOG_DEBUG; l <= LOG_ERROR; l++)
        if (min_level && !strcmp(min_level, level_names[l]))
            log_min = (enum log_level)l;
    journald = getenv("JOURNAL_STREAM") != NULL;
}

struct line {
    char buf[LINE_MAX_BYTES];
    size_t len;
};

static void add(struct line *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void add(struct line *l, const char *fmt, ...)
{
    if (l->len >= sizeof l->buf)
        return;
    va_list ap;
    va_start(ap, fmt);
    const int n = vsnprintf(l->buf + l->len, sizeof l->buf - l->len, fmt, ap);
    va_end(ap);
    if (n > 0)
        l->len = l->len + (size_t)n < sizeof l->buf ? l->len + (size_t)n : sizeof l->buf - 1;
}

/* A string value: JSON-escaped in json mode; in text, bare if it is one safe word, else quoted. */
static void add_string(struct line *l, const char *s)
{
    int bare = !log_json && *s;
    for (const char *c = s; bare && *c; c++)
        bare = (unsigned char)*c > ' ' && *c != '"' && *c != '=' && *c != '\\' && (unsigned char)*c < 0x7f;
    if (bare) {
        add(l, "%s", s);
        return;
    }
    add(l, "\"");
    for (const unsigned char *c = (const unsigned char *)s; *c && l->len < sizeof l->buf - 8; c++) {
        if (*c == '"' || *c == '\\')
            add(l, "\\%c", *c);
        else if (*c == '\n')
            add(l, "\\n");
        else if (*c < 0x20 || *c == 0x7f)
            add(l, "\\u%04x", *c);
        else
            l->buf[l->len++] = (char)*c;
    }
    add(l, "\"");
}

static void add_field(struct line *l, const struct log_field *f)
{
    add(l, log_json ? ",\"%s\":" : " %s=", f->key);
    switch (f->type) {
    case LOG_FIELD_STR:
        add_string(l, f->s ? f->s : "");
        break;
    case LOG_FIELD_INT:
        add(l, "%lld", (long long)f->i);
        break;
    case LOG_FIELD_DOUBLE:
        add(l, "%.3f", f->d);
        break;
    case LOG_FIELD_END:
        break;
    }
}

void log_event(enum log_level level, const char *event, const struct log_field *fields)
{
    if (level < log_min)
        return;
    char when[TIMEFMT_RFC3339_MAX];
    timefmt_rfc3339(timefmt_now_ms(), 0, 1, when);
    struct line l = {.len = 0};
    if (journald)
        add(&l, "<%d>", journal_priority[level]);
    if (log_json) {
        add(&l, "{\"ts\":\"%s\",\"level\":\"%s\",\"event\":", when, level_names[level]);
        add_string(&l, event);
    } else {
        add(&l, "ts=%s level=%s event=", when, level_names[level]);
        add_string(&l, event);
    }
    for (const struct log_field *f = fields; f && f->type != LOG_FIELD_END; f++)
        add_field(&l, f);
    add(&l, log_json ? "}\n" : "\n");
    if (l.len >= sizeof l.buf - 1) /* truncated: still end the line */
        l.buf[sizeof l.buf - 2] = '\n', l.len = sizeof l.buf - 1;
    const ssize_t written = write(2, l.buf, l.len);
    (void)written;
}
