#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Alerts against two real orchestrators (with in-process workers), Postgres, Redis, a real HTTP
# receiver (tests/tools/peer.py: signed webhooks and Slack-style messages) and a sendmail sink:
# every condition fires once per incident (however many orchestrators evaluate), repeats when
# its interval has passed, and resolves; a channel that is down is retried with backoff and does
# not delay a per-second task; `alerts test`; the CLI's and the API's refusals.
# Usage: test_alerts.sh BUILD_DIR
build=${1:?usage: test_alerts.sh BUILD_DIR}
. "$(dirname "$0")/lib.sh"
orch=$build/orchestrator/agentcron-orchestrator
cli=$build/cli/agentcron
root=$(cd "$(dirname "$0")/../.." && pwd)
: "${AGENTCRON_SERVICES_INSTANCE:?run through tests/run.sh}"
unset AGENTCRON_TZDATA_DIR AGENTCRON_MIGRATIONS_DIR AGENTCRON_WEB_DIR
export STATUS_INTERVAL_S=1 LOG_LEVEL=info POLL_INTERVAL_MS=500 SHUTDOWN_GRACE_S=5 HTTP_LISTEN=off
export ALERT_INTERVAL_S=1 ALERT_SIGNING_KEY=alert-signing-key PUBLIC_URL=https://cron.example.com/
peer_pid=
trap 'stop_all; [ -n "$peer_pid" ] && kill "$peer_pid"; cleanup' EXIT
check() { if eval "$2"; then ok; else bad "$1"; fi; }
sql() { psql -qtAX "$DATABASE_URL" -c "$1"; }

peerlog=$tmp/peer.jsonl
python3 "$root/tests/tools/peer.py" --port 0 --log "$peerlog" --signing-key "$ALERT_SIGNING_KEY" >"$tmp/peer.out" 2>&1 &
peer_pid=$!
for _ in $(seq 50); do grep -q ready "$tmp/peer.out" && break; sleep 0.1; done
read -r _ port <"$tmp/peer.out"
[ -n "$port" ] || { echo "the peer did not start: $(cat "$tmp/peer.out")"; exit 1; }
hook=http://127.0.0.1:$port
# the alerts one channel received (by its ?ch=), as JSON lines of the bodies
received() { jq -c "select(.query.ch == \"$1\") | .body | fromjson" "$peerlog" 2>/dev/null; }
count_of() { received "$1" | jq -s "map(select(${2:-true})) | length"; }
wait_peer() { # wait_peer WHAT SECONDS CH JQ_FILTER N: until N alerts of CH match the filter
  local i
  for i in $(seq $(($2 * 10))); do
    [ "$(count_of "$3" "$4")" -ge "$5" ] && { ok; return; }
    sleep 0.1
  done
  bad "$1: $(count_of "$3" "$4") alerts of $3 match $4 after $2 s, wanted $5"
}

mkdir -p "$tmp/mail"
cat >"$tmp/sendmail" <<EOF
#!/bin/sh
# a sendmail sink: the message as given, one file each
cat >"$tmp/mail/\$(date +%s%N).eml"
echo "\$@" >"$tmp/mail/args"
EOF
chmod +x "$tmp/sendmail"
export SENDMAIL_PATH=$tmp/sendmail

cat >"$tmp/agents.json" <<EOF
{"agents": {"boom": {"kind": "exec", "command": ["/bin/sh", "-c", "echo kaput >&2; exit 1"]},
            "fine": {"kind": "noop"}}}
EOF
export AGENTS_FILE=$tmp/agents.json
export DATABASE_URL; DATABASE_URL=$(fresh_db alerts)
export REDIS_URL="$AGENTCRON_TEST_REDIS/14"
redis-cli -u "$REDIS_URL" flushdb >/dev/null
"$cli" migrate >/dev/null || { bad "migrate failed"; finish; exit 1; }
"$cli" users add ops@example.com --credits 100000 >/dev/null
"$cli" users add pat@example.com --credits 100 >/dev/null
t1=$("$cli" tasks add --user ops@example.com --title "nightly report" --agent boom --max-attempts 1 --json | jq -r .id)
t_quiet=$("$cli" tasks add --user ops@example.com --title "yearly" --agent fine --cron "0 0 1 1 *" --json | jq -r .id)

