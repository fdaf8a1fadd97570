#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# agentcron-worker against real Postgres, Redis and a real HTTP(S) peer (tests/tools/peer.py):
# every executor end to end, signatures and bearer checked by the peer, retries and backoff,
# 429 Retry-After, non-retryable failures, timeouts, cancellation, credits under a flood,
# user and agent limits, kill -9, Redis and Postgres restarts, SIGTERM draining.
# Usage: test_worker.sh BUILD_DIR
build=${1:?usage: test_worker.sh BUILD_DIR}
. "$(dirname "$0")/lib.sh"
worker=$build/agentworker/agentcron-worker
orch=$build/orchestrator/agentcron-orchestrator
cli=$build/cli/agentcron
root=$(cd "$(dirname "$0")/../.." && pwd)
: "${AGENTCRON_SERVICES_INSTANCE:?run through tests/run.sh}"
unset AGENTCRON_TZDATA_DIR AGENTCRON_MIGRATIONS_DIR
export STATUS_INTERVAL_S=1 LOG_LEVEL=info SHUTDOWN_GRACE_S=5 HTTP_LISTEN=off
peer_pid=
trap 'stop_all; [ -n "$peer_pid" ] && kill "$peer_pid"; pkill -f "agentcron-test-marker-$$"; cleanup' EXIT

# --- the peer: HTTP and HTTPS with a certificate from a CA made here
test_ca
test_cert srv 1
export PEER_BEARER=peer-bearer-secret SIGN_NEW=signing-key-new SIGN_OLD=signing-key-old
peerlog=$tmp/peer.jsonl
# The peer knows only the old signing key: requests verify through the second v1 (rotation).
python3 "$root/tests/tools/peer.py" --port 0 --tls-port 0 --cert "$tmp/srv.crt" --key "$tmp/srv.key" \
  --log "$peerlog" --bearer "$PEER_BEARER" --signing-key "$SIGN_OLD" >"$tmp/peer.out" 2>&1 &
peer_pid=$!
for _ in $(seq 50); do grep -q ready "$tmp/peer.out" && break; sleep 0.1; done
read -r _ port tls_port <"$tmp/peer.out"
[ -n "$tls_port" ] || { echo "the peer did not start: $(cat "$tmp/peer.out")"; exit 1; }
marker="agentcron-test-marker-$$"
cat >"$tmp/agents.json" <<EOF
{"agents": {
  "hook": {"kind": "http", "url": "https://localhost:$tls_port/ok", "ca_file": "$tmp/ca.crt",
           "bearer_env": "PEER_BEARER", "signing_key_env": "SIGN_NEW", "signing_key_previous_env": "SIGN_OLD",
           "base_credits": 2, "tokens_per_credit": 100, "estimate_credits": 5},
  "plain": {"kind": "http", "url": "http://127.0.0.1:$port/ok", "bearer_env": "PEER_BEARER",
            "overridable": ["path", "method"]},
  "untrusted": {"kind": "http", "url": "https://localhost:$tls_port/ok", "bearer_env": "PEER_BEARER"},
  "follow": {"kind": "http", "url": "http://127.0.0.1:$port/ok", "bearer_env": "PEER_BEARER", "follow_redirects": true,
             "overridable": ["path"]},
  "script": {"kind": "exec", "command": ["/bin/sh", "-c",
             "cat; echo; echo \"goal=\$AGENTCRON_GOAL\"; echo oops >&2; echo '{\"usage\": {\"prompt_tokens\": 5, \"completion_tokens\": 7}}'"]},
  "exit65": {"kind": "exec", "command": ["/bin/sh", "-c", "echo 'bad input' >&2; exit 65"]},
  "sleeper": {"kind": "exec", "command": ["/bin/sh", "-c", "sleep 300 & sleep 301; wait", "$marker"],
              "kill_grace_ms": 500},
  "slow3": {"kind": "exec", "command": ["/bin/sh", "-c", "sleep 3; echo '{\"usage\": {\"total_tokens\": 10}}'"]},
  "sleep1": {"kind": "exec", "command": ["/bin/sleep", "1"]},
  "limited": {"kind": "exec", "command": ["/bin/true"], "rate_limit": {"max": 2, "period_s": 2}},
  "llm": {"kind": "llm", "base_url": "http://127.0.0.1:$port", "model": "test-model", "system_prompt": "be brief",
          "api_key_env": "PEER_BEARER", "max_tokens": 4096, "estimate_credits": 3, "tokens_per_credit": 1000},
  "one": {"kind": "noop", "base_credits": 1, "estimate_credits": 1},
  "stamp": {"kind": "exec", "command": ["/bin/sh", "-c",
            "echo \"+ \$(date +%s%N)\" >>$tmp/stamps; sleep 0.3; echo \"- \$(date +%s%N)\" >>$tmp/stamps"]}
}}
EOF
export AGENTS_FILE=$tmp/agents.json

