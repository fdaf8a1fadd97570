/* SPDX-License-Identifier: MIT */
/* The step protocol of exec agents (docs/steps.md). The command finds its completed steps on
 * stdin ("steps") and in the file AGENTCRON_STEPS_FILE names; it reports a step with a line
 * on stdout, {"step": ID, "output": ..., "usage": {...}}, and asks for a reservation with
 * {"reserve": ID, "credits": N, "atLeast": M}. Each such line is answered, in order, with one
 * JSON line on file descriptor 3 (AGENTCRON_REPLY_FD) once it is durable; a command that waits
 * for the answer before going on never does a recorded step twice. Other lines are output. */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "executor_int.h"
#include "steps.h"

#define LINE_MAX_BYTES (STEP_OUTPUT_MAX + 4096) /* a step line with its largest output */
#define QUEUED_MAX 64                           /* operations waiting for their turn */

struct queued_op {
    struct step_op op; /* strings owned */
    struct queued_op *next;
};

struct exec_steps {
    step_submit_fn submit;
    void *ctx;
    char file[64];     /* the steps file, removed at the end */
    char *line;        /* the line being read */
    size_t len, cap;
    int overlong;      /* the line went past LINE_MAX_BYTES: skipped to its end */
    struct queued_op *head, **tail;
    struct queued_op *current; /* submitted, its answer awaited */
    int queued;
};

struct reply_write {
    uv_write_t req;
    char text[];
};

static void free_op(struct queued_op *q)
{
    free((char *)q->op.step_id);
    free((char *)q->op.output);
    free(q);
}

static void on_reply_written(uv_write_t *w, int status)
{
    (void)status; /* a command that closed fd 3 does not want answers */
    free(w);
}

/* Writes one answer line on fd 3 (JSON, freed here). */
static void reply(struct execution *x, json_t *doc)
{
    char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    if (!text)
        return;
    const size_t n = strlen(text);
    struct reply_write *w = malloc(sizeof *w + n + 2);
    if (w && !uv_is_closing((uv_handle_t *)&x->reply)) {
        memcpy(w->text, text, n);
        w->text[n] = '\n';
        const uv_buf_t buf = uv_buf_init(w->text, (unsigned)(n + 1));
        if (uv_write(&w->req, (uv_stream_t *)&x->reply, &buf, 1, on_reply_written) < 0)
            free(w);
    } else
        free(w);
    free(text);
}

static const char *status_name(const struct step_answer *a)
{
    switch (a->status) {
    case STEP_RECORDED: return "recorded";
    case STEP_DUPLICATE: return "duplicate";
    case STEP_GRANTED: return "granted";
    case STEP_REFUSED: return "refused";
    case STEP_GONE: return "gone";
    case STEP_INVALID: return "invalid";
    }
    return "error";
}

static void submit_next(struct execution *x);

static void on_answer(struct execution *x, const struct step_answer *a, const char *error, void *arg)
{
    struct queued_op *q = arg;
    struct exec_steps *st = x->steps;
    st->current = NULL;
    json_t *doc = json_pack("{s:s, s:s}", q->op.reserve ? "reserve" : "step", q->op.step_id, "status",
                            error ? "error" : status_name(a));
    if (a) {
        json_object_set_new(doc, "credits", json_integer(a->credits));
        if (a->reason[0])
            json_object_set_new(doc, "reason", json_string(a->reason));
        json_object_set_new(doc, "message", json_string(a->message));
    } else
        json_object_set_new(doc, "message", json_string(error));
    reply(x, doc);
    free_op(q);
    submit_next(x);
    if (!exec_steps_pending(x))
        exec_agent_complete(x); /* the command may have exited meanwhile: its run ends now */
}

int exec_steps_pending(const struct execution *x)
{
    return x->steps && (x->steps->current || x->steps->head);
}

static void submit_next(struct execution *x)
{
    struct exec_steps *st = x->steps;
    if (st->current || !st->head || x->done)
        return;
    struct queued_op *q = st->head;
    st->head = q->next;
    if (!st->head)
        st->tail = &st->head;
    st->queued--;
    st->current = q;
    if (st->submit(st->ctx, x, &q->op, on_answer, q) != 0)
        on_answer(x, NULL, "out of memory", q);
}