# --- the CLI refuses what would not work, saying why
run "$cli" alerts add x --when sometimes --channel webhook --to "$hook/ok"
check "unknown condition: $(cat "$tmp/err")" '[ "$status" = 2 ] && grep -q "is not one of run_failed" "$tmp/err"'
run "$cli" alerts add x --when failures_in_row --channel webhook --to "$hook/ok"
check "failures_in_row needs a threshold: $(cat "$tmp/err")" '[ "$status" = 2 ] && grep -q "needs threshold" "$tmp/err"'
run "$cli" alerts add x --when run_failed --channel webhook --to "ftp://example.com/"
check "a webhook needs an http(s) URL: $(cat "$tmp/err")" '[ "$status" = 2 ] && grep -q "must be an http:// or https:// URL" "$tmp/err"'
run "$cli" alerts add x --when run_failed --channel email --to "a@b.c, evil@example.com"
check "one email address: $(cat "$tmp/err")" '[ "$status" = 2 ] && grep -q "spaces or control\|not one email" "$tmp/err"'
run "$cli" alerts add x --when run_failed --channel slack --to "$hook/ok" --task 999
check "an unknown task: $(cat "$tmp/err")" '[ "$status" = 2 ] && grep -q "no task 999" "$tmp/err"'
run "$cli" alerts add x --when no_success --channel slack --to "$hook/ok" --for 10x
check "a bad duration: $(cat "$tmp/err")" '[ "$status" = 2 ] && grep -q "needs duration" "$tmp/err"'
run "$cli" alerts add x --when run_failed --channel slack --to "$hook/ok" --repeat 5s
check "repeat at least a minute: $(cat "$tmp/err")" '[ "$status" = 2 ] && grep -q "1m to 30d" "$tmp/err"'
check "nothing was stored" '[ "$(sql "select count(*) from alert_rules")" = 0 ]'

add() { "$cli" alerts add "$@" --json | jq -r .id; }
r_fail=$(add "report failed" --when run_failed --task "$t1" --channel webhook --to "$hook/ok?ch=fail")
r_row=$(add "report keeps failing" --when failures_in_row --threshold 2 --task "$t1" --channel slack --to "$hook/ok?ch=slack&secret=xyz")
r_down=$(add "down channel" --when run_failed --task "$t1" --channel webhook --to "$hook/status/503?ch=down")
r_credits=$(add "credits" --when credits_used --threshold 80 --user pat@example.com --channel webhook --to "$hook/ok?ch=credits")
r_orch=$(add "orchestrators" --when orchestrators_below --threshold 3 --channel webhook --to "$hook/ok?ch=orch")
r_quiet=$(add "quiet task" --when no_success --for 3s --task "$t_quiet" --channel webhook --to "$hook/ok?ch=quiet")
check "rules made: $r_fail $r_row $r_down $r_credits $r_orch $r_quiet" '[ -n "$r_quiet" ] && [ "$r_quiet" != null ]'
"$cli" alerts list >"$tmp/list"
check "list shows the rules, a Slack URL cut to its origin: $(cat "$tmp/list")" \
  'grep -q "report keeps failing" "$tmp/list" && ! grep -q "secret=xyz" "$tmp/list" && [ "$(wc -l <"$tmp/list")" = 7 ]'

# an incident resolved long ago goes (RUN_RETENTION_DAYS, default 30), with its deliveries
sql "insert into alert_incidents (rule_id, subject, opened_at, resolved_at) values ($r_fail, 'task:999', now() - interval '40 days', now() - interval '40 days')"
sql "insert into alert_deliveries (rule_id, incident_id, kind, payload, status) select $r_fail, id, 'firing', '{}', 'sent' from alert_incidents where subject = 'task:999'"

# --- two orchestrators evaluate; each incident is announced once
"$orch" --instance a1 --workers 2 >"$tmp/o1.log" 2>&1 & pids+=($!)
"$orch" --instance a2 --workers 2 >"$tmp/o2.log" 2>&1 & pids+=($!)

