/* SPDX-License-Identifier: MIT */
/* Blocking requests on a private loop (see http_sync.h). */
#include "http_sync.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "errors.h"

struct http_sync {
    uv_loop_t loop;
    struct http_client *client;
};

struct waiting {
    struct http_sync_result *res;
    int done;
};

struct http_sync *http_sync_new(char *err, size_t len)
{
    struct http_sync *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, len, "out of memory");
        return NULL;
    }
    if (uv_loop_init(&s->loop) != 0) {
        snprintf(err, len, "cannot create an event loop");
        free(s);
        return NULL;
    }
    if (!(s->client = http_client_new(&s->loop, err, len))) {
        uv_loop_close(&s->loop);
        free(s);
        return NULL;
    }
    return s;
}

void http_sync_free(struct http_sync *s)
{
    if (!s)
        return;
    http_client_free(s->client);
    uv_run(&s->loop, UV_RUN_DEFAULT); /* let the client's handles close */
    uv_loop_close(&s->loop);
    free(s);
}

static void on_done(const struct http_response *r, void *data)
{
    struct waiting *w = data;
    w->done = 1;
    w->res->error = r->error;
    w->res->status = r->status;
    snprintf(w->res->message, sizeof w->res->message, "%s", r->message);
    if (r->error == HTTP_OK && r->body && (w->res->body = malloc(r->body_len + 1))) {
        memcpy(w->res->body, r->body, r->body_len);
        w->res->body[r->body_len] = 0;
        w->res->body_len = r->body_len;
    }
}

int http_sync_request(struct http_sync *s, const struct http_request_opts *opts, struct http_sync_result *res)
{
    memset(res, 0, sizeof *res);
    struct waiting w = {.res = res};
    if (!http_client_request(s->client, opts, on_done, &w, res->message, sizeof res->message)) {
        res->error = AC_EINVAL;
        return -1;
    }
    while (!w.done)
        uv_run(&s->loop, UV_RUN_ONCE);
    return res->error == HTTP_OK ? 0 : -1;
}
