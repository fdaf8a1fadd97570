/* SPDX-License-Identifier: MIT */
/* The TLS relay table when a process meets more Redis servers than it holds relays for
 * (store/redis_tls.h): asks for relays to 127.0.0.1 on each port given, where TLS echo servers
 * listen, holding a connection open through the first, then through as many as the table holds,
 * and prints one line per finding for test_redis_tls.sh to check. Usage: tls_relays CA_FILE
 * PORT PORT... (more ports than REDIS_TLS_MAX_RELAYS) */
#include "redis_tls.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static int threads(void)
{
    int n = 0;
    DIR *d = opendir("/proc/self/task");
    for (struct dirent *e; d && (e = readdir(d));)
        n += e->d_name[0] != '.';
    if (d)
        closedir(d);
    return n;
}

static int connect_unix(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
    const int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Whether a line sent through fd comes back (the servers echo). */
static int echoes(int fd, const char *line)
{
    char buf[64] = "";
    const size_t n = strlen(line);
    if (write(fd, line, n) != (ssize_t)n)
        return 0;
    size_t got = 0;
    for (ssize_t r; got < n && (r = read(fd, buf + got, sizeof buf - 1 - got)) > 0;)
        got += (size_t)r;
    return got == n && !memcmp(buf, line, n);
}

static int relay(int port, char *path, size_t len)
{
    char err[512];
    if (redis_tls_relay("127.0.0.1", port, 5000, path, len, err, sizeof err) == 0)
        return 0;
    printf("relay %d failed: %s\n", port, err);
    return -1;
}

int main(int argc, char **argv)
{
    if (argc < 4)
        return fprintf(stderr, "usage: tls_relays CA_FILE PORT PORT...\n"), 2;
    const int count = argc - 2;
    redis_tls_files(argv[1], "", "");
    const int before = threads();
    char held_path[108], path[108], stale[108] = "";
    if (relay(atoi(argv[2]), held_path, sizeof held_path) != 0)
        return 1;
    const int held = connect_unix(held_path);
    printf("held connection echoes: %d\n", held >= 0 && echoes(held, "first\n"));
    int made = 1;
    for (int i = 3; i < argc; i++) {
        if (relay(atoi(argv[i]), path, sizeof path) != 0)
            break;
        made++;
        if (i == 3)
            snprintf(stale, sizeof stale, "%s", path);
    }
    printf("relays made: %d of %d\n", made, count);
    printf("held connection still echoes: %d\n", held >= 0 && echoes(held, "again\n"));
    /* the second, idle and the least recently asked for, was closed to make room */
    const int old = connect_unix(stale);
    printf("the evicted relay refuses: %d\n", old < 0);
    if (old >= 0)
        close(old);
    int fresh = -1;
    if (relay(atoi(argv[3]), path, sizeof path) == 0 && (fresh = connect_unix(path)) >= 0)
        printf("asked again, it relays anew: %d\n", echoes(fresh, "anew\n") && strcmp(path, stale) != 0);
    if (fresh >= 0)
        close(fresh);
    /* one accept loop per relay in the table, one thread for the held connection: the evicted
     * relays' loops have ended */
    const int want = REDIS_TLS_MAX_RELAYS + 1;
    int now = 0;
    for (int i = 0; i < 50 && (now = threads() - before) != want; i++)
        nanosleep(&(struct timespec){.tv_nsec = 100 * 1000 * 1000}, NULL);
    printf("threads beyond the start: %d, want %d\n", now, want);

    /* every relay with a connection open: one more server is refused, saying why, until a
     * connection closes. The ports are asked for from the last back, so the relays the table
     * holds are found and the others made in place of idle ones. */
    int holding[REDIS_TLS_MAX_RELAYS + 1], nheld = 0, refused_port = 0;
    char why[512] = "";
    holding[nheld++] = held;
    for (int i = argc - 1; i > 2 && nheld <= REDIS_TLS_MAX_RELAYS; i--) {
        if (redis_tls_relay("127.0.0.1", atoi(argv[i]), 5000, path, sizeof path, why, sizeof why) != 0) {
            refused_port = atoi(argv[i]);
            break;
        }
        const int fd = connect_unix(path);
        if (fd >= 0 && echoes(fd, "hold\n"))
            holding[nheld++] = fd;
        else if (fd >= 0)
            close(fd);
    }
    printf("connections held before a refusal: %d\n", nheld);
    printf("refused: %s\n", refused_port ? why : "(none)");
    /* one connection closed: its relay is idle once its thread sees the close */
    close(holding[--nheld]);
    int again = -1;
    for (int i = 0; refused_port && i < 50 && again != 0; i++) {
        again = redis_tls_relay("127.0.0.1", refused_port, 5000, path, sizeof path, why, sizeof why);
        if (again != 0)
            nanosleep(&(struct timespec){.tv_nsec = 100 * 1000 * 1000}, NULL);
    }
    const int fd = again == 0 ? connect_unix(path) : -1;
    printf("one closed, the refused server relays: %d\n", fd >= 0 && echoes(fd, "room\n"));
    if (fd >= 0)
        close(fd);
    while (nheld > 0)
        close(holding[--nheld]);
    return 0;
}
