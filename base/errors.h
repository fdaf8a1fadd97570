/* SPDX-License-Identifier: MIT */
/* Error codes: one list for every module, so that a code means the same wherever it comes
 * from. A function that fails returns one of these negative codes (0 is success) and, where it
 * takes one, fills a message buffer with the detail a person can act on. Outcomes that are not
 * failures (QUEUE_LEASE_OK, RUNCTL_NOT_FOUND, ...) are the modules' own, and never negative in
 * this range. Thread-safe. */
#ifndef AGENTCRON_ERRORS_H
#define AGENTCRON_ERRORS_H

/* X(name, value, text): every code, its value and what it means. */
#define AC_ERRNO_MAP(X)                                                                         \
    X(EFAIL, -1, "failed (the message says why)")                                               \
    X(EINVAL, -2, "invalid argument")                                                           \
    X(EIO, -3, "the connection broke or the server is unreachable")                             \
    X(EREPLY, -4, "the server answered with an error")                                          \
    X(ECONNECT, -5, "cannot connect (address resolution, connection or TLS handshake failed)") \
    X(ETIMEDOUT, -6, "timed out")                                                               \
    X(ETOOBIG, -7, "larger than the limit")                                                     \
    X(ECANCELED, -8, "cancelled")                                                               \
    X(ETLS, -9, "the TLS certificate was not trusted or did not match the host")                \
    X(ENOMEM, -10, "out of memory")

enum ac_errno {
#define AC_ERRNO_ENUM(name, value, text) AC_##name = value,
    AC_ERRNO_MAP(AC_ERRNO_ENUM)
#undef AC_ERRNO_ENUM
};

/* What code means, as a constant string ("unknown error" for a value not in the list). */
const char *ac_strerror(int code);

/* The code's name ("EIO"), or "E?" for a value not in the list. */
const char *ac_errname(int code);

#endif
