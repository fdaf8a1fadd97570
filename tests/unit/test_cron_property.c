/* SPDX-License-Identifier: MIT */
/* Property tests: thousands of generated expressions, zones and instants against an oracle
 * that shares no code with cronparse. The generator writes each expression's text and, on
 * its own, the set of values every field allows; the oracle reads civil fields with libc's
 * gmtime_r, asks ICU directly for UTC offsets (not cronparse's transition table), and applies
 * the contract's rules by brute force, minute by minute (second by second for 6 fields).
 * Seed: PROPERTY_SEED in the environment (printed on failure). */
#include <stdlib.h>
#include <time.h>
#include <unicode/ucal.h>

#include "cron_test_util.h"

static uint64_t rng_state;

static uint64_t rnd(void)
{
    uint64_t x = rng_state;
    x ^= x >> 12, x ^= x << 25, x ^= x >> 27;
    rng_state = x;
    return x * UINT64_C(0x2545F4914F6CDD1D);
}

static unsigned pick(unsigned n)
{
    return (unsigned)(rnd() % n);
}

/* ---- the generated expression and its independent meaning ---- */

struct gen {
    char text[640];
    int six, dom_star, dow_star, interval;
    unsigned char sec[60], min[60], hour[24], dom[32], mon[13], dow[7];
    int dom_last[31], n_dom_last; /* L-N offsets */
    int dom_near[8], n_dom_near;  /* NW days */
    int lw;
    int dow_last[7], n_dow_last; /* DL weekdays */
    int nth_d[8], nth_k[8], n_nth;
};

static void add_seq(unsigned char *set, unsigned lo, unsigned hi, unsigned a, unsigned b, unsigned step,
                    int dow)
{
    unsigned seq[64], n = 0;
    if (a <= b)
        for (unsigned v = a; v <= b; v++)
            seq[n++] = v;
    else {
        for (unsigned v = a; v <= hi; v++)
            seq[n++] = v;
        for (unsigned v = lo; v <= b; v++)
            seq[n++] = v;
    }
    for (unsigned i = 0; i < n; i += step)
        set[dow && seq[i] == 7 ? 0 : seq[i]] = 1;
}

static unsigned value_in(unsigned lo, unsigned hi, int field)
{
    if (field == 2 && pick(2)) /* hours near DST transitions */
        return (unsigned[]){0, 1, 2, 3, 23}[pick(5)];
    return lo + pick(hi - lo + 1);
}

/* Appends one field: 1-3 items. field: 0 sec, 1 min, 2 hour, 3 dom, 4 month, 5 dow. */
static void gen_field(struct gen *g, int field, char *out, size_t cap)
{
    static const unsigned los[] = {0, 0, 0, 1, 1, 0}, his[] = {59, 59, 23, 31, 12, 7};
    unsigned char *sets[] = {g->sec, g->min, g->hour, g->dom, g->mon, g->dow};
    const unsigned lo = los[field], hi = his[field], star_hi = field == 5 ? 6 : hi;
    unsigned char *set = sets[field];
    const int items = pick(4) == 0 ? 2 + (int)pick(2) : 1;
    size_t len = 0;
    for (int i = 0; i < items; i++) {
        char item[32];
        const unsigned kind = pick(field == 3 || field == 5 ? 11 : 8);
        const unsigned a = value_in(lo, hi, field), b = value_in(lo, hi, field);
        const unsigned step = 1 + pick(pick(2) ? 4 : hi);
        if (kind == 0 || (kind == 1 && field != 2 && pick(2))) {
            snprintf(item, sizeof item, "*");
            add_seq(set, lo, hi, lo, star_hi, 1, field == 5);
        } else if (kind == 1) {
            snprintf(item, sizeof item, "*/%u", step);
            add_seq(set, lo, hi, lo, star_hi, step, field == 5);
        } else if (kind == 2 || kind == 3) {
            snprintf(item, sizeof item, "%u", a);
            add_seq(set, lo, hi, a, a, 1, field == 5);
        } else if (kind == 4) {
            snprintf(item, sizeof item, "%u-%u", a, b);
            add_seq(set, lo, hi, a, b, 1, field == 5);
        } else if (kind == 5) {
            snprintf(item, sizeof item, "%u-%u/%u", a, b, step);
            add_seq(set, lo, hi, a, b, step, field == 5);
        } else if (kind == 6) {
            snprintf(item, sizeof item, "%u/%u", a, step);
            add_seq(set, lo, hi, a, hi, step, field == 5);
        } else if (kind == 7) {
            snprintf(item, sizeof item, "%u", a);
            add_seq(set, lo, hi, a, a, 1, field == 5);
        } else if (field == 3 && kind == 8) {
            const int n = pick(3) ? (int)pick(4) : (int)pick(31);
            n ? snprintf(item, sizeof item, "L-%d", n) : snprintf(item, sizeof item, "L");
            g->dom_last[g->n_dom_last++] = n;
        } else if (field == 3 && kind == 9) {
            snprintf(item, sizeof item, "%uW", a);
            g->dom_near[g->n_dom_near++] = (int)a;
        } else if (field == 3) {
            snprintf(item, sizeof item, "LW");
            g->lw = 1;
        } else if (kind == 8) {
            snprintf(item, sizeof item, "%uL", a);
            g->dow_last[g->n_dow_last++] = (int)(a % 7);
        } else if (kind == 9) {
            const unsigned k = 1 + pick(5);
            snprintf(item, sizeof item, "%u#%u", a, k);
            g->nth_d[g->n_nth] = (int)(a % 7), g->nth_k[g->n_nth++] = (int)k;
        } else {
            snprintf(item, sizeof item, "?");
            add_seq(set, lo, hi, lo, star_hi, 1, field == 5);
        }
        len += (size_t)snprintf(out + len, cap - len, "%s%s", i ? "," : "", item);
        if (i == 0 && field == 3)
            g->dom_star = item[0] == '*' || item[0] == '?';
        if (i == 0 && field == 5)
            g->dow_star = item[0] == '*' || item[0] == '?';
        if (i == 0 && field == 2)
            g->interval = item[0] == '*';
        if (item[0] == '*' || item[0] == '?' || item[0] == 'L' || strchr(item, 'W') ||
            strchr(item, '#') || (field == 5 && strchr(item, 'L')))
            break; /* keep lists of specials short: one special ends the field */
    }
}

