/* SPDX-License-Identifier: MIT */
/* A timezone as a table of UTC-offset periods (cron_zone.c), read by cron_next.c. Not installed. */
#ifndef CRON_ZONE_INT_H
#define CRON_ZONE_INT_H

#include <stddef.h>
#include <stdint.h>

#define CRON_ZONE_NAME_MAX 128

/* Period k starts at instant start[k] (seconds; period 0 starts before 1969) and has UTC offset
 * offset[k]; wall_start[k] = start[k] + offset[k], its first local wall time. Both start and
 * wall_start strictly increase with k (checked when the zone is opened). */
struct cron_zone {
    char name[CRON_ZONE_NAME_MAX];
    uint32_t count;
    int64_t *start;
    int64_t *wall_start;
    int32_t *offset;
};

/* Writes the canonical ID of an IANA zone name into out; 0, or CRON_EZONE if ICU does not
 * know it as a system zone. */
int cron_zone_canonical(const char *name, char *out, size_t outlen);

/* The period containing instant t (seconds): the largest k with start[k] <= t. */
uint32_t cron_zone_period(const struct cron_zone *z, int64_t t);

/* The last period whose local wall times start at or before w: largest k, wall_start[k] <= w. */
uint32_t cron_zone_wall_period(const struct cron_zone *z, int64_t w);

#endif
