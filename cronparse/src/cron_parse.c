/* SPDX-License-Identifier: MIT */
/* Parsing cron text into bitsets (cron_int.h), with errors that name field, text and column.
 *
 * The parser reads only within the given string, bounds every number it reads, and rejects at
 * parse time what it cannot honour, including expressions whose day fields and months never
 * meet: whether any day matches depends only on the month, its length and the weekday of its
 * 1st, so trying those (at most 12 x 2 x 7) combinations decides it exactly. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cron_int.h"
#include "cron_zone_int.h"

enum field { F_SEC, F_MIN, F_HOUR, F_DOM, F_MON, F_DOW, F_COUNT };

struct field_spec {
    const char *name;
    unsigned min, max;
    const char *const *names; /* three-letter names for min.., or NULL */
};

static const char *const month_names[] = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN",
                                          "JUL", "AUG", "SEP", "OCT", "NOV", "DEC", NULL};
static const char *const dow_names[] = {"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT", NULL};

static const struct field_spec specs[F_COUNT] = {
    [F_SEC] = {"second", 0, 59, NULL},      [F_MIN] = {"minute", 0, 59, NULL},
    [F_HOUR] = {"hour", 0, 23, NULL},       [F_DOM] = {"day-of-month", 1, 31, NULL},
    [F_MON] = {"month", 1, 12, month_names}, [F_DOW] = {"day-of-week", 0, 7, dow_names},
};

static const struct {
    const char *name, *expansion;
} macros[] = {
    {"@yearly", "0 0 1 1 *"}, {"@annually", "0 0 1 1 *"}, {"@monthly", "0 0 1 * *"},
    {"@weekly", "0 0 * * 0"}, {"@daily", "0 0 * * *"},    {"@midnight", "0 0 * * *"},
    {"@hourly", "0 * * * *"},
};

struct parser {
    const char *text; /* the whole original text: columns count from here */
    const char *hash_key;
    struct cron_error *err;
    uint64_t bits[F_COUNT];
    struct cron_expr *e;
};

static int fail(struct parser *p, int code, const char *field, const char *at, const char *fmt,
                ...) __attribute__((format(printf, 5, 6)));

