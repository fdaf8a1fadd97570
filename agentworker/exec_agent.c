/* SPDX-License-Identifier: MIT */
/* The exec executor: the operator's command (argv, no shell) as a child in its own process
 * group (UV_PROCESS_DETACHED makes it a session leader), the run as JSON on stdin and in
 * AGENTCRON_* variables, the last 64 KiB of stdout and stderr kept. Exit 0 succeeds; 64-78
 * (sysexits: usage, data, config errors) are not worth retrying. Stopping sends SIGTERM to
 * the whole group, then SIGKILL after kill_grace_ms. When the command exits, whatever it left
 * in its group is killed, so nothing outlives the run and holds its pipes. */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "exec_child.h"
#include "executor_int.h"
#include "timefmt.h"

#define DRAIN_AFTER_EXIT_MS 200 /* output still in the pipes when the command exits */

static void on_closed(uv_handle_t *h)
{
    struct execution *x = h->data;
    x->open_handles--;
    executor_release(x);
}

static void close_handle(struct execution *x, uv_handle_t *h)
{
    if (uv_is_closing(h))
        return;
    h->data = x;
    uv_close(h, on_closed);
}

/* The last non-empty line of stdout, if it is {"usage": {...}} (and not a step's report). */
static void usage_from_stdout(struct execution *x)
{
    const struct tail *t = &x->out_tail;
    size_t end = t->len;
    while (end > 0 && (t->buf[end - 1] == '\n' || t->buf[end - 1] == '\r' || t->buf[end - 1] == ' '))
        end--;
    size_t start = end;
    while (start > 0 && t->buf[start - 1] != '\n')
        start--;
    if (end == start || t->buf[start] != '{')
        return;
    json_t *doc = json_loadb(t->buf + start, end - start, 0, NULL);
    if (!json_object_get(doc, "step") && !json_object_get(doc, "reserve")) /* a step's tokens are its own */
        executor_usage(doc, &x->res);
    json_decref(doc);
}

void exec_agent_complete(struct execution *x)
{
    if (x->done || !x->exited || !(x->eof_out && x->eof_err) || exec_steps_pending(x))
        return; /* a step it reported before exiting is recorded before its run ends */
    uv_timer_stop(&x->drain_timer);
    struct run_result *res = &x->res;
    usage_from_stdout(x);
    res->output = executor_clean_text(x->out_tail.buf ? x->out_tail.buf : "", x->out_tail.len, RUN_TAIL_MAX * 2);
    res->stderr_tail = executor_clean_text(x->err_tail.buf ? x->err_tail.buf : "", x->err_tail.len, RUN_TAIL_MAX);
    /* the last stderr line says most about a failure */
    char last[400] = "";
    if (x->err_tail.len) {
        size_t end = x->err_tail.len;
        while (end > 0 && (x->err_tail.buf[end - 1] == '\n' || x->err_tail.buf[end - 1] == '\r'))
            end--;
        size_t start = end;
        while (start > 0 && x->err_tail.buf[start - 1] != '\n' && end - start < 300)
            start--;
        char *clean = executor_clean_text(x->err_tail.buf + start, end - start, 300);
        if (clean)
            snprintf(last, sizeof last, ": %s", clean);
        free(clean);
    }
    res->exit_code = x->term_signal ? -1 : (int)x->exit_status, res->exit_signal = x->term_signal;
    if (x->stopping) {
        res->outcome = x->stop_reason;
        snprintf(res->error, sizeof res->error, "%s; the command was stopped (%s)",
                 x->stop_reason == OUTCOME_TIMED_OUT   ? "timed out"
                 : x->stop_reason == OUTCOME_CANCELLED ? "cancelled"
                                                       : "interrupted by worker shutdown",
                 x->term_signal ? strsignal(x->term_signal) : "it exited");
    } else if (x->term_signal) {
        res->outcome = OUTCOME_FAILED;
        snprintf(res->error, sizeof res->error, "the command was killed by signal %d (%s)%s", x->term_signal,
                 strsignal(x->term_signal), last);
    } else if (x->exit_status == 0) {
        res->outcome = OUTCOME_SUCCEEDED;
    } else {
        const int final = x->exit_status >= 64 && x->exit_status <= 78;
        res->outcome = final ? OUTCOME_FAILED_FINAL : OUTCOME_FAILED;
        snprintf(res->error, sizeof res->error, "the command exited with status %" PRId64 "%s%s", x->exit_status,
                 final ? " (64-78: not retried)" : "", last);
    }
    close_handle(x, (uv_handle_t *)&x->kill_timer);
    close_handle(x, (uv_handle_t *)&x->drain_timer);
    close_handle(x, (uv_handle_t *)&x->out);
    close_handle(x, (uv_handle_t *)&x->err);
    close_handle(x, (uv_handle_t *)&x->in);
    close_handle(x, (uv_handle_t *)&x->reply);
    executor_finish(x);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)h;
    static char slab[65536]; /* loop thread only; consumed before the next read */
    (void)suggested;
    *buf = uv_buf_init(slab, sizeof slab);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    struct execution *x = s->data;
    const int is_out = s == (uv_stream_t *)&x->out;
    if (n > 0) {
        if (is_out)
            exec_steps_feed(x, buf->base, (size_t)n);
        tail_append(is_out ? &x->out_tail : &x->err_tail, buf->base, (size_t)n);
        tail_append(is_out ? &x->live_out : &x->live_err, buf->base, (size_t)n);
        return;
    }
    if (n == 0)
        return;
    uv_read_stop(s);
    if (is_out)
        x->eof_out = 1;
    else
        x->eof_err = 1;
    exec_agent_complete(x);
}

