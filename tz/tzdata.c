/* SPDX-License-Identifier: MIT */
/* Pointing ICU at agentcron's generated tz data at start-up, and regenerating that data.
 *
 * ICU reads zoneinfo64.res from $ICU_TIMEZONE_FILES_DIR before its built-in copy, once per
 * process, so the variable is set before ICU first loads a zone. A refresh builds the new
 * file in a temporary directory next to the old one, loads it through ICU in this process to
 * check it, and only then renames it over the old file: readers see the old or the new data,
 * never a half-written file. */
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <unicode/ucal.h>
#include <unicode/ustring.h>

#include "paths.h"
#include "tzdata_int.h"

#define ORIGIN_FILE "agentcron-tzdata.txt"

int tzdata_fail(struct tzdata_error *err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    return -1;
}

int tzdata_version_cmp(const char *a, const char *b)
{
    const long ya = strtol(a, NULL, 10), yb = strtol(b, NULL, 10);
    if (ya != yb)
        return ya < yb ? -1 : 1;
    while (*a >= '0' && *a <= '9')
        a++;
    while (*b >= '0' && *b <= '9')
        b++;
    const size_t la = strlen(a), lb = strlen(b); /* "z" < "aa" */
    if (la != lb)
        return la < lb ? -1 : 1;
    return strcmp(a, b);
}

const char *tzdata_system_dir(void)
{
    const char *dir = getenv("TZDIR");
    return dir && *dir ? dir : "/usr/share/zoneinfo";
}

void tzdata_default_dir(char *out, size_t len)
{
    paths_share_dir("tzdata", "AGENTCRON_TZDATA_DIR", out, len);
}

/* The version on the first line of DIR/tzdata.zi, or "" when it cannot be read. */
static void system_version(const char *source, char *out, size_t len)
{
    char path[PATH_MAX], line[128], version[32];
    snprintf(path, sizeof path, "%s/tzdata.zi", source);
    out[0] = 0;
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    if (fgets(line, sizeof line, f) && sscanf(line, "# version %31s", version) == 1)
        snprintf(out, len, "%s", version);
    fclose(f);
}

static void icu_version(char *out, size_t len)
{
    UErrorCode st = U_ZERO_ERROR;
    const char *v = ucal_getTZDataVersion(&st);
    snprintf(out, len, "%s", U_SUCCESS(st) && v ? v : "unknown");
}

int tzdata_init(const char *dir, struct tzdata_status *st, struct tzdata_error *err)
{
    memset(st, 0, sizeof *st);
    if (dir)
        snprintf(st->dir, sizeof st->dir, "%s", dir);
    else
        tzdata_default_dir(st->dir, sizeof st->dir);
    setenv("ICU_TIMEZONE_FILES_DIR", st->dir, 1);
    icu_version(st->icu_version, sizeof st->icu_version);
    system_version(tzdata_system_dir(), st->system_version, sizeof st->system_version);

    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/%s", st->dir, ORIGIN_FILE);
    FILE *f = fopen(path, "r");
    if (f) {
        if (fgets(st->origin, sizeof st->origin, f))
            st->origin[strcspn(st->origin, "\n")] = 0;
        fclose(f);
    }
    st->stale = st->system_version[0] && tzdata_version_cmp(st->icu_version, st->system_version) < 0;
    if (st->stale)
        return tzdata_fail(err, "timezone data %s%s is older than the system's %s: run `agentcron tzdata "
                         "refresh` (it writes %s)", st->icu_version,
                    st->origin[0] ? "" : " (ICU's built-in copy)", st->system_version, st->dir);
    return 0;
}

/* Runs genrb on dir/zoneinfo64.txt, its messages going to dir/genrb.log. */
static int run_genrb(const char *dir, struct tzdata_error *err)
{
    char log[PATH_MAX + 16];
    snprintf(log, sizeof log, "%s/genrb.log", dir);
    const pid_t pid = fork();
    if (pid < 0)
        return tzdata_fail(err, "cannot start genrb: %s", strerror(errno));
    if (pid == 0) {
        const int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd >= 0)
            dup2(fd, 1), dup2(fd, 2);
        execlp("genrb", "genrb", "-q", "-d", dir, "-s", dir, "zoneinfo64.txt", (char *)NULL);
        _exit(errno == ENOENT ? 127 : 126);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return tzdata_fail(err, "waiting for genrb: %s", strerror(errno));
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return 0;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
        return tzdata_fail(err, "genrb not found: install it with `sudo apt-get install icu-devtools`");
    char first[256] = "";
    FILE *f = fopen(log, "r");
    if (f) {
        if (fgets(first, sizeof first, f))
            first[strcspn(first, "\n")] = 0;
        fclose(f);
    }
    return tzdata_fail(err, "genrb could not compile the generated zoneinfo64.txt (%s)", first[0] ? first : "no message");
}

