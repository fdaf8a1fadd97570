/* SPDX-License-Identifier: MIT */
/* Sending alerts (see deliver.h). */
#include "deliver.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "http_sync.h"
#include "pgconn.h"
#include "signature.h"
#include "log.h"
#include "timefmt.h"

#define HTTP_TIMEOUT_MS 10000
#define SENDMAIL_TIMEOUT_MS 30000
#define CLAIM "interval '2 minutes'" /* a claimed delivery whose sender died is tried again after this */

extern char **environ;

static const char *str(const json_t *o, const char *a, const char *b)
{
    const json_t *v = json_object_get(o, a);
    if (b)
        v = json_object_get(v, b);
    return json_is_string(v) ? json_string_value(v) : "";
}

static int post(const struct alert_channels *ch, const char *url, const char *const *headers, const char *body,
                char *err, size_t len)
{
    const struct http_request_opts opts = {.method = "POST", .url = url, .headers = headers, .body = body,
                                           .body_len = strlen(body), .ca_file = ch->ca_file,
                                           .connect_timeout_ms = HTTP_TIMEOUT_MS, .timeout_ms = HTTP_TIMEOUT_MS,
                                           .max_response_bytes = 65536};
    struct http_sync_result res;
    const int rc = http_sync_request(ch->http, &opts, &res);
    free(res.body);
    if (rc != 0) {
        snprintf(err, len, "POST to %.200s failed: %s", url, res.message);
        return -1;
    }
    if (res.status < 200 || res.status > 299) {
        snprintf(err, len, "POST to %.200s answered HTTP %d (a 2xx means taken)", url, res.status);
        return -1;
    }
    return 0;
}

static int send_webhook(const struct alert_channels *ch, const char *target, int64_t id, const json_t *alert,
                        const char *payload, char *err, size_t len)
{
    if (!ch->signing_key || !ch->signing_key[0]) {
        snprintf(err, len, "webhook alerts are signed with ALERT_SIGNING_KEY, which is not set: add it to the"
                           " orchestrator's env file (openssl rand -hex 32) and give the receiver the same key");
        return -1;
    }
    char stamp[24], mac[65], sig[128], key[64], event[64];
    snprintf(stamp, sizeof stamp, "%lld", (long long)time(NULL));
    signature_hmac_hex(ch->signing_key, stamp, payload, mac);
    snprintf(sig, sizeof sig, "X-Agentcron-Signature: t=%s,v1=%s", stamp, mac);
    snprintf(key, sizeof key, "Idempotency-Key: alert-%" PRId64, id);
    snprintf(event, sizeof event, "X-Agentcron-Event: alert.%s", str(alert, "kind", NULL));
    const char *headers[] = {"Content-Type: application/json", "User-Agent: agentcron/" AGENTCRON_VERSION, sig, key,
                             event, NULL};
    return post(ch, target, headers, payload, err, len);
}

static int send_slack(const struct alert_channels *ch, const char *target, const json_t *alert, char *err, size_t len)
{
    const int resolved = !strcmp(str(alert, "state", NULL), "resolved"), test = !strcmp(str(alert, "kind", NULL), "test");
    char text[2400];
    snprintf(text, sizeof text, "%s *%s* — %s\n<%s|Open in agentcron>", test ? ":test_tube: Test alert:"
                                                                           : resolved ? ":white_check_mark: Resolved:"
                                                                                      : ":rotating_light: Alert:",
             str(alert, "rule", "name"), str(alert, "summary", NULL), str(alert, "url", NULL));
    json_t *doc = json_pack("{s:s}", "text", text);
    char *body = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    if (!body) {
        snprintf(err, len, "out of memory");
        return -1;
    }
    const char *headers[] = {"Content-Type: application/json", "User-Agent: agentcron/" AGENTCRON_VERSION, NULL};
    const int rc = post(ch, target, headers, body, err, len);
    free(body);
    return rc;
}

/* A header value on one line: control characters become spaces (no header injection). */
static void one_line(const char *in, char *out, size_t len)
{
    size_t i = 0;
    for (; in[i] && i + 1 < len; i++)
        out[i] = (unsigned char)in[i] < ' ' || in[i] == 0x7f ? ' ' : in[i];
    out[i] = 0;
}

/* Writes all of buf to fd (non-blocking) before deadline_ms. */
static int write_all(int fd, const char *buf, size_t n, int64_t deadline_ms)
{
    while (n) {
        const ssize_t w = write(fd, buf, n);
        if (w > 0) {
            buf += w, n -= (size_t)w;
            continue;
        }
        if (w < 0 && errno != EAGAIN && errno != EINTR)
            return -1;
        const int64_t left = deadline_ms - timefmt_now_ms();
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        if (left <= 0 || poll(&p, 1, (int)left) < 0)
            return -1;
    }
    return 0;
}

