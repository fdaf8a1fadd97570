/* SPDX-License-Identifier: MIT */
/* Writes ICU's zoneinfo64 resource (text, for genrb) from a system zoneinfo directory:
 * zone and link names from tzdata.zi, each zone's transitions from its TZif file, and the
 * TZif footer's DST rule expanded into explicit transitions through TZDATA_LAST_YEAR.
 *
 * Expanding the footer ourselves, instead of handing ICU a "final rule", avoids translating
 * POSIX rules (times past 24:00 or negative, as in Jerusalem or Nuuk) into ICU's
 * SimpleTimeZone encoding, which cannot express all of them; ICU then only replays a list.
 * Offsets are split into raw and DST parts as ICU expects; a negative DST (Europe/Dublin's
 * winter) is recorded as a raw offset, which keeps every total offset exact. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "posixtz.h"
#include "tzdata_int.h"
#include "tzif.h"

#define MAX_TZIF_BYTES (1 << 20)
#define MAX_TYPES 256
#define MAX_TRANSITIONS 0x7fff /* ICU's limit per zone */


static int by_name(const void *a, const void *b)
{
    return strcmp(((const struct name *)a)->name, ((const struct name *)b)->name);
}

static int find_name(const struct name *names, size_t n, const char *key)
{
    const struct name probe = {.name = (char *)key};
    const struct name *hit = bsearch(&probe, names, n, sizeof *names, by_name);
    return hit ? (int)(hit - names) : -1;
}

/* Reads a whole file of at most `max` bytes; NULL with errno set on failure. */
static uint8_t *read_file(const char *path, size_t max, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    uint8_t *buf = malloc(max + 1);
    errno = 0;
    const size_t n = buf ? fread(buf, 1, max + 1, f) : 0;
    const int why = !buf ? ENOMEM : ferror(f) ? (errno ? errno : EIO) : n > max ? EFBIG : 0;
    fclose(f);
    if (why) {
        free(buf);
        errno = why;
        return NULL;
    }
    *len = n;
    return buf;
}

/* Zone names become file paths and resource strings: letters, digits and "/_+-." only, and no
 * ".." or leading "/". */
static int valid_name(const char *name)
{
    if (!*name || name[0] == '/' || strstr(name, ".."))
        return 0;
    for (const char *c = name; *c; c++)
        if (!((*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') ||
              strchr("/_+-.", *c)))
            return 0;
    return 1;
}

/* Zone and link names and the version, from tzdata.zi ("# version 2025b", "Z NAME ...",
 * "L TARGET NAME"). */
static int read_names(const char *source, struct tzdata_names *out, struct tzdata_error *err)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/tzdata.zi", source);
    size_t len;
    char *text = (char *)read_file(path, 16u << 20, &len);
    if (!text)
        return tzdata_fail(err, "cannot read %s: %s", path, strerror(errno));
    text[len] = 0;
    if (sscanf(text, "# version %31s", out->version) != 1) {
        free(text);
        return tzdata_fail(err, "%s does not start with \"# version\"; is it a tzdata.zi file?", path);
    }
    size_t cap = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        char a[256], b[256];
        const int zone = sscanf(line, "Z %255s", a) == 1;
        const int link = !zone && sscanf(line, "L %255s %255s", a, b) == 2;
        if (!zone && !link)
            continue;
        if (out->count == cap) {
            cap = cap ? cap * 2 : 1024;
            struct name *grown = realloc(out->names, cap * sizeof *grown);
            if (!grown) {
                free(text);
                return tzdata_fail(err, "out of memory reading %s", path);
            }
            out->names = grown;
        }
        if (!valid_name(zone ? a : b) || (link && !valid_name(a))) {
            tzdata_fail(err, "%s has an invalid zone name near \"%.64s\"", path, line);
            free(text); /* only after the message: `line` points into it */
            return -1;
        }
        struct name *n = &out->names[out->count++];
        *n = (struct name){.name = strdup(zone ? a : b), .link_target = link ? strdup(a) : NULL};
        strcpy(n->region, "001");
        if (!n->name || (link && !n->link_target)) {
            free(text);
            return tzdata_fail(err, "out of memory reading %s", path);
        }
    }
    free(text);
    if (out->count == 0)
        return tzdata_fail(err, "%s names no zones", path);
    qsort(out->names, out->count, sizeof *out->names, by_name);
    for (size_t i = 0; i < out->count; i++) {
        const struct name *n = &out->names[i];
        if (i > 0 && !strcmp(n->name, out->names[i - 1].name))
            return tzdata_fail(err, "%s names \"%s\" twice", path, n->name);
        if (n->link_target) {
            const int t = find_name(out->names, out->count, n->link_target);
            if (t < 0 || out->names[t].link_target)
                return tzdata_fail(err, "link \"%s\" points at \"%s\", which is not a zone", n->name, n->link_target);
        }
    }
    return 0;
}