redis_db=4
setup() { # setup NAME: fresh database, migrated, one user with credits; a clean Redis database
  export DATABASE_URL; DATABASE_URL=$(fresh_db "$1")
  redis_db=$(((redis_db + 1) % 16)); export REDIS_URL="$AGENTCRON_TEST_REDIS/$redis_db" # Redis has 16
  redis-cli -u "$REDIS_URL" flushdb >/dev/null
  : >"$peerlog" # run ids start again at 1 in each database
  "$cli" migrate >/dev/null || { bad "$1: migrate failed"; return 1; }
  sql "insert into users (email, monthly_credits) values ('t@example.com', 100000)"
}
sql() { psql -qtAX "$DATABASE_URL" -c "$1"; }
# task AGENT [COLUMNS VALUES]: a task (every minute, not scheduled) for user 1; prints its id
task() {
  local cols=${2:-} vals=${3:-}
  sql "insert into tasks (user_id, title, goal, agent_type, schedule $cols)
       values (1, 'task $1', 'goal of $1', '$1', '* * * * *' $vals) returning id"
}
# runs TASK [N]: N runs (default 1) of the task's past slots, queued; prints the first run id
runs() {
  "$cli" tasks backfill "$1" --from 2026-01-01T00:00:00Z --to "$(date -u -d "2026-01-01 + $(( ${2:-1} - 1 )) min" +%Y-%m-%dT%H:%M:%SZ)" >/dev/null \
    || bad "backfill of task $1 failed"
  sql "select min(id) from task_runs where task_id = $1"
}
start_worker() { # start_worker NAME [ENV=VALUE...]: a worker in the background, logging to $tmp/NAME.log
  local name=$1; shift
  env "$@" "$worker" --instance "$name" >"$tmp/$name.log" 2>&1 & pids+=($!)
}
status_of() { sql "select status from task_runs where id = $1"; }
wait_status() { wait_sql "run $1 $2" "$3" "select status from task_runs where id = $1" = "$2"; }
# peer requests for run ID: JSON lines
peer_requests() { jq -c "select(.headers[\"Idempotency-Key\"] == \"$1\")" "$peerlog"; }
check() { if eval "$2"; then ok; else bad "$1"; fi; }

# --- bad configuration stops start-up with one line
setup config
echo '{"agents": {"x": {"kind": "exec", "command": ["sh"]}}}' >"$tmp/bad-agents.json"
run env AGENTS_FILE="$tmp/bad-agents.json" "$worker"
check "relative exec command refused: $(cat "$tmp/err")" \
  '[ "$status" = 2 ] && grep -q "command\[0\] \\\\\"sh\\\\\" must be an absolute path" "$tmp/err"'
echo '{"agents": {"x": {"kind": "http", "url": "https://a.example/", "overridable": ["url"]}}}' >"$tmp/bad-agents.json"
run env AGENTS_FILE="$tmp/bad-agents.json" "$worker"
check "url override refused: $(cat "$tmp/err")" '[ "$status" = 2 ] && grep -q "cannot be overridden by a task" "$tmp/err"'
run env AGENTS_FILE="$tmp/missing.json" "$worker"
check "missing agents file: $(cat "$tmp/err")" '[ "$status" = 2 ] && grep -q "missing.json: No such file" "$tmp/err"'
run "$worker" --concurrency 0
check "bad --concurrency" '[ "$status" = 2 ]'