static int send_email(const struct alert_channels *ch, const char *target, int64_t id, const json_t *alert,
                      char *err, size_t len)
{
    char from[400], subject[300], host[256] = "localhost";
    if (ch->email_from && ch->email_from[0])
        one_line(ch->email_from, from, sizeof from);
    else {
        gethostname(host, sizeof host - 1);
        snprintf(from, sizeof from, "agentcron@%s", host);
    }
    const int resolved = !strcmp(str(alert, "state", NULL), "resolved"), test = !strcmp(str(alert, "kind", NULL), "test");
    char raw[300];
    snprintf(raw, sizeof raw, "[agentcron] %s%s: %s", test ? "Test: " : resolved ? "Resolved: " : "",
             str(alert, "rule", "name"), str(alert, "summary", NULL));
    one_line(raw, subject, sizeof subject);
    json_t *detail = json_object_get(alert, "detail");
    char *detail_text = detail ? json_dumps(detail, JSON_INDENT(2)) : NULL;
    char *msg = NULL;
    const int n = asprintf(&msg,
                           "From: %s\nTo: %s\nSubject: %s\nAuto-Submitted: auto-generated\nMIME-Version: 1.0\n"
                           "Content-Type: text/plain; charset=utf-8\nX-Agentcron-Alert: %" PRId64 "\n\n%s\n\n%s\n\n"
                           "Rule %s (%s), incident %s.\n\n%s\n",
                           from, target, subject, id, str(alert, "summary", NULL), str(alert, "url", NULL),
                           str(alert, "rule", "name"), str(alert, "rule", "condition"),
                           str(alert, "incident", "subject"), detail_text ? detail_text : "");
    free(detail_text);
    if (n < 0) {
        snprintf(err, len, "out of memory");
        return -1;
    }
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) {
        snprintf(err, len, "cannot make a pipe for sendmail: %s", strerror(errno));
        free(msg);
        return -1;
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[0], STDIN_FILENO);
    char *const argv[] = {(char *)ch->sendmail_path, "-t", "-i", NULL};
    pid_t pid;
    const int sp = posix_spawn(&pid, ch->sendmail_path, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(fds[0]);
    if (sp != 0) {
        snprintf(err, len, "cannot run %s (SENDMAIL_PATH): %s; install an MTA that provides it (msmtp-mta, postfix)",
                 ch->sendmail_path, strerror(sp));
        close(fds[1]);
        free(msg);
        return -1;
    }
    const int64_t deadline = timefmt_now_ms() + SENDMAIL_TIMEOUT_MS;
    fcntl(fds[1], F_SETFL, O_NONBLOCK);
    const int wrote = write_all(fds[1], msg, (size_t)n, deadline);
    close(fds[1]);
    free(msg);
    int status = 0;
    pid_t done;
    while ((done = waitpid(pid, &status, WNOHANG)) == 0 && timefmt_now_ms() < deadline) {
        struct timespec ts = {0, 20 * 1000000L};
        nanosleep(&ts, NULL);
    }
    if (done == 0) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        snprintf(err, len, "%s did not finish within %d s: killed", ch->sendmail_path, SENDMAIL_TIMEOUT_MS / 1000);
        return -1;
    }
    if (wrote != 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        snprintf(err, len, "%s %s %d (the MTA's log says why)", ch->sendmail_path,
                 WIFEXITED(status) ? "exited with status" : "was killed by signal",
                 WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
        return -1;
    }
    return 0;
}

int alert_send(const struct alert_channels *ch, const char *channel, const char *target, int64_t delivery_id,
               const char *payload, char *err, size_t len)
{
    json_t *alert = json_loads(payload, 0, NULL);
    if (!alert) {
        snprintf(err, len, "the alert's payload is not JSON");
        return -1;
    }
    int rc;
    if (!strcmp(channel, "webhook"))
        rc = send_webhook(ch, target, delivery_id, alert, payload, err, len);
    else if (!strcmp(channel, "slack"))
        rc = send_slack(ch, target, alert, err, len);
    else if (!strcmp(channel, "email"))
        rc = send_email(ch, target, delivery_id, alert, err, len);
    else {
        snprintf(err, len, "unknown channel %.40s", channel);
        rc = -1;
    }
    json_decref(alert);
    return rc;
}

/* Records how a delivery went: sent, tried again after backoff, or given up. */
static int record(PGconn *pg, const char *id, int attempts, int ok, int final, const char *error, char *err, size_t len)
{
    char backoff[24];
    int64_t s = 10;
    for (int i = 1; i < attempts && s < 3600; i++)
        s *= 3;
    snprintf(backoff, sizeof backoff, "%" PRId64, s < 3600 ? s : 3600);
    const char *params[] = {id, ok ? "sent" : final || attempts >= ALERT_MAX_ATTEMPTS ? "failed" : "pending",
                            ok ? NULL : error, backoff};
    PGresult *r = PQexecParams(pg,
                               "UPDATE alert_deliveries SET status = $2, last_error = left($3, 1000),"
                               " sent_at = CASE WHEN $2 = 'sent' THEN now() END,"
                               " next_attempt_at = now() + make_interval(secs => $4::integer) WHERE id = $1::bigint",
                               4, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_COMMAND_OK)
        return pgconn_failed(r, (struct pg_conn *)pg, "recording an alert delivery", err, len);
    PQclear(r);
    return 0;
}

