#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Durable steps with real daemons, Postgres, Redis and real HTTP peers (tests/tools/step_peer.py:
# an app using the step protocol, an OpenAI-compatible model scripted to call a tool, the tool;
# tests/tools/step_command.py: an exec command using stdout and fd 3). For each kind of agent,
# one run is stopped by kill -9 of its worker at every step boundary and in the middle of every
# step, a new worker taking over each time: every completed step executes once and is charged
# once, the run finishes, and tokens and credits add up (ledger = credits_used, nothing left
# reserved). Also: a budget that runs out at step k, a run's own cap, cancel during a step, a
# step reported twice, replay from a step, forged, expired and other runs' tokens.
# Usage: test_steps.sh BUILD_DIR
build=${1:?usage: test_steps.sh BUILD_DIR}
. "$(dirname "$0")/lib.sh"
worker=$build/agentworker/agentcron-worker
orch=$build/orchestrator/agentcron-orchestrator
cli=$build/cli/agentcron
root=$(cd "$(dirname "$0")/../.." && pwd)
: "${AGENTCRON_SERVICES_INSTANCE:?run through tests/run.sh}"
unset AGENTCRON_TZDATA_DIR AGENTCRON_MIGRATIONS_DIR AGENTCRON_WEB_DIR
export STATUS_INTERVAL_S=1 LOG_LEVEL=info SHUTDOWN_GRACE_S=5 WORKER_LEASE_S=2 POLL_INTERVAL_MS=500
peer_pid=
trap 'stop_all; kill -9 "${wpid:-0}" 2>/dev/null; [ -n "$peer_pid" ] && kill "$peer_pid"; cleanup' EXIT
check() { if eval "$2"; then ok; else bad "$1"; fi; }
sql() { psql -qtAX "$DATABASE_URL" -c "$1"; }
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

events=$tmp/events.jsonl
touch "$events"
python3 "$root/tests/tools/step_peer.py" --port 0 --log "$events" >"$tmp/peer.out" 2>&1 &
peer_pid=$!
for _ in $(seq 50); do grep -q ready "$tmp/peer.out" && break; sleep 0.1; done
read -r _ port <"$tmp/peer.out"
[ -n "$port" ] || { echo "the peer did not start: $(cat "$tmp/peer.out")"; exit 1; }
export TOOL_TOKEN=tool-secret
cat >"$tmp/agents.json" <<EOF
{"agents": {
  "app": {"kind": "http", "url": "http://127.0.0.1:$port/app", "base_credits": 1, "tokens_per_credit": 100},
  "cmd": {"kind": "exec", "command": ["/usr/bin/python3", "$root/tests/tools/step_command.py", "$events"],
          "base_credits": 1, "tokens_per_credit": 100, "kill_grace_ms": 500},
  "researcher": {"kind": "llm", "base_url": "http://127.0.0.1:$port", "model": "test-model", "max_tokens": 500,
                 "max_steps": 6, "base_credits": 1, "tokens_per_credit": 100,
                 "tools": {"lookup": {"url": "http://127.0.0.1:$port/tool/lookup", "description": "looks a fact up",
                                      "parameters": {"type": "object", "properties": {"n": {"type": "integer"}}},
                                      "bearer_env": "TOOL_TOKEN"}}}
}}
EOF
export AGENTS_FILE=$tmp/agents.json
export DATABASE_URL; DATABASE_URL=$(fresh_db steps)
export REDIS_URL="$AGENTCRON_TEST_REDIS/13"
redis-cli -u "$REDIS_URL" flushdb >/dev/null
"$cli" migrate >/dev/null || { bad "migrate failed"; finish; exit 1; }
"$cli" users add a@example.com --credits 100000 >/dev/null
api_port=$(free_port)
export HTTP_LISTEN=127.0.0.1:$api_port PUBLIC_URL=http://127.0.0.1:$api_port
"$orch" --instance steps-orch >"$tmp/orch.log" 2>&1 & pids+=($!)
for _ in $(seq 50); do curl -fs "$PUBLIC_URL/healthz" >/dev/null && break; sleep 0.1; done

