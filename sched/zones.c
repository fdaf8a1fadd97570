/* SPDX-License-Identifier: MIT */
/* Zone cache (see zones.h): a small hash table with chaining. */
#include "zones.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cronparse.h"

#define BUCKETS 256

struct entry {
    char *name;
    struct cron_zone *zone;
    struct entry *next;
};

struct zones {
    struct entry *bucket[BUCKETS];
};

struct zones *zones_new(void)
{
    return calloc(1, sizeof(struct zones));
}

void zones_free(struct zones *z)
{
    if (!z)
        return;
    for (int b = 0; b < BUCKETS; b++)
        for (struct entry *e = z->bucket[b], *next; e; e = next) {
            next = e->next;
            cron_zone_free(e->zone);
            free(e->name);
            free(e);
        }
    free(z);
}

const struct cron_zone *zones_get(struct zones *z, const char *name, struct cron_error *err)
{
    uint32_t h = 2166136261u;
    for (const unsigned char *c = (const unsigned char *)name; *c; c++)
        h = (h ^ *c) * 16777619u;
    struct entry **slot = &z->bucket[h % BUCKETS];
    for (struct entry *e = *slot; e; e = e->next)
        if (!strcmp(e->name, name))
            return e->zone;
    struct cron_zone *zone;
    if (cron_zone_open(name, &zone, err) != 0)
        return NULL;
    struct entry *e = malloc(sizeof *e);
    if (!e || !(e->name = strdup(name))) {
        free(e);
        cron_zone_free(zone);
        return NULL;
    }
    e->zone = zone, e->next = *slot;
    *slot = e;
    return zone;
}
