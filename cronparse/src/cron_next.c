/* SPDX-License-Identifier: MIT */
/* next() and prev(): from matching wall times to fire instants under the DST contract.
 *
 * Every matching wall time W has a "primary" instant e(W): its only instant; the first one in
 * an overlap; the end of the gap (the transition) for a fixed-time schedule in a gap. Interval
 * schedules drop gap wall times and also fire at the "second" instant of an overlapped W.
 *
 * e(W) never decreases as W grows (a fall-back's overlap maps to its first instances, which
 * come before the transition; a gap collapses onto the transition), so the primary instants
 * after t are e(W) for the matching W from some W* on, and the first of them is the next
 * primary fire: we compute W* from t and ask the wall-clock matcher for the next match, with
 * no scanning. Second instances live only in [T, T + d) after each fall-back transition T
 * (d = the offset drop), so for interval schedules we also look for a match inside the
 * overlap window of each fall-back between t and the primary candidate, and keep the earlier.
 * prev() is the mirror image. All arithmetic here is in whole seconds. */
#include "cron_int.h"
#include "cron_zone_int.h"

#define MAX_S (CRON_MAX_MS / 1000)
#define NONE INT64_MAX

struct resolved {
    enum cron_fire_kind kind; /* NORMAL, GAP or OVERLAP_1 */
    int64_t first;            /* primary instant (the transition, for a gap) */
    int64_t second;           /* second instant of an overlap */
    int64_t gap_wall_start;   /* for a gap: its first and one-past-last wall times */
    int64_t gap_wall_end;
};

static void resolve(const struct cron_zone *z, int64_t w, struct resolved *r)
{
    const uint32_t k = cron_zone_wall_period(z, w);
    const int64_t image_end = k + 1 < z->count ? z->start[k + 1] + z->offset[k] : NONE;
    if (w >= image_end) { /* between period k's last wall time and period k+1's first */
        r->kind = CRON_FIRE_GAP;
        r->first = z->start[k + 1];
        r->gap_wall_start = image_end;
        r->gap_wall_end = z->wall_start[k + 1];
        return;
    }
    r->first = w - z->offset[k];
    r->kind = CRON_FIRE_NORMAL;
    if (k >= 1 && w < z->start[k] + z->offset[k - 1]) { /* period k-1 shows it too */
        r->second = r->first;
        r->first = w - z->offset[k - 1];
        r->kind = CRON_FIRE_OVERLAP_1;
    }
}

/* Is t a second instance, i.e. inside the overlap window after period k's fall-back start? */
static int in_second_half(const struct cron_zone *z, uint32_t k, int64_t t)
{
    return k >= 1 && z->offset[k - 1] > z->offset[k] && t + z->offset[k] < z->start[k] + z->offset[k - 1];
}

static void set_fire(struct cron_fire *fire, int64_t at, int64_t wall, enum cron_fire_kind kind)
{
    fire->ms = at * 1000;
    fire->wall_s = wall;
    fire->kind = kind;
}

int cron_next(const struct cron_expr *e, const struct cron_zone *z, int64_t after_ms, struct cron_fire *fire)
{
    int64_t after = cron_floor_div(after_ms, 1000);
    if (after < -1)
        after = -1;
    if (after >= MAX_S)
        return CRON_ENOFIRE;

    const uint32_t k = cron_zone_period(z, after);
    int64_t from = in_second_half(z, k, after) ? z->start[k] + z->offset[k - 1] : after + z->offset[k] + 1;
    int64_t best = NONE, best_wall = 0;
    enum cron_fire_kind best_kind = CRON_FIRE_NORMAL;
    for (;;) {
        const int64_t w = cron_wall_next(e, from);
        if (w < 0)
            break;
        struct resolved r;
        resolve(z, w, &r);
        if (r.kind == CRON_FIRE_GAP && e->interval) {
            from = r.gap_wall_end;
            continue;
        }
        best = r.first, best_wall = w, best_kind = r.kind;
        break;
    }
    if (e->interval) {
        for (uint32_t j = k > 0 ? k : 1; j < z->count && z->start[j] < best; j++) {
            if (z->offset[j - 1] <= z->offset[j])
                continue;
            const int64_t lo_w = z->start[j] > after ? z->start[j] + z->offset[j] : after + 1 + z->offset[j];
            const int64_t end_w = z->start[j] + z->offset[j - 1];
            if (lo_w >= end_w)
                continue;
            const int64_t w = cron_wall_next(e, lo_w);
            if (w >= 0 && w < end_w) {
                if (w - z->offset[j] < best)
                    best = w - z->offset[j], best_wall = w, best_kind = CRON_FIRE_OVERLAP_2;
                break;
            }
        }
    }
    if (best == NONE || best > MAX_S)
        return CRON_ENOFIRE;
    set_fire(fire, best, best_wall, best_kind);
    return 0;
}

int cron_prev(const struct cron_expr *e, const struct cron_zone *z, int64_t before_ms, struct cron_fire *fire)
{
    if (before_ms <= 0)
        return CRON_ENOFIRE;
    int64_t before = before_ms / 1000 + (before_ms % 1000 != 0); /* ceiling */
    if (before > MAX_S + 1)
        before = MAX_S + 1;
    if (before <= 0)
        return CRON_ENOFIRE;

    const uint32_t k = cron_zone_period(z, before);
    int64_t to;
    if (in_second_half(z, k, before) || (k >= 1 && before == z->start[k] && z->offset[k] > z->offset[k - 1]))
        to = z->start[k] + z->offset[k - 1] - 1; /* last wall time before the transition */
    else
        to = before + z->offset[k] - 1;
    int64_t best = -1, best_wall = 0;
    enum cron_fire_kind best_kind = CRON_FIRE_NORMAL;
    for (;;) {
        const int64_t w = cron_wall_prev(e, to);
        if (w < 0)
            break;
        struct resolved r;
        resolve(z, w, &r);
        if (r.kind == CRON_FIRE_GAP && e->interval) {
            to = r.gap_wall_start - 1;
            continue;
        }
        best = r.first, best_wall = w, best_kind = r.kind;
        break;
    }
    if (e->interval) {
        for (uint32_t j = k; j >= 1 && z->start[j] + (z->offset[j - 1] - z->offset[j]) > best; j--) {
            if (z->offset[j - 1] <= z->offset[j] || z->start[j] >= before)
                continue;
            const int64_t lo_w = z->start[j] + z->offset[j];
            int64_t end_w = z->start[j] + z->offset[j - 1];
            if (before + z->offset[j] < end_w)
                end_w = before + z->offset[j];
            const int64_t w = cron_wall_prev(e, end_w - 1);
            if (w >= lo_w) {
                if (w - z->offset[j] > best)
                    best = w - z->offset[j], best_wall = w, best_kind = CRON_FIRE_OVERLAP_2;
                break;
            }
        }
    }
    if (best < 0)
        return CRON_ENOFIRE;
    set_fire(fire, best, best_wall, best_kind);
    return 0;
}
