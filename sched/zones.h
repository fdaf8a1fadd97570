/* SPDX-License-Identifier: MIT */
/* A cache of opened cron zones by name: opening one costs up to a millisecond, and thousands
 * of tasks share a few dozen zones. One owner thread at a time (not locked). */
#ifndef AGENTCRON_ZONES_H
#define AGENTCRON_ZONES_H

struct cron_zone;
struct cron_error;
struct zones;

/* A new, empty cache (NULL when out of memory). Free with zones_free. */
struct zones *zones_new(void);
void zones_free(struct zones *z);

/* The zone named `name`, opened on first use; NULL with *err for an unknown zone. The zone
 * belongs to the cache. */
const struct cron_zone *zones_get(struct zones *z, const char *name, struct cron_error *err);

#endif
