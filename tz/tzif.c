/* SPDX-License-Identifier: MIT */
/* RFC 8536 TZif parsing. Every count is checked against the bytes actually present before
 * anything is read, so a truncated or hostile file fails cleanly. */
#include "tzif.h"

#include <stdlib.h>
#include <string.h>

struct header {
    char version;
    uint32_t isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt;
};

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t be64(const uint8_t *p)
{
    return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4));
}

static int read_header(const uint8_t *p, size_t len, struct header *h)
{
    if (len < 44 || memcmp(p, "TZif", 4) != 0)
        return -1;
    h->version = (char)p[4];
    h->isutcnt = be32(p + 20), h->isstdcnt = be32(p + 24), h->leapcnt = be32(p + 28);
    h->timecnt = be32(p + 32), h->typecnt = be32(p + 36), h->charcnt = be32(p + 40);
    return 0;
}

/* Size of a data block whose transition times are `tsize` bytes wide. */
static uint64_t block_size(const struct header *h, unsigned tsize)
{
    return (uint64_t)h->timecnt * tsize + h->timecnt + (uint64_t)h->typecnt * 6 + h->charcnt +
           (uint64_t)h->leapcnt * (tsize + 4) + h->isstdcnt + h->isutcnt;
}

int tzif_parse(const uint8_t *data, size_t len, struct tzif *out, const char **why)
{
    memset(out, 0, sizeof *out);
    struct header h;
    if (read_header(data, len, &h) != 0)
        return *why = "not a TZif file (bad magic or shorter than its header)", -1;
    unsigned tsize = 4;
    const uint8_t *p = data + 44, *end = data + len;
    if (h.version >= '2') { /* skip the 32-bit block; use the 64-bit one */
        const uint64_t skip = block_size(&h, 4);
        if (skip > (uint64_t)(end - p))
            return *why = "truncated TZif file (first data block)", -1;
        p += skip;
        if (read_header(p, (size_t)(end - p), &h) != 0)
            return *why = "truncated TZif file (second header)", -1;
        p += 44;
        tsize = 8;
    }
    if (h.typecnt == 0 || h.typecnt > 256 || h.timecnt > 100000 || h.charcnt == 0)
        return *why = "TZif counts out of range", -1;
    if (h.leapcnt != 0)
        return *why = "TZif file has leap seconds (a right/ zone); use the posix zones", -1;
    if (block_size(&h, tsize) > (uint64_t)(end - p))
        return *why = "truncated TZif file (data block)", -1;

    out->transition_count = h.timecnt;
    out->type_count = h.typecnt;
    out->at = malloc((h.timecnt ? h.timecnt : 1) * sizeof *out->at);
    out->type_index = malloc(h.timecnt ? h.timecnt : 1);
    out->types = malloc(h.typecnt * sizeof *out->types);
    if (!out->at || !out->type_index || !out->types) {
        tzif_release(out);
        return *why = "out of memory", -1;
    }
    for (uint32_t i = 0; i < h.timecnt; i++, p += tsize) {
        out->at[i] = tsize == 8 ? be64(p) : (int32_t)be32(p);
        if (i > 0 && out->at[i] <= out->at[i - 1]) {
            tzif_release(out);
            return *why = "TZif transitions are not in ascending order", -1;
        }
    }
    for (uint32_t i = 0; i < h.timecnt; i++, p++) {
        if (*p >= h.typecnt) {
            tzif_release(out);
            return *why = "TZif transition names a type that does not exist", -1;
        }
        out->type_index[i] = *p;
    }
    for (uint32_t i = 0; i < h.typecnt; i++, p += 6) {
        const int32_t utoff = (int32_t)be32(p);
        if (utoff < -25 * 3600 || utoff > 26 * 3600 || p[4] > 1) {
            tzif_release(out);
            return *why = "TZif type has an impossible UTC offset or DST flag", -1;
        }
        out->types[i] = (struct tzif_type){.utoff = utoff, .isdst = p[4]};
    }
    p += h.charcnt + (uint64_t)h.leapcnt * (tsize + 4) + h.isstdcnt + h.isutcnt;
    if (tsize == 8) { /* footer: "\n" TZ-string "\n" */
        if (p >= end || *p != '\n')
            return tzif_release(out), *why = "truncated TZif file (footer)", -1;
        const uint8_t *nl = memchr(p + 1, '\n', (size_t)(end - p - 1));
        if (!nl || (size_t)(nl - p - 1) >= sizeof out->footer)
            return tzif_release(out), *why = "truncated or oversized TZif footer", -1;
        memcpy(out->footer, p + 1, (size_t)(nl - p - 1));
        out->footer[nl - p - 1] = 0;
    }
    return 0;
}

void tzif_release(struct tzif *z)
{
    free(z->at);
    free(z->type_index);
    free(z->types);
    z->at = NULL, z->type_index = NULL, z->types = NULL;
    z->transition_count = z->type_count = 0;
}
