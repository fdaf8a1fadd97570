/* SPDX-License-Identifier: MIT */
/* Prints one of the scheduler's statements, for tests that look at its plan in Postgres:
 * print_sql claim_due. */
#include <stdio.h>
#include <string.h>

#include "schedule_sql.h"

int main(int argc, char **argv)
{
    if (argc == 2 && !strcmp(argv[1], "claim_due")) {
        puts(sql_claim_due);
        return 0;
    }
    fprintf(stderr, "usage: print_sql claim_due\n");
    return 2;
}
