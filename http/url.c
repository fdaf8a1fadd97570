/* SPDX-License-Identifier: MIT */
/* URL parsing and building for the HTTP client (url.h). */
#include "url.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int http_url_split(const char *url, int *tls, char *host, size_t host_len, int *port, char *path_out, size_t path_len)
{
    const char *p;
    if (strncmp(url, "http://", 7) == 0)
        *tls = 0, p = url + 7;
    else if (strncmp(url, "https://", 8) == 0)
        *tls = 1, p = url + 8;
    else
        return -1;
    const char *h = p, *h_end;
    if (*p == '[') {
        h = p + 1;
        h_end = strchr(h, ']');
        if (!h_end)
            return -1;
        p = h_end + 1;
    } else {
        p += strcspn(p, ":/?#");
        h_end = p;
    }
    const size_t hl = (size_t)(h_end - h);
    if (hl == 0 || hl >= host_len || memchr(h, '@', hl))
        return -1;
    memcpy(host, h, hl);
    host[hl] = 0;
    *port = *tls ? 443 : 80;
    if (*p == ':') {
        char *end;
        const long v = strtol(p + 1, &end, 10);
        if (end == p + 1 || v < 1 || v > 65535)
            return -1;
        *port = (int)v;
        p = end;
    }
    if (*p && *p != '/' && *p != '?')
        return -1;
    const size_t pl = strcspn(p, "#");
    if (pl + 2 > path_len)
        return -1;
    for (size_t i = 0; i < pl; i++)
        if ((unsigned char)p[i] <= ' ' || p[i] == 0x7f)
            return -1; /* no request-line injection */
    snprintf(path_out, path_len, "%s%.*s", *p == '/' ? "" : "/", (int)pl, p);
    return 0;
}

int http_url_authority(int tls, const char *host, int port, char *out, size_t len)
{
    const int v6 = strchr(host, ':') != NULL; /* only an IPv6 literal has a colon in its host */
    const int default_port = port == (tls ? 443 : 80);
    const int n = default_port ? snprintf(out, len, "%s%s%s", v6 ? "[" : "", host, v6 ? "]" : "")
                               : snprintf(out, len, "%s%s%s:%d", v6 ? "[" : "", host, v6 ? "]" : "", port);
    return n < 0 || (size_t)n >= len ? -1 : 0;
}

char *http_url_make(int tls, const char *host, int port, const char *path)
{
    char authority[300];
    if (http_url_authority(tls, host, port, authority, sizeof authority) != 0)
        return NULL;
    const size_t len = strlen(authority) + strlen(path) + 16;
    char *url = malloc(len);
    if (url)
        snprintf(url, len, "%s://%s%s", tls ? "https" : "http", authority, path);
    return url;
}

static int hex_value(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

int http_query_get(const char *query, const char *name, char *out, size_t len)
{
    const size_t nlen = strlen(name);
    for (const char *p = query ? query : ""; *p;) {
        const char *end = strchr(p, '&');
        const size_t plen = end ? (size_t)(end - p) : strlen(p);
        if (plen >= nlen && !strncmp(p, name, nlen) && (plen == nlen || p[nlen] == '=')) {
            size_t o = 0;
            for (size_t i = plen == nlen ? nlen : nlen + 1; i < plen; i++) {
                char c = p[i];
                if (c == '+')
                    c = ' ';
                else if (c == '%') {
                    const int hi = i + 2 < plen ? hex_value(p[i + 1]) : -1;
                    const int lo = hi >= 0 ? hex_value(p[i + 2]) : -1;
                    if (lo < 0 || (hi == 0 && lo == 0))
                        return -1;
                    c = (char)(hi * 16 + lo), i += 2;
                }
                if (o + 1 >= len)
                    return -1;
                out[o++] = c;
            }
            if (len)
                out[o] = 0;
            return len ? 1 : -1;
        }
        p += plen + (end ? 1 : 0);
    }
    return 0;
}
