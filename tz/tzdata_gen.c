/* SPDX-License-Identifier: MIT */
/* Writes ICU's zoneinfo64 resource (text, for genrb) from a system zoneinfo directory:
 * zone and link names from tzdata.zi, each zone's transitions from its TZif file, and the
 * TZif footer's DST rule for the future.
 *
 * The footer rule becomes ICU's "final rule" (a SimpleTimeZone) from 2038 on when ICU can
 * express it exactly, as it can for almost every zone; otherwise (switch times past 24:00 or
 * negative, as in Jerusalem or Nuuk, or a negative DST) it is expanded here into explicit
 * transitions through TZDATA_LAST_YEAR. Explicit lists cost ICU a linear scan per lookup,
 * which is why they are kept short where a rule will do. Offsets are split into raw and DST
 * parts as ICU expects; a negative DST (Europe/Dublin's winter) is recorded as a raw offset,
 * which keeps every total offset exact. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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
    int has_final;          /* from final_year on, ICU follows final_rule */
    int32_t final_rule[11]; /* ICU SimpleTimeZone parameters (see rule_for_icu) */
    int32_t final_raw;
    int final_year;
};

/* Encodes a POSIX rule as ICU's SimpleTimeZone parameters when that is exact: month/week/day
 * or Julian dates, switch times within 0-24 h of local wall time, and a positive DST. ICU
 * cannot express the rest (Jerusalem's 26:00, Nuuk's -1:00), which stay explicit. Returns 1
 * when encoded. */
static int rule_for_icu(const struct posixtz *r, int32_t out[11])
{
    static const int month_len[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (!r->has_dst || r->dst_utoff <= r->std_utoff)
        return 0;
    const struct posixtz_date *dates[2] = {&r->start, &r->end};
    for (int i = 0; i < 2; i++) {
        const struct posixtz_date *d = dates[i];
        int32_t *o = out + 5 * i;
        if (d->time < 0 || d->time > 86400)
            return 0;
        if (d->kind == 'M') {
            o[0] = d->month - 1, o[1] = d->week == 5 ? -1 : d->week, o[2] = d->weekday + 1;
        } else if (d->kind == 'J') { /* day 1-365 of a year without Feb 29 */
            int month = 0, day = d->day;
            while (day > month_len[month])
                day -= month_len[month++];
            o[0] = month, o[1] = day, o[2] = 0;
        } else {
            return 0;
        }
        o[3] = d->time, o[4] = 0; /* wall time: standard before the start, DST before the end */
    }
    out[10] = r->dst_utoff - r->std_utoff;
    return 1;
}

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

/* 00:00 UTC on 1 January of `year`: where ICU hands over to the final rule. */
static int64_t final_start(int year)
{
    struct tm tm = {.tm_year = year - 1900, .tm_mday = 1};
    return (int64_t)timegm(&tm);
}

/* The footer rule's offset at instant t, by expanding it up to t (used to check ICU). */
static int32_t final_offset(const struct tzif *tz, int64_t t)
{
    struct posixtz rule;
    const char *why;
    if (posixtz_parse(tz->footer, &rule, &why) != 0)
        return 0;
    struct tm tm;
    const time_t when = (time_t)t;
    gmtime_r(&when, &tm);
    struct posixtz_transition out[8];
    const int64_t from = t - 366 * 86400;
    const size_t n = posixtz_expand(&rule, from, rule.std_utoff, 0, tm.tm_year + 1900, out, 8);
    int32_t off = rule.std_utoff;
    for (size_t i = 0; i < n && out[i].at <= t; i++)
        off = out[i].utoff;
    return off;
}

static int build_zone(const struct tzif *tz, const char *path, struct icu_zone *z, struct name *zone_name,
                      struct tzdata_error *err)
{
    const size_t cap = tz->transition_count + 2 * (TZDATA_LAST_YEAR - 1900 + 2) + 1;
    struct state *s = malloc(cap * sizeof *s);
    if (!s)
        return tzdata_fail(err, "out of memory converting %s", path);
    size_t n = 0;
    z->has_final = 0;
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
        /* With a rule ICU can follow, write transitions until it takes over (2038 at the
         * earliest, as ICU's own data does); otherwise write them all out. */
        int last_year = TZDATA_LAST_YEAR;
        z->has_final = rule_for_icu(&rule, z->final_rule);
        if (z->has_final) {
            const time_t t = (time_t)after;
            struct tm tm;
            gmtime_r(&t, &tm);
            z->final_year = tm.tm_year + 1900 + 1 > 2038 ? tm.tm_year + 1900 + 1 : 2038;
            z->final_raw = rule.std_utoff;
            last_year = z->final_year - 1;
        }
        struct posixtz_transition *more = malloc((cap - n) * sizeof *more);
        if (!more) {
            free(s);
            return tzdata_fail(err, "out of memory converting %s", path);
        }
        const size_t added = posixtz_expand(&rule, after, s[n - 1].utoff, s[n - 1].isdst, last_year,
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
        if (z->has_final && tzdata_probe_at[p] >= final_start(z->final_year))
            zone_name->probe_utoff[p] = final_offset(tz, tzdata_probe_at[p]);
    }
    free(s);
    return 0;
}

static void write_zone(FILE *out, const char *name, const struct icu_zone *z, int rule_index)
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
    if (z->has_final)
        fprintf(out, "            finalRule { \"R%d\" }\n            finalRaw:int { %d }\n"
                     "            finalYear:int { %d }\n", rule_index, z->final_raw, z->final_year);
    fprintf(out, "        }\n");
}

