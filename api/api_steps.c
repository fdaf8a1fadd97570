/* SPDX-License-Identifier: MIT */
/* The step API (api_steps.h). The token names the run and the attempt; the path must name the
 * same run. Whatever the token is wrong about is a 401 that says what: malformed, forged (not
 * signed with this deployment's key), another run's, or expired. */
#include "api_steps.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "connpair.h"
#include "http_parse.h"
#include "log.h"
#include "steps.h"

/* The signing key, read once per process (it never changes). */
static unsigned char token_key[RUN_TOKEN_KEY_LEN];
static atomic_int have_key;

/* The step id of ".../steps/{step}/reserve" in path, copied to out; NULL for ".../steps". */
static const char *route_of(const char *path, int64_t *run, char step[STEP_ID_MAX + 1], int *reserve)
{
    const char *rest;
    *run = api_path_id(path, "/api/runs/", &rest);
    *reserve = 0;
    if (*run <= 0 || strncmp(rest, "/steps", 6) != 0)
        return NULL;
    rest += 6;
    if (!*rest)
        return "";
    if (*rest != '/')
        return NULL;
    rest++;
    const char *slash = strchr(rest, '/');
    if (!slash || strcmp(slash, "/reserve") != 0 || slash == rest || (size_t)(slash - rest) > STEP_ID_MAX)
        return NULL;
    snprintf(step, STEP_ID_MAX + 1, "%.*s", (int)(slash - rest), rest);
    *reserve = 1;
    return step;
}

int api_steps_owns(const struct http_req *req)
{
    int64_t run;
    char step[STEP_ID_MAX + 1];
    int reserve;
    /* GET .../steps is a user's (with an API key): it is served with the run */
    return route_of(req->path, &run, step, &reserve) != NULL && strcmp(req->method, "GET") != 0;
}

static const char *const token_problem[] = {
    [STEP_TOKEN_MALFORMED] = "the run token is malformed: send the runToken your request carried, as "
                             "Authorization: Bearer <runToken>",
    [STEP_TOKEN_FORGED] = "the run token was not issued by this deployment",
    [STEP_TOKEN_OTHER_RUN] = "the run token is another run's: use the token of the run in the path",
    [STEP_TOKEN_EXPIRED] = "the run token has expired (it lasts as long as the run's timeout): the attempt is over",
};

/* The attempt the request's token is for: > 0, or 0 with *out answered. */
static int token_attempt(struct connpair *c, const struct http_req *req, int64_t run, struct api_response *out)
{
    const char *auth = http_req_header(req, "Authorization");
    if (!auth || strncasecmp(auth, "Bearer ", 7) != 0) {
        api_error(out, 401, NULL, "missing credentials: send Authorization: Bearer <runToken> (from the run's request)");
        return 0;
    }
    if (!atomic_load(&have_key)) {
        char err[512];
        if (steps_token_key(c->pg, token_key, err, sizeof err) != 0) {
            api_error(out, 503, NULL, "cannot check run tokens now: %.300s", err);
            return 0;
        }
        atomic_store(&have_key, 1);
    }
    int attempt = 0;
    const enum step_token_check why = steps_token_check(token_key, auth + 7, run, (int64_t)time(NULL), &attempt);
    if (why != STEP_TOKEN_OK) {
        LOG(LOG_WARN, "http.run_token_refused", LOG_I("run", run), LOG_S("path", req->path),
            LOG_S("reason", token_problem[why]));
        api_error(out, 401, NULL, "%s", token_problem[why]);
        snprintf(out->extra, sizeof out->extra, "WWW-Authenticate: Bearer realm=\"agentcron runs\"\r\n");
        return 0;
    }
    return attempt;
}

/* The HTTP status and body of a step answer. */
static void reply(struct api_response *out, int64_t run, const char *step, const struct step_answer *a)
{
    static const struct {
        const char *name;
        int http;
    } kinds[] = {[STEP_RECORDED] = {"recorded", 200}, [STEP_DUPLICATE] = {"duplicate", 200},
                 [STEP_GRANTED] = {"granted", 200},   [STEP_REFUSED] = {"refused", 402},
                 [STEP_GONE] = {"gone", 409},         [STEP_INVALID] = {"invalid", 400}};
    int http = kinds[a->status].http;
    if (a->status == STEP_REFUSED && !strcmp(a->reason, "cancelled"))
        http = 409;
    if (a->status == STEP_GONE && !strcmp(a->reason, "not_found"))
        http = 404;
    json_t *doc = json_pack("{s:I, s:s, s:s, s:I, s:s}", "run", (json_int_t)run, "step", step, "status",
                            kinds[a->status].name, "credits", (json_int_t)a->credits, "message", a->message);
    if (a->reason[0])
        json_object_set_new(doc, "reason", json_string(a->reason));
    if (http >= 400)
        json_object_set_new(doc, "error", json_string(a->message));
    api_reply(out, http, doc);
}

static int64_t body_int(const json_t *obj, const char *key, int64_t dflt, int *bad)
{
    const json_t *v = json_object_get(obj, key);
    if (!v)
        return dflt;
    if (!json_is_integer(v))
        *bad = 1;
    return json_integer_value(v);
}

void api_steps_serve(struct connpair *c, const struct agent_set *agents, const struct http_req *req,
                     struct api_response *out)
{
    int64_t run;
    char path_step[STEP_ID_MAX + 1];
    int reserve;
    route_of(req->path, &run, path_step, &reserve);
    if (strcmp(req->method, "POST") != 0) {
        api_method_not_allowed(out, reserve ? "POST" : "GET, POST");
        return;
    }
    const int attempt = token_attempt(c, req, run, out);
    if (!attempt)
        return;
    json_error_t jerr;
    json_t *body = req->body_len ? json_loadb(req->body, req->body_len, 0, &jerr) : json_object();
    if (!json_is_object(body)) {
        json_decref(body);
        api_error(out, 400, NULL, "the body must be a JSON object%s%s", body ? "" : ": ", body ? "" : jerr.text);
        return;
    }
    char err[512];
    struct step_answer a;
    int rc, bad = 0;
    const char *step;
    if (reserve) {
        step = path_step;
        const int64_t credits = body_int(body, "credits", 0, &bad), at_least = body_int(body, "atLeast", credits, &bad);
        if (bad || !json_object_get(body, "credits")) {
            json_decref(body);
            api_error(out, 400, "credits", "send {\"credits\": N} (an integer), and optionally \"atLeast\": M");
            return;
        }
        rc = steps_reserve(c, agents, run, attempt, step, credits, at_least, &a, err, sizeof err);
    } else {
        step = json_string_value(json_object_get(body, "step"));
        const json_t *usage = json_object_get(body, "usage");
        const int64_t p = body_int(usage, "prompt_tokens", 0, &bad), cpl = body_int(usage, "completion_tokens", 0, &bad);
        if (!step || bad || (usage && !json_is_object(usage))) {
            json_decref(body);
            api_error(out, 400, step ? "usage" : "step",
                      "send {\"step\": ID, \"output\": any JSON, \"usage\": {\"prompt_tokens\": N, \"completion_tokens\": "
                      "M}}");
            return;
        }
        const json_t *output = json_object_get(body, "output");
        char *text = output ? json_dumps(output, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
        const struct step_report r = {step, text, p, cpl};
        rc = steps_record(c, agents, run, attempt, &r, &a, err, sizeof err);
        free(text);
    }
    if (rc != 0)
        api_error(out, 503, NULL, "the step could not be recorded now (%.300s): try again", err);
    else
        reply(out, run, step, &a);
    json_decref(body);
}
