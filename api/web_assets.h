/* SPDX-License-Identifier: MIT */
/* The dashboard's files (web/, installed as share/agentcron/web), served under / by the
 * orchestrator: read into memory once at start, each with a strong ETag (part of its SHA-256),
 * answered 304 to a matching If-None-Match. Pages must revalidate (Cache-Control: no-cache),
 * so an upgrade is seen at once and costs a 304 otherwise. Every answer carries a strict
 * Content-Security-Policy (same origin only: no inline script, no CDN). Loop-thread only. */
#ifndef AGENTCRON_WEB_ASSETS_H
#define AGENTCRON_WEB_ASSETS_H

#include <stddef.h>

struct http_conn;
struct http_req;
struct web_assets;

#define WEB_ASSET_MAX_BYTES (1024 * 1024)
#define WEB_ASSETS_MAX 256

/* Reads every regular file under dir (subfolders too; names of letters, digits, '-', '_' and
 * '.'). NULL with *err when dir cannot be read, holds no index.html, or a file is too large. */
struct web_assets *web_assets_load(const char *dir, char *err, size_t err_len);

void web_assets_free(struct web_assets *w);

/* Answers req when its path names one of the files ("/" is index.html): 1 if answered, 0 if
 * the path is not one of them. */
int web_assets_serve(const struct web_assets *w, struct http_conn *conn, const struct http_req *req);

/* How many files were loaded. */
int web_assets_count(const struct web_assets *w);

#endif