static void generate(struct gen *g, int six)
{
    memset(g, 0, sizeof *g);
    g->six = six;
    char fields[6][96];
    for (int f = six ? 0 : 1; f < 6; f++)
        gen_field(g, f, fields[f], sizeof fields[f]);
    if (!six)
        g->sec[0] = 1;
    if (six)
        snprintf(g->text, sizeof g->text, "%s %s %s %s %s %s", fields[0], fields[1], fields[2],
                 fields[3], fields[4], fields[5]);
    else
        snprintf(g->text, sizeof g->text, "%s %s %s %s %s", fields[1], fields[2], fields[3],
                 fields[4], fields[5]);
}

/* ---- the oracle ---- */

static int month_len(int y, int m)
{
    static const int len[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && (y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)) ? 29 : len[m - 1];
}

static int nearest_weekday(int day, int len, int wday_of_day)
{
    if (wday_of_day == 6)
        return day > 1 ? day - 1 : day + 2;
    if (wday_of_day == 0)
        return day < len ? day + 1 : day - 2;
    return day;
}

static int day_matches(const struct gen *g, int y, int m, int d, int wday)
{
    const int len = month_len(y, m);
    int dom = g->dom[d];
    for (int i = 0; i < g->n_dom_last; i++)
        dom |= d == len - g->dom_last[i];
    for (int i = 0; i < g->n_dom_near; i++) {
        const int n = g->dom_near[i];
        if (n <= len)
            dom |= d == nearest_weekday(n, len, ((wday - (d - n)) % 7 + 7) % 7);
    }
    if (g->lw)
        dom |= d == nearest_weekday(len, len, ((wday + (len - d)) % 7 + 7) % 7);
    int dow = g->dow[wday];
    for (int i = 0; i < g->n_dow_last; i++)
        dow |= wday == g->dow_last[i] && d + 7 > len;
    for (int i = 0; i < g->n_nth; i++)
        dow |= wday == g->nth_d[i] && (d - 1) / 7 + 1 == g->nth_k[i];
    return (g->dom_star || g->dow_star) ? (dom && dow) : (dom || dow);
}

static int wall_matches(const struct gen *g, int64_t wall)
{
    const time_t t = (time_t)wall;
    struct tm tm;
    gmtime_r(&t, &tm);
    return g->sec[tm.tm_sec] && g->min[tm.tm_min] && g->hour[tm.tm_hour] && g->mon[tm.tm_mon + 1] &&
           day_matches(g, tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_wday);
}

static int32_t icu_offset(UCalendar *cal, int64_t s)
{
    UErrorCode st = U_ZERO_ERROR;
    ucal_setMillis(cal, (UDate)s * 1000.0, &st);
    const int32_t off = ucal_get(cal, UCAL_ZONE_OFFSET, &st) + ucal_get(cal, UCAL_DST_OFFSET, &st);
    assert_true(U_SUCCESS(st));
    return off / 1000;
}