/* Distinct final rules, shared by the zones that follow them (written as "Rules"). */
struct rules {
    int32_t (*v)[11];
    int count, cap;
};

static int rule_id(struct rules *r, const int32_t rule[11])
{
    for (int i = 0; i < r->count; i++)
        if (!memcmp(r->v[i], rule, sizeof r->v[i]))
            return i;
    if (r->count == r->cap) {
        const int cap = r->cap ? r->cap * 2 : 64;
        int32_t(*grown)[11] = realloc(r->v, (size_t)cap * sizeof *grown);
        if (!grown)
            return -1;
        r->v = grown, r->cap = cap;
    }
    memcpy(r->v[r->count], rule, sizeof r->v[0]);
    return r->count++;
}

int tzdata_generate(const char *source, FILE *out, struct tzdata_names *names, struct tzdata_error *err)
{
    memset(names, 0, sizeof *names);
    if (read_names(source, names, err) != 0)
        return -1;
    read_regions(source, names);
    struct icu_zone *z = malloc(sizeof *z);
    struct rules rules = {0};
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
            free(rules.v);
            return tzdata_fail(err, "cannot read %s: %s", path, strerror(errno));
        }
        struct tzif tz;
        const char *why;
        const int rc = tzif_parse(data, len, &tz, &why);
        free(data);
        if (rc != 0) {
            free(z);
            free(rules.v);
            return tzdata_fail(err, "%s: %s", path, why);
        }
        const int built = build_zone(&tz, path, z, n, err);
        tzif_release(&tz);
        const int rule = built == 0 && z->has_final ? rule_id(&rules, z->final_rule) : 0;
        if (built != 0 || rule < 0) {
            free(z);
            free(rules.v);
            return built != 0 ? -1 : tzdata_fail(err, "out of memory");
        }
        write_zone(out, n->name, z, rule);
    }
    free(z);
    fprintf(out, "    }\n    Names {\n");
    for (size_t i = 0; i < names->count; i++)
        fprintf(out, "        \"%s\",\n", names->names[i].name);
    fprintf(out, "    }\n    Regions {\n");
    for (size_t i = 0; i < names->count; i++)
        fprintf(out, "        \"%s\",\n", names->names[i].region);
    fprintf(out, "    }\n    Rules {\n");
    for (int i = 0; i < rules.count; i++) {
        fprintf(out, "        R%d:intvector { ", i);
        for (int k = 0; k < 11; k++)
            fprintf(out, "%s%d", k ? ", " : "", rules.v[i][k]);
        fprintf(out, " }\n");
    }
    fprintf(out, "    }\n}\n");
    free(rules.v);
    if (ferror(out))
        return tzdata_fail(err, "could not write the generated resource: %s", strerror(errno));
    return 0;
}