static void on_drain_timeout(uv_timer_t *t)
{
    struct execution *x = t->data;
    x->eof_out = x->eof_err = 1; /* something else holds the pipes; stop waiting for them */
    exec_agent_complete(x);
}

static void on_exit_cb(uv_process_t *p, int64_t status, int signal)
{
    struct execution *x = p->data;
    x->exited = 1;
    x->exit_status = status, x->term_signal = signal;
    kill(-p->pid, SIGKILL); /* the rest of its process group */
    close_handle(x, (uv_handle_t *)p);
    x->drain_timer.data = x;
    uv_timer_start(&x->drain_timer, on_drain_timeout, DRAIN_AFTER_EXIT_MS, 0);
    exec_agent_complete(x);
}

static void on_stdin_written(uv_write_t *w, int status)
{
    struct execution *x = w->data;
    (void)status; /* a command that does not read stdin is fine */
    close_handle(x, (uv_handle_t *)&x->in);
}

static char *env_entry(const char *name, const char *value)
{
    char *e = malloc(strlen(name) + strlen(value) + 2);
    if (e)
        sprintf(e, "%s=%s", name, value);
    return e;
}

/* The child's environment: a fixed PATH, the run's data, then the agent's own variables. */
static char **build_env(const struct run_spec *spec)
{
    const json_t *extra = json_object_get(spec->settings, "env");
    char **env = calloc(json_object_size(extra) + 13 + 4, sizeof *env); /* 4: exec_steps_start's */
    if (!env)
        return NULL;
    size_t n = 0;
    char num[32], when[TIMEFMT_RFC3339_MAX];
    env[n++] = env_entry("PATH", "/usr/local/bin:/usr/bin:/bin");
    env[n++] = env_entry("LANG", "C.UTF-8");
    snprintf(num, sizeof num, "%" PRId64, spec->run_id);
    env[n++] = env_entry("AGENTCRON_RUN_ID", num);
    snprintf(num, sizeof num, "%" PRId64, spec->task_id);
    env[n++] = env_entry("AGENTCRON_TASK_ID", num);
    snprintf(num, sizeof num, "%d", spec->attempt);
    env[n++] = env_entry("AGENTCRON_ATTEMPT", num);
    timefmt_rfc3339(spec->scheduled_for_ms, 0, 1, when);
    env[n++] = env_entry("AGENTCRON_SCHEDULED_FOR", when);
    env[n++] = env_entry("AGENTCRON_GOAL", spec->goal);
    env[n++] = env_entry("AGENTCRON_TITLE", spec->title);
    env[n++] = env_entry("AGENTCRON_AGENT", spec->agent->name);
    if (spec->traceparent) /* W3C Trace Context, as OpenTelemetry SDKs read it from the environment */
        env[n++] = env_entry("TRACEPARENT", spec->traceparent);
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)extra, k, v) env[n++] = env_entry(k, json_string_value(v));
    for (size_t i = 0; i < n; i++)
        if (!env[i]) {
            for (size_t j = 0; j < n; j++)
                free(env[j]);
            free(env);
            return NULL;
        }
    return env;
}