nworker=0
start_worker() { nworker=$((nworker + 1)); "$worker" --instance "w$nworker" --concurrency 8 >"$tmp/w$nworker.log" 2>&1 & wpid=$!; }
# task AGENT GOAL [MAX_ATTEMPTS]: a task of user a@example.com; prints its id
task() {
  "$cli" tasks add --user a@example.com --title "$1 task" --agent "$1" --goal "$2" --max-attempts "${3:-20}" --json | jq -r .id
}
trigger() { "$cli" tasks trigger "$1" >/dev/null; sql "select max(id) from task_runs where task_id = $1"; }
wait_event() { # wait_event JQ_FILTER SECONDS: until the peer logged a matching event
  local i
  for ((i = 0; i < $2 * 10; i++)); do
    [ -n "$(jq -c "select($1)" "$events")" ] && return 0
    sleep 0.1
  done
  return 1
}
ledger_ok() { # this period's charges in the ledger are credits_used, and nothing is left reserved
  [ "$(sql "select (select coalesce(sum(delta), 0) from credit_ledger where user_id = u.id and reason in ('charge', 'step'))
                   = credits_used and credits_reserved = 0 from users u")" = t ]
}
executions() { jq -r "select(.event == \"executed\" and .run == $1) | .step" "$events" | sort | uniq -c | awk '{print $2 "x" $1}' | tr '\n' ' '; }
# kill_through RUN POSITION...: the run's start i pauses at position i; each time the worker is
# killed with -9 there, and a new one takes over once the lease lapses (a new attempt)
kill_through() {
  local run=$1 start=0 at
  shift
  for at in "$@"; do
    start=$((start + 1))
    if ! wait_event ".event == \"paused\" and .run == $run and .start == $start and .at == \"$at\"" 20; then
      bad "run $run did not reach $at in start $start: $(tail -3 "$tmp/w$nworker.log")"
      return 1
    fi
    kill -9 "$wpid"
    wait "$wpid" 2>/dev/null
    start_worker
  done
}

start_worker

# --- http: the app reports steps through the API with its run token; killed at every boundary and mid-step
positions='"s1:mid", "s1:after", "s2:mid", "s2:after", "s3:mid", "s3:after"'
t_app=$(task app "{\"steps\": 3, \"credits\": 2, \"pause\": [$positions]}")
r_app=$(trigger "$t_app")
kill_through "$r_app" s1:mid s1:after s2:mid s2:after s3:mid s3:after
wait_sql "the http run finishes after 6 kills" 40 "select status || ' ' || attempt from task_runs where id = $r_app" = "succeeded 7"
check "every completed step of the http run executed once: $(executions "$r_app")" '[ "$(executions "$r_app")" = "s1x1 s2x1 s3x1 " ]'
got=$(sql "select string_agg(step_id || ':' || status || ':' || credits || ':' || attempt, ' ' order by seq) from run_steps where run_id = $r_app")
check "its steps, each from the attempt that completed it: $got" '[ "$got" = "s1:completed:2:2 s2:completed:2:4 s3:completed:2:6" ]'
got=$(sql "select count(*) || ' ' || sum(delta) from credit_ledger where run_id = $r_app and reason = 'step'")
check "one ledger row per step: $got" '[ "$got" = "3 6" ]'
got=$(sql "select prompt_tokens || '/' || completion_tokens || ' ' || step_credits || ' ' || credits_charged from task_runs where id = $r_app")
check "tokens and credits: steps 3 x 150 tokens at 100 a credit, plus the base: $got" '[ "$got" = "300/150 6 7" ]'
check "ledger = credits_used, nothing reserved after 6 kills" ledger_ok

# --- exec: steps on stdout, answers on fd 3, completed steps on stdin and in AGENTCRON_STEPS_FILE
t_cmd=$(task cmd "{\"steps\": 3, \"credits\": 2, \"pause\": [$positions]}")
r_cmd=$(trigger "$t_cmd")
kill_through "$r_cmd" s1:mid s1:after s2:mid s2:after s3:mid s3:after
wait_sql "the exec run finishes after 6 kills" 40 "select status || ' ' || attempt from task_runs where id = $r_cmd" = "succeeded 7"
check "every completed step of the exec run executed once: $(executions "$r_cmd")" '[ "$(executions "$r_cmd")" = "s1x1 s2x1 s3x1 " ]'
check "stdin and the steps file agreed on every attempt" '[ -z "$(jq -c "select(.event == \"mismatch\")" "$events")" ]'
got=$(sql "select count(*) || ' ' || sum(delta) from credit_ledger where run_id = $r_cmd and reason = 'step'")
check "one ledger row per exec step: $got" '[ "$got" = "3 6" ]'
check "ledger = credits_used after the exec run" ledger_ok

