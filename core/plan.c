/* SPDX-License-Identifier: MIT */
/* Misfire and overlap policies (see plan.h). All slots come from cronparse, so a plan
 * follows the cron and DST contract; the only clock is the `now` passed in. */
#include "plan.h"

#include <string.h>

#include "cronparse.h"

int plan_misfire_policy(const char *name)
{
    return !strcmp(name, "coalesce") ? MISFIRE_COALESCE
           : !strcmp(name, "skip")   ? MISFIRE_SKIP
           : !strcmp(name, "catch_up") ? MISFIRE_CATCH_UP
                                       : -1;
}

int plan_overlap_policy(const char *name)
{
    return !strcmp(name, "allow")             ? OVERLAP_ALLOW
           : !strcmp(name, "skip")            ? OVERLAP_SKIP
           : !strcmp(name, "queue_one")       ? OVERLAP_QUEUE_ONE
           : !strcmp(name, "cancel_previous") ? OVERLAP_CANCEL_PREVIOUS
                                              : -1;
}

/* How many slots lie in [from, to], counting at most PLAN_MAX_COUNTED. */
static int64_t count_slots(const struct cron_expr *e, const struct cron_zone *z, int64_t from, int64_t to)
{
    int64_t count = 0, t = from - 1;
    struct cron_fire f;
    while (count < PLAN_MAX_COUNTED && cron_next(e, z, t, &f) == 0 && f.ms <= to)
        count++, t = f.ms;
    return count;
}

/* The latest PLAN_MAX_RUNS slots in [from, to], ascending, found walking back from `to`. */
static int latest_slots(const struct cron_expr *e, const struct cron_zone *z, int64_t from, int64_t to,
                        int64_t *out)
{
    int n = 0;
    int64_t t = to + 1;
    struct cron_fire f;
    while (n < PLAN_MAX_RUNS && cron_prev(e, z, t, &f) == 0 && f.ms >= from)
        out[n++] = f.ms, t = f.ms;
    for (int i = 0; i < n / 2; i++) {
        const int64_t tmp = out[i];
        out[i] = out[n - 1 - i], out[n - 1 - i] = tmp;
    }
    return n;
}

void plan_due(const struct cron_expr *expr, const struct cron_zone *zone, int64_t next_run_at, int64_t now,
              enum misfire_policy misfire, int64_t catch_up_window_ms, struct plan *out)
{
    memset(out, 0, sizeof *out);
    out->missed_reason = "", out->skipped_reason = "";
    struct cron_fire f;
    out->next = cron_next(expr, zone, now, &f) == 0 ? f.ms : -1;
    /* the last slot at or before now: the one that is due */
    if (cron_prev(expr, zone, now + 1, &f) != 0 || f.ms < next_run_at)
        return; /* nothing due (the schedule changed since next_run_at was set) */
    const int64_t latest = f.ms;
    const int64_t due = count_slots(expr, zone, next_run_at, now);
    out->missed_first = cron_next(expr, zone, next_run_at - 1, &f) == 0 ? f.ms : latest;
    if (misfire == MISFIRE_CATCH_UP) {
        const int64_t window_start = now - catch_up_window_ms > next_run_at ? now - catch_up_window_ms : next_run_at;
        out->count = latest_slots(expr, zone, window_start, now, out->slots);
        out->missed = due > out->count ? due - out->count : 0;
        out->missed_reason = "outside_catch_up_window";
        if (out->missed)
            out->missed_last = out->count && cron_prev(expr, zone, out->slots[0], &f) == 0 ? f.ms : latest;
        return;
    }
    if (misfire == MISFIRE_SKIP && now - latest > PLAN_GRACE_MS) {
        out->missed = due;
        out->missed_reason = "misfire_skip";
        out->missed_last = latest;
        return;
    }
    out->slots[0] = latest, out->count = 1;
    out->missed = due - 1;
    out->missed_reason = misfire == MISFIRE_SKIP ? "misfire_skip" : "coalesced";
    if (out->missed)
        out->missed_last = cron_prev(expr, zone, latest, &f) == 0 ? f.ms : latest;
}

/* Drops every planned slot, counting them as skipped. */
static void skip_all(struct plan *p, const char *reason)
{
    p->skipped += p->count, p->skipped_reason = reason;
    p->skipped_first = p->slots[0], p->skipped_last = p->slots[p->count - 1];
    p->count = 0;
}

/* Keeps only the latest planned slot, counting the others as skipped. */
static void keep_latest(struct plan *p, const char *reason)
{
    if (p->count <= 1)
        return;
    p->skipped += p->count - 1;
    p->skipped_reason = reason;
    p->skipped_first = p->slots[0], p->skipped_last = p->slots[p->count - 2];
    p->slots[0] = p->slots[p->count - 1];
    p->count = 1;
}

void plan_overlap(struct plan *p, enum overlap_policy overlap, int64_t queued, int64_t running)
{
    if (p->count == 0)
        return;
    switch (overlap) {
    case OVERLAP_ALLOW:
        return;
    case OVERLAP_SKIP:
        if (queued + running > 0) {
            skip_all(p, "overlap_skip");
            return;
        }
        keep_latest(p, "overlap_skip");
        return;
    case OVERLAP_QUEUE_ONE:
        if (queued > 0) {
            skip_all(p, "overlap_queue_one");
            return;
        }
        keep_latest(p, "overlap_queue_one");
        return;
    case OVERLAP_CANCEL_PREVIOUS:
        p->cancel_previous = queued + running > 0;
        keep_latest(p, "overlap_cancel_previous");
        return;
    }
}

int64_t plan_jitter(int64_t task_id, int64_t slot, int64_t jitter_ms)
{
    if (jitter_ms <= 0)
        return 0;
    uint64_t h = UINT64_C(0xcbf29ce484222325);
    const int64_t parts[2] = {task_id, slot};
    for (int i = 0; i < 2; i++)
        for (int b = 0; b < 8; b++)
            h = (h ^ ((uint64_t)parts[i] >> (8 * b) & 0xff)) * UINT64_C(0x100000001b3);
    h ^= h >> 33;
    return (int64_t)(h % (uint64_t)(jitter_ms + 1));
}