/* One line of stdout: a step operation, or output to leave alone. */
static void line_done(struct execution *x, const char *line, size_t len)
{
    struct exec_steps *st = x->steps;
    while (len && (line[0] == ' ' || line[0] == '\t'))
        line++, len--;
    if (!len || line[0] != '{' || (!memmem(line, len, "\"step\"", 6) && !memmem(line, len, "\"reserve\"", 9)))
        return;
    json_t *doc = json_loadb(line, len, 0, NULL);
    const json_t *step = json_object_get(doc, "step"), *reserve = json_object_get(doc, "reserve");
    if (!json_is_string(step) && !json_is_string(reserve)) {
        json_decref(doc);
        return; /* some other JSON the command prints */
    }
    const char *id = json_string_value(reserve ? reserve : step);
    if (st->queued >= QUEUED_MAX) {
        reply(x, json_pack("{s:s, s:s, s:s}", reserve ? "reserve" : "step", id, "status", "invalid", "message",
                           "too many step operations waiting: wait for each answer on fd 3 before the next"));
        json_decref(doc);
        return;
    }
    struct queued_op *q = calloc(1, sizeof *q);
    if (q) {
        q->op.reserve = reserve != NULL;
        q->op.step_id = strdup(id);
        const json_t *out = json_object_get(doc, "output");
        q->op.output = out ? json_dumps(out, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
        struct run_result usage = {0};
        executor_usage(doc, &usage);
        q->op.prompt_tokens = usage.prompt_tokens, q->op.completion_tokens = usage.completion_tokens;
        const json_t *credits = json_object_get(doc, "credits"), *at_least = json_object_get(doc, "atLeast");
        q->op.credits = json_is_integer(credits) ? json_integer_value(credits) : 0;
        q->op.at_least = json_is_integer(at_least) ? json_integer_value(at_least) : q->op.credits;
    }
    json_decref(doc);
    if (!q || !q->op.step_id) {
        if (q)
            free_op(q);
        return;
    }
    *st->tail = q;
    st->tail = &q->next;
    st->queued++;
    submit_next(x);
}

void exec_steps_feed(struct execution *x, const char *data, size_t len)
{
    struct exec_steps *st = x->steps;
    if (!st)
        return;
    while (len) {
        const char *nl = memchr(data, '\n', len);
        const size_t take = nl ? (size_t)(nl - data) : len;
        if (!st->overlong) {
            if (st->len + take > LINE_MAX_BYTES) {
                st->overlong = 1, st->len = 0;
            } else {
                if (st->len + take > st->cap) {
                    size_t cap = st->cap ? st->cap : 1024;
                    while (cap < st->len + take)
                        cap *= 2;
                    char *grown = realloc(st->line, cap);
                    if (!grown) {
                        st->overlong = 1, st->len = 0;
                        goto next;
                    }
                    st->line = grown, st->cap = cap;
                }
                memcpy(st->line + st->len, data, take);
                st->len += take;
            }
        }
    next:
        if (!nl)
            return;
        if (!st->overlong)
            line_done(x, st->line, st->len);
        st->len = 0, st->overlong = 0;
        data += take + 1, len -= take + 1;
    }
}

static char *env_pair(const char *name, const char *value)
{
    char *e = malloc(strlen(name) + strlen(value) + 2);
    if (e)
        sprintf(e, "%s=%s", name, value);
    return e;
}

int exec_steps_start(struct execution *x, const struct run_spec *spec, char **env, size_t *n)
{
    struct exec_steps *st = calloc(1, sizeof *st);
    if (!st)
        return -ENOMEM;
    x->steps = st;
    st->submit = spec->submit_step, st->ctx = spec->step_ctx;
    st->tail = &st->head;
    const char *tmp = getenv("TMPDIR");
    snprintf(st->file, sizeof st->file, "%.40s/agentcron-steps-XXXXXX", tmp && tmp[0] && strlen(tmp) <= 40 ? tmp : "/tmp");
    const int fd = mkstemp(st->file);
    if (fd < 0) {
        st->file[0] = 0;
        return -errno;
    }
    const char *text = spec->steps_json ? spec->steps_json : "[]";
    const size_t len = strlen(text);
    const ssize_t wrote = write(fd, text, len);
    const int werr = wrote < 0 ? errno : (size_t)wrote != len ? EIO : 0;
    close(fd);
    if (werr)
        return -werr;
    env[(*n)++] = env_pair("AGENTCRON_STEPS_FILE", st->file);
    env[(*n)++] = env_pair("AGENTCRON_REPLY_FD", "3");
    if (spec->run_token && spec->run_token[0]) {
        env[(*n)++] = env_pair("AGENTCRON_RUN_TOKEN", spec->run_token);
        env[(*n)++] = env_pair("AGENTCRON_STEPS_URL", spec->steps_url);
    }
    for (size_t i = 0; i < *n; i++)
        if (!env[i])
            return -ENOMEM;
    return 0;
}

void exec_steps_free(struct execution *x)
{
    struct exec_steps *st = x->steps;
    if (!st)
        return;
    if (st->file[0])
        unlink(st->file);
    while (st->head) {
        struct queued_op *q = st->head;
        st->head = q->next;
        free_op(q);
    }
    if (st->current) /* its answer came too late for the command */
        free_op(st->current);
    free(st->line);
    free(st);
    x->steps = NULL;
}
