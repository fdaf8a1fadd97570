/* SPDX-License-Identifier: MIT */
/* The operator's agent definitions (AGENTS_FILE, JSON): each name maps to an executor kind and
 * its settings, what a run of it costs, and its limits. A task names an agent (agent_type) and
 * may override only the settings the agent lists as overridable; a task can never choose the
 * command an `exec` agent runs. Loading validates everything once, so executors can trust it.
 *
 *   { "agents": { "report": { "kind": "http", "url": "https://app.example/api/cron/report",
 *                             "bearer_env": "CRON_SECRET", "estimate_credits": 2 }, ... } }
 *
 * The parsed set is immutable and may be shared between threads. */
#ifndef AGENTCRON_AGENTS_H
#define AGENTCRON_AGENTS_H

#include <stddef.h>
#include <stdint.h>

struct config;
struct json_t;

enum agent_kind { AGENT_NOOP, AGENT_HTTP, AGENT_EXEC, AGENT_LLM };

#define AGENT_TOOLS_MAX 64 /* tools an llm agent may list */

struct agent {
    char *name;
    enum agent_kind kind;
    struct json_t *settings;  /* the agent's object as loaded (validated for its kind) */
    char **overridable;       /* NULL-terminated setting names a task may override */
    int64_t base_credits;     /* charged per run (default 1; noop 0) */
    int64_t tokens_per_credit; /* tokens that cost one credit (default 1000) */
    int64_t estimate_credits; /* reserved before a run (default base_credits) */
    int rate_max;             /* at most rate_max runs per rate_period_ms, across workers; 0: none */
    int64_t rate_period_ms;
};

struct agent_set {
    struct agent *agents;
    size_t count;
};

struct agents_error {
    char message[512];
};

/* Loads the agent definitions from a JSON file (path NULL or "": only the built-in `noop`
 * agent). -1 with *err naming the file, the agent and the setting when anything is invalid;
 * 0 on success. A `noop` agent is always defined unless the file defines that name itself. */
int agents_load(struct agent_set *set, const char *path, struct agents_error *err);

/* Parses definitions from a JSON text (`origin` names it in messages). As agents_load. */
int agents_parse(struct agent_set *set, const char *text, const char *origin, struct agents_error *err);

void agents_free(struct agent_set *set);

/* The agent called name, or NULL. */
const struct agent *agents_find(const struct agent_set *set, const char *name);

/* The settings a run uses: the agent's, with the task's agent_config (a JSON object text,
 * may be NULL or "{}") laid over them. Only overridable settings may appear there, with the
 * type the agent's own setting has. Returns a new reference the caller must json_decref, or
 * NULL with *err saying which setting was refused and why. */
struct json_t *agents_effective(const struct agent *a, const char *task_config, struct agents_error *err);

/* What a run that reported total_tokens costs: base_credits + ceil(tokens / tokens_per_credit). */
int64_t agents_charge(const struct agent *a, int64_t total_tokens);

/* Checks the env file's secrets against the agents: every variable of the env file that is not
 * a setting must be one an agent names (bearer_env, signing_key_env, signing_key_previous_env,
 * api_key_env), so that a misspelt name is refused, not ignored; and, with need_values (a
 * process that runs agents), every variable an agent names must be set, in the env file or the
 * environment (config_secret). -1 with *err naming the line or the agent and the
 * variable, and what to do; 0 when all is well. Reads the environment. */
int agents_check_secrets(const struct agent_set *set, const struct config *cfg, int need_values,
                         struct agents_error *err);

/* A generation of agent definitions with the env file's secrets, as a reload (SIGHUP) makes it;
 * older generations stay alive (runs and lanes may still read them) until freed together. */
struct agents_generation {
    struct config *cfg;     /* the env file as reloaded (its secrets; settings other than AGENTS_FILE and
                               the secrets take effect only on a restart) */
    struct agent_set set;
    struct agents_generation *older;
};

/* Reads env_file (NULL: the default one, as at start) and the AGENTS_FILE it names anew, and
 * checks them as start-up does (agents_check_secrets with need_values). A new generation
 * linked to older, or NULL with *err: then older stays in force. Blocking (file reads). */
struct agents_generation *agents_reload(const char *env_file, int need_values, struct agents_generation *older,
                                        struct agents_error *err);

/* Frees a generation and all older ones. NULL is a no-op. */
void agents_generations_free(struct agents_generation *g);

/* The agent kind's name ("http", ...). */
const char *agents_kind_name(enum agent_kind kind);

#endif
