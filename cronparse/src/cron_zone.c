/* SPDX-License-Identifier: MIT */
/* Timezones: ICU is asked once, when a zone is opened, for every UTC-offset transition between
 * 1969 and 2201; lookups afterwards are binary searches in that table. This keeps ICU the
 * source of truth (and of whatever tz data it was pointed at) while making next()/prev()
 * exact, allocation-free and safe to share between threads. */
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <unicode/uchar.h>
#include <unicode/ucal.h>
#include <unicode/ures.h>
#include <unicode/ustring.h>

#include "cron_int.h"
#include "cron_zone_int.h"

/* 1969-01-01T00:00Z and 2201-01-01T00:00Z, in milliseconds. */
#define TABLE_FROM_MS (-31536000000.0)
#define TABLE_TO_MS (7289654400000.0)
#define FAR_PAST (INT64_MIN / 4)

/* Zone names are ASCII; converting by hand avoids ICU's default-codepage machinery. */
static int to_uchars(const char *name, UChar *out, size_t cap)
{
    size_t i = 0;
    for (; name[i]; i++) {
        const unsigned char c = (unsigned char)name[i];
        if (i + 1 >= cap || c <= 0x20 || c >= 0x7f)
            return -1;
        out[i] = (UChar)c;
    }
    if (i == 0)
        return -1;
    out[i] = 0;
    return (int)i;
}

