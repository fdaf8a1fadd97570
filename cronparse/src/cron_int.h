/* SPDX-License-Identifier: MIT */
/* cronparse internals shared by its files: the parsed form of an expression, civil-calendar
 * arithmetic, and the wall-clock matcher. Not installed. */
#ifndef CRON_INT_H
#define CRON_INT_H

#include <stdint.h>

#include "cronparse.h"

/* A parsed expression: one bitset per field (bit v for value v; days and months from bit 0 for
 * value 1), plus the day-of-month and day-of-week special items. */
struct cron_expr {
    uint64_t seconds;       /* bits 0..59 */
    uint64_t minutes;       /* bits 0..59 */
    uint32_t hours;         /* bits 0..23 */
    uint32_t dom;           /* bit d-1: day d */
    uint32_t dom_last;      /* bit n: `L-n` (`L` is n = 0) */
    uint32_t dom_nearest;   /* bit d-1: `dW` */
    uint16_t months;        /* bit m-1: month m */
    uint8_t dom_last_weekday; /* `LW` */
    uint8_t dow;            /* bits 0..6, Sunday = 0 */
    uint8_t dow_last;       /* bit w: `wL` */
    uint8_t dow_nth[7];     /* dow_nth[w] bit k-1: `w#k` */
    uint8_t dom_star;       /* day-of-month begins with `*` or is `?` */
    uint8_t dow_star;       /* day-of-week begins with `*` or is `?` */
    uint8_t interval;       /* hour field begins with `*` */
    uint8_t six_fields;     /* a seconds field was given */
    char *tz;               /* `TZ=` prefix as written, or NULL */
};

/* Civil calendar (proleptic Gregorian), days counted from 1970-01-01. */
int64_t cron_days_from_civil(int64_t y, unsigned m, unsigned d);
void cron_civil_from_days(int64_t days, int64_t *y, unsigned *m, unsigned *d);
unsigned cron_days_in_month(int64_t y, unsigned m);
/* 0 = Sunday. */
unsigned cron_weekday(int64_t days);

static inline int64_t cron_floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

/* The days (bit d-1) of month m of year y on which `e` may fire. */
uint32_t cron_day_mask(const struct cron_expr *e, unsigned days_in_month, unsigned weekday_of_1st);

/* Wall-clock search (local seconds, civil fields read as UTC). The smallest matching wall time
 * >= w, or -1 when there is none before year 2201; the largest matching <= w, or -1 when
 * there is none after year 1968. */
int64_t cron_wall_next(const struct cron_expr *e, int64_t w);
int64_t cron_wall_prev(const struct cron_expr *e, int64_t w);

#endif