# --- llm: each model answer and each tool call is a step; the conversation is rebuilt on takeover
llm_positions='"model-1:mid", "tool-call_1:before", "tool-call_1:mid", "model-2:mid", "tool-call_2:before", "model-3:mid"'
t_llm=$(task researcher "{\"tools\": 2, \"pause\": [$llm_positions]}")
r_llm=$(trigger "$t_llm")
kill_through "$r_llm" model-1:mid tool-call_1:before tool-call_1:mid model-2:mid tool-call_2:before model-3:mid
wait_sql "the llm run finishes after 6 kills" 40 "select status || ' ' || attempt from task_runs where id = $r_llm" = "succeeded 7"
check "every completed model call and tool call executed once: $(executions "$r_llm")" \
  '[ "$(executions "$r_llm")" = "model-1x1 model-2x1 model-3x1 tool-call_1x1 tool-call_2x1 " ]'
got=$(sql "select string_agg(step_id || ':' || credits, ' ' order by seq) from run_steps where run_id = $r_llm")
check "its steps in order: $got" '[ "$got" = "model-1:2 tool-call_1:0 model-2:2 tool-call_2:0 model-3:2" ]'
got=$(sql "select output || ' | ' || prompt_tokens || '/' || completion_tokens || ' ' || credits_charged from task_runs where id = $r_llm")
check "the answer, 3 model calls of 120 tokens charged once each, plus the base: $got" \
  '[ "$got" = "final answer after 2 tool calls | 300/60 7" ]'
tool=$(jq -c "select(.event == \"executed\" and .run == $r_llm and .step == \"tool-call_1\")" "$events")
check "the tool got its bearer and an idempotency key per step: $tool" \
  '[ "$(jq -r "[.auth, .key] | join(\",\")" <<<"$tool")" = "Bearer tool-secret,$r_llm-tool-call_1" ]'
model=$(jq -c "select(.event == \"executed\" and .run == $r_llm and .step == \"model-1\")" "$events")
check "the model was offered the operator's tool, max_tokens within the agent's: $model" \
  '[ "$(jq -r "[.tools[0], .max_tokens] | join(\",\")" <<<"$model")" = "lookup,500" ]'
check "ledger = credits_used after the llm run" ledger_ok

# --- a failed attempt (exit 1 after s1) and a drained one (the worker stopped with SIGTERM in s2):
# the next attempt or start goes on from what was recorded
t_fail=$(task cmd '{"steps": 3, "fail_after": "s1"}')
r_fail=$(trigger "$t_fail")
wait_sql "the run that failed once succeeds" 20 "select status || ' ' || attempt from task_runs where id = $r_fail" = "succeeded 2"
check "after a failure, every step executed once: $(executions "$r_fail")" '[ "$(executions "$r_fail")" = "s1x1 s2x1 s3x1 " ]'
t_drain=$(task app '{"steps": 3, "pause": ["s2:mid"]}')
r_drain=$(trigger "$t_drain")
wait_event ".event == \"paused\" and .run == $r_drain" 20 || bad "run $r_drain did not pause"
kill -TERM "$wpid"
wait "$wpid"
drained_exit=$?
check "the drained worker exited cleanly: $drained_exit" '[ "$drained_exit" = 0 ]'
got=$(sql "select status || ' ' || attempt || ' ' || (select retry_reason from run_attempts where run_id = $r_drain) from task_runs where id = $r_drain")
check "the run went back to the queue without spending an attempt: $got" '[ "$got" = "queued 1 drained" ]'
# the next worker cannot read what a run with steps needs (the run token key) for longer than a
# lease: each intake hands the run straight back, so no lease lapses and no attempt is spent
sql "alter table run_token_keys rename to run_token_keys_away"
start_worker
for _ in $(seq 50); do grep -q 'worker.intake_failed.*run token key' "$tmp/w$nworker.log" && break; sleep 0.1; done
check "the intake that cannot read the run token key says so: $(grep -m1 intake_failed "$tmp/w$nworker.log")" \
  "grep -q 'worker.intake_failed.*run_token_keys' '$tmp/w$nworker.log'"
