/* SPDX-License-Identifier: MIT */
/* libFuzzer target: any bytes as an env file for config_load. It must accept or reject with a
 * message, never crash, leak, overrun or hang; an accepted file yields values in range. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const int fd = memfd_create("env", 0);
    if (fd < 0 || write(fd, data, size) != (ssize_t)size) {
        if (fd >= 0)
            close(fd);
        return 0;
    }
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    struct config cfg;
    struct config_error err;
    if (config_load(&cfg, path, &err) == 0) {
        if (cfg.worker_concurrency < 1 || cfg.worker_concurrency > 1024 || cfg.poll_interval_ms < 10)
            abort(); /* accepted values must be in range */
    } else if (!err.message[0]) {
        abort(); /* a rejection always says why */
    }
    close(fd);
    return 0;
}
