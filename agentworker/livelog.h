/* SPDX-License-Identifier: MIT */
/* What running exec runs wrote, on its way to Redis for `agentcron runs logs --follow`
 * (queue.h: QUEUE_LOG_*): chunks in the order they were written, taken from the executors on
 * the loop thread and sent by one lane, so a run's stream stays in order. A run's last chunk
 * carries the end mark, written only for a run that streamed anything before: a run that ends
 * within one flush costs Redis nothing, and its output is read from Postgres. */
#ifndef AGENTCRON_LIVELOG_H
#define AGENTCRON_LIVELOG_H

#include <stddef.h>
#include <stdint.h>

struct livelog_chunk {
    int64_t run;
    int attempt;
    int end;               /* the attempt's last chunk */
    char *out, *err;       /* malloc'd, NULL: nothing */
    size_t out_len, err_len;
    struct livelog_chunk *next;
};

struct livelog {
    struct livelog_chunk *head, **tail;
    size_t count;
};

void livelog_init(struct livelog *l);

/* Queues what a run wrote (taking out and err); with nothing written and no end, nothing is
 * queued. 0, or -1 without memory (the bytes are dropped: the view is best effort). */
int livelog_push(struct livelog *l, int64_t run, int attempt, int end, char *out, size_t out_len, char *err,
                 size_t err_len);

/* Takes every queued chunk, oldest first (free with livelog_free). */
struct livelog_chunk *livelog_take(struct livelog *l);

void livelog_free(struct livelog_chunk *c);

#endif