/* Is instant t (seconds) a fire of g in the zone of cal, by the contract's rules? */
static int oracle_fires(const struct gen *g, UCalendar *cal, int64_t t)
{
    const int32_t off = icu_offset(cal, t);
    const int64_t wall = t + off;
    if (wall_matches(g, wall)) {
        if (g->interval)
            return 1;
        /* a fixed-time schedule fires only at the first instance of its wall time */
        const int32_t earlier[] = {icu_offset(cal, t - 86400), icu_offset(cal, t - 3 * 3600)};
        int first = 1;
        for (int i = 0; i < 2; i++)
            if (earlier[i] != off && wall - earlier[i] < t && icu_offset(cal, wall - earlier[i]) == earlier[i])
                first = 0;
        if (first)
            return 1;
    }
    const int32_t before = icu_offset(cal, t - 1);
    if (!g->interval && before < off) /* t ends a gap: does any wall time in it match? */
        for (int64_t w = t + before; w < t + off; w += g->six ? 1 : 60)
            if (wall_matches(g, w))
                return 1;
    return 0;
}

/* ---- the properties ---- */

static const char *const zones[] = {
    "UTC", "America/New_York", "Europe/London", "Australia/Sydney", "Australia/Lord_Howe",
    "Pacific/Chatham", "America/Havana", "America/Santiago", "Asia/Kolkata", "Europe/Berlin",
    "America/St_Johns", "Pacific/Apia", "America/Sao_Paulo", "Asia/Tehran", "Europe/Dublin",
};
#define NZONES (sizeof zones / sizeof zones[0])

struct ctx {
    struct cron_zone *zone[NZONES];
    UCalendar *cal[NZONES];
};

static int open_all(void **state)
{
    static struct ctx c;
    const char *seed = getenv("PROPERTY_SEED");
    rng_state = seed ? strtoull(seed, NULL, 0) : UINT64_C(0x5eed5eed12345);
    if (!rng_state)
        rng_state = 1;
    for (size_t i = 0; i < NZONES; i++) {
        struct cron_error err;
        if (cron_zone_open(zones[i], &c.zone[i], &err) != 0)
            return -1;
        UChar id[64];
        u_uastrcpy(id, zones[i]);
        UErrorCode st = U_ZERO_ERROR;
        c.cal[i] = ucal_open(id, -1, "en_US_POSIX", UCAL_GREGORIAN, &st);
        if (U_FAILURE(st))
            return -1;
    }
    *state = &c;
    return 0;
}

static int close_all(void **state)
{
    struct ctx *c = *state;
    for (size_t i = 0; i < NZONES; i++) {
        cron_zone_free(c->zone[i]);
        ucal_close(c->cal[i]);
    }
    return 0;
}