/* Loads the new data through ICU and checks its version and every name's offsets. */
static int verify(const char *dir, const struct tzdata_names *names, struct tzdata_error *err)
{
    setenv("ICU_TIMEZONE_FILES_DIR", dir, 1);
    char version[32];
    icu_version(version, sizeof version);
    if (strcmp(version, names->version) != 0)
        return tzdata_fail(err, "ICU read version %s from the generated data, expected %s; is "
                         "ICU_TIMEZONE_FILES_DIR honoured by this ICU?", version, names->version);
    for (size_t i = 0; i < names->count; i++) {
        const struct name *n = &names->names[i];
        const struct name *zone = n;
        if (n->link_target) {
            const struct name probe = {.name = n->link_target};
            for (size_t j = 0; j < names->count; j++)
                if (!strcmp(names->names[j].name, probe.name))
                    zone = &names->names[j];
        }
        UChar id[256];
        u_uastrncpy(id, n->name, 255);
        id[255] = 0;
        UErrorCode st = U_ZERO_ERROR;
        UCalendar *cal = ucal_open(id, -1, "en_US_POSIX", UCAL_GREGORIAN, &st);
        for (int p = 0; p < TZDATA_PROBES && U_SUCCESS(st); p++) {
            ucal_setMillis(cal, (UDate)tzdata_probe_at[p] * 1000.0, &st);
            const int32_t off = (ucal_get(cal, UCAL_ZONE_OFFSET, &st) + ucal_get(cal, UCAL_DST_OFFSET, &st)) / 1000;
            if (U_SUCCESS(st) && off != zone->probe_utoff[p]) {
                ucal_close(cal);
                return tzdata_fail(err, "ICU gives %s offset %d s at %lld through the generated data, expected %d s",
                            n->name, off, (long long)tzdata_probe_at[p], zone->probe_utoff[p]);
            }
        }
        if (cal)
            ucal_close(cal);
        if (U_FAILURE(st))
            return tzdata_fail(err, "ICU cannot open %s from the generated data (%s)", n->name, u_errorName(st));
    }
    return 0;
}

static int fsync_file(const char *path)
{
    const int fd = open(path, O_RDONLY);
    if (fd < 0)
        return -1;
    const int rc = fsync(fd);
    close(fd);
    return rc;
}

static void remove_tree(const char *tmp)
{
    static const char *const files[] = {"zoneinfo64.txt", "zoneinfo64.res", "genrb.log", ORIGIN_FILE};
    char path[PATH_MAX + 32];
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", tmp, files[i]);
        unlink(path);
    }
    rmdir(tmp);
}

static int mkdir_p(const char *dir)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s", dir);
    for (char *p = path + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = 0;
        if (mkdir(path, 0755) != 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    return mkdir(path, 0755) != 0 && errno != EEXIST ? -1 : 0;
}

/* Moves tmp/name over dir/name atomically. */
static int install_file(const char *tmp, const char *dir, const char *name, struct tzdata_error *err)
{
    char from[PATH_MAX + 32], to[PATH_MAX + 32];
    snprintf(from, sizeof from, "%s/%s", tmp, name);
    snprintf(to, sizeof to, "%s/%s", dir, name);
    if (fsync_file(from) != 0 || rename(from, to) != 0)
        return tzdata_fail(err, "cannot install %s: %s", to, strerror(errno));
    return 0;
}

int tzdata_refresh(const char *source, const char *dir, struct tzdata_refresh_result *res,
                   struct tzdata_error *err)
{
    memset(res, 0, sizeof *res);
    struct stat sb;
    if (stat(source, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return tzdata_fail(err, "the zoneinfo directory %s %s; install Debian's tzdata package or pass "
                         "--source DIR", source, errno == ENOENT || !S_ISDIR(sb.st_mode) ? "does not exist" : strerror(errno));
    if (mkdir_p(dir) != 0)
        return tzdata_fail(err, "cannot create the data directory %s: %s", dir, strerror(errno));
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s/.refresh-XXXXXX", dir);
    if (!mkdtemp(tmp))
        return tzdata_fail(err, "cannot create a temporary directory in %s: %s", dir, strerror(errno));

    struct tzdata_names names;
    char txt[PATH_MAX + 32];
    snprintf(txt, sizeof txt, "%s/zoneinfo64.txt", tmp);
    int rc = -1;
    FILE *out = fopen(txt, "w");
    if (!out) {
        tzdata_fail(err, "cannot write %s: %s", txt, strerror(errno));
        memset(&names, 0, sizeof names);
        goto out;
    }
    const int generated = tzdata_generate(source, out, &names, err);
    if (fclose(out) != 0 && generated == 0) {
        tzdata_fail(err, "cannot write %s: %s", txt, strerror(errno));
        goto out;
    }
    if (generated != 0 || run_genrb(tmp, err) != 0 || verify(tmp, &names, err) != 0)
        goto out;

    for (size_t i = 0; i < names.count; i++)
        names.names[i].link_target ? res->links++ : res->zones++;
    snprintf(res->version, sizeof res->version, "%s", names.version);
    char origin[PATH_MAX + 32];
    snprintf(origin, sizeof origin, "%s/%s", tmp, ORIGIN_FILE);
    FILE *o = fopen(origin, "w");
    const time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    int written = o && fprintf(o, "tzdata %s from %s (%zu zones, %zu links), generated "
                                  "%04d-%02d-%02dT%02d:%02d:%02dZ by agentcron %s\n", names.version, source,
                               res->zones, res->links, tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                               tm.tm_hour, tm.tm_min, tm.tm_sec, AGENTCRON_VERSION) > 0;
    if (o && fclose(o) != 0)
        written = 0;
    if (!written) {
        tzdata_fail(err, "cannot write %s: %s", origin, strerror(errno));
        goto out;
    }
    rc = install_file(tmp, dir, "zoneinfo64.res", err);
    if (rc == 0)
        rc = install_file(tmp, dir, ORIGIN_FILE, err);
out:
    remove_tree(tmp);
    tzdata_names_release(&names);
    return rc;
}
