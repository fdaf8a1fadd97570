/* SPDX-License-Identifier: MIT */
/* Loading and validating AGENTS_FILE. Every kind has a table of the settings it accepts, their
 * JSON types and which a task may override; anything else is refused at load time with a
 * message naming the file, the agent and the setting. */
#include "agents.h"

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

struct setting {
    const char *name;
    json_type type;
    int required;
    int may_override; /* whether an operator may list it as overridable */
};

#define END {NULL, JSON_NULL, 0, 0}
static const struct setting common_settings[] = {
    {"kind", JSON_STRING, 1, 0},          {"base_credits", JSON_INTEGER, 0, 0},
    {"tokens_per_credit", JSON_INTEGER, 0, 0}, {"estimate_credits", JSON_INTEGER, 0, 0},
    {"rate_limit", JSON_OBJECT, 0, 0},    {"overridable", JSON_ARRAY, 0, 0},
    {"description", JSON_STRING, 0, 0},   {"max_credits_per_run", JSON_INTEGER, 0, 0}, END,
};
static const struct setting noop_settings[] = {END};
/* HTTP-client settings shared by http and llm. */
#define CLIENT_SETTINGS                                                                                           \
    {"ca_file", JSON_STRING, 0, 0}, {"connect_timeout_ms", JSON_INTEGER, 0, 0},                                   \
        {"read_timeout_ms", JSON_INTEGER, 0, 0},                                                                  \
        {"max_response_bytes", JSON_INTEGER, 0, 0}, {"follow_redirects", JSON_TRUE, 0, 0},                        \
        {"insecure_skip_verify", JSON_TRUE, 0, 0}
static const struct setting http_settings[] = {
    {"url", JSON_STRING, 1, 0},        {"path", JSON_STRING, 0, 1}, {"method", JSON_STRING, 0, 1},
    {"headers", JSON_OBJECT, 0, 1},    {"bearer_env", JSON_STRING, 0, 0},
    {"signing_key_env", JSON_STRING, 0, 0}, {"signing_key_previous_env", JSON_STRING, 0, 0},
    CLIENT_SETTINGS, END,
};
/* exec: nothing is overridable, so a task can never change what runs or how. */
static const struct setting exec_settings[] = {
    {"command", JSON_ARRAY, 1, 0}, {"env", JSON_OBJECT, 0, 0}, {"cwd", JSON_STRING, 0, 0},
    {"kill_grace_ms", JSON_INTEGER, 0, 0}, END,
};
static const struct setting llm_settings[] = {
    {"model", JSON_STRING, 1, 1},      {"system_prompt", JSON_STRING, 0, 1}, {"base_url", JSON_STRING, 0, 0},
    {"api_key_env", JSON_STRING, 0, 0}, {"max_tokens", JSON_INTEGER, 0, 1},  {"temperature", JSON_REAL, 0, 1},
    {"tools", JSON_OBJECT, 0, 0},      {"max_steps", JSON_INTEGER, 0, 1},
    CLIENT_SETTINGS, END,
};

static const struct {
    const char *name;
    enum agent_kind kind;
    const struct setting *settings;
} kinds[] = {
    {"noop", AGENT_NOOP, noop_settings},
    {"http", AGENT_HTTP, http_settings},
    {"exec", AGENT_EXEC, exec_settings},
    {"llm", AGENT_LLM, llm_settings},
};