sleep 3 # > WORKER_LEASE_S
sql "alter table run_token_keys_away rename to run_token_keys"
wait_sql "the drained run succeeds" 20 "select status || ' ' || attempt from task_runs where id = $r_drain" = "succeeded 1"
got=$(sql "select string_agg(coalesce(retry_reason, outcome), ',' order by attempt) from run_attempts where run_id = $r_drain")
check "the runs handed back were never taken over (no lease lost): $got" '[ "$got" = "drained,succeeded" ]'
check "after a drain, every completed step executed once: $(executions "$r_drain")" '[ "$(executions "$r_drain")" = "s1x1 s2x1 s3x1 " ]'
check "ledger = credits_used after a failure and a drain" ledger_ok

# --- a budget that runs out at step 3: steps 1 and 2 charged, the run ends insufficient_credits
sql "update users set monthly_credits = credits_used + 1 + 2 * 2 + 1 where email = 'a@example.com'" # base + 2 steps + 1
t_budget=$(task app '{"steps": 4, "credits": 2}')
r_budget=$(trigger "$t_budget")
wait_sql "the run ends insufficient_credits" 20 "select status from task_runs where id = $r_budget" = insufficient_credits
got=$(sql "select string_agg(step_id || ':' || status, ' ' order by seq) from run_steps where run_id = $r_budget")
check "steps 1 and 2 completed and kept, nothing of step 3: $got" '[ "$got" = "s1:completed s2:completed" ]'
refused=$(jq -c "select(.event == \"refused\" and .run == $r_budget)" "$events")
check "the app was refused step 3 for the budget, with a reason it can show: $refused" \
  '[ "$(jq -r "[.step, .code, .reason] | join(\",\")" <<<"$refused")" = "s3,402,budget" ] && jq -e ".message | contains(\"grant more\")" <<<"$refused" >/dev/null'
got=$(sql "select (select count(*) from credit_ledger where run_id = $r_budget and reason = 'step') || ' ' || credits_charged || ' ' || (error like 'step s3 needs 2 credits%') from task_runs where id = $r_budget")
check "two steps charged, the run's charge covers its base, the error says why: $got" '[ "$got" = "2 5 true" ]'
check "ledger = credits_used after the budget ran out" ledger_ok
sql "update users set monthly_credits = 100000 where email = 'a@example.com'" >/dev/null

# --- the task's own max_credits_per_run (in its agent config): refused as run_limit
t_cap=$("$cli" tasks add --user a@example.com --title "capped" --agent app --goal '{"steps": 4, "credits": 2}' \
        --config '{"max_credits_per_run": 5}' --json | jq -r .id)
r_cap=$(trigger "$t_cap")
wait_sql "the capped run ends insufficient_credits" 20 "select status from task_runs where id = $r_cap" = insufficient_credits
refused=$(jq -c "select(.event == \"refused\" and .run == $r_cap)" "$events")
check "refused at step 3 for the run's cap (1 reserved at the start + 2 x 2 charged): $refused" \
  '[ "$(jq -r "[.step, .reason] | join(\",\")" <<<"$refused")" = "s3,run_limit" ]'
run "$cli" tasks add --user a@example.com --title "over" --agent app --config '{"max_credits_per_run": 0}'
check "a cap of 0 is refused: $(cat "$tmp/err")" '[ "$status" != 0 ] && grep -q "max_credits_per_run must be a positive integer" "$tmp/err"'