/* Region codes from zone.tab ("CC<TAB>coordinates<TAB>Zone..."); optional. */
static void read_regions(const char *source, struct tzdata_names *names)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/zone.tab", source);
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    char line[1024], cc[8], coords[64], zone[256];
    while (fgets(line, sizeof line, f))
        if (line[0] != '#' && sscanf(line, "%7s %63s %255s", cc, coords, zone) == 3 && strlen(cc) == 2) {
            const int i = find_name(names->names, names->count, zone);
            if (i >= 0)
                memcpy(names->names[i].region, cc, 3);
        }
    fclose(f);
    for (size_t i = 0; i < names->count; i++)
        if (names->names[i].link_target) {
            const int t = find_name(names->names, names->count, names->names[i].link_target);
            memcpy(names->names[i].region, names->names[t].region, 4);
        }
}

void tzdata_names_release(struct tzdata_names *names)
{
    for (size_t i = 0; i < names->count; i++) {
        free(names->names[i].name);
        free(names->names[i].link_target);
    }
    free(names->names);
    memset(names, 0, sizeof *names);
}

/* One zone as ICU wants it: transitions with an index into (raw, dst) pairs; pair 0 is the
 * state before the first transition. */
struct icu_zone {
    size_t count;
    int64_t at[MAX_TRANSITIONS];
    uint8_t type[MAX_TRANSITIONS];
    int32_t raw[MAX_TYPES], dst[MAX_TYPES];
    unsigned types;
};

struct state {
    int64_t at;
    int32_t utoff;
    uint8_t isdst;
};

/* The utoff of the standard-time state nearest to state i (searching back first), or i's own. */
static int32_t nearest_standard(const struct state *s, size_t n, size_t i)
{
    for (size_t back = i + 1; back-- > 0;)
        if (!s[back].isdst)
            return s[back].utoff;
    for (size_t fwd = i + 1; fwd < n; fwd++)
        if (!s[fwd].isdst)
            return s[fwd].utoff;
    return s[i].utoff;
}

/* The raw/DST split of state i: DST is the distance to the nearest standard-time offset; a
 * negative or zero distance is recorded as raw offset only. */
static void split(const struct state *s, size_t n, size_t i, int32_t *raw, int32_t *dst)
{
    const int32_t standard = s[i].isdst ? nearest_standard(s, n, i) : s[i].utoff;
    *raw = standard < s[i].utoff ? standard : s[i].utoff;
    *dst = s[i].utoff - *raw;
}

static int type_of(struct icu_zone *z, int32_t raw, int32_t dst)
{
    for (unsigned t = 0; t < z->types; t++)
        if (z->raw[t] == raw && z->dst[t] == dst)
            return (int)t;
    if (z->types == MAX_TYPES)
        return -1;
    z->raw[z->types] = raw, z->dst[z->types] = dst;
    return (int)z->types++;
}

static int build_zone(const struct tzif *tz, const char *path, struct icu_zone *z, struct name *zone_name,
                      struct tzdata_error *err)
{
    const size_t cap = tz->transition_count + 2 * (TZDATA_LAST_YEAR - 1900 + 2) + 1;
    struct state *s = malloc(cap * sizeof *s);
    if (!s)
        return tzdata_fail(err, "out of memory converting %s", path);
    size_t n = 0;
    s[n++] = (struct state){INT64_MIN, tz->types[0].utoff, tz->types[0].isdst};
    for (uint32_t i = 0; i < tz->transition_count; i++) {
        const struct tzif_type *t = &tz->types[tz->type_index[i]];
        s[n++] = (struct state){tz->at[i], t->utoff, t->isdst};
    }
    if (tz->footer[0]) {
        struct posixtz rule;
        const char *why;
        if (posixtz_parse(tz->footer, &rule, &why) != 0) {
            free(s);
            return tzdata_fail(err, "%s: %s", path, why);
        }
        const int64_t after = n > 1 ? s[n - 1].at : -2208988800; /* 1900 */
        struct posixtz_transition *more = malloc((cap - n) * sizeof *more);
        if (!more) {
            free(s);
            return tzdata_fail(err, "out of memory converting %s", path);
        }
        const size_t added = posixtz_expand(&rule, after, s[n - 1].utoff, s[n - 1].isdst, TZDATA_LAST_YEAR,
                                            more, cap - n);
        for (size_t i = 0; i < added; i++)
            s[n++] = (struct state){more[i].at, more[i].utoff, more[i].isdst};
        free(more);
    }
    z->count = 0, z->types = 0;
    int32_t raw, dst, last_raw = 0, last_dst = 0;
    for (size_t i = 0; i < n; i++) {
        split(s, n, i, &raw, &dst);
        if (i > 0 && raw == last_raw && dst == last_dst)
            continue; /* only the abbreviation changed */
        const int t = type_of(z, raw, dst);
        if (t < 0 || z->count == MAX_TRANSITIONS) {
            free(s);
            return tzdata_fail(err, "%s has more offsets or transitions than ICU can hold", path);
        }
        if (i > 0)
            z->at[z->count] = s[i].at, z->type[z->count++] = (uint8_t)t;
        last_raw = raw, last_dst = dst;
    }
    for (int p = 0; p < TZDATA_PROBES; p++) { /* the offset in force at each probe */
        unsigned t = 0;
        for (size_t i = 0; i < z->count && z->at[i] <= tzdata_probe_at[p]; i++)
            t = z->type[i];
        zone_name->probe_utoff[p] = z->raw[t] + z->dst[t];
    }
    free(s);
    return 0;
}