static struct cron_expr *parse_generated(struct gen *g, int six)
{
    for (;;) {
        generate(g, six);
        struct cron_expr *e;
        struct cron_error err;
        const int rc = cron_parse(g->text, NULL, &e, &err);
        if (rc == 0)
            return e;
        if (rc != CRON_ENEVER)
            fail_msg("generated \"%s\" did not parse: %s", g->text, err.message);
        /* rejected as never firing: the oracle must agree over a whole 400-year cycle */
        for (int64_t day = 0; day < 146097; day++) {
            const time_t t = (time_t)(day * 86400);
            struct tm tm;
            gmtime_r(&t, &tm);
            if (g->mon[tm.tm_mon + 1] && day_matches(g, tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_wday))
                fail_msg("\"%s\" was rejected as never firing, but %04d-%02d-%02d matches", g->text,
                         tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
        }
    }
}

/* A random instant near a real transition of the zone (or anywhere, for UTC and Kolkata). */
static int64_t instant_near_transition(UCalendar *cal)
{
    const int64_t start = (int64_t)(rnd() % UINT64_C(7257859200)) + 86400;
    UErrorCode st = U_ZERO_ERROR;
    UDate when;
    ucal_setMillis(cal, (UDate)start * 1000.0, &st);
    if (ucal_getTimeZoneTransitionDate(cal, UCAL_TZ_TRANSITION_NEXT, &when, &st) && U_SUCCESS(st) &&
        when < 7258118400000.0 - 2 * 86400000.0)
        return (int64_t)(when / 1000) + (int64_t)pick(4 * 3600) - 2 * 3600;
    return start;
}

/* Every fire in [a, b) by brute force equals what next() walks, and prev() walks it back. */
static void check_window(const struct gen *g, const struct cron_expr *e, const struct cron_zone *z,
                         UCalendar *cal, int64_t a, int64_t b)
{
    const int64_t stride = g->six ? 1 : 60;
    a -= ((a % stride) + stride) % stride;
    int64_t walk = a * 1000 - 1;
    struct cron_fire f;
    int next_rc = cron_next(e, z, walk, &f);
    int64_t last = -1;
    for (int64_t t = a; t < b; t += stride) {
        if (!oracle_fires(g, cal, t))
            continue;
        char x[TIMEFMT_RFC3339_MAX], y[TIMEFMT_RFC3339_MAX];
        if (next_rc != 0 || f.ms != t * 1000)
            fail_msg("\"%s\" in %s: oracle fires at %s, next() gave %s", g->text, cron_zone_name(z),
                     utc_of(t * 1000, x), next_rc ? cron_strerror(next_rc) : utc_of(f.ms, y));
        struct cron_fire p;
        if (last >= 0 && (cron_prev(e, z, t * 1000, &p) != 0 || p.ms != last * 1000))
            fail_msg("\"%s\" in %s: prev(%s) is not %s", g->text, cron_zone_name(z), utc_of(t * 1000, x),
                     utc_of(last * 1000, y));
        last = t;
        next_rc = cron_next(e, z, f.ms, &f);
    }
    char x[TIMEFMT_RFC3339_MAX];
    if (next_rc == 0 && f.ms < b * 1000)
        fail_msg("\"%s\" in %s: next() gave %s, which the oracle does not fire", g->text,
                 cron_zone_name(z), utc_of(f.ms, x));
}

static void test_windows_around_transitions(void **state)
{
    struct ctx *c = *state;
    for (int i = 0; i < 1500; i++) {
        struct gen g;
        struct cron_expr *e = parse_generated(&g, 0);
        const size_t zi = pick(NZONES);
        const int64_t t = instant_near_transition(c->cal[zi]);
        check_window(&g, e, c->zone[zi], c->cal[zi], t - 6 * 3600, t + 6 * 3600);
        cron_free(e);
    }
}

static void test_six_field_windows(void **state)
{
    struct ctx *c = *state;
    for (int i = 0; i < 100; i++) {
        struct gen g;
        struct cron_expr *e = parse_generated(&g, 1);
        const size_t zi = pick(NZONES);
        const int64_t t = instant_near_transition(c->cal[zi]);
        check_window(&g, e, c->zone[zi], c->cal[zi], t - 3600, t + 3600);
        cron_free(e);
    }
}

/* Anywhere in 1970-2199: next(t) > t, prev(next(t)) <= t, prev(t) < t, next(prev(t)) >= t, and
 * every instant returned is a fire by the oracle. */
static void test_random_instants(void **state)
{
    struct ctx *c = *state;
    for (int i = 0; i < 5000; i++) {
        struct gen g;
        struct cron_expr *e = parse_generated(&g, pick(4) == 0);
        const size_t zi = pick(NZONES);
        const struct cron_zone *z = c->zone[zi];
        const int64_t t = (int64_t)(rnd() % UINT64_C(7258118400000));
        struct cron_fire n, p, back;
        char x[TIMEFMT_RFC3339_MAX], y[TIMEFMT_RFC3339_MAX];
        if (cron_next(e, z, t, &n) == 0) {
            if (n.ms <= t || !oracle_fires(&g, c->cal[zi], n.ms / 1000) || n.ms % 1000)
                fail_msg("\"%s\" in %s: next(%s) = %s is wrong", g.text, zones[zi], utc_of(t, x), utc_of(n.ms, y));
            if (cron_prev(e, z, n.ms, &back) == 0 && back.ms > t)
                fail_msg("\"%s\" in %s: prev(next(%s)) = %s is after it", g.text, zones[zi], utc_of(t, x),
                         utc_of(back.ms, y));
        }
        if (cron_prev(e, z, t, &p) == 0) {
            if (p.ms >= t || !oracle_fires(&g, c->cal[zi], p.ms / 1000))
                fail_msg("\"%s\" in %s: prev(%s) = %s is wrong", g.text, zones[zi], utc_of(t, x), utc_of(p.ms, y));
            const int rc = cron_next(e, z, p.ms, &back);
            if ((rc != 0 && rc != CRON_ENOFIRE) || (rc == 0 && back.ms < t))
                fail_msg("\"%s\" in %s: next(prev(%s)) is before it", g.text, zones[zi], utc_of(t, x));
        }
        cron_free(e);
    }
}

/* cronparse's offset table agrees with ICU itself at random instants. */
static void test_offsets_match_icu(void **state)
{
    struct ctx *c = *state;
    for (int i = 0; i < 20000; i++) {
        const size_t zi = pick(NZONES);
        const int64_t s = (int64_t)(rnd() % UINT64_C(7258118400));
        assert_int_equal(cron_zone_offset(c->zone[zi], s * 1000), icu_offset(c->cal[zi], s));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_offsets_match_icu),
        cmocka_unit_test(test_windows_around_transitions),
        cmocka_unit_test(test_six_field_windows),
        cmocka_unit_test(test_random_instants),
    };
    return cmocka_run_group_tests(tests, open_all, close_all);
}