static int fail(struct agents_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(struct agents_error *err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    return -1;
}

/* The settings whose value names an environment variable holding a secret. */
static const char *const secret_settings[] = {"bearer_env", "signing_key_env", "signing_key_previous_env",
                                              "api_key_env", NULL};

/* Whether an agent names variable, and which of its settings does (the first); a tool's
 * bearer_env counts too. */
static const char *names_variable(const struct agent *a, const char *variable)
{
    for (const char *const *k = secret_settings; *k; k++) {
        const char *v = json_string_value(json_object_get(a->settings, *k));
        if (v && !strcmp(v, variable))
            return *k;
    }
    const char *name;
    json_t *tool;
    json_object_foreach(json_object_get(a->settings, "tools"), name, tool)
    {
        const char *v = json_string_value(json_object_get(tool, "bearer_env"));
        if (v && !strcmp(v, variable))
            return "tools.bearer_env";
    }
    return NULL;
}

int agents_check_secrets(const struct agent_set *set, const struct config *cfg, int need_values,
                         struct agents_error *err)
{
    for (int i = 0; i < cfg->nsecrets; i++) {
        int named = 0;
        for (size_t k = 0; k < set->count && !named; k++)
            named = names_variable(&set->agents[k], cfg->secrets[i].name) != NULL;
        if (!named) {
            snprintf(err->message, sizeof err->message,
                     "config: %.200s line %d sets %.60s, which is neither a setting nor a variable an agent in "
                     "AGENTS_FILE names (bearer_env, signing_key_env, api_key_env): check its spelling",
                     cfg->env_file, cfg->secrets[i].line, cfg->secrets[i].name);
            return -1;
        }
    }
    for (size_t k = 0; need_values && k < set->count; k++) {
        const char *name;
        json_t *tool;
        json_object_foreach(json_object_get(set->agents[k].settings, "tools"), name, tool)
        {
            const char *v = json_string_value(json_object_get(tool, "bearer_env"));
            const char *value = v ? config_secret(cfg, v) : NULL;
            if (v && (!value || !value[0])) {
                snprintf(err->message, sizeof err->message,
                         "agent \"%.60s\": tool %.60s's bearer_env names %.60s, which is not set: add %.60s=... to the "
                         "env file or the environment",
                         set->agents[k].name, name, v, v);
                return -1;
            }
        }
        for (const char *const *key = secret_settings; *key; key++) {
            const char *v = json_string_value(json_object_get(set->agents[k].settings, *key));
            const char *value = v ? config_secret(cfg, v) : NULL;
            if (v && (!value || !value[0])) {
                snprintf(err->message, sizeof err->message,
                         "agent \"%.60s\": %s names %.60s, which is not set: add %.60s=... to the env file%s%.200s or "
                         "the environment",
                         set->agents[k].name, *key, v, v, cfg->env_file[0] ? " " : "", cfg->env_file);
                return -1;
            }
        }
    }
    return 0;
}

struct agents_generation *agents_reload(const char *env_file, int need_values, struct agents_generation *older,
                                        struct agents_error *err)
{
    struct agents_generation *g = calloc(1, sizeof *g);
    struct config_error cerr;
    if (!g || !(g->cfg = calloc(1, sizeof *g->cfg))) {
        free(g);
        snprintf(err->message, sizeof err->message, "out of memory");
        return NULL;
    }
    if (config_load(g->cfg, env_file, &cerr) != 0) {
        snprintf(err->message, sizeof err->message, "%.500s", cerr.message);
        goto fail;
    }
    if (agents_load(&g->set, g->cfg->agents_file, err) != 0)
        goto fail;
    if (agents_check_secrets(&g->set, g->cfg, need_values, err) != 0) {
        agents_free(&g->set);
        goto fail;
    }
    g->older = older;
    return g;
fail:
    free(g->cfg);
    free(g);
    return NULL;
}

void agents_generations_free(struct agents_generation *g)
{
    while (g) {
        struct agents_generation *older = g->older;
        agents_free(&g->set);
        free(g->cfg);
        free(g);
        g = older;
    }
}

const char *agents_kind_name(enum agent_kind kind)
{
    return kinds[kind].name;
}

static const struct setting *find_setting(const struct setting *table, const char *name)
{
    for (; table->name; table++)
        if (strcmp(table->name, name) == 0)
            return table;
    return NULL;
}

static const struct setting *lookup(enum agent_kind kind, const char *name)
{
    const struct setting *s = find_setting(common_settings, name);
    return s ? s : find_setting(kinds[kind].settings, name);
}

/* JSON_TRUE stands for "a boolean"; JSON_REAL accepts integers too. */
static int type_ok(const struct setting *s, const json_t *v)
{
    if (s->type == JSON_TRUE)
        return json_is_boolean(v);
    if (s->type == JSON_REAL)
        return json_is_number(v);
    return json_typeof(v) == s->type;
}

static const char *type_name(json_type t)
{
    switch (t) {
    case JSON_STRING: return "a string";
    case JSON_INTEGER: return "an integer";
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_TRUE: return "true or false";
    case JSON_REAL: return "a number";
    default: return "a value";
    }
}

static int64_t int_or(const json_t *obj, const char *key, int64_t dflt)
{
    const json_t *v = json_object_get(obj, key);
    return v ? json_integer_value(v) : dflt;
}

static int is_string_map(const json_t *obj)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)obj, k, v) if (!json_is_string(v)) return 0;
    return 1;
}