wait_sql "the old incident is pruned" 10 "select count(*) from alert_incidents where subject = 'task:999'" = 0
check "and its deliveries" '[ "$(sql "select count(*) from alert_deliveries where payload = '"'"'{}'"'"'")" = 0 ]'

# run_failed: a failure fires the webhook once, signed, with the run and a link to its page
"$cli" tasks trigger "$t1" >/dev/null
wait_peer "run_failed fires" 10 fail '.kind == "firing"' 1
run1=$(sql "select max(id) from task_runs where task_id = $t1")
a=$(received fail | head -1)
check "the alert names the rule, the run, its error and its page: $a" \
  '[ "$(jq -r "[.state, .rule.id, .detail.run.id, .detail.run.status, .url] | join(\",\")" <<<"$a")" = "firing,$r_fail,$run1,failed,https://cron.example.com/#/runs/$run1" ] && jq -r .summary <<<"$a" | grep -q "kaput"'
req=$(jq -c 'select(.query.ch == "fail")' "$peerlog" | head -1)
check "signed with ALERT_SIGNING_KEY, with an idempotency key and the event" \
  '[ "$(jq -r "[.signature_ok, (.headers[\"Idempotency-Key\"] | startswith(\"alert-\")), .headers[\"X-Agentcron-Event\"]] | join(\",\")" <<<"$req")" = "true,true,alert.firing" ]'
wait_sql "the down channel was tried and failed" 10 \
  "select attempts || ' ' || status || ' ' || (last_error like '%HTTP 503%') from alert_deliveries where rule_id = $r_down" = "1 pending true"

# a second failure: failures_in_row 2 fires on Slack; run_failed's incident is still open, not repeated
"$cli" tasks trigger "$t1" >/dev/null
wait_peer "failures_in_row fires on Slack" 10 slack 'true' 1
run2=$(sql "select max(id) from task_runs where task_id = $t1")
text=$(received slack | head -1 | jq -r .text)
check "a readable Slack message: task, run, error, link: $text" \
  'grep -q "nightly report" <<<"$text" && grep -q "run $run2 ended failed" <<<"$text" && grep -q "kaput" <<<"$text" && grep -q "<https://cron.example.com/#/runs/$run2|Open in agentcron>" <<<"$text"'
sleep 2
check "one incident, one announcement, though two orchestrators evaluate and it failed twice" \
  '[ "$(count_of fail)" = 1 ] && [ "$(sql "select count(*) from alert_incidents where rule_id = $r_fail")" = 1 ]'

# the repeat interval passes while it still holds: announced again, once
sql "update alert_incidents set last_notified_at = now() - interval '2 hours' where rule_id = $r_fail and resolved_at is null"
wait_peer "repeat after the interval" 10 fail '.kind == "repeat"' 1
sleep 2
check "repeated once: $(received fail | jq -r .kind | tr '\n' ' ')" \
  '[ "$(count_of fail)" = 2 ] && [ "$(sql "select notifications from alert_incidents where rule_id = $r_fail")" = 2 ]'

# the down channel: retried with backoff (10 s), never delivered twice at once
wait_sql "the down channel retried after its backoff" 20 "select max(attempts) from alert_deliveries where rule_id = $r_down" -ge 2
check "the failed deliveries are recorded with their error" \
  '[ "$(sql "select count(*) from alert_deliveries where rule_id = $r_down and status = '"'"'pending'"'"' and last_error like '"'"'%503%'"'"'")" -ge 1 ]'

# it succeeds again: both incidents resolve, announced once each
sql "update tasks set agent_type = 'fine' where id = $t1"
"$cli" tasks trigger "$t1" >/dev/null
wait_peer "run_failed resolves" 10 fail '.kind == "resolved" and .state == "resolved"' 1
wait_peer "failures_in_row resolves on Slack" 10 slack '.text | test("Resolved")' 1
sleep 2
check "resolved once: $(received fail | jq -r .kind | tr '\n' ' ')" '[ "$(count_of fail)" = 3 ]'
check "no incident left open for the task" \
  '[ "$(sql "select count(*) from alert_incidents where resolved_at is null and subject = '"'"'task:$t1'"'"'")" = 0 ]'

