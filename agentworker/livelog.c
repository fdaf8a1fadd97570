/* SPDX-License-Identifier: MIT */
/* The queue of live output chunks (livelog.h). */
#include "livelog.h"

#include <stdlib.h>

void livelog_init(struct livelog *l)
{
    l->head = NULL, l->tail = &l->head, l->count = 0;
}

int livelog_push(struct livelog *l, int64_t run, int attempt, int end, char *out, size_t out_len, char *err,
                 size_t err_len)
{
    if (!out_len && !err_len && !end) {
        free(out), free(err);
        return 0;
    }
    struct livelog_chunk *c = calloc(1, sizeof *c);
    if (!c) {
        free(out), free(err);
        return -1;
    }
    *c = (struct livelog_chunk){.run = run, .attempt = attempt, .end = end, .out = out, .err = err,
                                .out_len = out_len, .err_len = err_len};
    *l->tail = c;
    l->tail = &c->next;
    l->count++;
    return 0;
}

struct livelog_chunk *livelog_take(struct livelog *l)
{
    struct livelog_chunk *all = l->head;
    livelog_init(l);
    return all;
}

void livelog_free(struct livelog_chunk *c)
{
    while (c) {
        struct livelog_chunk *next = c->next;
        free(c->out), free(c->err), free(c);
        c = next;
    }
}