static void write_zone(FILE *out, const char *name, const struct icu_zone *z)
{
    fprintf(out, "        /* %s */ :table {\n", name);
    static const char *const keys[3] = {"transPre32", "trans", "transPost32"};
    for (int part = 0; part < 3; part++) {
        int any = 0;
        for (size_t i = 0; i < z->count; i++) {
            const int64_t t = z->at[i];
            const int which = t < INT32_MIN ? 0 : t > INT32_MAX ? 2 : 1;
            if (which != part)
                continue;
            fprintf(out, "%s", any ? ", " : "");
            if (!any)
                fprintf(out, "            %s:intvector { ", keys[part]);
            if (part == 1)
                fprintf(out, "%d", (int)t);
            else
                fprintf(out, "%d, %d", (int32_t)(uint32_t)((uint64_t)t >> 32), (int32_t)(uint32_t)(uint64_t)t);
            any = 1;
        }
        if (any)
            fprintf(out, " }\n");
    }
    fprintf(out, "            typeOffsets:intvector { ");
    for (unsigned t = 0; t < z->types; t++)
        fprintf(out, "%s%d, %d", t ? ", " : "", z->raw[t], z->dst[t]);
    fprintf(out, " }\n");
    if (z->count) {
        fprintf(out, "            typeMap:bin { \"");
        for (size_t i = 0; i < z->count; i++)
            fprintf(out, "%02x", z->type[i]);
        fprintf(out, "\" }\n");
    }
    fprintf(out, "        }\n");
}

int tzdata_generate(const char *source, FILE *out, struct tzdata_names *names, struct tzdata_error *err)
{
    memset(names, 0, sizeof *names);
    if (read_names(source, names, err) != 0)
        return -1;
    read_regions(source, names);
    struct icu_zone *z = malloc(sizeof *z);
    if (!z)
        return tzdata_fail(err, "out of memory");
    fprintf(out, "// Generated by agentcron tzdata refresh from %s (tzdata %s). Do not edit.\n"
                 "zoneinfo64:table(nofallback) {\n    TZVersion { \"%s\" }\n    Zones:array {\n",
            source, names->version, names->version);
    for (size_t i = 0; i < names->count; i++) {
        struct name *n = &names->names[i];
        if (n->link_target) {
            fprintf(out, "        /* %s */ :int { %d }\n", n->name, find_name(names->names, names->count, n->link_target));
            continue;
        }
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", source, n->name);
        size_t len;
        uint8_t *data = read_file(path, MAX_TZIF_BYTES, &len);
        if (!data) {
            free(z);
            return tzdata_fail(err, "cannot read %s: %s", path, strerror(errno));
        }
        struct tzif tz;
        const char *why;
        const int rc = tzif_parse(data, len, &tz, &why);
        free(data);
        if (rc != 0) {
            free(z);
            return tzdata_fail(err, "%s: %s", path, why);
        }
        const int built = build_zone(&tz, path, z, n, err);
        tzif_release(&tz);
        if (built != 0) {
            free(z);
            return -1;
        }
        write_zone(out, n->name, z);
    }
    free(z);
    fprintf(out, "    }\n    Names {\n");
    for (size_t i = 0; i < names->count; i++)
        fprintf(out, "        \"%s\",\n", names->names[i].name);
    fprintf(out, "    }\n    Regions {\n");
    for (size_t i = 0; i < names->count; i++)
        fprintf(out, "        \"%s\",\n", names->names[i].region);
    fprintf(out, "    }\n}\n");
    if (ferror(out))
        return tzdata_fail(err, "could not write the generated resource: %s", strerror(errno));
    return 0;
}