/* An llm agent's tools: {"NAME": {"url", "description", "parameters" (a JSON Schema object),
 * "bearer_env", "timeout_ms"}}, names as the OpenAI API allows them. */
static int check_tools(const json_t *tools, const char *where, struct agents_error *err)
{
    if (json_object_size(tools) > AGENT_TOOLS_MAX)
        return fail(err, "%s: at most %d tools", where, AGENT_TOOLS_MAX);
    const char *name;
    json_t *tool;
    json_object_foreach((json_t *)tools, name, tool)
    {
        const size_t n = strlen(name);
        if (n == 0 || n > 64 || strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") != n)
            return fail(err, "%s: tool name \"%.80s\" must be 1-64 letters, digits, _ or -", where, name);
        if (!json_is_object(tool))
            return fail(err, "%s: tools.%s must be an object with url, description and parameters", where, name);
        const char *key;
        json_t *v;
        json_object_foreach(tool, key, v)
        {
            const int ok = !strcmp(key, "url") || !strcmp(key, "description") || !strcmp(key, "bearer_env")
                               ? json_is_string(v)
                           : !strcmp(key, "parameters") ? json_is_object(v)
                           : !strcmp(key, "timeout_ms") ? json_is_integer(v) && json_integer_value(v) > 0
                                                        : -1;
            if (ok < 0)
                return fail(err, "%s: tools.%s has an unknown setting \"%.60s\" (url, description, parameters, "
                                 "bearer_env, timeout_ms)", where, name, key);
            if (!ok)
                return fail(err, "%s: tools.%s.%s has the wrong type", where, name, key);
        }
        const char *url = json_string_value(json_object_get(tool, "url"));
        if (!url || (strncmp(url, "http://", 7) && strncmp(url, "https://", 8)))
            return fail(err, "%s: tools.%s needs a url starting with http:// or https://", where, name);
        if (!json_object_get(tool, "parameters"))
            return fail(err, "%s: tools.%s needs parameters (a JSON Schema object, e.g. {\"type\": \"object\"})",
                        where, name);
    }
    return 0;
}

/* Checks of values beyond their type. */
static int check_values(const struct agent *a, const char *where, struct agents_error *err)
{
    const json_t *s = a->settings;
    const char *url = json_string_value(json_object_get(s, a->kind == AGENT_LLM ? "base_url" : "url"));
    if (url && strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0)
        return fail(err, "%s: url \"%s\" must start with http:// or https://", where, url);
    const char *method = json_string_value(json_object_get(s, "method"));
    if (method && strcmp(method, "GET") != 0 && strcmp(method, "POST") != 0)
        return fail(err, "%s: method \"%s\" is not supported; use GET or POST", where, method);
    const char *path = json_string_value(json_object_get(s, "path"));
    if (path && path[0] != '/')
        return fail(err, "%s: path \"%s\" must start with /", where, path);
    for (const char *k = "headers"; k; k = strcmp(k, "headers") == 0 ? "env" : NULL)
        if (json_object_get(s, k) && !is_string_map(json_object_get(s, k)))
            return fail(err, "%s: every value in %s must be a string", where, k);
    if (a->kind == AGENT_EXEC) {
        const json_t *cmd = json_object_get(s, "command");
        if (json_array_size(cmd) == 0)
            return fail(err, "%s: command must list the program and its arguments, e.g. [\"/usr/bin/env\", \"true\"]",
                        where);
        size_t i;
        json_t *arg;
        json_array_foreach(cmd, i, arg) if (!json_is_string(arg)) return fail(err, "%s: command[%zu] must be a string", where, i);
        if (json_string_value(json_array_get(cmd, 0))[0] != '/')
            return fail(err, "%s: command[0] \"%s\" must be an absolute path (no PATH lookup, no shell)", where,
                        json_string_value(json_array_get(cmd, 0)));
    }
    if (json_object_get(s, "tools") && check_tools(json_object_get(s, "tools"), where, err))
        return -1;
    static const char *const positive[] = {"connect_timeout_ms", "read_timeout_ms", "max_response_bytes",
                                           "kill_grace_ms", "max_tokens", "max_steps", "max_credits_per_run"};
    for (size_t i = 0; i < sizeof positive / sizeof positive[0]; i++)
        if (json_object_get(s, positive[i]) && int_or(s, positive[i], 0) <= 0)
            return fail(err, "%s: %s must be a positive integer", where, positive[i]);
    if (a->base_credits < 0 || a->estimate_credits < 0 || a->tokens_per_credit <= 0)
        return fail(err, "%s: base_credits and estimate_credits must be >= 0 and tokens_per_credit > 0", where);
    if (a->estimate_credits < a->base_credits)
        return fail(err, "%s: estimate_credits (%lld) must be at least base_credits (%lld)", where,
                    (long long)a->estimate_credits, (long long)a->base_credits);
    return 0;
}

static int parse_limits(struct agent *a, const char *where, struct agents_error *err)
{
    const json_t *rl = json_object_get(a->settings, "rate_limit");
    if (!rl)
        return 0;
    const json_t *max = json_object_get(rl, "max"), *period = json_object_get(rl, "period_s");
    if (!json_is_integer(max) || !json_is_integer(period) || json_integer_value(max) < 1 ||
        json_integer_value(max) > 1000000 || json_integer_value(period) < 1 || json_integer_value(period) > 86400 ||
        json_object_size(rl) != 2)
        return fail(err, "%s: rate_limit must be {\"max\": 1-1000000, \"period_s\": 1-86400}", where);
    a->rate_max = (int)json_integer_value(max);
    a->rate_period_ms = json_integer_value(period) * 1000;
    return 0;
}

static int parse_overridable(struct agent *a, const char *where, struct agents_error *err)
{
    const json_t *list = json_object_get(a->settings, "overridable");
    a->overridable = calloc(json_array_size(list) + 1, sizeof *a->overridable);
    if (!a->overridable)
        return fail(err, "%s: out of memory", where);
    size_t i;
    json_t *v;
    json_array_foreach(list, i, v)
    {
        const struct setting *s = json_is_string(v) ? lookup(a->kind, json_string_value(v)) : NULL;
        if (!s || !s->may_override)
            return fail(err, "%s: overridable[%zu] %s%s%s cannot be overridden by a task (a %s agent allows: %s)",
                        where, i, json_is_string(v) ? "\"" : "", json_is_string(v) ? json_string_value(v) : "(not a string)",
                        json_is_string(v) ? "\"" : "", kinds[a->kind].name,
                        a->kind == AGENT_HTTP  ? "path, method, headers"
                        : a->kind == AGENT_LLM ? "model, system_prompt, max_tokens, temperature, max_steps"
                                               : "nothing");
        if (!(a->overridable[i] = strdup(json_string_value(v))))
            return fail(err, "%s: out of memory", where);
    }
    return 0;
}

static int parse_agent(struct agent *a, const char *name, json_t *def, const char *origin, struct agents_error *err)
{
    char where[300];
    snprintf(where, sizeof where, "%s: agent \"%.100s\"", origin, name);
    if (!json_is_object(def))
        return fail(err, "%s: must be an object with at least \"kind\"", where);
    const char *kind = json_string_value(json_object_get(def, "kind"));
    size_t k = 0;
    while (k < sizeof kinds / sizeof kinds[0] && (!kind || strcmp(kinds[k].name, kind) != 0))
        k++;
    if (k == sizeof kinds / sizeof kinds[0])
        return fail(err, "%s: kind %s%s%s is not one of http, exec, llm, noop", where, kind ? "\"" : "",
                    kind ? kind : "(missing)", kind ? "\"" : "");
    a->kind = kinds[k].kind;
    a->name = strdup(name);
    a->settings = json_incref(def);
    if (!a->name)
        return fail(err, "%s: out of memory", where);
    const char *key;
    json_t *v;
    json_object_foreach(def, key, v)
    {
        const struct setting *s = lookup(a->kind, key);
        if (!s)
            return fail(err, "%s: unknown setting \"%.100s\" for a %s agent", where, key, kind);
        if (!type_ok(s, v))
            return fail(err, "%s: %s must be %s", where, key, type_name(s->type));
    }
    for (const struct setting *s = kinds[k].settings; s->name; s++)
        if (s->required && !json_object_get(def, s->name))
            return fail(err, "%s: a %s agent needs \"%s\"", where, kind, s->name);
    const int64_t dflt_base = a->kind == AGENT_NOOP ? 0 : 1;
    a->base_credits = int_or(def, "base_credits", dflt_base);
    a->tokens_per_credit = int_or(def, "tokens_per_credit", 1000);
    a->estimate_credits = int_or(def, "estimate_credits", a->base_credits);
    if (parse_limits(a, where, err) || parse_overridable(a, where, err))
        return -1;
    return check_values(a, where, err);
}

static int add_noop(struct agent_set *set, struct agents_error *err)
{
    if (agents_find(set, "noop"))
        return 0;
    struct agent *grown = realloc(set->agents, (set->count + 1) * sizeof *grown);
    if (!grown)
        return fail(err, "agents: out of memory");
    set->agents = grown;
    json_t *def = json_pack("{s:s}", "kind", "noop");
    struct agent *a = &set->agents[set->count];
    memset(a, 0, sizeof *a);
    set->count++;
    const int rc = parse_agent(a, "noop", def, "built-in", err);
    json_decref(def);
    return rc;
}

int agents_parse(struct agent_set *set, const char *text, const char *origin, struct agents_error *err)
{
    memset(set, 0, sizeof *set);
    if (!text)
        return add_noop(set, err);
    json_error_t jerr;
    json_t *doc = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
    if (!doc)
        return fail(err, "%s: line %d column %d: %s", origin, jerr.line, jerr.column, jerr.text);
    json_t *agents = json_object_get(doc, "agents");
    if (!json_is_object(doc) || !json_is_object(agents) || json_object_size(doc) != 1) {
        json_decref(doc);
        return fail(err, "%s: must be {\"agents\": {\"NAME\": {\"kind\": ...}, ...}}", origin);
    }
    set->agents = calloc(json_object_size(agents) + 1, sizeof *set->agents);
    int rc = set->agents ? 0 : fail(err, "%s: out of memory", origin);
    const char *name;
    json_t *def;
    json_object_foreach(agents, name, def)
    {
        if (rc)
            break;
        if (!name[0] || strlen(name) > 100) {
            rc = fail(err, "%s: agent names must be 1-100 characters", origin);
            break;
        }
        rc = parse_agent(&set->agents[set->count++], name, def, origin, err);
    }
    json_decref(doc);
    if (rc == 0)
        rc = add_noop(set, err);
    if (rc)
        agents_free(set);
    return rc;
}

int agents_load(struct agent_set *set, const char *path, struct agents_error *err)
{
    if (!path || !path[0])
        return agents_parse(set, NULL, "built-in", err);
    FILE *f = fopen(path, "rb");
    if (!f)
        return fail(err, "AGENTS_FILE %s: %s; fix the path or unset AGENTS_FILE", path, strerror(errno));
    char *text = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&text, &len);
    char buf[8192];
    size_t n;
    while (mem && (n = fread(buf, 1, sizeof buf, f)) > 0 && len < (16u << 20))
        fwrite(buf, 1, n, mem);
    const int bad = ferror(f) || !mem || len >= (16u << 20);
    fclose(f);
    if (mem)
        fclose(mem);
    int rc;
    if (bad)
        rc = fail(err, "AGENTS_FILE %s: cannot be read (or is over 16 MiB)", path);
    else {
        char origin[1100];
        snprintf(origin, sizeof origin, "AGENTS_FILE %s", path);
        rc = agents_parse(set, text, origin, err);
    }
    free(text);
    return rc;
}

