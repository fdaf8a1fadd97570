/* SPDX-License-Identifier: MIT */
/* RFC 3339 parsing and formatting with libc's timegm/gmtime_r doing the calendar work. */
#include "timefmt.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

static int digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

static int days_in_month(int y, int m)
{
    static const int len[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return (m == 2 && y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)) ? 29 : len[m - 1];
}

int timefmt_parse_rfc3339(const char *s, int64_t *ms, const char **why)
{
    int y, mo, d, h, mi, sec, frac_ms = 0;
    const char *bad_shape = "expected YYYY-MM-DDTHH:MM:SS followed by Z or an offset like +02:00";
    if (strnlen(s, 20) < 19 || digits(s, 4, &y) || s[4] != '-' || digits(s + 5, 2, &mo) ||
        s[7] != '-' || digits(s + 8, 2, &d) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
        digits(s + 11, 2, &h) || s[13] != ':' || digits(s + 14, 2, &mi) || s[16] != ':' ||
        digits(s + 17, 2, &sec))
        return *why = bad_shape, -1;
    if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo))
        return *why = "the date does not exist", -1;
    if (h > 23 || mi > 59 || sec > 59)
        return *why = "the time of day is out of range (leap seconds are not accepted)", -1;
    s += 19;
    if (*s == '.') {
        int n = 0;
        for (s++; *s >= '0' && *s <= '9'; s++, n++)
            if (n < 3)
                frac_ms = frac_ms * 10 + (*s - '0');
        if (n == 0)
            return *why = "a fraction of a second needs digits after the dot", -1;
        for (; n < 3; n++)
            frac_ms *= 10;
    }
    int offset = 0;
    if (*s == 'Z' || *s == 'z') {
        s++;
    } else if (*s == '+' || *s == '-') {
        int oh, om;
        if (digits(s + 1, 2, &oh) || s[3] != ':' || digits(s + 4, 2, &om) || oh > 23 || om > 59)
            return *why = "the UTC offset must look like +HH:MM or -HH:MM", -1;
        offset = (oh * 60 + om) * 60 * (*s == '-' ? -1 : 1);
        s += 6;
    } else {
        return *why = "a UTC offset (Z or +HH:MM) is required", -1;
    }
    if (*s)
        return *why = "unexpected text after the timestamp", -1;
    struct tm tm = {.tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d,
                    .tm_hour = h, .tm_min = mi, .tm_sec = sec};
    const int64_t secs = (int64_t)timegm(&tm) - offset;
    *ms = secs * 1000 + frac_ms;
    return 0;
}

size_t timefmt_rfc3339(int64_t ms, int32_t offset_s, int zulu, char *buf)
{
    if (zulu)
        offset_s = 0;
    const int32_t offset_min = offset_s / 60;
    int64_t local_ms = ms + (int64_t)offset_min * 60000;
    int64_t secs = local_ms / 1000, frac = local_ms % 1000;
    if (frac < 0)
        secs--, frac += 1000;
    const time_t t = (time_t)secs;
    struct tm tm;
    gmtime_r(&t, &tm);
    int n = snprintf(buf, TIMEFMT_RFC3339_MAX, "%04d-%02d-%02dT%02d:%02d:%02d", tm.tm_year + 1900,
                     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
    if (frac)
        n += snprintf(buf + n, (size_t)(TIMEFMT_RFC3339_MAX - n), ".%03d", (int)frac);
    if (zulu) {
        n += snprintf(buf + n, (size_t)(TIMEFMT_RFC3339_MAX - n), "Z");
    } else {
        const int32_t a = offset_min < 0 ? -offset_min : offset_min;
        n += snprintf(buf + n, (size_t)(TIMEFMT_RFC3339_MAX - n), "%c%02d:%02d",
                      offset_min < 0 ? '-' : '+', (int)(a / 60), (int)(a % 60));
    }
    return (size_t)n;
}

int64_t timefmt_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