# --- orchestrators_below 3 with two reporting: fires once for both orchestrators
wait_peer "orchestrators_below fires" 10 orch '.kind == "firing"' 1
a=$(received orch | head -1)
check "it says how many report: $(jq -r .summary <<<"$a")" '[ "$(jq -r "[.detail.reporting, .detail.expected] | join(\",\")" <<<"$a")" = "2,3" ]'

# --- workers_below 3 with two reporting (each orchestrator hosts one pool): fires; a third resolves it
r_workers=$(add "workers" --when workers_below --threshold 3 --channel webhook --to "$hook/ok?ch=workers")
wait_peer "workers_below fires" 10 workers '.kind == "firing" and .detail.reporting == 2' 1
"$build/agentworker/agentcron-worker" --instance third >"$tmp/w3.log" 2>&1 & pids+=($!)
wait_peer "workers_below resolves when a third worker reports" 10 workers '.kind == "resolved"' 1

# --- queue_wait: a run queued a minute ago that no worker has taken fires; cancelling it resolves
r_queue=$(add "queue" --when queue_wait --for 30s --channel webhook --to "$hook/ok?ch=queue")
stuck=$(sql "insert into task_runs (task_id, user_id, scheduled_for, priority, status, enqueued_at)
             values ($t_quiet, 1, now() - interval '1 minute', 3, 'queued', now() - interval '1 minute') returning id")
wait_peer "queue_wait fires" 10 queue ".kind == \"firing\" and .detail.run.id == $stuck" 1
check "it says how long the run has waited: $(received queue | head -1 | jq -r .summary)" \
  'received queue | head -1 | jq -r .summary | grep -q "the oldest queued run ($stuck, task $t_quiet) has waited [6-9][0-9] s"'
"$cli" runs cancel "$stuck" >/dev/null
wait_peer "queue_wait resolves once the run is gone" 10 queue '.kind == "resolved"' 1

# --- credits_used: over 80 % fires, back under resolves
sql "update users set credits_used = 90 where email = 'pat@example.com'"
wait_peer "credits_used fires" 10 credits '.kind == "firing"' 1
check "names the user and the numbers: $(received credits | head -1 | jq -r .summary)" \
  'received credits | head -1 | jq -r .summary | grep -q "pat@example.com has used 90 of 100 credits"'
sql "update users set credits_used = 0 where email = 'pat@example.com'"
wait_peer "credits_used resolves" 10 credits '.kind == "resolved"' 1

# --- no_success: a scheduled task without a success for 3 s
sql "update tasks set created_at = now() - interval '1 hour' where id = $t_quiet"
wait_peer "no_success fires" 10 quiet '.kind == "firing"' 1
"$cli" tasks trigger "$t_quiet" >/dev/null
wait_peer "no_success resolves after a success" 10 quiet '.kind == "resolved"' 1

# --- slot_missed by email: a per-second task 1 h behind with misfire skip
r_missed=$(add "missed slots" --when slot_missed --agent fine --channel email --to ops@example.com)
t_sec=$(sql "insert into tasks (user_id, title, agent_type, schedule, schedule_enabled, next_run_at, misfire_policy)
             values (1, 'every second', 'fine', '* * * * * *', true, now() - interval '1 hour', 'skip') returning id")
for _ in $(seq 100); do grep -l "^Subject: \[agentcron\] Resolved: missed slots" "$tmp"/mail/*.eml >/dev/null 2>&1 && break; sleep 0.1; done
mail=$(grep -l "^Subject: \[agentcron\] missed slots" "$tmp"/mail/*.eml 2>/dev/null | head -1)
check "slot_missed mailed through sendmail -t -i: $(cat "$tmp/mail/args" 2>/dev/null)" \
  '[ -n "$mail" ] && grep -q "^To: ops@example.com" "$mail" && grep -q "misfire_skip" "$mail" && [ "$(cat "$tmp/mail/args")" = "-t -i" ]'
check "and the resolution mailed once" '[ "$(grep -l "^Subject: \[agentcron\] Resolved: missed slots" "$tmp"/mail/*.eml | wc -l)" = 1 ]'

# --- a channel that hangs for its whole timeout does not delay a per-second task
"$cli" alerts rm "$r_down" >/dev/null
r_slow=$(add "slow channel" --when slot_missed --task "$t_sec" --channel webhook --to "$hook/slow?ms=9500&ch=slow")
sql "update tasks set next_run_at = now() - interval '1 hour' where id = $t_sec" # another missed hour: the slow channel fires
sleep 1
since=$(sql "select now()")
sleep 10
lat=$(sql "select round(percentile_cont(0.99) within group (order by extract(epoch from enqueued_at - scheduled_for)) * 1000)
           || ' ' || round(percentile_cont(0.99) within group (order by extract(epoch from started_at - scheduled_for)) * 1000)
           || ' ' || count(*)
           from task_runs where task_id = $t_sec and scheduled_for > '$since' and scheduled_for < now() - interval '1 second'")
read -r lat_q lat_run n_sec <<<"$lat"
check "the slow channel was being sent meanwhile" '[ "$(jq -c "select(.query.ch == \"slow\")" "$peerlog" | wc -l)" -ge 1 ]'
check "per-second task on time while the channel hangs: p99 ${lat_q} ms to the queue, ${lat_run} ms to running, $n_sec runs" \
  '[ "$n_sec" -ge 8 ] && [ "$lat_q" -lt 1000 ] && [ "$lat_run" -lt 1500 ]'
sql "update tasks set schedule_enabled = false where id = $t_sec"

# --- alerts test sends a sample through the channel, and says when the channel refuses it
run "$cli" alerts test "$r_fail"
check "alerts test: $(cat "$tmp/out")" '[ "$status" = 0 ] && grep -q "sent a test alert" "$tmp/out"'
check "the receiver got the test" '[ "$(count_of fail ".kind == \"test\"")" = 1 ]'
r_bad=$(add "refusing" --when run_failed --channel webhook --to "$hook/status/500?ch=bad")
run "$cli" alerts test "$r_bad"
check "a refused test exits 1 naming the answer: $(cat "$tmp/err")" '[ "$status" = 1 ] && grep -q "answered HTTP 500" "$tmp/err"'
run "$cli" alerts test 99999
check "test of no such rule" '[ "$status" = 1 ] && grep -q "no alert rule 99999" "$tmp/err"'
run "$cli" alerts show "$r_fail"
check "show lists incidents and deliveries: $(head -3 "$tmp/out")" \
  'grep -q "incidents" "$tmp/out" && grep -c "sent" "$tmp/out" | grep -q "[4-9]"'
run "$cli" alerts rm "$r_bad"
check "rm" '[ "$status" = 0 ] && [ "$(sql "select count(*) from alert_rules where id = $r_bad")" = 0 ]'
run "$cli" alerts rm "$r_bad"
check "rm of a removed rule" '[ "$status" = 1 ]'

check "every delivery of the per-incident rules went out exactly once per announcement" \
  '[ "$(sql "select count(*) from (select incident_id, kind from alert_deliveries where kind <> '"'"'test'"'"' and rule_id <> $r_slow group by 1, 2 having count(*) > 1 and min(kind) <> '"'"'repeat'"'"') x")" = 0 ]'
stop_all

# --- the API: an operator manages any rule; a user only their own, to https or email
api_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
base=http://127.0.0.1:$api_port
HTTP_LISTEN=127.0.0.1:$api_port "$orch" --instance api >"$tmp/api.log" 2>&1 & pids+=($!)
for _ in $(seq 50); do curl -s "$base/healthz" >/dev/null && break; sleep 0.1; done
pat_key=$("$cli" keys create pat@example.com --json | jq -r .key)
op_key=$("$cli" keys create ops@example.com --operator --json | jq -r .key)
req() { # req KEY METHOD PATH [BODY]: status in $code, body in $tmp/body
  code=$(curl -s -o "$tmp/body" -w '%{http_code}' -X "$2" -H "Authorization: Bearer $1" -H "Content-Type: application/json" \
    ${4:+--data "$4"} "$base$3")
}
req "$pat_key" POST /api/alerts '{"name": "mine", "condition": "run_failed", "channel": "webhook", "target": "http://10.0.0.1/x"}'
check "a user's plain-http target is refused: $code $(cat "$tmp/body")" '[ "$code" = 400 ] && [ "$(jq -r .field "$tmp/body")" = target ]'
req "$pat_key" POST /api/alerts '{"name": "mine", "condition": "queue_wait", "duration": "5m", "channel": "email", "target": "pat@example.com"}'
check "a system-wide condition needs an operator: $code" '[ "$code" = 400 ] && [ "$(jq -r .field "$tmp/body")" = condition ]'
req "$pat_key" POST /api/alerts "{\"name\": \"theirs\", \"condition\": \"run_failed\", \"task\": $t1, \"channel\": \"email\", \"target\": \"pat@example.com\"}"
check "another user's task is not found: $code $(cat "$tmp/body")" '[ "$code" = 400 ] && [ "$(jq -r .field "$tmp/body")" = task ]'
req "$pat_key" POST /api/alerts '{"name": "mine", "condition": "failures_in_row", "threshold": 3, "channel": "slack", "target": "https://hooks.example.com/T/B/secret"}'
pat_rule=$(jq -r .id "$tmp/body")
check "a user's rule: scope is the user: $code $(cat "$tmp/body")" \
  '[ "$code" = 201 ] && [ "$(jq -r "[.scope, .owner, .target] | join(\",\")" "$tmp/body")" = "user,2,https://hooks.example.com/..." ]'
req "$pat_key" POST /api/alerts '{"name": "x", "condition": "run_failed", "channel": "slack", "target": "https://a.example/", "colour": "red"}'
check "an unknown field is refused: $code" '[ "$code" = 400 ] && [ "$(jq -r .field "$tmp/body")" = colour ]'
for i in $(seq 2 100); do
  sql "insert into alert_rules (name, owner_user_id, scope, scope_user_id, condition, channel, target)
       values ('filler $i', 2, 'user', 2, 'run_failed', 'email', 'pat@example.com')" >/dev/null
done
req "$pat_key" POST /api/alerts '{"name": "one too many", "condition": "run_failed", "channel": "email", "target": "pat@example.com"}'
check "a user's rules are bounded (100): $code $(cat "$tmp/body")" '[ "$code" = 400 ] && grep -q "at most 100 alert rules" "$tmp/body"'
sql "delete from alert_rules where name like 'filler %'" >/dev/null
req "$pat_key" GET /api/alerts
check "a user lists only their own rules: $(jq -c "[.rules[].id]" "$tmp/body")" '[ "$(jq -c "[.rules[].id]" "$tmp/body")" = "[$pat_rule]" ]'
req "$pat_key" GET "/api/alerts/$r_fail"
check "another's rule is a 404: $code" '[ "$code" = 404 ]'
req "$pat_key" DELETE "/api/alerts/$r_fail"
check "and cannot be removed: $code" '[ "$code" = 404 ] && [ "$(sql "select count(*) from alert_rules where id = $r_fail")" = 1 ]'
req "$op_key" GET /api/alerts
check "an operator lists every rule: $(jq ".rules | length" "$tmp/body")" '[ "$(jq ".rules | length" "$tmp/body")" -ge 7 ]'
req "$op_key" GET "/api/alerts/$r_fail"
check "show with incidents and deliveries: $code" '[ "$code" = 200 ] && [ "$(jq ".incidents | length" "$tmp/body")" -ge 1 ] && [ "$(jq ".deliveries | length" "$tmp/body")" -ge 3 ]'
req "$op_key" POST "/api/alerts/$r_fail/test"
check "test through the API: $code $(cat "$tmp/body")" '[ "$code" = 200 ] && [ "$(jq -r .sent "$tmp/body")" = true ]'
req "$pat_key" DELETE "/api/alerts/$pat_rule"
check "a user removes their own rule: $code" '[ "$code" = 200 ] && [ "$(sql "select count(*) from alert_rules where id = $pat_rule")" = 0 ]'
req "$pat_key" PUT /api/alerts
check "other methods: 405" '[ "$code" = 405 ]'

finish