# --- every executor, end to end: output, tokens, credits, ledger; the peer checks bearer and signature
setup executors
t_hook=$(task hook); t_plain=$(task plain ", agent_config" ", '{\"method\": \"GET\"}'")
t_script=$(task script); t_llm=$(task llm ", agent_config" ", '{\"max_credits_per_run\": 6}'"); t_nope=$(task nope)
r_hook=$(runs "$t_hook"); r_plain=$(runs "$t_plain"); r_script=$(runs "$t_script"); r_llm=$(runs "$t_llm")
r_nope=$(runs "$t_nope")
start_worker w1
for r in $r_hook $r_plain $r_script $r_llm; do wait_status "$r" succeeded 10; done
wait_sql "run $r_nope waiting for its agent" 5 "select error like 'waiting: %' from task_runs where id = $r_nope" = t \
  || echo "  run $r_nope: $(sql "select status, attempt, error from task_runs where id = $r_nope"); its job: $(redis-cli -u "$REDIS_URL" hgetall "agentcron:{default}:job:$r_nope" | paste -sd' ');" \
       "waiting $(redis-cli -u "$REDIS_URL" zrange 'agentcron:{default}:waiting' 0 -1 | paste -sd,), delayed $(redis-cli -u "$REDIS_URL" zrange 'agentcron:{default}:delayed' 0 -1 | paste -sd,)"
req=$(peer_requests "$r_hook")
check "https hook: tls, bearer, rotated signature: $req" \
  '[ "$(jq -r "[.tls, .bearer_ok, .signature_ok, .method] | join(\",\")" <<<"$req")" = "true,true,true,POST" ]'
check "signature carries two v1 during rotation" \
  '[ "$(jq -r ".headers[\"X-Agentcron-Signature\"]" <<<"$req" | grep -o "v1=" | wc -l)" = 2 ]'
check "hook body: $(jq -r .body <<<"$req")" \
  '[ "$(jq -r ".body | fromjson | [.task, .run, .goal, .scheduledFor, .attempt] | join(\",\")" <<<"$req")" = "$t_hook,$r_hook,goal of hook,2026-01-01T00:00:00Z,1" ]'