static void free_strv(char **v)
{
    for (char **p = v; p && *p; p++)
        free(*p);
    free(v);
}

/* The program the command names, found as execvp would with the child's PATH (relative names
 * against its cwd): 0, or a negative errno. */
static int find_program(const char *name, char **env, const char *cwd, char *out, size_t len)
{
    const char *path = "";
    for (char **e = env; *e; e++)
        if (!strncmp(*e, "PATH=", 5)) {
            path = *e + 5;
            break;
        }
    char joined[4096];
    if (cwd && name[0] != '/' && strchr(name, '/')) {
        if ((size_t)snprintf(joined, sizeof joined, "%s/%s", cwd, name) >= sizeof joined)
            return -ENAMETOOLONG;
        name = joined;
    }
    return exec_child_resolve(name, path, out, len);
}

int exec_agent_start(uv_loop_t *loop, struct execution *x, const struct run_spec *spec)
{
    struct run_result *res = &x->res;
    const json_t *cmd = json_object_get(spec->settings, "command");
    const size_t argc = json_array_size(cmd);
    /* the helper's arguments (exec_child.h), then the command's */
    char **child_argv = calloc(argc + 5, sizeof *child_argv), **argv = child_argv ? child_argv + 4 : NULL;
    char parent[24], program[4096];
    char **env = build_env(spec);
    char when[TIMEFMT_RFC3339_MAX];
    timefmt_rfc3339(spec->scheduled_for_ms, 0, 1, when);
    json_t *input = json_pack("{s:I, s:I, s:s, s:s, s:s, s:i, s:s}", "run", (json_int_t)spec->run_id, "task",
                              (json_int_t)spec->task_id, "title", spec->title, "goal", spec->goal, "scheduledFor", when,
                              "attempt", spec->attempt, "agent", spec->agent->name);
    json_t *steps = spec->steps_json ? json_loads(spec->steps_json, 0, NULL) : NULL;
    json_object_set_new(input, "steps", steps ? steps : json_array()); /* what is done already (docs/steps.md) */
    size_t nenv = 0;
    while (env && env[nenv])
        nenv++;
    const int steps_err = env && spec->submit_step ? exec_steps_start(x, spec, env, &nenv) : 0;
    x->stdin_json = input ? json_dumps(input, JSON_COMPACT) : NULL;
    json_decref(input);
    int rc = -1;
    if (steps_err) { /* retried: a full or read-only TMPDIR may pass */
        res->outcome = OUTCOME_FAILED;
        snprintf(res->error, sizeof res->error, "cannot write the run's steps file (AGENTCRON_STEPS_FILE) under %s: %s",
                 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", strerror(-steps_err));
        goto out;
    }
    if (!argv || !env || !x->stdin_json) {
        res->outcome = OUTCOME_FAILED;
        snprintf(res->error, sizeof res->error, "out of memory starting the command");
        goto out;
    }
    for (size_t i = 0; i < argc; i++)
        argv[i] = (char *)json_string_value(json_array_get(cmd, i));
    const int found = find_program(argv[0], env, executor_setting_str(spec->settings, "cwd", NULL), program,
                                   sizeof program);
    if (found < 0) { /* a missing program will not appear by retrying: the operator must fix the file */
        res->outcome = OUTCOME_FAILED_FINAL;
        snprintf(res->error, sizeof res->error, "cannot start %s: %s%s", argv[0], uv_strerror(found),
                 found == UV_ENOENT ? " (fix the agent's command in AGENTS_FILE)" : "");
        goto out;
    }
    snprintf(parent, sizeof parent, "%ld", (long)getpid());
    child_argv[0] = "agentcron-exec", child_argv[1] = EXEC_CHILD_FLAG, child_argv[2] = parent, child_argv[3] = program;
    x->out_tail.max = x->err_tail.max = RUN_TAIL_MAX;
    x->live_out.max = x->live_err.max = RUN_LIVE_MAX;
    x->kill_grace_ms = executor_setting_int(spec->settings, "kill_grace_ms", 5000);
    uv_pipe_init(loop, &x->in, 0);
    uv_pipe_init(loop, &x->out, 0);
    uv_pipe_init(loop, &x->err, 0);
    uv_pipe_init(loop, &x->reply, 0);
    uv_timer_init(loop, &x->kill_timer);
    uv_timer_init(loop, &x->drain_timer);
    x->in.data = x->out.data = x->err.data = x->reply.data = x->kill_timer.data = x->drain_timer.data = x;
    uv_stdio_container_t stdio[4] = {
        {.flags = UV_CREATE_PIPE | UV_READABLE_PIPE, .data.stream = (uv_stream_t *)&x->in},
        {.flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE, .data.stream = (uv_stream_t *)&x->out},
        {.flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE, .data.stream = (uv_stream_t *)&x->err},
        {.flags = UV_CREATE_PIPE | UV_READABLE_PIPE, .data.stream = (uv_stream_t *)&x->reply}, /* fd 3: step answers */
    };
    const uv_process_options_t opts = {
        .exit_cb = on_exit_cb,
        .file = "/proc/self/exe", /* the worker's binary, which becomes the command (exec_child.h) */
        .args = child_argv,
        .env = env,
        .cwd = executor_setting_str(spec->settings, "cwd", NULL),
        .flags = UV_PROCESS_DETACHED,
        .stdio_count = 4,
        .stdio = stdio,
    };
    x->proc.data = x;
    const int err = uv_spawn(loop, &x->proc, &opts);
    if (err < 0) {
        /* a missing program will not appear by retrying: the operator must fix the file */
        res->outcome = err == UV_ENOENT || err == UV_EACCES ? OUTCOME_FAILED_FINAL : OUTCOME_FAILED;
        snprintf(res->error, sizeof res->error, "cannot start %s: %s%s", argv[0], uv_strerror(err),
                 err == UV_ENOENT ? " (fix the agent's command in AGENTS_FILE)" : "");
        x->open_handles = 7; /* a process handle that failed to spawn must still be closed */
        close_handle(x, (uv_handle_t *)&x->proc);
        close_handle(x, (uv_handle_t *)&x->reply);
        close_handle(x, (uv_handle_t *)&x->in);
        close_handle(x, (uv_handle_t *)&x->out);
        close_handle(x, (uv_handle_t *)&x->err);
        close_handle(x, (uv_handle_t *)&x->kill_timer);
        close_handle(x, (uv_handle_t *)&x->drain_timer);
        goto out_keep; /* released once the handles close */
    }
    x->open_handles = 7;
    uv_read_start((uv_stream_t *)&x->out, on_alloc, on_read);
    uv_read_start((uv_stream_t *)&x->err, on_alloc, on_read);
    x->write_req.data = x;
    const uv_buf_t buf = uv_buf_init(x->stdin_json, (unsigned)strlen(x->stdin_json));
    if (uv_write(&x->write_req, (uv_stream_t *)&x->in, &buf, 1, on_stdin_written) < 0)
        close_handle(x, (uv_handle_t *)&x->in);
    rc = 0;
out:
    free(child_argv);
    free_strv(env);
    return rc;
out_keep:
    free(child_argv);
    free_strv(env);
    x->done = 1; /* its result goes back through executor_start; no callback */
    return -1;
}

static void on_kill_timer(uv_timer_t *t)
{
    struct execution *x = t->data;
    if (!x->exited)
        kill(-x->proc.pid, SIGKILL);
}

void exec_agent_stop(struct execution *x)
{
    if (x->exited)
        return;
    kill(-x->proc.pid, SIGTERM);
    uv_timer_start(&x->kill_timer, on_kill_timer, (uint64_t)x->kill_grace_ms, 0);
}