/* Index of `id` in the zone table's sorted Names, or -1. */
static int32_t find_zone_name(const UResourceBundle *names, const UChar *id)
{
    int32_t lo = 0, hi = ures_getSize(names) - 1;
    while (lo <= hi) {
        const int32_t mid = lo + (hi - lo) / 2;
        UErrorCode st = U_ZERO_ERROR;
        int32_t len;
        const UChar *name = ures_getStringByIndex(names, mid, &len, &st);
        if (U_FAILURE(st))
            return -1;
        const int c = u_strcmp(name, id);
        if (c == 0)
            return mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    return -1;
}

/* Replaces an IANA link (Asia/Calcutta, US/Eastern) in canon by the zone it names
 * (Asia/Kolkata, America/New_York), reading the links from ICU's own zone table so that the
 * answer follows whatever tz data ICU runs with. ICU's canonical IDs are CLDR's, which keep
 * some old names; people and the tz database use the current ones. Leaves canon as it is
 * when the table says nothing. */
static void follow_link(UChar *canon, int32_t cap, int32_t *len)
{
    UErrorCode st = U_ZERO_ERROR;
    UResourceBundle *top = ures_openDirect(NULL, "zoneinfo64", &st);
    UResourceBundle *names = ures_getByKey(top, "Names", NULL, &st);
    UResourceBundle *zones = ures_getByKey(top, "Zones", NULL, &st);
    const int32_t index = U_SUCCESS(st) ? find_zone_name(names, canon) : -1;
    UResourceBundle *entry = index >= 0 ? ures_getByIndex(zones, index, NULL, &st) : NULL;
    if (entry && U_SUCCESS(st) && ures_getType(entry) == URES_INT) {
        const int32_t target = ures_getInt(entry, &st);
        int32_t n;
        const UChar *name = ures_getStringByIndex(names, target, &n, &st);
        if (U_SUCCESS(st) && n < cap) {
            u_strncpy(canon, name, n);
            canon[n] = 0;
            *len = n;
        }
    }
    ures_close(entry);
    ures_close(zones);
    ures_close(names);
    ures_close(top);
}

/* Rewrites id (in place) to the spelling the zone table uses, comparing without case
 * ("america/new_york"), as Postgres and most tools accept names. */
static void fix_case(UChar *id)
{
    UErrorCode st = U_ZERO_ERROR;
    UResourceBundle *top = ures_openDirect(NULL, "zoneinfo64", &st);
    UResourceBundle *names = ures_getByKey(top, "Names", NULL, &st);
    const int32_t count = U_SUCCESS(st) ? ures_getSize(names) : 0;
    for (int32_t i = 0; i < count; i++) {
        int32_t n;
        const UChar *name = ures_getStringByIndex(names, i, &n, &st);
        if (U_SUCCESS(st) && u_strcasecmp(name, id, U_FOLD_CASE_DEFAULT) == 0) {
            u_strncpy(id, name, n); /* same length: only the case differs */
            break;
        }
    }
    ures_close(names);
    ures_close(top);
}

static int canonical_uchars(const char *name, UChar *canon, int32_t cap, int32_t *len)
{
    UChar id[CRON_ZONE_NAME_MAX];
    if (to_uchars(name, id, CRON_ZONE_NAME_MAX) < 0)
        return CRON_EZONE;
    UErrorCode st = U_ZERO_ERROR;
    UBool is_system = 0;
    *len = ucal_getCanonicalTimeZoneID(id, -1, canon, cap, &is_system, &st);
    if (U_FAILURE(st) || !is_system) {
        fix_case(id);
        st = U_ZERO_ERROR;
        *len = ucal_getCanonicalTimeZoneID(id, -1, canon, cap, &is_system, &st);
    }
    if (U_FAILURE(st) || !is_system || *len <= 0 || *len >= cap)
        return CRON_EZONE;
    canon[*len] = 0;
    follow_link(canon, cap, len);
    return 0;
}

int cron_zone_canonical(const char *name, char *out, size_t outlen)
{
    UChar canon[CRON_ZONE_NAME_MAX];
    int32_t len;
    if (canonical_uchars(name, canon, CRON_ZONE_NAME_MAX, &len) != 0)
        return CRON_EZONE;
    if ((size_t)len >= outlen)
        return CRON_EZONE;
    u_austrncpy(out, canon, (int32_t)outlen);
    out[len] = 0;
    return 0;
}

static int32_t offset_now(UCalendar *cal, UErrorCode *st)
{
    return (ucal_get(cal, UCAL_ZONE_OFFSET, st) + ucal_get(cal, UCAL_DST_OFFSET, st)) / 1000;
}

static int append(struct cron_zone *z, uint32_t *cap, int64_t start, int32_t offset)
{
    if (z->count == *cap) {
        const uint32_t n = *cap ? *cap * 2 : 64;
        int64_t *s = realloc(z->start, n * sizeof *s);
        if (!s)
            return CRON_ENOMEM;
        z->start = s;
        int64_t *w = realloc(z->wall_start, n * sizeof *w);
        if (!w)
            return CRON_ENOMEM;
        z->wall_start = w;
        int32_t *o = realloc(z->offset, n * sizeof *o);
        if (!o)
            return CRON_ENOMEM;
        z->offset = o;
        *cap = n;
    }
    z->start[z->count] = start;
    z->offset[z->count] = offset;
    z->wall_start[z->count] = start == FAR_PAST ? FAR_PAST : start + offset;
    z->count++;
    return 0;
}

static int load_transitions(struct cron_zone *z, const UChar *id, int32_t id_len)
{
    UErrorCode st = U_ZERO_ERROR;
    UCalendar *cal = ucal_open(id, id_len, "en_US_POSIX", UCAL_GREGORIAN, &st);
    if (U_FAILURE(st))
        return CRON_EICU;
    uint32_t cap = 0;
    ucal_setMillis(cal, TABLE_FROM_MS, &st);
    int32_t last = offset_now(cal, &st);
    int rc = append(z, &cap, FAR_PAST, last);
    UDate when;
    while (rc == 0 && U_SUCCESS(st) &&
           ucal_getTimeZoneTransitionDate(cal, UCAL_TZ_TRANSITION_NEXT, &when, &st) &&
           when < TABLE_TO_MS) {
        ucal_setMillis(cal, when, &st);
        const int32_t off = offset_now(cal, &st);
        if (off == last)
            continue; /* only the name or the DST flag changed */
        /* A period shorter than its offset change would make local time run backwards twice;
         * no real zone does this, and the resolution in cron_next.c relies on it. */
        const int64_t start = (int64_t)(when / 1000);
        if (start + off <= z->wall_start[z->count - 1])
            rc = CRON_EICU;
        else
            rc = append(z, &cap, start, off);
        last = off;
    }
    ucal_close(cal);
    if (rc == 0 && U_FAILURE(st))
        rc = CRON_EICU;
    return rc;
}

int cron_zone_open(const char *name, struct cron_zone **out, struct cron_error *err)
{
    *out = NULL;
    if (err)
        memset(err, 0, sizeof *err);
    if (!name || !*name)
        name = "UTC";
    UChar canon[CRON_ZONE_NAME_MAX];
    int32_t len;
    int rc = canonical_uchars(name, canon, CRON_ZONE_NAME_MAX, &len);
    if (rc != 0) {
        if (err) {
            err->code = CRON_EZONE;
            strcpy(err->field, "timezone");
            snprintf(err->message, sizeof err->message,
                     "timezone: \"%.64s\" is not an IANA timezone (e.g. America/New_York, UTC)", name);
        }
        return CRON_EZONE;
    }
    struct cron_zone *z = calloc(1, sizeof *z);
    if (!z)
        return CRON_ENOMEM;
    u_austrncpy(z->name, canon, CRON_ZONE_NAME_MAX);
    z->name[len] = 0;
    if (!strcmp(z->name, "Etc/UTC")) /* UTC, Etc/UCT, Zulu, ...: say it the way people do */
        strcpy(z->name, "UTC");
    if ((rc = load_transitions(z, canon, len)) != 0) {
        if (err) {
            err->code = rc;
            strcpy(err->field, "timezone");
            snprintf(err->message, sizeof err->message,
                     "timezone: ICU could not load the transitions of \"%s\" (%s)", z->name,
                     cron_strerror(rc));
        }
        cron_zone_free(z);
        return rc;
    }
    *out = z;
    return 0;
}

void cron_zone_free(struct cron_zone *zone)
{
    if (!zone)
        return;
    free(zone->start);
    free(zone->wall_start);
    free(zone->offset);
    free(zone);
}

const char *cron_zone_name(const struct cron_zone *zone)
{
    return zone->name;
}

/* Largest k with keys[k] <= x, given keys[0] <= x (keys[0] is FAR_PAST). */
static uint32_t search(const int64_t *keys, uint32_t count, int64_t x)
{
    uint32_t lo = 0, hi = count;
    while (hi - lo > 1) {
        const uint32_t mid = lo + (hi - lo) / 2;
        if (keys[mid] <= x)
            lo = mid;
        else
            hi = mid;
    }
    return lo;
}

uint32_t cron_zone_period(const struct cron_zone *z, int64_t t)
{
    return search(z->start, z->count, t);
}

uint32_t cron_zone_wall_period(const struct cron_zone *z, int64_t w)
{
    return search(z->wall_start, z->count, w);
}

int32_t cron_zone_offset(const struct cron_zone *zone, int64_t ms)
{
    return zone->offset[cron_zone_period(zone, cron_floor_div(ms, 1000))];
}

int cron_zone_next_transition(const struct cron_zone *zone, int64_t after_ms, int64_t *at_ms,
                              int32_t *offset_after)
{
    const uint32_t k = cron_zone_period(zone, cron_floor_div(after_ms, 1000)) + 1;
    if (k >= zone->count)
        return CRON_ENOFIRE;
    *at_ms = zone->start[k] * 1000;
    *offset_after = zone->offset[k];
    return 0;
}
