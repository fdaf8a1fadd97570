/* SPDX-License-Identifier: MIT */
/* http(s) URLs: taking one apart, and putting a host and port back together as the Host
 * header and a URL want them (an IPv6 literal in brackets, the default port left out). The
 * one place that knows these rules, for the client, its redirects and the agents. Pure;
 * thread-safe. */
#ifndef AGENTCRON_URL_H
#define AGENTCRON_URL_H

#include <stddef.h>

/* Splits an http(s) URL. host gets the name without brackets, path_out the path and query
 * ("/" if empty). 0, or -1 if malformed (no userinfo, no control characters or spaces). */
int http_url_split(const char *url, int *tls, char *host, size_t host_len, int *port, char *path_out, size_t path_len);

/* "host", "host:port", "[::1]:port": the authority of a URL and the value of a Host header,
 * the port left out when it is the scheme's default. 0, or -1 if it does not fit in len. */
int http_url_authority(int tls, const char *host, int port, char *out, size_t len);

/* "scheme://authority" followed by path (which starts with '/'): a new string the caller
 * frees, or NULL when out of memory. */
char *http_url_make(int tls, const char *host, int port, const char *path);

/* The value of parameter name in a query string ("a=1&b=x%20y", without the '?'), decoded
 * (%XX, '+' as space) into out. 1 found, 0 absent, -1 malformed or longer than len - 1 (a NUL
 * byte decoded is malformed). The first occurrence wins. */
int http_query_get(const char *query, const char *name, char *out, size_t len);

#endif
