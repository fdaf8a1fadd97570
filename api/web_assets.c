/* SPDX-License-Identifier: MIT */
#include "web_assets.h"

#include <dirent.h>
#include <errno.h>
#include <mbedtls/sha256.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "http_server.h"

#define SECURITY_HEADERS                                                                                         \
    "Content-Security-Policy: default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none';"     \
    " form-action 'self'; frame-ancestors 'none'\r\n"                                                             \
    "Referrer-Policy: no-referrer\r\nX-Frame-Options: DENY\r\n"

struct asset {
    char path[160]; /* "/app.js", "/pages/tasks.js" */
    const char *type;
    char etag[24];  /* "\"" 16 hex digits "\"" */
    char *body;
    size_t len;
};

struct web_assets {
    struct asset files[WEB_ASSETS_MAX];
    int n;
};

static const char *type_of(const char *name)
{
    static const struct {
        const char *ext, *type;
    } types[] = {
        {".html", "text/html; charset=utf-8"},  {".js", "text/javascript; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},    {".svg", "image/svg+xml"},
        {".png", "image/png"},                  {".json", "application/json"},
        {".ico", "image/x-icon"},               {".txt", "text/plain; charset=utf-8"},
    };
    const char *dot = strrchr(name, '.');
    for (size_t i = 0; dot && i < sizeof types / sizeof types[0]; i++)
        if (!strcmp(dot, types[i].ext))
            return types[i].type;
    return "application/octet-stream";
}

static int name_ok(const char *name)
{
    if (name[0] == '.' || !name[0])
        return 0;
    for (const char *p = name; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '-' ||
              *p == '_' || *p == '.'))
            return 0;
    return 1;
}

static int load_file(struct web_assets *w, const char *file, const char *url, char *err, size_t err_len)
{
    FILE *f = fopen(file, "rb");
    struct stat st;
    if (!f || fstat(fileno(f), &st) != 0) {
        snprintf(err, err_len, "cannot read the dashboard file %s: %s", file, strerror(errno));
        if (f)
            fclose(f);
        return -1;
    }
    if (st.st_size > WEB_ASSET_MAX_BYTES || w->n == WEB_ASSETS_MAX) {
        snprintf(err, err_len, "the dashboard file %s is over %d bytes, or there are over %d files", file,
                 WEB_ASSET_MAX_BYTES, WEB_ASSETS_MAX);
        fclose(f);
        return -1;
    }
    struct asset *a = &w->files[w->n];
    a->body = malloc((size_t)st.st_size + 1);
    a->len = a->body ? fread(a->body, 1, (size_t)st.st_size, f) : 0;
    fclose(f);
    if (!a->body || a->len != (size_t)st.st_size) {
        free(a->body);
        snprintf(err, err_len, "cannot read the dashboard file %s", file);
        return -1;
    }
    snprintf(a->path, sizeof a->path, "%s", url);
    a->type = type_of(url);
    unsigned char digest[32];
    mbedtls_sha256_ret((const unsigned char *)a->body, a->len, digest, 0);
    snprintf(a->etag, sizeof a->etag, "\"%02x%02x%02x%02x%02x%02x%02x%02x\"", digest[0], digest[1], digest[2],
             digest[3], digest[4], digest[5], digest[6], digest[7]);
    w->n++;
    return 0;
}

static int load_dir(struct web_assets *w, const char *dir, const char *url, int depth, char *err, size_t err_len)
{
    DIR *d = opendir(dir);
    if (!d) {
        snprintf(err, err_len, "cannot read the dashboard folder %s: %s (set AGENTCRON_WEB_DIR, or reinstall)", dir,
                 strerror(errno));
        return -1;
    }
    int rc = 0;
    for (struct dirent *e; rc == 0 && (e = readdir(d));) {
        if (!name_ok(e->d_name))
            continue;
        char file[1024], sub[160];
        struct stat st;
        snprintf(file, sizeof file, "%s/%s", dir, e->d_name);
        if ((size_t)snprintf(sub, sizeof sub, "%s/%s", url, e->d_name) >= sizeof sub || stat(file, &st) != 0)
            continue;
        if (S_ISDIR(st.st_mode) && depth < 3)
            rc = load_dir(w, file, sub, depth + 1, err, err_len);
        else if (S_ISREG(st.st_mode))
            rc = load_file(w, file, sub, err, err_len);
    }
    closedir(d);
    return rc;
}

static const struct asset *find(const struct web_assets *w, const char *path)
{
    for (int i = 0; i < w->n; i++)
        if (!strcmp(w->files[i].path, path))
            return &w->files[i];
    return NULL;
}

struct web_assets *web_assets_load(const char *dir, char *err, size_t err_len)
{
    struct web_assets *w = calloc(1, sizeof *w);
    if (!w) {
        snprintf(err, err_len, "out of memory");
        return NULL;
    }
    if (load_dir(w, dir, "", 0, err, err_len) != 0) {
        web_assets_free(w);
        return NULL;
    }
    if (!find(w, "/index.html")) {
        snprintf(err, err_len, "the dashboard folder %s has no index.html (set AGENTCRON_WEB_DIR, or reinstall)", dir);
        web_assets_free(w);
        return NULL;
    }
    return w;
}

void web_assets_free(struct web_assets *w)
{
    if (!w)
        return;
    for (int i = 0; i < w->n; i++)
        free(w->files[i].body);
    free(w);
}

int web_assets_count(const struct web_assets *w)
{
    return w ? w->n : 0;
}

int web_assets_serve(const struct web_assets *w, struct http_conn *conn, const struct http_req *req)
{
    const struct asset *a = w ? find(w, !strcmp(req->path, "/") ? "/index.html" : req->path) : NULL;
    if (!a)
        return 0;
    if (strcmp(req->method, "GET") != 0) {
        http_respond_error(conn, 405, NULL, "use GET", "Allow: GET\r\n");
        return 1;
    }
    char headers[640];
    snprintf(headers, sizeof headers, "ETag: %s\r\nCache-Control: no-cache\r\n" SECURITY_HEADERS, a->etag);
    const char *match = http_req_header(req, "If-None-Match");
    if (match && strstr(match, a->etag))
        http_respond(conn, 304, a->type, headers, "", 0);
    else
        http_respond(conn, 200, a->type, headers, a->body, a->len);
    return 1;
}