# --- the token: forged, other run's, expired, none; a step reported twice is recorded once
t_hold=$(task app '{"steps": 2, "pause": ["s1:mid"]}')
r_hold=$(trigger "$t_hold")
wait_event ".event == \"paused\" and .run == $r_hold" 20 || bad "run $r_hold did not pause"
token=$(jq -r "select(.event == \"token\" and .run == $r_hold) | .token" "$events" | head -1)
url=$(jq -r "select(.event == \"token\" and .run == $r_hold) | .url" "$events" | head -1)
post() { curl -s -o "$tmp/body" -w '%{http_code}' -X POST -H "Content-Type: application/json" ${1:+-H "Authorization: Bearer $1"} -d "$3" "$2"; }
got=$(post "$token" "$url" '{"step": "extra", "output": {"x": 1}, "usage": {"prompt_tokens": 250}}'),$(jq -r .status "$tmp/body")
check "a step reported: $got" '[ "$got" = "200,recorded" ]'
got=$(post "$token" "$url" '{"step": "extra", "output": {"x": 2}, "usage": {"prompt_tokens": 250}}'),$(jq -r .status "$tmp/body")
check "the same step again is a duplicate: $got" '[ "$got" = "200,duplicate" ]'
got=$(sql "select (select count(*) from run_steps where run_id = $r_hold and step_id = 'extra') || ' ' ||
                  (select count(*) || ':' || sum(delta) from credit_ledger where run_id = $r_hold and step_id = 'extra') || ' ' ||
                  (select output->>'x' from run_steps where run_id = $r_hold and step_id = 'extra')")
check "recorded once, charged once, the first output kept: $got" '[ "$got" = "1 1:3 1" ]'
forged="${token%?}$( [ "${token: -1}" = 0 ] && echo 1 || echo 0)"
got=$(post "$forged" "$url" '{"step": "x"}'),$(jq -r .error "$tmp/body")
check "a forged token: $got" '[ "${got%%,*}" = 401 ] && [[ "$got" == *"not issued by this deployment"* ]]'
got=$(post "$token" "${url/\/runs\/$r_hold\//\/runs\/$r_app\/}" '{"step": "x"}'),$(jq -r .error "$tmp/body")
check "another run's token: $got" '[ "${got%%,*}" = 401 ] && [[ "$got" == *"another run"* ]]'
key=$(sql "select encode(key, 'hex') from run_token_keys")
payload="act1.$r_hold.1.$(($(date +%s) - 10))"
expired="$payload.$(printf '%s' "$payload" | openssl dgst -sha256 -mac HMAC -macopt "hexkey:$key" | awk '{print $2}')"
got=$(post "$expired" "$url" '{"step": "x"}'),$(jq -r .error "$tmp/body")
check "an expired token (signed right): $got" '[ "${got%%,*}" = 401 ] && [[ "$got" == *"expired"* ]]'
got=$(post "" "$url" '{"step": "x"}'),$(jq -r .error "$tmp/body")
check "no token: $got" '[ "${got%%,*}" = 401 ]'
got=$(post "$token" "$url" '{"step": "bad/id"}'),$(post "$token" "$url" '{"step": "y", "output": "'"$(head -c 70000 /dev/zero | tr '\0' a)"'"}')
check "a bad step id and an output over 64 KiB are 400: $got" '[ "$got" = "400,400" ]'
got=$(post "$token" "$url/y/reserve" '{"credits": "many"}')
check "a reservation without a number of credits is 400: $got" '[ "$got" = 400 ]'

# --- cancel during a step: refused at the next boundary, and the run stops within a second
kill -STOP "$wpid" # the worker cannot stop it yet: the app asks first
"$cli" runs cancel "$r_hold" >/dev/null
got=$(post "$token" "$url/s2/reserve" '{"credits": 1}'),$(jq -r .reason "$tmp/body")
check "a reservation after cancel is refused: $got" '[ "$got" = "409,cancelled" ]'
kill -CONT "$wpid"
wait_sql "the cancelled run ends" 5 "select status from task_runs where id = $r_hold" = cancelled
t_cancel=$(task app '{"steps": 2, "pause": ["s2:mid"]}')
r_cancel=$(trigger "$t_cancel")
wait_event ".event == \"paused\" and .run == $r_cancel" 20 || bad "run $r_cancel did not pause"
t0=$(date +%s%N)
"$cli" runs cancel "$r_cancel" >/dev/null
wait_sql "cancelled" 5 "select status from task_runs where id = $r_cancel" = cancelled
ms=$((($(date +%s%N) - t0) / 1000000))
check "cancel during a step stopped the run in $ms ms (under 1 s)" '[ "$ms" -lt 1000 ]'
got=$(sql "select string_agg(step_id || ':' || s.status, ' ' order by seq) || ' ' || r.credits_reserved from task_runs r
           join run_steps s on s.run_id = r.id where r.id = $r_cancel group by r.credits_reserved")
check "its completed step kept, the reservation of the interrupted one released: $got" '[ "$got" = "s1:completed s2:reserved 0" ]'
check "ledger = credits_used after cancels" ledger_ok

# --- replay from a step: earlier steps copied, not executed or charged again
run "$cli" runs replay "$r_app" --from-step s2 --json
r_replay=$(jq -r .run "$tmp/out")
check "replay queued with one step copied: $(cat "$tmp/out" "$tmp/err")" '[ "$(jq -r .copiedSteps "$tmp/out")" = 1 ]'
wait_sql "the replay finishes" 20 "select status from task_runs where id = $r_replay" = succeeded
check "the replay executed only s2 and s3: $(executions "$r_replay")" '[ "$(executions "$r_replay")" = "s2x1 s3x1 " ]'
got=$(sql "select string_agg(step_id || ':' || status || ':' || credits || ':' || coalesce(copied_from::text, '-'), ' ' order by seq) from run_steps where run_id = $r_replay")
check "s1 copied from run $r_app for free: $got" '[ "$got" = "s1:copied:0:$r_app s2:completed:2:- s3:completed:2:-" ]'
run "$cli" runs show "$r_replay"
check "runs show lists the steps, the copy marked: $(grep -c "^  [0-9]" "$tmp/out") rows" \
  'grep -q "copied from run $r_app, not charged again" "$tmp/out" && grep -q "steps charged 4 of the 5 credits" "$tmp/out"'
run "$cli" runs replay "$r_app" --from-step nope
check "replay from a step the run lacks names its steps: $(cat "$tmp/err")" \
  '[ "$status" = 1 ] && grep -q "no completed step nope; its steps: s1, s2, s3" "$tmp/err"'
run "$cli" runs replay "$r_app"
check "replay without --from-step is a usage error" '[ "$status" = 2 ]'
key=$("$cli" keys create a@example.com --json | jq -r .key)
got=$(curl -s -H "Authorization: Bearer $key" "$PUBLIC_URL/api/runs/$r_replay" | jq -c '[.steps[] | [.id, .status, .credits]]')
check "the API shows the steps with the run: $got" '[ "$got" = "[[\"s1\",\"copied\",0],[\"s2\",\"completed\",2],[\"s3\",\"completed\",2]]" ]'
check "ledger = credits_used at the end" ledger_ok

# --- the receiver docs/steps.md shows, as printed there, does its three steps once each
doc_port=$(free_port)
awk '/^```python/{f=1; next} /^```/{f=0} f' "$root/docs/steps.md" | sed "s/8000/$doc_port/" >"$tmp/receiver.py"
python3 "$tmp/receiver.py" >"$tmp/receiver.log" 2>&1 &
doc_pid=$!
jq --arg url "http://127.0.0.1:$doc_port/" '.agents.doc = {"kind": "http", "url": $url, "tokens_per_credit": 1000}' \
  "$tmp/agents.json" >"$tmp/agents2.json" && mv "$tmp/agents2.json" "$tmp/agents.json"
kill -HUP "$wpid" "${pids[0]}" # both read AGENTS_FILE again
sleep 1
t_doc=$(task doc "three steps")
r_doc=$(trigger "$t_doc")
wait_sql "the documented receiver's run succeeds" 20 "select status from task_runs where id = $r_doc" = succeeded
got=$(sql "select string_agg(step_id || ':' || credits, ' ' order by seq) || ' ' || (select output from task_runs where id = $r_doc)
           from run_steps where run_id = $r_doc")
check "its steps, each charged one credit (1,000 tokens): $got" '[ "$got" = "fetch:1 analyse:1 report:1 {\"done\": [\"fetch\", \"analyse\", \"report\"]}" ]'
kill "$doc_pid"
check "ledger = credits_used at the end" ledger_ok

pids+=("$wpid") # the last worker stops cleanly
finish
