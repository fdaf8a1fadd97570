/* SPDX-License-Identifier: MIT */
/* Retention of the run history: finished runs (with their attempts) and slot-ledger rows older
 * than their task's retention_days, or RUN_RETENTION_DAYS, are removed in small batches, each
 * its own short transaction that locks only the rows it removes (SKIP LOCKED), so the scheduler
 * and the workers never wait on it. The credit ledger is kept (its link to a removed run becomes
 * NULL); usage summaries are kept.
 *
 * A pass is a sequence of retention_step calls until it says done; the orchestrator runs one
 * step at a time on its thread pool, `agentcron runs prune` in a loop. Blocking. */
#ifndef AGENTCRON_RETENTION_H
#define AGENTCRON_RETENTION_H

#include <stddef.h>
#include <stdint.h>

struct pg_conn;

#define RETENTION_BATCH 1000 /* rows a step removes at most */

/* What a pass removed (or, from retention_preview, would remove). */
struct retention_counts {
    int64_t runs, attempts, gaps;
};

/* A pass in progress. Zero it to begin. */
struct retention_pass {
    int phase;        /* internal: which kind of rows the next step removes */
    int64_t after_us; /* internal: where the scan of finished runs goes on */
    int steps;
    struct retention_counts removed;
};

/* Removes one batch. 1: more may follow, 0: the pass is done, -1 with err (Postgres failed;
 * what was removed stays removed, and a new pass goes on from there). default_days 0: only
 * tasks with their own retention_days lose runs. */
int retention_step(struct pg_conn *pg, int default_days, struct retention_pass *pass, char *err, size_t len);

/* What a pass would remove now. 0, or -1 with err. */
int retention_preview(struct pg_conn *pg, int default_days, struct retention_counts *out, char *err, size_t len);

/* Makes this connection the one that applies retention (a session advisory lock, so that of
 * several orchestrators one works at a time): 1 it is, 0 another holds it, -1 error. */
int retention_lock(struct pg_conn *pg, char *err, size_t len);
void retention_unlock(struct pg_conn *pg);

#endif
