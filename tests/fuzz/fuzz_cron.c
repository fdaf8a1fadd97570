/* SPDX-License-Identifier: MIT */
/* libFuzzer target: parse any bytes as a cron expression; on success describe it and walk
 * next/prev from instants taken from the input, in a zone the input picks. Must never crash,
 * leak, hang or hit undefined behaviour. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cronparse.h"

static const char *const zones[] = {"UTC", "America/New_York", "Australia/Lord_Howe",
                                    "Pacific/Chatham", "America/Santiago", "Pacific/Apia"};
#define NZONES (sizeof zones / sizeof zones[0])

static struct cron_zone *opened[NZONES];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 9)
        return 0;
    /* first 8 bytes: an instant and a zone; the rest: the expression */
    uint64_t raw;
    memcpy(&raw, data, sizeof raw);
    const size_t zi = data[0] % NZONES;
    const int64_t t = (int64_t)(raw % UINT64_C(7400000000000)) - INT64_C(70000000000);
    char *text = malloc(size - 8 + 1);
    if (!text)
        return 0;
    memcpy(text, data + 8, size - 8);
    text[size - 8] = 0;

    struct cron_expr *e;
    struct cron_error err;
    if (cron_parse(text, (raw & 1) ? "fuzz-key" : NULL, &e, &err) == 0) {
        if (!opened[zi] && cron_zone_open(zones[zi], &opened[zi], &err) != 0)
            abort();
        char description[256];
        cron_describe(e, description, sizeof description);
        struct cron_fire f;
        int64_t at = t;
        for (int i = 0; i < 4 && cron_next(e, opened[zi], at, &f) == 0; i++) {
            if (f.ms <= at)
                abort(); /* next() must move forward */
            at = f.ms;
        }
        at = t;
        for (int i = 0; i < 4 && cron_prev(e, opened[zi], at, &f) == 0; i++) {
            if (f.ms >= at)
                abort(); /* prev() must move backward */
            at = f.ms;
        }
        cron_free(e);
    } else if (err.message[0] == 0 || err.code >= 0) {
        abort(); /* every rejection carries a message */
    }
    free(text);
    return 0;
}
