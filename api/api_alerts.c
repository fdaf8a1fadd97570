/* SPDX-License-Identifier: MIT */
/* The alert rules' routes (see api_alerts.h). */
#include "api_alerts.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "connpair.h"
#include "deliver.h"
#include "errors.h"
#include "http_parse.h"
#include "http_sync.h"
#include "rules.h"
#include "session.h"

static void failed(struct api_response *out, struct connpair *c, int rc, const char *err)
{
    if (rc == ALERT_NOT_FOUND)
        api_error(out, 404, NULL, "%s", err);
    else
        api_db_error(out, c->pg);
}

static void create(struct connpair *c, const struct principal *p, const struct http_req *req, struct api_response *out)
{
    json_error_t jerr;
    json_t *body = json_loadb(req->body ? req->body : "", req->body_len, JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_object(body)) {
        json_decref(body);
        api_error(out, 400, NULL, "the body must be a JSON object (an alert rule): %s", body ? "not an object" : jerr.text);
        return;
    }
    char err[768], field[32];
    json_t *rule = NULL;
    const int rc = alert_rule_create(c->pg, body, principal_scope(p), &rule, field, err, sizeof err);
    json_decref(body);
    if (rc == AC_EINVAL)
        api_error(out, 400, field[0] ? field : NULL, "%s", err);
    else if (rc)
        api_db_error(out, c->pg);
    else
        api_reply(out, 201, rule);
}

static void send_test(struct connpair *c, const struct principal *p, int64_t id, const struct config *cfg,
                      struct api_response *out)
{
    char err[768], url[1100];
    struct http_sync *http = http_sync_new(err, sizeof err);
    if (!http) {
        api_error(out, 500, NULL, "%s", err);
        return;
    }
    config_public_url(cfg, url, sizeof url);
    const struct alert_channels ch = {.http = http, .signing_key = cfg->alert_signing_key,
                                      .email_from = cfg->alert_email_from, .sendmail_path = cfg->sendmail_path};
    int64_t delivery = 0;
    const int rc = alerts_send_test(c->pg, &ch, id, principal_scope(p), url, &delivery, err, sizeof err);
    http_sync_free(http);
    if (rc == 1)
        api_error(out, 404, NULL, "%s", err);
    else if (rc == 0 || delivery)
        api_reply(out, 200, json_pack("{s:I, s:I, s:b, s:s*}", "rule", (json_int_t)id, "delivery", (json_int_t)delivery,
                                      "sent", rc == 0, "error", rc == 0 ? NULL : err));
    else
        api_db_error(out, c->pg);
}

int api_alerts_serve(struct connpair *c, const struct principal *p, const struct http_req *req,
                     const struct config *cfg, struct api_response *out)
{
    const char *path = req->path, *rest = "";
    const int get = !strcmp(req->method, "GET"), post = !strcmp(req->method, "POST"),
              del = !strcmp(req->method, "DELETE");
    char err[768];
    int64_t id;
    int rc;
    json_t *doc;
    if (!strcmp(path, "/api/alerts")) {
        if (get && (rc = alert_rules_list(c->pg, principal_scope(p), &doc, err, sizeof err)) != 0)
            failed(out, c, rc, err);
        else if (get)
            api_reply(out, 200, json_pack("{s:o}", "rules", doc));
        else if (post)
            create(c, p, req, out);
        else
            api_method_not_allowed(out, "GET, POST");
    } else if ((id = api_path_id(path, "/api/alerts/", &rest)) && !*rest) {
        if (get && (rc = alert_rule_show(c->pg, id, principal_scope(p), &doc, err, sizeof err)) != 0)
            failed(out, c, rc, err);
        else if (get)
            api_reply(out, 200, doc);
        else if (del && (rc = alert_rule_remove(c->pg, id, principal_scope(p), err, sizeof err)) != 0)
            failed(out, c, rc, err);
        else if (del)
            api_reply(out, 200, json_pack("{s:I, s:b}", "id", (json_int_t)id, "removed", 1));
        else
            api_method_not_allowed(out, "GET, DELETE");
    } else if ((id = api_path_id(path, "/api/alerts/", &rest)) && !strcmp(rest, "/test")) {
        if (post)
            send_test(c, p, id, cfg, out);
        else
            api_method_not_allowed(out, "POST");
    } else
        return 0;
    return 1;
}
