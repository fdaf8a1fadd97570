/* SPDX-License-Identifier: MIT */
/* Prints one of the statements whose plans tests look at in Postgres: print_sql claim_due (the
 * scheduler's claim), print_sql alert:CONDITION (an alert condition's evaluation). */
#include <stdio.h>
#include <string.h>

#include "evaluate_sql.h"
#include "schedule_sql.h"

int main(int argc, char **argv)
{
    if (argc == 2 && !strcmp(argv[1], "claim_due")) {
        puts(sql_claim_due);
        return 0;
    }
    for (size_t i = 0; argc == 2 && i < sizeof alert_condition_sql / sizeof *alert_condition_sql; i++)
        if (!strncmp(argv[1], "alert:", 6) && !strcmp(argv[1] + 6, alert_condition_sql[i].condition)) {
            puts(alert_condition_sql[i].sql);
            return 0;
        }
    fprintf(stderr, "usage: print_sql claim_due | alert:CONDITION\n");
    return 2;
}