void agents_free(struct agent_set *set)
{
    for (size_t i = 0; i < set->count; i++) {
        struct agent *a = &set->agents[i];
        free(a->name);
        json_decref(a->settings);
        for (char **o = a->overridable; o && *o; o++)
            free(*o);
        free(a->overridable);
    }
    free(set->agents);
    memset(set, 0, sizeof *set);
}

const struct agent *agents_find(const struct agent_set *set, const char *name)
{
    for (size_t i = 0; i < set->count; i++)
        if (strcmp(set->agents[i].name, name) == 0)
            return &set->agents[i];
    return NULL;
}

static int may_override(const struct agent *a, const char *key)
{
    for (char **o = a->overridable; o && *o; o++)
        if (strcmp(*o, key) == 0)
            return 1;
    return 0;
}

json_t *agents_effective(const struct agent *a, const char *task_config, struct agents_error *err)
{
    json_t *eff = json_deep_copy(a->settings);
    json_t *over = NULL;
    if (!eff) {
        fail(err, "out of memory");
        return NULL;
    }
    if (task_config && task_config[0]) {
        json_error_t jerr;
        over = json_loads(task_config, JSON_REJECT_DUPLICATES, &jerr);
        if (!json_is_object(over)) {
            fail(err, "the task's agent_config is not a JSON object");
            goto fail;
        }
    }
    const char *key;
    json_t *v;
    json_object_foreach(over, key, v)
    {
        const struct setting *s = lookup(a->kind, key);
        if (!strcmp(key, "max_credits_per_run")) { /* a task may set its own cap, within the agent's */
            const json_t *cap = json_object_get(a->settings, key);
            if (!json_is_integer(v) || json_integer_value(v) <= 0 || (cap && json_integer_value(v) > json_integer_value(cap))) {
                char limit[64] = "";
                if (cap)
                    snprintf(limit, sizeof limit, " no larger than the agent's %lld", (long long)json_integer_value(cap));
                fail(err, "the task's agent_config.max_credits_per_run must be a positive integer%s", limit);
                goto fail;
            }
            json_object_set(eff, key, v);
            continue;
        }
        if (!may_override(a, key) || !s) {
            fail(err, "the task's agent_config sets \"%.100s\", which agent \"%s\" does not let tasks override", key,
                 a->name);
            goto fail;
        }
        if (!type_ok(s, v)) {
            fail(err, "the task's agent_config.%s must be %s", key, type_name(s->type));
            goto fail;
        }
        json_object_set(eff, key, v);
    }
    struct agent check = *a;
    check.settings = eff;
    if (check_values(&check, "the task's agent_config", err))
        goto fail;
    json_decref(over);
    return eff;
fail:
    json_decref(over);
    json_decref(eff);
    return NULL;
}

int64_t agents_charge(const struct agent *a, int64_t total_tokens)
{
    if (total_tokens <= 0)
        return a->base_credits;
    return a->base_credits + (total_tokens + a->tokens_per_credit - 1) / a->tokens_per_credit;
}
