/* SPDX-License-Identifier: MIT */
/* POSIX TZ strings: parsing, and expanding the DST rule into concrete transitions, year by
 * year, the way zic and zdump read a TZif footer. */
#include "posixtz.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *skip_name(const char *s)
{
    if (*s == '<') {
        const char *close = strchr(s, '>');
        return close ? close + 1 : NULL;
    }
    const char *start = s;
    while ((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z'))
        s++;
    return s - start >= 3 ? s : NULL;
}

/* [+-]hh[:mm[:ss]] with hours up to max_hours; stores seconds (sign as written). */
static const char *parse_hms(const char *s, int max_hours, int32_t *out)
{
    int sign = 1;
    if (*s == '+' || *s == '-')
        sign = *s++ == '-' ? -1 : 1;
    int part[3] = {0, 0, 0}, n = 0;
    for (; n < 3; n++) {
        if (*s < '0' || *s > '9')
            return NULL;
        int v = 0, digits = 0;
        while (*s >= '0' && *s <= '9' && digits < 3)
            v = v * 10 + (*s++ - '0'), digits++;
        part[n] = v;
        if (*s != ':')
            break;
        s++;
    }
    if (part[0] > max_hours || part[1] > 59 || part[2] > 59)
        return NULL;
    *out = sign * (part[0] * 3600 + part[1] * 60 + part[2]);
    return s;
}

static const char *parse_int(const char *s, int lo, int hi, int *out)
{
    if (*s < '0' || *s > '9')
        return NULL;
    int v = 0;
    while (*s >= '0' && *s <= '9' && v <= hi)
        v = v * 10 + (*s++ - '0');
    if (v < lo || v > hi)
        return NULL;
    *out = v;
    return s;
}

static const char *parse_date(const char *s, struct posixtz_date *d)
{
    memset(d, 0, sizeof *d);
    d->time = 2 * 3600;
    if (*s == 'J') {
        d->kind = 'J';
        s = parse_int(s + 1, 1, 365, &d->day);
    } else if (*s == 'M') {
        d->kind = 'M';
        if ((s = parse_int(s + 1, 1, 12, &d->month)) && *s == '.' &&
            (s = parse_int(s + 1, 1, 5, &d->week)) && *s == '.')
            s = parse_int(s + 1, 0, 6, &d->weekday);
        else
            s = NULL;
    } else {
        d->kind = 'D';
        s = parse_int(s, 0, 365, &d->day);
    }
    if (s && *s == '/')
        s = parse_hms(s + 1, 167, &d->time);
    return s;
}

int posixtz_parse(const char *text, struct posixtz *out, const char **why)
{
    memset(out, 0, sizeof *out);
    const char *s = skip_name(text);
    int32_t off;
    if (!s || !(s = parse_hms(s, 24, &off)))
        return *why = "POSIX TZ string: bad standard-time name or offset", -1;
    out->std_utoff = -off; /* POSIX offsets count west of UTC */
    if (!*s)
        return 0;
    if (!(s = skip_name(s)))
        return *why = "POSIX TZ string: bad daylight-time name", -1;
    out->has_dst = 1;
    out->dst_utoff = out->std_utoff + 3600;
    if (*s && *s != ',') {
        if (!(s = parse_hms(s, 24, &off)))
            return *why = "POSIX TZ string: bad daylight-time offset", -1;
        out->dst_utoff = -off;
    }
    if (*s != ',') /* no rule: POSIX leaves it to the implementation; TZif footers always give one */
        return *why = "POSIX TZ string: daylight time without a rule", -1;
    if (!(s = parse_date(s + 1, &out->start)) || *s != ',' || !(s = parse_date(s + 1, &out->end)) || *s)
        return *why = "POSIX TZ string: bad rule date or time", -1;
    return 0;
}

static int is_leap(int64_t y)
{
    return y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
}

static int64_t days_from_civil(int64_t y, int m, int d)
{
    struct tm tm = {.tm_year = (int)(y - 1900), .tm_mon = m - 1, .tm_mday = d};
    return (int64_t)timegm(&tm) / 86400;
}

/* Local midnight (as days since the epoch) of the rule's date in year y. */
static int64_t rule_day(const struct posixtz_date *d, int64_t y)
{
    const int64_t jan1 = days_from_civil(y, 1, 1);
    if (d->kind == 'J')
        return jan1 + d->day - 1 + (is_leap(y) && d->day >= 60);
    if (d->kind == 'D')
        return jan1 + d->day;
    static const int len[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    const int month_len = len[d->month - 1] + (d->month == 2 && is_leap(y));
    const int64_t first = days_from_civil(y, d->month, 1);
    const int wd1 = (int)(((first + 4) % 7 + 7) % 7); /* 1970-01-01 was a Thursday */
    int day = 1 + (d->weekday - wd1 + 7) % 7 + 7 * (d->week - 1);
    while (day > month_len)
        day -= 7;
    return first + day - 1;
}

size_t posixtz_expand(const struct posixtz *tz, int64_t after, int32_t utoff, uint8_t isdst,
                      int last_year, struct posixtz_transition *out, size_t cap)
{
    /* Only instants before the end of last_year, and only years from 1800 on, are looked at,
     * so that a hostile `after` cannot make the work unbounded. */
    if (last_year < 1800 || last_year > 9999 || cap == 0)
        return 0;
    const int64_t limit = days_from_civil((int64_t)last_year + 1, 1, 1) * 86400;
    if (after >= limit - 1)
        return 0;
    if (!tz->has_dst) {
        if (utoff == tz->std_utoff && !isdst)
            return 0;
        /* Only the offset after the last transition: a change "at" the next second. */
        out[0] = (struct posixtz_transition){after + 1, tz->std_utoff, 0};
        return 1;
    }
    const time_t t = (time_t)(after < -5364662400 ? -5364662400 : after); /* 1800-01-01 */
    struct tm tm;
    if (!gmtime_r(&t, &tm))
        return 0;
    /* Two switches a year, from the year before `after` (a switch can fall in the previous
     * UTC year) to one year past last_year, so that a switch at the very end of last_year
     * meets the one that may cancel it (permanent DST: "EST5EDT,0/0,J365/25"). */
    const int64_t first_year = tm.tm_year + 1900 - 1;
    const size_t years = (size_t)(last_year - first_year + 2);
    struct posixtz_transition *all = malloc(years * 2 * sizeof *all);
    if (!all)
        return 0;
    size_t n = 0;
    for (int64_t y = first_year; y <= (int64_t)last_year + 1; y++) {
        all[n++] = (struct posixtz_transition){rule_day(&tz->start, y) * 86400 + tz->start.time - tz->std_utoff,
                                               tz->dst_utoff, 1};
        all[n++] = (struct posixtz_transition){rule_day(&tz->end, y) * 86400 + tz->end.time - tz->dst_utoff,
                                               tz->std_utoff, 0};
    }
    /* Nearly sorted already; an insertion sort is stable, keeping equal instants in order. */
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && all[j - 1].at > all[j].at; j--) {
            const struct posixtz_transition tmp = all[j];
            all[j] = all[j - 1], all[j - 1] = tmp;
        }
    size_t written = 0;
    for (size_t i = 0; i < n && written < cap; i++) {
        if (all[i].at <= after || all[i].at >= limit)
            continue;
        if (i + 1 < n && all[i + 1].at == all[i].at)
            continue; /* a later switch at the same instant wins */
        if (all[i].utoff == utoff && all[i].isdst == isdst)
            continue;
        out[written++] = all[i];
        utoff = all[i].utoff, isdst = all[i].isdst;
    }
    free(all);
    return written;
}