req=$(peer_requests "$r_plain")
check "plain GET with the task's method override: $req" '[ "$(jq -r "[.method, .tls, .bearer_ok, .body] | join(\",\")" <<<"$req")" = "GET,false,true," ]'
got=$(sql "select string_agg(prompt_tokens || '/' || completion_tokens || '/' || credits_charged, ' ' order by task_id)
            from task_runs where status = 'succeeded'")
check "tokens and charges: $got" '[ "$got" = "120/30/4 120/30/2 5/7/2 1000/1500/4" ]'
got=$(sql "select (select sum(delta) from credit_ledger where reason in ('charge', 'step')) || ',' || credits_used || ',' || credits_reserved from users")
check "ledger equals credits_used; nothing left reserved: $got" '[ "$got" = "12,12,0" ]'
got=$(sql "select step_id || ' ' || status || ' ' || credits || ' ' || (select delta from credit_ledger l where l.run_id = s.run_id and l.reason = 'step') from run_steps s where run_id = $r_llm")
check "the llm call is a step, charged as it completed: $got" '[ "$got" = "model-1 completed 3 3" ]'
got=$(sql "select (output like '%\"goal\":\"goal of script\"%goal=goal of script%') || ',' || stderr_tail from task_runs where id = $r_script")
check "exec output holds stdin JSON and AGENTCRON_GOAL; stderr tail kept: $got" '[ "$got" = "true,oops" ]'
# the task's max_credits_per_run 6 less the 3 reserved at the start leaves 3 credits: 3,000 tokens less the prompt
got=$(sql "select output from task_runs where id = $r_llm")
check "llm answer, max_tokens fitted to what the run's cap leaves: $got" \
  '[[ "$got" =~ ^"answer to: goal of llm (system: be brief; max_tokens: "29[0-9][0-9]")"$ ]]'
check "llm sent its key as bearer" \
  '[ "$(jq -c "select(.headers[\"X-Agentcron-Run\"] == \"$r_llm\")" "$peerlog" | jq -r .bearer_ok)" = true ]'
got=$(sql "select status = 'queued' and attempt = 1 and error like 'waiting: worker w1 defines no agent \"nope\"%' and credits_charged = 0 from task_runs where id = $r_nope")
check "an agent the worker lacks: the run waits, unspent: $(sql "select status || ' ' || error from task_runs where id = $r_nope")" '[ "$got" = t ]'
check "worker publishes its status" \
  '[ "$(redis-cli -u "$REDIS_URL" get agentcron:{default}:status:worker:w1 | jq -r .role)" = worker ]'
stop_all

# --- retries with backoff, 429 without spending attempts, non-retryable failures, timeouts
setup failures
t1=$(task plain ", agent_config, max_attempts" ", '{\"path\": \"/flaky/r1?fail=2&code=500\"}', 3")
t2=$(task plain ", agent_config, max_attempts" ", '{\"path\": \"/flaky/r2?fail=2&code=429&retry_after=1\"}', 1")
t3=$(task plain ", agent_config, max_attempts" ", '{\"path\": \"/status/400\"}', 3")
t4=$(task exit65 ", max_attempts" ", 3")
t5=$(task plain ", agent_config, max_attempts, timeout_ms" ", '{\"path\": \"/slow?ms=5000\"}', 1, 1000")
t6=$(task untrusted ", max_attempts" ", 1")
t7=$(task plain ", agent_config, max_attempts" ", '{\"path\": \"/status/503\"}', 2")
t8=$(task plain ", agent_config, max_attempts" ", '{\"path\": \"/redirect?to=/ok\"}', 1")
t9=$(task follow ", agent_config" ", '{\"path\": \"/redirect?to=/ok\"}'")
r1=$(runs "$t1"); r2=$(runs "$t2"); r3=$(runs "$t3"); r4=$(runs "$t4"); r5=$(runs "$t5"); r6=$(runs "$t6"); r7=$(runs "$t7")
r8=$(runs "$t8"); r9=$(runs "$t9")
start_worker w2
wait_status "$r3" failed 5; wait_status "$r4" failed 5; wait_status "$r5" timed_out 5; wait_status "$r6" failed 5
wait_status "$r1" succeeded 10; wait_status "$r2" succeeded 10; wait_status "$r7" failed 10
wait_status "$r8" failed 5; wait_status "$r9" succeeded 5
check "redirects are not followed unless the agent allows them: $(sql "select error from task_runs where id = $r8")" \
  '[ "$(peer_requests "$r8" | jq -r .path)" = /redirect ] && [ "$(peer_requests "$r9" | jq -r .path | tr "\n" " ")" = "/redirect /ok " ]'
gaps=$(peer_requests "$r1" | jq -s -r '[.[1].at - .[0].at, .[2].at - .[1].at] | map(. * 1000 | floor) | join(" ")')
read -r g1 g2 <<<"$gaps"
check "backoff with jitter: ${g1} ms then ${g2} ms (0.5-1 s, then 1-2 s)" \
  '[ "$g1" -ge 450 ] && [ "$g1" -le 1600 ] && [ "$g2" -ge 950 ] && [ "$g2" -le 2600 ]'
check "retried run recorded as attempt 3" '[ "$(sql "select attempt from task_runs where id = $r1")" = 3 ]'
"$cli" runs show "$r1" --json >"$tmp/show.json"
check "runs show lists every attempt with its own error: $(jq -c "[.attempts[] | [.attempt, .outcome, .error]]" "$tmp/show.json")" \
  '[ "$(jq -c "[.attempts[] | [.attempt, .outcome, (.error // \"\" | .[0:8])]]" "$tmp/show.json")" = "[[1,\"retrying\",\"HTTP 500\"],[2,\"retrying\",\"HTTP 500\"],[3,\"succeeded\",\"\"]]" ]'
"$cli" runs show "$r9" --json >"$tmp/show9.json"
check "a run that succeeded at once shows its one attempt (from the run itself): $(jq -c .attempts "$tmp/show9.json")" \
  '[ "$(jq -c "[.attempts[] | [.attempt, .outcome]]" "$tmp/show9.json")" = "[[1,\"succeeded\"]]" ] && [ "$(sql "select count(*) from run_attempts where run_id = $r9")" = 1 ]'
"$cli" runs show "$r1" >"$tmp/show.txt"
check "and in words: $(cat "$tmp/show.txt")" '[ "$(grep -c "retrying .*HTTP 500" "$tmp/show.txt")" = 2 ] && grep -q "succeeded" "$tmp/show.txt"'
gaps=$(peer_requests "$r2" | jq -s -r '[.[1].at - .[0].at, .[2].at - .[1].at] | map(. * 1000 | floor) | join(" ")')
read -r g1 g2 <<<"$gaps"
check "429 Retry-After 1 s honoured (${g1}, ${g2} ms) without spending attempts (max 1)" \
  '[ "$g1" -ge 950 ] && [ "$g2" -ge 950 ] && [ "$(sql "select attempt from task_runs where id = $r2")" = 1 ]'
got=$(sql "select attempt || ' ' || error from task_runs where id = $r3")
check "HTTP 400 not retried: $got" '[ "$(peer_requests "$r3" | wc -l)" = 1 ] && [[ "$got" == "1 HTTP 400 (4xx: not retried)"* ]]'
got=$(sql "select attempt || ' ' || error from task_runs where id = $r4")
check "exit 65 not retried: $got" '[ "$got" = "1 the command exited with status 65 (64-78: not retried): bad input" ]'
got=$(sql "select (finished_at - started_at < interval '3 seconds') || ' ' || error from task_runs where id = $r5")
check "timed out: $got" '[ "$got" = "true timed out after 1000 ms" ]'
got=$(sql "select error from task_runs where id = $r6")
check "untrusted certificate: $got" '[[ "$got" == *"TLS certificate not accepted"* ]]'
check "503 retried then failed for good" '[ "$(peer_requests "$r7" | wc -l)" = 2 ] && [ "$(sql "select attempt from task_runs where id = $r7")" = 2 ]'
dead=$(redis-cli -u "$REDIS_URL" zrange 'agentcron:{default}:dead' 0 -1 | sort -n | tr '\n' ' ')
want=$(printf '%s\n' "$r3" "$r4" "$r5" "$r6" "$r7" "$r8" | sort -n | tr '\n' ' ')
check "failed runs in the dead set: $dead" '[ "$dead" = "$want" ]'
check "nothing left reserved" '[ "$(sql "select credits_reserved from users")" = 0 ]'
stop_all

# --- cancellation: queued (never runs), running process (group killed), running HTTP request
setup cancel
tq=$(task plain ", agent_config" ", '{\"path\": \"/ok?never=1\"}'"); rq=$(runs "$tq")
run "$cli" runs cancel "$rq"
check "cancel queued: $(cat "$tmp/out" "$tmp/err")" '[ "$status" = 0 ] && grep -q "cancelled before it started" "$tmp/out" && [ "$(status_of "$rq")" = cancelled ]'
ts=$(task sleeper); rs=$(runs "$ts")
th=$(task plain ", agent_config" ", '{\"path\": \"/slow?ms=10000\"}'"); rh=$(runs "$th")
start_worker w3
wait_status "$rs" running 5; wait_status "$rh" running 5
sleep 0.3
check "the sleeper's process group is running" 'pgrep -f "$marker" >/dev/null'
t0=$(date +%s%N)
run "$cli" runs cancel "$rs" --json
check "cancel running: $(cat "$tmp/out")" '[ "$(jq -r .result "$tmp/out")" = stopping ]'
"$cli" runs cancel "$rh" >/dev/null
wait_status "$rs" cancelled 3; wait_status "$rh" cancelled 3
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
check "both stopped within ${ms} ms (< 2000)" '[ "$ms" -lt 2000 ]'
sleep 0.7
check "no process of the cancelled run is left" '! pgrep -f "$marker" >/dev/null'
check "the cancelled queued run never reached the peer" '! grep -q "\"never\"" "$peerlog"'
run "$cli" runs cancel "$rq"
check "cancelling again says it ended" '[ "$status" = 0 ] && grep -q "already ended (cancelled)" "$tmp/out"'
run "$cli" runs cancel 999999
check "cancel unknown run" '[ "$status" = 1 ] && grep -q "no run 999999" "$tmp/err"'
run "$cli" runs cancel abc
check "cancel bad id" '[ "$status" = 2 ]'
stop_all

# --- credits: 200 runs at once for a user whose month covers 50
setup credits
sql "update users set monthly_credits = 50"
t=$(task one); runs "$t" 200 >/dev/null
start_worker w4 AGENT_WORKER_CONCURRENCY=64
start_worker w5 AGENT_WORKER_CONCURRENCY=64
wait_sql "all 200 runs ended" 20 "select count(*) from task_runs where status in ('succeeded', 'insufficient_credits')" = 200
got=$(sql "select count(*) from task_runs where status = 'succeeded'")
check "exactly 50 ran: $(sql "select status, count(*) from task_runs group by 1")" '[ "$got" = 50 ]'
got=$(sql "select credits_used || ',' || credits_reserved || ',' || (select sum(delta) from credit_ledger) from users")
check "credits_used = ledger = 50, nothing reserved: $got" '[ "$got" = "50,0,50" ]'
got=$(sql "select count(*) from task_runs where error like 'insufficient credits: this run needs 1 (agent one''s estimate_credits); user 1 has used %'")
check "the refusal explains itself: $(sql "select error from task_runs where status = 'insufficient_credits' limit 1")" '[ "$got" = 150 ]'
stop_all
# a new month: the period rolls over (recorded in the ledger) and runs go ahead
sql "update users set period_start = period_start - interval '1 month'"
r=$(runs "$(task one)")
start_worker w6
wait_status "$r" succeeded 5
got=$(sql "select credits_used || ',' || (select sum(delta) from credit_ledger) || ',' ||
            (select count(*) from credit_ledger where reason = 'period_reset' and delta = -50) || ',' ||
            (period_start > now() - interval '1 month') from users")
check "period rolled over (used, ledger sum, reset rows, new period): $got" '[ "$got" = "1,1,1,true" ]'
stop_all

# --- limits across workers: a user's concurrency, an agent's rate
setup limits
sql "update users set max_concurrent_runs = 2"
t=$(task sleep1); runs "$t" 6 >/dev/null
start_worker w7; start_worker w8
max=0
for _ in $(seq 60); do
  n=$(sql "select count(*) from task_runs where status = 'running'"); [ "$n" -gt "$max" ] && max=$n
  [ "$(sql "select count(*) from task_runs where status = 'succeeded'")" = 6 ] && break; sleep 0.1
done
check "user limit 2 held across two workers (max running $max)" '[ "$max" -le 2 ] && [ "$max" -ge 1 ]'
wait_sql "6 limited runs done" 10 "select count(*) from task_runs where status = 'succeeded'" = 6
sql "update users set max_concurrent_runs = null"
t=$(task limited); runs "$t" 4 >/dev/null
wait_sql "4 rate-limited runs done" 10 "select count(*) from task_runs where task_id = $t and status = 'succeeded'" = 4
spread=$(sql "select (extract(epoch from max(started_at) - min(started_at)) * 1000)::int from task_runs where task_id = $t")
check "agent rate 2 per 2 s: 4 runs spread over ${spread} ms (>= 1900)" '[ "$spread" -ge 1900 ]'
stop_all

# --- kill -9 of a worker mid-run: the run completes elsewhere, once, its reservation released
setup kill9
sql "update users set monthly_credits = 100"
r=$(runs "$(task slow3)")
start_worker victim WORKER_LEASE_S=2
# running and its credits reserved (the intake marks it running, then reserves, in two commits)
wait_sql "the run running with its reservation" 5 \
  "select (select status from task_runs where id = $r) || (select credits_reserved from users)" = running1
kill -9 "${pids[0]}"; wait "${pids[0]}" 2>/dev/null; pids=()
check "reservation held by the dead worker" '[ "$(sql "select credits_reserved from users")" = 1 ]'
start_worker rescuer WORKER_LEASE_S=2
wait_status "$r" succeeded 12
got=$(sql "select worker_id || ',' || credits_charged || ',' || (select count(*) from credit_ledger) || ',' ||
            (select credits_reserved from users) from task_runs")
check "taken over by the rescuer, one charge, nothing reserved: $got" '[ "$got" = "rescuer,2,1,0" ]'
stop_all

# --- Redis and Postgres restarts mid-stream: no run lost, none recorded twice
setup restarts
# catch_up: slots missed while Postgres restarts still get their runs
sql "insert into tasks (user_id, title, agent_type, schedule, schedule_enabled, next_run_at, misfire_policy)
     values (1, 'each second', 'one', '* * * * * *', true, date_trunc('second', now()) + interval '1 second', 'catch_up')"
"$orch" --instance restarts >"$tmp/orch.log" 2>&1 & pids+=($!)
start_worker w9 WORKER_LEASE_S=3
sleep 3
"$root/scripts/services.sh" restart-redis "$AGENTCRON_SERVICES_INSTANCE" >/dev/null
sleep 3
"$root/scripts/services.sh" restart-pg "$AGENTCRON_SERVICES_INSTANCE" >/dev/null
sleep 3
sql "update tasks set schedule_enabled = false"
wait_sql "every run ended" 45 "select count(*) from task_runs where status not in ('succeeded')" = 0
n=$(sql "select count(*) from task_runs")
span=$(sql "select extract(epoch from max(scheduled_for) - min(scheduled_for))::int + 1 from task_runs")
check "$n runs over $span s, all succeeded, no slot lost" '[ "$n" -ge 6 ] && [ "$n" = "$span" ]'
got=$(sql "select (select count(*) from credit_ledger) || ',' || (select sum(delta) from credit_ledger) || ',' ||
            credits_used || ',' || credits_reserved from users")
check "each charged once; ledger = credits_used; nothing reserved: $got" '[ "$got" = "$n,$n,$n,0" ]'
stop_all

# --- SIGTERM: running runs finish within the grace; past it they return to the queue
setup drain
r=$(runs "$(task sleep1)")
start_worker w10
wait_status "$r" running 5
kill -TERM "${pids[0]}"; wait "${pids[0]}"; code=$?; pids=()
check "drained: run finished, exit $code" '[ "$code" = 0 ] && [ "$(status_of "$r")" = succeeded ]'
r=$(runs "$(task sleeper)")
start_worker w11 SHUTDOWN_GRACE_S=1
wait_status "$r" running 5
t0=$(date +%s%N)
kill -TERM "${pids[0]}"; wait "${pids[0]}"; code=$?; pids=()
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
check "grace over: exit $code after $ms ms, run back in the queue unspent: $(sql "select status, attempt, error from task_runs where id = $r")" \
  '[ "$code" = 0 ] && [ "$ms" -lt 4000 ] && [ "$(sql "select status || attempt || credits_reserved from task_runs where id = $r")" = queued10 ] &&
   [ -n "$(redis-cli -u "$REDIS_URL" zscore "agentcron:{default}:waiting" "$r")$(redis-cli -u "$REDIS_URL" zscore "agentcron:{default}:delayed" "$r")" ]'
check "nothing reserved after the drain" '[ "$(sql "select credits_reserved from users")" = 0 ]'
"$cli" runs cancel "$r" >/dev/null

# --- QUEUE_SHARDS raised under queued runs: their jobs stay in shard 0, where the workers find
# them. Reconciliation, which queues every queued run again, must not add a second copy in the
# run's new shard: two live copies are two deliveries, and the second would take the run over.
setup shards
t=$(task one); runs "$t" 30 >/dev/null # queued in shard 0: one shard so far
shard_orch() { # runs an orchestrator with three shards until its reconciliation is through
  : >"$tmp/shards-orch.log"
  QUEUE_SHARDS=3 "$orch" --instance shards >"$tmp/shards-orch.log" 2>&1 & pids+=($!)
  for _ in $(seq 100); do grep -q "event=status " "$tmp/shards-orch.log" && break; sleep 0.1; done
  stop_all
}
shard_orch
copies=$(redis-cli -u "$REDIS_URL" --scan --pattern 'agentcron:{default-*}:job:*' | wc -l)
check "reconciliation left the runs in shard 0, no copies: $copies" '[ "$copies" = 0 ]'
# copies made anyway (the jobs in shard 0 looked finished while reconciliation ran, as after
# QUEUE_SHARDS went down and up again): each copy is a delivery of its own and may execute, but
# the run is begun, recorded and charged once (only the last copy's lease token holds the run),
# and no reservation is left behind; two copies in one claim execute once
ids=$(sql "select id from task_runs where id % 3 <> 0")
for id in $ids; do redis-cli -u "$REDIS_URL" hset "agentcron:{default}:job:$id" state done >/dev/null; done
shard_orch
for id in $ids; do redis-cli -u "$REDIS_URL" hset "agentcron:{default}:job:$id" state waiting >/dev/null; done
copies=$(redis-cli -u "$REDIS_URL" --scan --pattern 'agentcron:{default-*}:job:*' | wc -l)
check "20 runs have a second live copy: $copies" '[ "$copies" = 20 ]'
start_worker w-shards QUEUE_SHARDS=3 AGENT_WORKER_CONCURRENCY=64
wait_sql "the 30 runs ran" 10 "select count(*) from task_runs where status = 'succeeded'" = 30
sleep 0.5
echo "30 runs, 20 of them with two live copies: $(grep -c event=run.finished "$tmp/w-shards.log") executions; $(grep -o 'duplicates_dropped=[0-9]*' "$tmp/w-shards.log" | xargs)"
check "every run recorded once (attempts, runs): $(sql "select count(*), count(distinct run_id) from run_attempts")" \
  '[ "$(sql "select count(*) = 30 and count(distinct run_id) = 30 from run_attempts")" = t ]'
got=$(sql "select credits_used || ',' || credits_reserved || ',' || (select count(distinct run_id) from credit_ledger where reason = 'charge') from users")
check "each was charged once, nothing left reserved (used, reserved, charged runs): $got" '[ "$got" = "30,0,30" ]'
left=$(redis-cli -u "$REDIS_URL" --scan --pattern 'agentcron:{default*}:waiting' |
       while read -r key; do redis-cli -u "$REDIS_URL" zcard "$key"; done | awk '{s += $1} END {print s + 0}')
check "no copy is left waiting in any shard: $left" '[ "$left" = 0 ]'
stop_all

# --- a worker runs at most its concurrency at once, however its runs start (an llm run reserves
# its first step as it starts, which looks for more work): each stamp run notes when its command
# starts and ends
setup concurrency
runs "$(task stamp)" 12 >/dev/null
runs "$(task llm)" 12 >/dev/null
start_worker w-conc AGENT_WORKER_CONCURRENCY=3
wait_sql "the 24 runs ended" 30 "select count(*) from task_runs where status in ('succeeded', 'failed')" = 24
most=$(sort -k2,2n "$tmp/stamps" | awk '{n += ($1 == "+") ? 1 : -1; if (n > m) m = n} END {print m + 0}')
check "at most 3 commands ran at once, and 3 did: $most" '[ "$most" = 3 ]'
stop_all

# --- the worker's two writes of a run are HOT updates (migrations/0013): 3,000 runs of one
# priority, inserted together as a slot's runs are and claimed in their order, so that a batch
# rewrites most rows of a page at once; a write without room for its new version on the page
# adds an entry to every index of task_runs (with fillfactor 80, 2,573 of the 6,000 were HOT)
setup hot
runs "$(task noop)" 3000 >/dev/null
start_worker w-hot AGENT_WORKER_CONCURRENCY=64
wait_sql "the 3,000 runs ran" 60 "select count(*) from task_runs where status = 'succeeded'" = 3000
stop_all # its backends report their statistics as they exit
wait_sql "two writes per run counted" 10 "select n_tup_upd from pg_stat_user_tables where relname = 'task_runs'" = 6000
hot=$(sql "select n_tup_hot_upd from pg_stat_user_tables where relname = 'task_runs'")
echo "3,000 runs of one priority: $hot of their 6,000 writes were HOT updates"
check "at least 3 in 4 of them HOT: $hot of 6000" '[ "$hot" -ge 4500 ]'

# --- one box: the orchestrator runs its own workers
setup onebox
sql "insert into tasks (user_id, title, agent_type, schedule, schedule_enabled, next_run_at)
     values (1, 'each second', 'plain', '* * * * * *', true, date_trunc('second', now()) + interval '1 second')"
"$orch" --instance onebox --workers 2 >"$tmp/onebox.log" 2>&1 & pids+=($!)
wait_sql "in-process workers ran 3 runs" 8 "select count(*) from task_runs where status = 'succeeded'" -ge 3
stop_all
check "orchestrator with workers stopped cleanly" 'grep -q "event=worker.stopped" "$tmp/onebox.log" && grep -q "loop_closed=1" "$tmp/onebox.log"'

# --- no sanitizer report from any daemon
if grep -l "ERROR: AddressSanitizer\|ERROR: LeakSanitizer\|runtime error:" "$tmp"/*.log 2>/dev/null; then
  bad "sanitizer report in daemon logs"; grep -h -A5 "Sanitizer\|runtime error:" "$tmp"/*.log | head -40
else ok; fi
finish