static int fail(struct parser *p, int code, const char *field, const char *at, const char *fmt, ...)
{
    if (!p->err)
        return code;
    struct cron_error *err = p->err;
    char why[192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    err->code = code;
    err->column = at ? (int)(at - p->text) + 1 : 0;
    snprintf(err->field, sizeof err->field, "%s", field);
    if (err->column > 0)
        snprintf(err->message, sizeof err->message, "%s: %s (column %d)", field, why, err->column);
    else
        snprintf(err->message, sizeof err->message, "%s: %s", field, why);
    return code;
}

/* Quoted excerpt of [s, end) for messages, bounded so a hostile input cannot bloat them. */
static int excerpt_len(const char *s, const char *end)
{
    return (int)(end - s > 40 ? 40 : end - s);
}

static int is_space(char c)
{
    return c == ' ' || c == '\t';
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static int is_alpha(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

static char upper(char c)
{
    return (c >= 'a' && c <= 'z') ? (char)(c - 'a' + 'A') : c;
}

/* FNV-1a over the key, then one splitmix64 round per field: stable across versions and
 * machines (part of the contract: see cronparse/README.md). */
static uint64_t field_hash(const char *key, enum field f)
{
    uint64_t h = UINT64_C(0xcbf29ce484222325);
    for (const unsigned char *k = (const unsigned char *)key; *k; k++)
        h = (h ^ *k) * UINT64_C(0x100000001b3);
    h += (uint64_t)(f + 1) * UINT64_C(0x9e3779b97f4a7c15);
    h = (h ^ (h >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    h = (h ^ (h >> 27)) * UINT64_C(0x94d049bb133111eb);
    return h ^ (h >> 31);
}

/* Reads a number or (where the field has names) a three-letter name at *s, advancing *s. */
static int parse_value(struct parser *p, enum field f, const char **s, const char *end, unsigned *out)
{
    const struct field_spec *spec = &specs[f];
    const char *start = *s;
    if (start < end && is_digit(*start)) {
        unsigned v = 0;
        const char *q = start;
        while (q < end && is_digit(*q)) {
            if (v < 100000)
                v = v * 10 + (unsigned)(*q - '0');
            q++;
        }
        if (v < spec->min || v > spec->max)
            return fail(p, CRON_ERANGE, spec->name, start, "\"%.*s\" out of range %u-%u",
                        excerpt_len(start, q), start, spec->min, spec->max);
        *s = q;
        *out = v;
        return 0;
    }
    if (start < end && is_alpha(*start)) {
        const char *q = start;
        while (q < end && is_alpha(*q))
            q++;
        if (spec->names && q - start == 3) {
            for (unsigned i = 0; spec->names[i]; i++) {
                const char *n = spec->names[i];
                if (upper(start[0]) == n[0] && upper(start[1]) == n[1] && upper(start[2]) == n[2]) {
                    *s = q;
                    *out = spec->min + i;
                    return 0;
                }
            }
        }
        if (spec->names)
            return fail(p, CRON_ESYNTAX, spec->name, start, "\"%.*s\" is not a %s name (%s-%s)",
                        excerpt_len(start, q), start, f == F_MON ? "month" : "weekday",
                        spec->names[0], f == F_MON ? "DEC" : "SAT");
        return fail(p, CRON_ESYNTAX, spec->name, start, "\"%.*s\" is not a number (%s takes %u-%u)",
                    excerpt_len(start, q), start, spec->name, spec->min, spec->max);
    }
    if (start >= end)
        return fail(p, CRON_ESYNTAX, spec->name, start, "a value is missing here");
    return fail(p, CRON_ESYNTAX, spec->name, start, "unexpected \"%c\"; expected a value", *start);
}

static int parse_step(struct parser *p, enum field f, const char **s, const char *end, unsigned *step)
{
    const struct field_spec *spec = &specs[f];
    const char *start = *s;
    unsigned v = 0;
    const char *q = start;
    while (q < end && is_digit(*q)) {
        if (v < 100000)
            v = v * 10 + (unsigned)(*q - '0');
        q++;
    }
    if (q == start)
        return fail(p, CRON_ESYNTAX, spec->name, start, "a step number must follow \"/\"");
    if (v < 1 || v > spec->max)
        return fail(p, CRON_ERANGE, spec->name, start, "step \"%.*s\" out of range 1-%u",
                    excerpt_len(start, q), start, spec->max);
    *s = q;
    *step = v;
    return 0;
}

/* Sets lo..hi (wrapping past max back to min when lo > hi), every step-th value. */
static void set_range(struct parser *p, enum field f, unsigned lo, unsigned hi, unsigned step)
{
    const struct field_spec *spec = &specs[f];
    const unsigned span = spec->max - spec->min + 1;
    const unsigned count = lo <= hi ? hi - lo + 1 : (spec->max - lo + 1) + (hi - spec->min + 1);
    for (unsigned i = 0; i < count; i += step) {
        unsigned v = lo + i;
        if (v > spec->max)
            v -= span;
        p->bits[f] |= UINT64_C(1) << v;
    }
}

static int expect_end(struct parser *p, enum field f, const char *s, const char *end)
{
    if (s == end)
        return 0;
    return fail(p, CRON_ESYNTAX, specs[f].name, s, "unexpected \"%.*s\"", excerpt_len(s, end), s);
}

/* The tail every item may have: an optional `/S`, then nothing more. */
static int parse_step_and_end(struct parser *p, enum field f, const char *s, const char *end, unsigned *step)
{
    if (s < end && *s == '/') {
        s++;
        int rc = parse_step(p, f, &s, end, step);
        if (rc)
            return rc;
    }
    return expect_end(p, f, s, end);
}

/* `H`, `H(A-B)`, `H/S`, `H(A-B)/S`. */
static int parse_hash(struct parser *p, enum field f, const char *s, const char *end)
{
    const struct field_spec *spec = &specs[f];
    const char *item = s;
    if (!p->hash_key)
        return fail(p, CRON_ENOKEY, spec->name, item,
                    "\"H\" needs a hash key (the task id) and none was given");
    /* Day-of-month stops at 28 so a hashed day exists in every month (as in Jenkins). */
    unsigned lo = spec->min, hi = f == F_DOM ? 28 : f == F_DOW ? 6 : spec->max, step = 0;
    s++;
    if (s < end && *s == '(') {
        const char *range = ++s;
        int rc = parse_value(p, f, &s, end, &lo);
        if (rc)
            return rc;
        if (s >= end || *s != '-')
            return fail(p, CRON_ESYNTAX, spec->name, s, "expected \"-\" in H(A-B)");
        s++;
        if ((rc = parse_value(p, f, &s, end, &hi)))
            return rc;
        if (s >= end || *s != ')')
            return fail(p, CRON_ESYNTAX, spec->name, s, "expected \")\" to close H(A-B)");
        if (lo > hi)
            return fail(p, CRON_ERANGE, spec->name, range, "H range \"%.*s\" must not wrap (A <= B)",
                        excerpt_len(range, s), range);
        s++;
    }
    int rc = parse_step_and_end(p, f, s, end, &step);
    if (rc)
        return rc;
    const uint64_t h = field_hash(p->hash_key, f);
    const unsigned width = hi - lo + 1;
    if (step == 0) {
        set_range(p, f, lo + (unsigned)(h % width), lo + (unsigned)(h % width), 1);
    } else {
        const unsigned first = lo + (unsigned)(h % (step < width ? step : width));
        set_range(p, f, first, hi, step);
    }
    return 0;
}

/* Day-of-month items `L`, `L-N`, `LW`, `NW`; returns 1 if the item was not one of them. */
static int parse_dom_special(struct parser *p, const char *s, const char *end)
{
    struct cron_expr *e = p->e;
    const char *item = s;
    if (*s == 'L' || *s == 'l') {
        s++;
        if (s == end) {
            e->dom_last |= 1;
            return 0;
        }
        if (end - s == 1 && (*s == 'W' || *s == 'w')) {
            e->dom_last_weekday = 1;
            return 0;
        }
        if (*s == '-') {
            const char *num = ++s;
            unsigned n = 0;
            while (s < end && is_digit(*s)) {
                if (n < 1000)
                    n = n * 10 + (unsigned)(*s - '0');
                s++;
            }
            if (s == num || s != end)
                return fail(p, CRON_ESYNTAX, "day-of-month", item,
                            "\"%.*s\" is not L-N (N days before the last day)",
                            excerpt_len(item, end), item);
            if (n > 30)
                return fail(p, CRON_ERANGE, "day-of-month", num, "\"L-%u\" out of range L-0 to L-30", n);
            e->dom_last |= UINT32_C(1) << n;
            return 0;
        }
        return fail(p, CRON_ESYNTAX, "day-of-month", item,
                    "\"%.*s\" is not L, L-N or LW", excerpt_len(item, end), item);
    }
    if (end[-1] == 'W' || end[-1] == 'w') {
        const char *q = s;
        unsigned day;
        int rc = parse_value(p, F_DOM, &q, end - 1, &day);
        if (rc)
            return rc;
        if (q != end - 1)
            return fail(p, CRON_ESYNTAX, "day-of-month", item,
                        "\"%.*s\" is not NW (the weekday nearest day N)", excerpt_len(item, end), item);
        e->dom_nearest |= UINT32_C(1) << (day - 1);
        return 0;
    }
    return 1;
}

/* Day-of-week items `DL` and `D#K`; returns 1 if the item was not one of them. */
static int parse_dow_special(struct parser *p, const char *s, const char *end)
{
    struct cron_expr *e = p->e;
    const char *item = s;
    if (end - s == 1 && (*s == 'L' || *s == 'l'))
        return fail(p, CRON_ESYNTAX, "day-of-week", item,
                    "a bare \"L\" is ambiguous: write 6 or SAT for Saturday, or DL (e.g. 5L) for "
                    "the last weekday D of the month");
    const char *hash = memchr(s, '#', (size_t)(end - s));
    const int last = !hash && end - s >= 2 && (end[-1] == 'L' || end[-1] == 'l');
    if (!hash && !last)
        return 1;
    unsigned wd;
    const char *q = s;
    int rc = parse_value(p, F_DOW, &q, hash ? hash : end - 1, &wd);
    if (rc)
        return rc;
    if (q != (hash ? hash : end - 1))
        return fail(p, CRON_ESYNTAX, "day-of-week", item, "\"%.*s\" is not DL or D#K",
                    excerpt_len(item, end), item);
    wd %= 7;
    if (last) {
        e->dow_last |= (uint8_t)(1u << wd);
        return 0;
    }
    const char *num = hash + 1;
    if (end - num != 1 || !is_digit(*num))
        return fail(p, CRON_ESYNTAX, "day-of-week", num, "\"#\" must be followed by one digit 1-5");
    const unsigned k = (unsigned)(*num - '0');
    if (k < 1 || k > 5)
        return fail(p, CRON_ERANGE, "day-of-week", num, "\"#%u\" out of range #1-#5", k);
    e->dow_nth[wd] |= (uint8_t)(1u << (k - 1));
    return 0;
}

static int parse_item(struct parser *p, enum field f, const char *s, const char *end)
{
    const struct field_spec *spec = &specs[f];
    if (s == end)
        return fail(p, CRON_ESYNTAX, spec->name, s, "empty list item");
    if (*s == '?') {
        if (f != F_DOM && f != F_DOW)
            return fail(p, CRON_ESYNTAX, spec->name, s,
                        "\"?\" is allowed only in day-of-month and day-of-week");
        set_range(p, f, spec->min, f == F_DOW ? 6 : spec->max, 1);
        return expect_end(p, f, s + 1, end);
    }
    if (*s == 'H' || *s == 'h')
        return parse_hash(p, f, s, end);
    if (f == F_DOM) {
        int rc = parse_dom_special(p, s, end);
        if (rc <= 0)
            return rc;
    } else if (f == F_DOW) {
        int rc = parse_dow_special(p, s, end);
        if (rc <= 0)
            return rc;
    }
    unsigned lo, hi, step = 1;
    if (*s == '*') {
        lo = spec->min;
        hi = f == F_DOW ? 6 : spec->max;
        s++;
    } else {
        int rc = parse_value(p, f, &s, end, &lo);
        if (rc)
            return rc;
        hi = lo;
        if (s < end && *s == '-') {
            s++;
            if ((rc = parse_value(p, f, &s, end, &hi)))
                return rc;
        } else if (s < end && *s == '/') {
            hi = spec->max; /* `N/S` means N..max */
        }
    }
    int rc = parse_step_and_end(p, f, s, end, &step);
    if (rc)
        return rc;
    set_range(p, f, lo, hi, step);
    return 0;
}

static int parse_field(struct parser *p, enum field f, const char *s, const char *end)
{
    for (;;) {
        const char *comma = memchr(s, ',', (size_t)(end - s));
        const char *item_end = comma ? comma : end;
        int rc = parse_item(p, f, s, item_end);
        if (rc)
            return rc;
        if (!comma)
            return 0;
        s = comma + 1;
    }
}

/* Moves the accumulated bits into the expression's layout. */
static void finish_bits(struct parser *p)
{
    struct cron_expr *e = p->e;
    e->seconds = p->bits[F_SEC];
    e->minutes = p->bits[F_MIN];
    e->hours = (uint32_t)p->bits[F_HOUR];
    e->dom = (uint32_t)(p->bits[F_DOM] >> 1);
    e->months = (uint16_t)(p->bits[F_MON] >> 1);
    e->dow = (uint8_t)((p->bits[F_DOW] & 0x7f) | ((p->bits[F_DOW] >> 7) & 1));
}

static int can_ever_fire(const struct cron_expr *e)
{
    for (unsigned m = 1; m <= 12; m++) {
        if (!(e->months & (1u << (m - 1))))
            continue;
        const unsigned shortest = cron_days_in_month(2001, m), longest = cron_days_in_month(2000, m);
        for (unsigned len = shortest; len <= longest; len++)
            for (unsigned wd1 = 0; wd1 < 7; wd1++)
                if (cron_day_mask(e, len, wd1))
                    return 1;
    }
    return 0;
}

/* Splits `s` into whitespace-separated fields; returns how many (up to max + 1). */
static int split_fields(const char *s, const char *fields[], const char *ends[], int max)
{
    int n = 0;
    while (*s) {
        while (is_space(*s))
            s++;
        if (!*s)
            break;
        if (n == max)
            return max + 1;
        fields[n] = s;
        while (*s && !is_space(*s))
            s++;
        ends[n++] = s;
    }
    return n;
}

static int parse_tz_prefix(struct parser *p, const char **s)
{
    const char *q = *s;
    size_t skip = strncmp(q, "TZ=", 3) == 0 ? 3 : strncmp(q, "CRON_TZ=", 8) == 0 ? 8 : 0;
    if (!skip)
        return 0;
    const char *name = q + skip, *end = name;
    while (*end && !is_space(*end))
        end++;
    if (end == name)
        return fail(p, CRON_EZONE, "timezone", name, "a zone name must follow \"%.*s\"", (int)skip, q);
    char *tz = strndup(name, (size_t)(end - name));
    if (!tz)
        return fail(p, CRON_ENOMEM, "expression", NULL, "out of memory");
    char canonical[CRON_ZONE_NAME_MAX];
    if (cron_zone_canonical(tz, canonical, sizeof canonical) != 0) {
        free(tz);
        return fail(p, CRON_EZONE, "timezone", name,
                    "\"%.*s\" is not an IANA timezone (e.g. America/New_York)",
                    excerpt_len(name, end), name);
    }
    p->e->tz = tz;
    *s = end;
    return 0;
}

static int check_chars(struct parser *p, const char *text)
{
    for (const char *c = text; *c; c++) {
        const unsigned char u = (unsigned char)*c;
        if (u < 0x20 && u != '\t')
            return fail(p, CRON_ESYNTAX, "expression", c, "control character 0x%02x", u);
        if (u >= 0x7f)
            return fail(p, CRON_ESYNTAX, "expression", c,
                        "non-ASCII byte 0x%02x (cron expressions are ASCII)", u);
    }
    return 0;
}

static int parse_macro(struct parser *p, const char *s, const char **expansion)
{
    const char *end = s;
    while (*end && !is_space(*end))
        end++;
    const char *rest = end;
    while (is_space(*rest))
        rest++;
    if (*rest)
        return fail(p, CRON_ESYNTAX, "expression", rest, "nothing may follow a macro");
    const size_t len = (size_t)(end - s);
    if (len == 7 && strncasecmp(s, "@reboot", 7) == 0)
        return fail(p, CRON_ESYNTAX, "expression", s,
                    "\"@reboot\" is not supported: a fleet scheduler has no reboot; trigger the "
                    "task instead");
    for (size_t i = 0; i < sizeof macros / sizeof macros[0]; i++) {
        if (strlen(macros[i].name) == len && strncasecmp(s, macros[i].name, len) == 0) {
            *expansion = macros[i].expansion;
            return 0;
        }
    }
    return fail(p, CRON_ESYNTAX, "expression", s,
                "unknown macro \"%.*s\" (use @yearly, @annually, @monthly, @weekly, @daily, "
                "@midnight or @hourly)", excerpt_len(s, end), s);
}

/* Parses the five or six fields starting at s. `base` is where columns count from. */
static int parse_fields(struct parser *p, const char *s)
{
    const char *fields[6], *ends[6];
    const int n = split_fields(s, fields, ends, 6);
    if (n != 5 && n != 6)
        return fail(p, CRON_ESYNTAX, "expression", n ? fields[0] : s,
                    n > 6 ? "expected 5 or 6 fields, got more than 6"
                          : "expected 5 or 6 fields, got %d", n);
    const int first = n == 6 ? F_SEC : F_MIN;
    if (n == 5)
        p->bits[F_SEC] = 1; /* second 0 */
    p->e->six_fields = n == 6;
    for (int i = 0; i < n; i++) {
        int rc = parse_field(p, (enum field)(first + i), fields[i], ends[i]);
        if (rc)
            return rc;
    }
    const char *hour = fields[F_HOUR - first], *dom = fields[F_DOM - first], *dow = fields[F_DOW - first];
    p->e->interval = hour[0] == '*';
    p->e->dom_star = dom[0] == '*' || dom[0] == '?';
    p->e->dow_star = dow[0] == '*' || dow[0] == '?';
    finish_bits(p);
    if (!can_ever_fire(p->e)) {
        const char *dom_end = ends[F_DOM - first], *mon = fields[F_MON - first];
        const char *mon_end = ends[F_MON - first], *dow_end = ends[F_DOW - first];
        return fail(p, CRON_ENEVER, "expression", dom,
                    "can never fire: no month in \"%.*s\" has a day matching day-of-month "
                    "\"%.*s\" and day-of-week \"%.*s\"", excerpt_len(mon, mon_end), mon,
                    excerpt_len(dom, dom_end), dom, excerpt_len(dow, dow_end), dow);
    }
    return 0;
}

int cron_parse(const char *text, const char *hash_key, struct cron_expr **out, struct cron_error *err)
{
    struct parser p = {.text = text, .hash_key = hash_key, .err = err};
    *out = NULL;
    if (err)
        memset(err, 0, sizeof *err);
    if (!text)
        return fail(&p, CRON_ESYNTAX, "expression", NULL, "no expression given");
    const size_t len = strnlen(text, CRON_MAX_EXPR_LEN + 1);
    if (len > CRON_MAX_EXPR_LEN)
        return fail(&p, CRON_ETOOLONG, "expression", NULL, "longer than %d bytes", CRON_MAX_EXPR_LEN);
    int rc = check_chars(&p, text);
    if (rc)
        return rc;
    if (!(p.e = calloc(1, sizeof *p.e)))
        return fail(&p, CRON_ENOMEM, "expression", NULL, "out of memory");

    const char *s = text;
    while (is_space(*s))
        s++;
    if ((rc = parse_tz_prefix(&p, &s)))
        goto fail;
    while (is_space(*s))
        s++;
    if (!*s) {
        rc = fail(&p, CRON_ESYNTAX, "expression", NULL, "empty expression");
        goto fail;
    }
    if (*s == '@') {
        const char *expansion = NULL;
        if ((rc = parse_macro(&p, s, &expansion)))
            goto fail;
        /* Columns in a macro's expansion never appear in errors: expansions are valid. */
        p.text = expansion;
        s = expansion;
    }
    if ((rc = parse_fields(&p, s)))
        goto fail;
    *out = p.e;
    return 0;
fail:
    cron_free(p.e);
    return rc;
}

void cron_free(struct cron_expr *expr)
{
    if (!expr)
        return;
    free(expr->tz);
    free(expr);
}

const char *cron_expr_timezone(const struct cron_expr *expr)
{
    return expr->tz;
}

int cron_expr_is_interval(const struct cron_expr *expr)
{
    return expr->interval;
}

const char *cron_strerror(int code)
{
    switch (code) {
#define CRON_ERRNO_CASE(name, value, text) \
    case value:                            \
        return text;
        CRON_ERRNO_MAP(CRON_ERRNO_CASE)
#undef CRON_ERRNO_CASE
    case 0:
        return "success";
    }
    return "unknown error";
}
