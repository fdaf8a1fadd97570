/* SPDX-License-Identifier: MIT */
/* libFuzzer target: any bytes as an AGENTS_FILE, and (after a NUL byte) as a task's
 * agent_config for every agent it defines. Each must be accepted or refused with a message,
 * never crash, leak or overrun; what loads must satisfy the loader's own promises. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "agents.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = 0;
    const size_t first = strlen(text); /* the file; the rest (if any) is a task's agent_config */
    const char *task_config = first < size ? text + first + 1 : NULL;
    struct agent_set set;
    struct agents_error err;
    if (agents_parse(&set, text, "fuzz", &err) != 0) {
        if (!err.message[0] || set.count != 0)
            abort();
        free(text);
        return 0;
    }
    for (size_t i = 0; i < set.count; i++) {
        const struct agent *a = &set.agents[i];
        if (a->tokens_per_credit <= 0 || a->base_credits < 0 || a->estimate_credits < a->base_credits)
            abort();
        if (a->kind == AGENT_EXEC && a->overridable[0])
            abort(); /* a task may never change what an exec agent runs */
        json_t *eff = agents_effective(a, task_config, &err);
        if (!eff && !err.message[0])
            abort();
        if (eff && a->kind == AGENT_EXEC && !json_equal(json_object_get(eff, "command"), json_object_get(a->settings, "command")))
            abort();
        json_decref(eff);
        (void)agents_charge(a, (int64_t)size * 1000);
    }
    agents_free(&set);
    free(text);
    return 0;
}
