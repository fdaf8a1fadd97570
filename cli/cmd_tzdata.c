/* SPDX-License-Identifier: MIT */
/* `agentcron tzdata refresh|status`: the tz data ICU computes with (see tz/tzdata.h). */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "tzdata.h"

static const char usage_text[] =
    "usage: agentcron tzdata refresh [--dir DIR] [--source DIR]\n"
    "       agentcron tzdata status [--dir DIR] [--json]\n"
    "\n"
    "ICU's built-in timezone data is older than the system's; agentcron generates ICU's data from\n"
    "the system's IANA tz data and points ICU at it in every process.\n"
    "\n"
    "  refresh         regenerate the data (after `apt-get upgrade tzdata`; atomic)\n"
    "  status          show the version ICU runs with, the system's, and where the data came from;\n"
    "                  exit status 3 when the data is older than the system's\n"
    "  --dir DIR       the data directory (default $AGENTCRON_TZDATA_DIR, or\n"
    "                  ../share/agentcron/tzdata beside the agentcron binary)\n"
    "  --source DIR    the system zoneinfo directory (default $TZDIR or /usr/share/zoneinfo)\n"
    "  --json          status as JSON\n";

int cmd_tzdata(int argc, char **argv)
{
    static const struct option options[] = {
        {"dir", required_argument, NULL, 'd'}, {"source", required_argument, NULL, 's'},
        {"json", no_argument, NULL, 'j'},      {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *dir = NULL, *source = NULL;
    int json = 0, c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (c) {
        case 'd':
            dir = optarg;
            break;
        case 's':
            source = optarg;
            break;
        case 'j':
            json = 1;
            break;
        case 'h':
            fputs(usage_text, stdout);
            return CLI_OK;
        default:
            fprintf(stderr, "agentcron tzdata: unknown or incomplete option \"%s\"; see `agentcron tzdata --help`\n",
                    argv[optind - 1]);
            return CLI_USAGE;
        }
    }
    const char *verb = optind < argc ? argv[optind] : NULL;
    if (!verb || optind + 1 != argc || (strcmp(verb, "refresh") && strcmp(verb, "status"))) {
        fprintf(stderr, "agentcron tzdata: say `refresh` or `status`; see `agentcron tzdata --help`\n");
        return CLI_USAGE;
    }
    char default_dir[4096];
    if (!dir) {
        tzdata_default_dir(default_dir, sizeof default_dir);
        dir = default_dir;
    }
    struct tzdata_error err;
    if (!strcmp(verb, "refresh")) {
        struct tzdata_refresh_result res;
        if (!source)
            source = tzdata_system_dir();
        if (tzdata_refresh(source, dir, &res, &err) != 0) {
            fprintf(stderr, "agentcron tzdata refresh: %s\n", err.message);
            return CLI_FAILURE;
        }
        printf("timezone data %s from %s: %zu zones and %zu links written to %s\n", res.version, source,
               res.zones, res.links, dir);
        return CLI_OK;
    }
    struct tzdata_status st;
    tzdata_init(dir, &st, &err);
    if (json) {
        json_t *doc = json_pack("{s:s, s:s, s:s, s:s, s:b}", "icuVersion", st.icu_version, "systemVersion",
                                st.system_version, "dir", st.dir, "origin", st.origin, "stale", st.stale);
        json_dumpf(doc, stdout, JSON_COMPACT);
        putchar('\n');
        json_decref(doc);
    } else {
        printf("ICU timezone data in use: %s\n", st.icu_version);
        printf("system timezone data:     %s (%s)\n", st.system_version[0] ? st.system_version : "unknown",
               tzdata_system_dir());
        printf("data directory:           %s\n", st.dir);
        printf("origin:                   %s\n", st.origin[0] ? st.origin : "none: ICU's built-in data");
        if (st.stale)
            printf("STALE: %s\n", err.message);
    }
    return st.stale ? CLI_UNHEALTHY : CLI_OK;
}
