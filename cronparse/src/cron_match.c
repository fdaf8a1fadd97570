/* SPDX-License-Identifier: MIT */
/* Wall-clock matching: which local date-times an expression matches, found field by field.
 *
 * Search never steps minute by minute. Each field is a bitset; from a starting wall time we
 * find the next (or previous) allowed month, then the allowed day within it (one 31-bit mask
 * per month, built from the day-of-month and day-of-week items and the Vixie-cron rule), then
 * hour, minute and second, carrying into the larger field when a smaller one has no value
 * left. Every iteration moves to a new month, day, hour or minute, so the loop is short. */
#include "cron_int.h"

/* Howard Hinnant's days_from_civil / civil_from_days algorithms (era-based, exact). */
int64_t cron_days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    const int64_t era = cron_floor_div(y, 400);
    const unsigned yoe = (unsigned)(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

void cron_civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    const int64_t era = cron_floor_div(z, 146097);
    const unsigned doe = (unsigned)(z - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

unsigned cron_days_in_month(int64_t y, unsigned m)
{
    static const unsigned char len[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m == 2 && (y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)))
        return 29;
    return len[m - 1];
}

unsigned cron_weekday(int64_t days)
{
    int64_t w = (days + 4) % 7; /* 1970-01-01 was a Thursday */
    return (unsigned)(w < 0 ? w + 7 : w);
}

/* Bits f, f+7, f+14, ... : the days (0-based) that share a weekday with day index f. */
static uint32_t weekly_from(unsigned f)
{
    return UINT32_C(0x10204081) << f;
}

static unsigned weekday_nearest(unsigned day, unsigned len, unsigned wd1)
{
    const unsigned wd = (wd1 + day - 1) % 7;
    if (wd == 6) /* Saturday: Friday before, unless that leaves the month */
        return day > 1 ? day - 1 : day + 2;
    if (wd == 0) /* Sunday: Monday after, unless that leaves the month */
        return day < len ? day + 1 : day - 2;
    return day;
}

uint32_t cron_day_mask(const struct cron_expr *e, unsigned len, unsigned wd1)
{
    const uint32_t month_days = (len >= 32) ? UINT32_MAX : ((UINT32_C(1) << len) - 1);

    uint32_t dom = e->dom & month_days;
    for (uint32_t bits = e->dom_last; bits; bits &= bits - 1) {
        const unsigned n = (unsigned)__builtin_ctz(bits);
        if (n < len)
            dom |= UINT32_C(1) << (len - 1 - n);
    }
    for (uint32_t bits = e->dom_nearest & month_days; bits; bits &= bits - 1) {
        const unsigned day = (unsigned)__builtin_ctz(bits) + 1;
        dom |= UINT32_C(1) << (weekday_nearest(day, len, wd1) - 1);
    }
    if (e->dom_last_weekday)
        dom |= UINT32_C(1) << (weekday_nearest(len, len, wd1) - 1);

    uint32_t dow = 0;
    for (unsigned w = 0; w < 7; w++) {
        const unsigned first = (w + 7 - wd1) % 7; /* 0-based index of the first weekday w */
        if (e->dow & (1u << w))
            dow |= weekly_from(first);
        if (e->dow_last & (1u << w))
            dow |= UINT32_C(1) << (first + 7 * ((len - 1 - first) / 7));
        for (unsigned k = 0; k < 5; k++)
            if ((e->dow_nth[w] & (1u << k)) && first + 7 * k < len)
                dow |= UINT32_C(1) << (first + 7 * k);
    }
    dow &= month_days;

    /* Vixie cron: if either field begins with `*`, both must match; otherwise either. */
    return (e->dom_star || e->dow_star) ? (dom & dow) : (dom | dow);
}

/* Lowest set bit >= i, or -1. */
static int bit_at_or_after(uint64_t set, unsigned i)
{
    if (i >= 64)
        return -1;
    set >>= i;
    return set ? (int)(i + (unsigned)__builtin_ctzll(set)) : -1;
}

/* Highest set bit <= i, or -1. */
static int bit_at_or_before(uint64_t set, unsigned i)
{
    if (i < 63)
        set &= (UINT64_C(2) << i) - 1;
    return set ? 63 - __builtin_clzll(set) : -1;
}

/* Local date-time being searched; fields always hold a valid date. */
struct civil {
    int64_t y;
    unsigned mo, d, h, mi, s;
};

static void to_civil(int64_t w, struct civil *c)
{
    const int64_t days = cron_floor_div(w, 86400);
    const int64_t sod = w - days * 86400;
    cron_civil_from_days(days, &c->y, &c->mo, &c->d);
    c->h = (unsigned)(sod / 3600);
    c->mi = (unsigned)(sod / 60 % 60);
    c->s = (unsigned)(sod % 60);
}

static int64_t from_civil(const struct civil *c)
{
    return cron_days_from_civil(c->y, c->mo, c->d) * 86400 + c->h * 3600 + c->mi * 60 + c->s;
}

/* Moves to the first second of the next day / month. */
static void next_month(struct civil *c)
{
    c->d = 1, c->h = 0, c->mi = 0, c->s = 0;
    if (++c->mo > 12)
        c->mo = 1, c->y++;
}

static void next_day(struct civil *c)
{
    if (c->d >= cron_days_in_month(c->y, c->mo))
        next_month(c);
    else
        c->d++, c->h = 0, c->mi = 0, c->s = 0;
}

int64_t cron_wall_next(const struct cron_expr *e, int64_t w)
{
    struct civil c;
    to_civil(w, &c);
    while (c.y <= 2200) {
        if (!(e->months & (1u << (c.mo - 1)))) {
            const int m = bit_at_or_after(e->months, c.mo - 1);
            if (m < 0)
                c.y++, c.mo = 1;
            else
                c.mo = (unsigned)m + 1;
            c.d = 1, c.h = 0, c.mi = 0, c.s = 0;
            if (m < 0)
                continue;
        }
        const unsigned len = cron_days_in_month(c.y, c.mo);
        const uint32_t days = cron_day_mask(e, len, cron_weekday(cron_days_from_civil(c.y, c.mo, 1)));
        const int d = bit_at_or_after(days, c.d - 1);
        if (d < 0) {
            next_month(&c);
            continue;
        }
        if ((unsigned)d + 1 != c.d)
            c.d = (unsigned)d + 1, c.h = 0, c.mi = 0, c.s = 0;
        const int h = bit_at_or_after(e->hours, c.h);
        if (h < 0) {
            next_day(&c);
            continue;
        }
        if ((unsigned)h != c.h)
            c.h = (unsigned)h, c.mi = 0, c.s = 0;
        const int mi = bit_at_or_after(e->minutes, c.mi);
        if (mi < 0) {
            c.mi = 0, c.s = 0;
            if (++c.h == 24)
                next_day(&c);
            continue;
        }
        if ((unsigned)mi != c.mi)
            c.mi = (unsigned)mi, c.s = 0;
        const int s = bit_at_or_after(e->seconds, c.s);
        if (s < 0) {
            c.s = 0;
            if (++c.mi == 60) {
                c.mi = 0;
                if (++c.h == 24)
                    next_day(&c);
            }
            continue;
        }
        c.s = (unsigned)s;
        return from_civil(&c);
    }
    return -1;
}

/* Moves to the last second of the previous day / month. */
static void prev_month(struct civil *c)
{
    if (--c->mo == 0)
        c->mo = 12, c->y--;
    c->d = cron_days_in_month(c->y, c->mo), c->h = 23, c->mi = 59, c->s = 59;
}

static void prev_day(struct civil *c)
{
    if (c->d == 1)
        prev_month(c);
    else
        c->d--, c->h = 23, c->mi = 59, c->s = 59;
}

int64_t cron_wall_prev(const struct cron_expr *e, int64_t w)
{
    struct civil c;
    to_civil(w, &c);
    while (c.y >= 1969) {
        if (!(e->months & (1u << (c.mo - 1)))) {
            const int m = bit_at_or_before(e->months, c.mo - 1);
            if (m < 0) {
                c.y--, c.mo = 12;
                c.d = 31, c.h = 23, c.mi = 59, c.s = 59;
                continue;
            }
            c.mo = (unsigned)m + 1;
            c.d = cron_days_in_month(c.y, c.mo), c.h = 23, c.mi = 59, c.s = 59;
        }
        const unsigned len = cron_days_in_month(c.y, c.mo);
        const uint32_t days = cron_day_mask(e, len, cron_weekday(cron_days_from_civil(c.y, c.mo, 1)));
        const int d = bit_at_or_before(days, c.d - 1);
        if (d < 0) {
            prev_month(&c);
            continue;
        }
        if ((unsigned)d + 1 != c.d)
            c.d = (unsigned)d + 1, c.h = 23, c.mi = 59, c.s = 59;
        const int h = bit_at_or_before(e->hours, c.h);
        if (h < 0) {
            prev_day(&c);
            continue;
        }
        if ((unsigned)h != c.h)
            c.h = (unsigned)h, c.mi = 59, c.s = 59;
        const int mi = bit_at_or_before(e->minutes, c.mi);
        if (mi < 0) {
            c.mi = 59, c.s = 59;
            if (c.h-- == 0)
                prev_day(&c);
            continue;
        }
        if ((unsigned)mi != c.mi)
            c.mi = (unsigned)mi, c.s = 59;
        const int s = bit_at_or_before(e->seconds, c.s);
        if (s < 0) {
            c.s = 59;
            if (c.mi-- == 0) {
                c.mi = 59;
                if (c.h-- == 0)
                    prev_day(&c);
            }
            continue;
        }
        c.s = (unsigned)s;
        return from_civil(&c);
    }
    return -1;
}
