/* SPDX-License-Identifier: MIT */
/* Giving ICU the system's current IANA tz data. ICU 72 ships tz data 2022e; agentcron
 * generates ICU's zoneinfo64.res from /usr/share/zoneinfo (`agentcron tzdata refresh`) and
 * points ICU at it (ICU_TIMEZONE_FILES_DIR) before ICU first loads a zone. */
#ifndef AGENTCRON_TZDATA_H
#define AGENTCRON_TZDATA_H

#include <stddef.h>

/* A one-line, actionable error message. */
struct tzdata_error {
    char message[768];
};

struct tzdata_status {
    char dir[4096];          /* the directory ICU was pointed at */
    char icu_version[32];    /* the tz data version ICU runs with */
    char system_version[32]; /* the system's (first line of tzdata.zi), "" when unknown */
    char origin[512];        /* how the data in dir was made, "" when there is none */
    int stale;               /* ICU's data is older than the system's */
};

/* The data directory: $AGENTCRON_TZDATA_DIR, else <the executable's directory>/../share/
 * agentcron/tzdata (the build tree and `cmake --install` both lay it out so). */
void tzdata_default_dir(char *out, size_t len);

/* The system's zoneinfo directory: $TZDIR, else /usr/share/zoneinfo. */
const char *tzdata_system_dir(void);

/* Points ICU at `dir` (NULL for tzdata_default_dir) and fills *st. Call at the top of main(),
 * before anything uses ICU time zones, while the process has one thread (it sets an
 * environment variable). Returns 0, or -1 when ICU's data is older than the system's, with
 * a one-line message in *err that names the command that fixes it. */
int tzdata_init(const char *dir, struct tzdata_status *st, struct tzdata_error *err);

struct tzdata_refresh_result {
    char version[32];
    size_t zones, links;
};

/* Regenerates ICU's data in `dir` (created if missing) from the zoneinfo directory `source`:
 * reads tzdata.zi and every zone's TZif file, writes zoneinfo64.txt in a temporary directory
 * inside `dir`, compiles it with genrb (icu-devtools), checks it through ICU, then renames
 * it into place; on any failure `dir` is left as it was. Must run in a process that has not
 * yet used ICU time zones. Returns 0, or -1 with *err naming what failed. Not thread-safe. */
int tzdata_refresh(const char *source, const char *dir, struct tzdata_refresh_result *res,
                   struct tzdata_error *err);

/* Compares tz data versions ("2022e" < "2025b" < "2025aa"): <0, 0 or >0, like strcmp. */
int tzdata_version_cmp(const char *a, const char *b);

#endif