int alerts_deliver_due(struct pg_conn *conn, const struct alert_channels *ch, int max, struct alert_delivery_pass *out,
                       char *err, size_t len)
{
    PGconn *pg = (PGconn *)conn;
    memset(out, 0, sizeof *out);
    char maxs[16];
    snprintf(maxs, sizeof maxs, "%d", max);
    const char *params[] = {maxs};
    PGresult *r = PQexecParams(
        pg,
        "UPDATE alert_deliveries d SET attempts = d.attempts + 1, next_attempt_at = now() + " CLAIM
        " FROM alert_rules a WHERE a.id = d.rule_id AND d.id IN (SELECT id FROM alert_deliveries"
        "   WHERE status = 'pending' AND next_attempt_at <= now() ORDER BY next_attempt_at LIMIT $1::integer"
        "   FOR UPDATE SKIP LOCKED)"
        " RETURNING d.id, d.attempts, a.channel, a.target, d.payload::text, a.name, d.kind",
        1, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        return pgconn_failed(r, (struct pg_conn *)pg, "claiming alert deliveries", err, len);
    int rc = 0;
    for (int i = 0; i < PQntuples(r) && rc == 0; i++) {
        const char *id = PQgetvalue(r, i, 0);
        const int attempts = atoi(PQgetvalue(r, i, 1));
        char why[600] = "";
        const int64_t t0 = timefmt_now_ms();
        const int ok = alert_send(ch, PQgetvalue(r, i, 2), PQgetvalue(r, i, 3), strtoll(id, NULL, 10),
                                  PQgetvalue(r, i, 4), why, sizeof why) == 0;
        rc = record(pg, id, attempts, ok, 0, why, err, len);
        if (ok)
            out->sent++;
        else if (attempts >= ALERT_MAX_ATTEMPTS)
            out->given_up++;
        else
            out->retrying++;
        if (ok)
            LOG(LOG_INFO, "alert.sent", LOG_S("delivery", id), LOG_S("rule", PQgetvalue(r, i, 5)),
                LOG_S("kind", PQgetvalue(r, i, 6)), LOG_S("channel", PQgetvalue(r, i, 2)), LOG_I("attempt", attempts),
                LOG_I("ms", timefmt_now_ms() - t0));
        else
            LOG(attempts >= ALERT_MAX_ATTEMPTS ? LOG_ERROR : LOG_WARN, "alert.delivery_failed", LOG_S("delivery", id),
                LOG_S("rule", PQgetvalue(r, i, 5)), LOG_S("channel", PQgetvalue(r, i, 2)), LOG_I("attempt", attempts),
                LOG_S("error", why),
                LOG_S("action", attempts >= ALERT_MAX_ATTEMPTS ? "given up: agentcron alerts show RULE lists it"
                                                               : "tried again later"));
    }
    PQclear(r);
    return rc;
}

int alerts_send_test(struct pg_conn *conn, const struct alert_channels *ch, int64_t rule_id, int64_t scope,
                     const char *public_url, int64_t *delivery_id, char *err, size_t len)
{
    PGconn *pg = (PGconn *)conn;
    char ids[24], sc[24];
    snprintf(ids, sizeof ids, "%" PRId64, rule_id);
    snprintf(sc, sizeof sc, "%" PRId64, scope);
    const char *params[] = {ids, sc, public_url};
    PGresult *r = PQexecParams(
        pg,
        "WITH a AS (SELECT * FROM alert_rules WHERE id = $1::bigint AND ($2::bigint = 0 OR owner_user_id = $2::bigint)),"
        " d AS (INSERT INTO alert_deliveries (rule_id, kind, payload, attempts, next_attempt_at)"
        " SELECT a.id, 'test', jsonb_build_object('kind', 'test', 'state', 'firing', 'rule', jsonb_build_object('id',"
        "   a.id, 'name', a.name, 'condition', a.condition), 'incident', jsonb_build_object('id', 0, 'subject', 'test',"
        "   'openedAt', now(), 'notifications', 1), 'summary', 'a test of rule ' || a.id || ' (' || a.condition"
        "   || '): when it fires, the alert looks like this', 'url', $3 || '/#/overview', 'detail', '{}'::jsonb),"
        "   1, now() + " CLAIM " FROM a RETURNING id, payload)"
        " SELECT d.id, d.payload::text, a.channel, a.target FROM d, a",
        3, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        return pgconn_failed(r, (struct pg_conn *)pg, "recording the test alert", err, len);
    if (!PQntuples(r)) {
        PQclear(r);
        snprintf(err, len, "no alert rule %" PRId64 " (agentcron alerts list shows them)", rule_id);
        return 1;
    }
    *delivery_id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    const int ok = alert_send(ch, PQgetvalue(r, 0, 2), PQgetvalue(r, 0, 3), *delivery_id, PQgetvalue(r, 0, 1), err,
                              len) == 0;
    char why[600];
    snprintf(why, sizeof why, "%s", ok ? "" : err);
    const int rc = record(pg, PQgetvalue(r, 0, 0), 1, ok, 1, why, err, len);
    PQclear(r);
    if (rc != 0)
        return -1;
    if (!ok)
        snprintf(err, len, "%s", why);
    return ok ? 0 : -1;
}
