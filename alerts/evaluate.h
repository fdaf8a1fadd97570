/* SPDX-License-Identifier: MIT */
/* Evaluating the alert rules (docs/alerts.md): for each enabled rule, the subjects for which
 * its condition holds now (a task, a user, the queue, the orchestrators or workers), compared
 * with the rule's open incidents: a new one is opened and announced, one still holding is
 * announced again once its repeat interval has passed, one that no longer holds is resolved
 * and that is announced. Announcements become alert_deliveries rows (deliver.h sends them).
 *
 * A pass is one transaction under an advisory lock: of several orchestrators one evaluates at
 * a time, and the unique open incident per rule and subject makes every incident (and its
 * announcements) happen once. Run and slot events are read from each rule's events_from up to
 * two seconds ago (so that a run committed a moment late is still seen), then events_from moves
 * on in the same transaction. Blocking. */
#ifndef AGENTCRON_ALERT_EVALUATE_H
#define AGENTCRON_ALERT_EVALUATE_H

#include <stddef.h>

struct pg_conn;
struct redisContext;

struct alert_pass {
    int rules;     /* enabled rules evaluated */
    int opened, repeated, resolved;
    int elsewhere; /* another orchestrator was evaluating: nothing done */
};

/* One pass. public_url: the dashboard's address for links ("https://cron.example.com"). redis
 * may be NULL (orchestrators_below and workers_below then keep their state). 0, or -1 with
 * *err (the transaction is rolled back: nothing was opened, resolved or announced). */
int alerts_evaluate(struct pg_conn *pg, struct redisContext *redis, const char *public_url, struct alert_pass *out,
                    char *err, size_t len);

/* Removes incidents resolved more than days ago (their deliveries go with them) and test
 * deliveries as old; days 0 keeps everything (RUN_RETENTION_DAYS). The count removed in
 * *removed. 0, or -1 with *err. */
int alerts_prune(struct pg_conn *pg, int days, long long *removed, char *err, size_t len);

#endif
