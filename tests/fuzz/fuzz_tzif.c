/* SPDX-License-Identifier: MIT */
/* libFuzzer target: any bytes as a TZif file; when one parses, its footer as a POSIX TZ
 * string, expanded over a few years. Must never crash, leak, hang or hit undefined
 * behaviour. Seeds: the system's own zoneinfo files (tests/run.sh --fuzz copies some). */
#include <stdint.h>
#include <stdlib.h>

#include "posixtz.h"
#include "tzif.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct tzif z;
    const char *why;
    if (tzif_parse(data, size, &z, &why) != 0)
        return 0;
    for (uint32_t i = 0; i < z.transition_count; i++)
        if (z.type_index[i] >= z.type_count || (i && z.at[i] <= z.at[i - 1]))
            abort(); /* the parser promised valid indices and ascending times */
    struct posixtz tz;
    if (posixtz_parse(z.footer, &tz, &why) == 0) {
        struct posixtz_transition out[64];
        const int64_t after = z.transition_count ? z.at[z.transition_count - 1] : 0;
        const size_t n = posixtz_expand(&tz, after, tz.std_utoff, 0, 2040, out, 64);
        for (size_t i = 1; i < n; i++)
            if (out[i].at <= out[i - 1].at)
                abort(); /* expansion must be strictly increasing */
    }
    tzif_release(&z);
    return 0;
}
