/* SPDX-License-Identifier: MIT */
/* English descriptions of parsed expressions, built from the field bitsets rather than the
 * text, so macros, names, `H` and equivalent spellings all read the same. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cron_int.h"

struct out {
    char *buf;
    size_t cap, len; /* len counts what would have been written, like snprintf */
};

static void put(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(struct out *o, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *at = o->len < o->cap ? o->buf + o->len : NULL;
    const int n = vsnprintf(at, at ? o->cap - o->len : 0, fmt, ap);
    va_end(ap);
    if (n > 0)
        o->len += (size_t)n;
}

/* Starts a new clause: capitalised first, then ", " before each. */
static void clause(struct out *o, int *clauses, const char *text)
{
    if ((*clauses)++ == 0)
        put(o, "%c%s", text[0] - ('a' <= text[0] && text[0] <= 'z' ? 32 : 0), text + 1);
    else
        put(o, ", %s", text);
}

struct shape {
    int count, first, last, step; /* step > 0 when the values form an arithmetic progression */
};

static struct shape shape_of(uint64_t set)
{
    struct shape s = {.count = __builtin_popcountll(set)};
    if (!set)
        return s;
    s.first = __builtin_ctzll(set);
    s.last = 63 - __builtin_clzll(set);
    if (s.count == 1)
        return s;
    const uint64_t rest = set & ~(UINT64_C(1) << s.first);
    s.step = __builtin_ctzll(rest) - s.first;
    for (int v = s.first; v <= s.last; v += s.step)
        if (!(set & (UINT64_C(1) << v)))
            return s.step = 0, s;
    if (s.count != (s.last - s.first) / s.step + 1)
        s.step = 0;
    return s;
}

/* "1, 15 and 30" with each value formatted by fmt_value. */
static void list(struct out *o, uint64_t set, void (*fmt_value)(struct out *, int))
{
    int remaining = __builtin_popcountll(set), i = 0;
    for (int v = 0; v < 64; v++) {
        if (!(set & (UINT64_C(1) << v)))
            continue;
        if (i++)
            put(o, remaining == 1 ? " and " : ", ");
        fmt_value(o, v);
        remaining--;
    }
}

static void fmt_number(struct out *o, int v)
{
    put(o, "%d", v);
}

static const char *const weekday_names[7] = {"Sunday", "Monday", "Tuesday", "Wednesday",
                                             "Thursday", "Friday", "Saturday"};
static const char *const month_names[12] = {"January", "February", "March", "April", "May",
                                            "June", "July", "August", "September", "October",
                                            "November", "December"};
static const char *const ordinals[5] = {"first", "second", "third", "fourth", "fifth"};

static void fmt_weekday(struct out *o, int v)
{
    put(o, "%s", weekday_names[v]);
}

static void fmt_month(struct out *o, int v)
{
    put(o, "%s", month_names[v]);
}

/* Describes a field of seconds or minutes ("unit"), in [0, 59]. */
static void sub_hour_field(struct out *o, uint64_t set, const char *unit)
{
    const struct shape s = shape_of(set);
    if (s.count == 60)
        put(o, "every %s", unit);
    else if (s.count == 1)
        put(o, "at %s %d", unit, s.first);
    else if (s.step == 1)
        put(o, "every %s from %d through %d", unit, s.first, s.last);
    else if (s.step > 1 && s.first < s.step && s.last + s.step > 59)
        s.first == 0 ? put(o, "every %d %ss", s.step, unit)
                     : put(o, "every %d %ss starting at %s %d", s.step, unit, unit, s.first);
    else
        put(o, "at %ss ", unit), list(o, set, fmt_number);
}

static void hour_field(struct out *o, uint64_t set)
{
    const struct shape s = shape_of(set);
    if (s.count == 1)
        put(o, "between %02d:00 and %02d:59", s.first, s.first);
    else if (s.step == 1)
        put(o, "between %02d:00 and %02d:59", s.first, s.last);
    else if (s.step > 1 && s.first < s.step && s.last + s.step > 23)
        s.first == 0 ? put(o, "every %d hours", s.step)
                     : put(o, "every %d hours starting at %02d:00", s.step, s.first);
    else
        put(o, "during hours "), list(o, set, fmt_number);
}

static void time_of_day(struct out *o, int *clauses, const struct cron_expr *e)
{
    char text[160];
    const int sec1 = __builtin_popcountll(e->seconds) == 1, min1 = __builtin_popcountll(e->minutes) == 1;
    const int hours = __builtin_popcount(e->hours);
    if (sec1 && min1 && hours <= 6) {
        const int s = __builtin_ctzll(e->seconds), m = __builtin_ctzll(e->minutes);
        struct out t = {text, sizeof text, 0};
        put(&t, "at ");
        int remaining = hours, i = 0;
        for (int h = 0; h < 24; h++) {
            if (!(e->hours & (1u << h)))
                continue;
            if (i++)
                put(&t, remaining == 1 ? " and " : ", ");
            put(&t, s ? "%02d:%02d:%02d" : "%02d:%02d", h, m, s);
            remaining--;
        }
        clause(o, clauses, text);
        return;
    }
    struct out t = {text, sizeof text, 0};
    if (e->seconds != 1) {
        sub_hour_field(&t, e->seconds, "second");
        clause(o, clauses, text);
        t.len = 0;
    }
    if (e->seconds == 1 && e->minutes == 1 && hours == 24) {
        clause(o, clauses, "every hour");
        return;
    }
    if (e->seconds == 1 || __builtin_popcountll(e->minutes) != 60) {
        sub_hour_field(&t, e->minutes, "minute");
        if (min1 && hours == 24)
            put(&t, " past every hour");
        clause(o, clauses, text);
        t.len = 0;
    }
    if (hours != 24) {
        hour_field(&t, e->hours);
        clause(o, clauses, text);
    }
}

static int dom_restricted(const struct cron_expr *e)
{
    return e->dom != UINT32_C(0x7fffffff) || e->dom_last || e->dom_nearest || e->dom_last_weekday;
}

static int dow_restricted(const struct cron_expr *e)
{
    if (e->dow != 0x7f || e->dow_last)
        return 1;
    for (int w = 0; w < 7; w++)
        if (e->dow_nth[w])
            return 1;
    return 0;
}

static void day_of_month(struct out *o, const struct cron_expr *e)
{
    const char *sep = "";
    if (e->dom) {
        const struct shape s = shape_of(e->dom);
        if (s.count == 1)
            put(o, "on day %d of the month", s.first + 1);
        else if (s.step == 1)
            put(o, "on days %d through %d of the month", s.first + 1, s.last + 1);
        else if (s.step > 1 && s.first < s.step && s.last + s.step > 30)
            put(o, "every %d days of the month starting on day %d", s.step, s.first + 1);
        else
            put(o, "on days "), list(o, (uint64_t)e->dom << 1, fmt_number), put(o, " of the month");
        sep = " and ";
    }
    for (uint32_t b = e->dom_last; b; b &= b - 1, sep = " and ") {
        const int n = __builtin_ctz(b);
        n ? put(o, "%son the %d%s day before the last day of the month", sep, n,
                n == 1 ? "st" : n == 2 ? "nd" : n == 3 ? "rd" : "th")
          : put(o, "%son the last day of the month", sep);
    }
    for (uint32_t b = e->dom_nearest; b; b &= b - 1, sep = " and ")
        put(o, "%son the weekday nearest day %d of the month", sep, __builtin_ctz(b) + 1);
    if (e->dom_last_weekday)
        put(o, "%son the last weekday of the month", sep);
}

static void day_of_week(struct out *o, const struct cron_expr *e)
{
    const char *sep = "";
    if (e->dow) {
        const struct shape s = shape_of(e->dow);
        if (s.step == 1 && s.count >= 3)
            put(o, "%s through %s", weekday_names[s.first], weekday_names[s.last]);
        else
            put(o, "on "), list(o, e->dow, fmt_weekday);
        sep = " and ";
    }
    for (int w = 0; w < 7; w++) {
        if (e->dow_last & (1u << w))
            put(o, "%son the last %s of the month", sep, weekday_names[w]), sep = " and ";
        for (int k = 0; k < 5; k++)
            if (e->dow_nth[w] & (1u << k))
                put(o, "%son the %s %s of the month", sep, ordinals[k], weekday_names[w]), sep = " and ";
    }
}

size_t cron_describe(const struct cron_expr *e, char *buf, size_t len)
{
    struct out o = {buf, len, 0};
    if (len)
        buf[0] = 0;
    int clauses = 0;
    time_of_day(&o, &clauses, e);

    char text[512];
    struct out t = {text, sizeof text, 0};
    const int dom = dom_restricted(e), dow = dow_restricted(e);
    if (dom)
        day_of_month(&t, e);
    if (dom && dow)
        put(&t, (e->dom_star || e->dow_star) ? ", if it is " : ", or ");
    if (dow)
        day_of_week(&t, e);
    if (t.len)
        clause(&o, &clauses, text);

    if (e->months != 0xfff) {
        t.len = 0;
        const struct shape s = shape_of(e->months);
        if (s.step == 1 && s.count >= 3)
            put(&t, "%s through %s", month_names[s.first], month_names[s.last]);
        else
            put(&t, "in "), list(&t, e->months, fmt_month);
        clause(&o, &clauses, text);
    }
    if (e->tz) {
        t.len = 0;
        put(&t, "in the %s timezone", e->tz);
        clause(&o, &clauses, text);
    }
    return o.len;
}
