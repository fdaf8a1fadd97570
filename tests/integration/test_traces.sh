#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Traces and per-agent metrics against a real worker, orchestrator, Postgres, Redis and a real
# OTLP/HTTP receiver (tests/tools/peer.py /v1/traces checks every export against the OTLP JSON
# schema's required fields): a run's trace has its root, enqueue, attempt and call spans with the
# right parents and the moment it was queued; the receiver of an http agent's call sees traceparent naming the call's span;
# an exec command gets TRACEPARENT; a collector that is down costs only spans (counted in
# /metrics) and the runs go on; bad OTEL_* settings stop start-up with one line.
# Usage: test_traces.sh BUILD_DIR
build=${1:?usage: test_traces.sh BUILD_DIR}
. "$(dirname "$0")/lib.sh"
worker=$build/agentworker/agentcron-worker
orch=$build/orchestrator/agentcron-orchestrator
cli=$build/cli/agentcron
root=$(cd "$(dirname "$0")/../.." && pwd)
: "${AGENTCRON_SERVICES_INSTANCE:?run through tests/run.sh}"
unset AGENTCRON_TZDATA_DIR AGENTCRON_MIGRATIONS_DIR AGENTCRON_WEB_DIR OTEL_RESOURCE_ATTRIBUTES
export STATUS_INTERVAL_S=1 LOG_LEVEL=info SHUTDOWN_GRACE_S=5 HTTP_LISTEN=off
peer_pid=
trap 'stop_all; [ -n "$peer_pid" ] && kill "$peer_pid"; cleanup' EXIT
check() { if eval "$2"; then ok; else bad "$1"; fi; }
sql() { psql -qtAX "$DATABASE_URL" -c "$1"; }

peerlog=$tmp/peer.jsonl
python3 "$root/tests/tools/peer.py" --port 0 --log "$peerlog" --bearer peer-bearer >"$tmp/peer.out" 2>&1 &
peer_pid=$!
for _ in $(seq 50); do grep -q ready "$tmp/peer.out" && break; sleep 0.1; done
read -r _ port <"$tmp/peer.out"
[ -n "$port" ] || { echo "the peer did not start: $(cat "$tmp/peer.out")"; exit 1; }
export PEER_BEARER=peer-bearer
cat >"$tmp/agents.json" <<EOF
{"agents": {"hook": {"kind": "http", "url": "http://127.0.0.1:$port/flaky/k1?fail=1&code=500", "bearer_env": "PEER_BEARER",
                     "base_credits": 1, "tokens_per_credit": 100},
            "script": {"kind": "exec", "command": ["/bin/sh", "-c", "echo \"tp=\$TRACEPARENT\""]},
            "weird": {"kind": "exec", "command": ["/bin/sh", "-c", "printf 'bad \\\\377 \\\\\"quoted\\\\\" \\\\001\\\\n' >&2; exit 3"]},
            "fine": {"kind": "noop"}}}
EOF
export AGENTS_FILE=$tmp/agents.json
export DATABASE_URL; DATABASE_URL=$(fresh_db traces)
export REDIS_URL="$AGENTCRON_TEST_REDIS/15"
redis-cli -u "$REDIS_URL" flushdb >/dev/null
"$cli" migrate >/dev/null || { bad "migrate failed"; finish; exit 1; }
"$cli" users add ops@example.com --credits 100000 >/dev/null

# --- bad OTEL_* settings refuse to start, naming the setting
run env OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:1 OTEL_EXPORTER_OTLP_PROTOCOL=grpc "$worker"
check "grpc refused: $(cat "$tmp/err")" '[ "$status" = 2 ] && grep -q "OTEL_EXPORTER_OTLP_PROTOCOL=\"grpc\"" "$tmp/err"'
run env OTEL_EXPORTER_OTLP_ENDPOINT=collector:4318 "$worker"
check "an endpoint without a scheme: $(cat "$tmp/err")" '[ "$status" = 2 ] && grep -q "is not an http:// or https:// URL" "$tmp/err"'
run env OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:1 OTEL_EXPORTER_OTLP_HEADERS="novalue" "$orch"
check "headers without a value, orchestrator: $(cat "$tmp/err")" '[ "$status" = 2 ] && grep -q "OTEL_EXPORTER_OTLP_HEADERS" "$tmp/err"'

t_hook=$("$cli" tasks add --user ops@example.com --title "hook task" --agent hook --max-attempts 2 --json | jq -r .id)
t_script=$("$cli" tasks add --user ops@example.com --title "script task" --agent script --json | jq -r .id)
t_weird=$("$cli" tasks add --user ops@example.com --title 'a "weird" task' --agent weird --max-attempts 1 --json | jq -r .id)
OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:$port/ OTEL_EXPORTER_OTLP_HEADERS="Authorization=Bearer%20peer-bearer" \
  OTEL_SERVICE_NAME=traced-worker OTEL_RESOURCE_ATTRIBUTES="deployment.environment=test" \
  "$worker" --instance tw >"$tmp/w.log" 2>&1 & pids+=($!)
"$cli" tasks trigger "$t_hook" >/dev/null
"$cli" tasks trigger "$t_script" >/dev/null
"$cli" tasks trigger "$t_weird" >/dev/null
r_hook=$(sql "select max(id) from task_runs where task_id = $t_hook")
r_script=$(sql "select max(id) from task_runs where task_id = $t_script")
wait_sql "the hook run succeeds at its second attempt" 20 "select status || attempt from task_runs where id = $r_hook" = succeeded2
wait_sql "the script run succeeds" 10 "select status from task_runs where id = $r_script" = succeeded
r_weird=$(sql "select max(id) from task_runs where task_id = $t_weird")
wait_sql "the weird run fails" 10 "select status from task_runs where id = $r_weird" = failed
sleep 2.5 # a flush of the batch (every second)

# every span of every export, with its resource's service.name
jq -c 'select(.path == "/v1/traces") | .body | fromjson | .resourceSpans[] | (.resource.attributes | map({(.key): .value.stringValue}) | add) as $r
       | .scopeSpans[].spans[] | . + {service: $r["service.name"], env: $r["deployment.environment"],
         attrs: (.attributes | map({(.key): (.value.stringValue // .value.intValue)}) | add)}' "$peerlog" >"$tmp/spans.jsonl"
check "every export met the OTLP schema: $(jq -r 'select(.path == "/v1/traces") | .otlp_error' "$peerlog" | sort -u | tr '\n' ' ')" \
  '[ "$(jq -r "select(.path == \"/v1/traces\") | .otlp_error" "$peerlog" | sort -u)" = null ]'
check "exports carried OTEL_EXPORTER_OTLP_HEADERS" \
  '[ "$(jq -r "select(.path == \"/v1/traces\") | .bearer_ok" "$peerlog" | sort -u)" = true ]'
weird=$(jq -c "select(.name == \"agentcron.run\" and .attrs[\"agentcron.run.id\"] == \"$r_weird\")" "$tmp/spans.jsonl")
check "an error with quotes, a control character and a byte that is not UTF-8 is exported as valid JSON: $(jq -c .status <<<"$weird")" \
  '[ "$(jq -r ".status.code, .attrs[\"agentcron.task.title\"]" <<<"$weird" | tr "\n" "|")" = "2|a \"weird\" task|" ] && jq -e ".status.message | contains(\"bad \\ufffd\") and contains(\"quoted\") and contains(\"\\u0001\")" <<<"$weird" >/dev/null'
spans_of() { jq -c "select(.attrs[\"agentcron.run.id\"] == \"$1\")" "$tmp/spans.jsonl"; }
spans_of "$r_hook" >"$tmp/hook_spans"
root_span=$(jq -c 'select(.name == "agentcron.run")' "$tmp/hook_spans")
trace=$(jq -r .traceId <<<"$root_span")
check "one root span for the run, no parent, ok, on the service named: $root_span" \
  '[ "$(jq -r "[.parentSpanId // \"none\", .status.code, .service, .env, .attrs[\"agentcron.status\"], .attrs[\"agentcron.attempts\"]] | join(\",\")" <<<"$root_span")" = "none,1,traced-worker,test,succeeded,2" ]'
check "every span of the run is in its trace" '[ "$(jq -r .traceId "$tmp/hook_spans" | sort -u)" = "$trace" ]'
root_id=$(jq -r .spanId <<<"$root_span")
enq=$(jq -c '.events[] | select(.name == "enqueued")' <<<"$root_span")
check "the root holds the moment the run was queued, its lateness, between the slot and the first attempt: $enq" \
  '[ -n "$enq" ] && [ "$(jq -r .timeUnixNano <<<"$enq")" -ge "$(jq -r .startTimeUnixNano <<<"$root_span")" ] && [ "$(jq -r ".attributes[0].key" <<<"$enq")" = agentcron.lateness_ms ]'
jq -c 'select(.name == "agentcron.attempt")' "$tmp/hook_spans" | jq -s 'sort_by(.attrs["agentcron.attempt"])' >"$tmp/attempts"
check "two attempt spans under the root, failed then succeeded, with worker and agent" \
  '[ "$(jq -r "map([.parentSpanId == \"$root_id\", .attrs[\"agentcron.attempt\"], .attrs[\"agentcron.outcome\"], .attrs[\"agentcron.worker\"], .attrs[\"agentcron.agent\"]] | join(\"/\")) | join(\" \")" "$tmp/attempts")" = "true/1/retrying/tw/hook true/2/succeeded/tw/hook" ]'
check "the failed attempt's span says so, with the error" \
  '[ "$(jq -r ".[0].status.code, .[1].status.code" "$tmp/attempts" | tr "\n" " ")" = "2 1 " ] && jq -r ".[0].status.message" "$tmp/attempts" | grep -q 500'
check "the succeeding attempt carries tokens and credits" \
  '[ "$(jq -r ".[1].attrs | [.[\"gen_ai.usage.input_tokens\"], .[\"gen_ai.usage.output_tokens\"], .[\"agentcron.credits\"]] | join(\",\")" "$tmp/attempts")" = "120,30,3" ]'
for a in 0 1; do
  att_id=$(jq -r ".[$a].spanId" "$tmp/attempts")
  call=$(jq -c "select(.kind == 3 and .parentSpanId == \"$att_id\")" "$tmp/hook_spans")
  tp=$(jq -r "select(.path == \"/flaky/k1\") | .headers.traceparent" "$peerlog" | sed -n "$((a + 1))p")
  check "attempt $((a + 1)): a client span under it, and the receiver saw its traceparent: $tp" \
    '[ -n "$call" ] && [ "$tp" = "00-$trace-$(jq -r .spanId <<<"$call")-01" ]'
done
check "the failed call's span says so" '[ "$(jq -r "select(.kind == 3) | .status.code" "$tmp/hook_spans" | sort | tr "\n" " ")" = "1 2 " ]'
script_trace=$(spans_of "$r_script" | jq -r 'select(.name == "agentcron.run") | .traceId')
out=$(sql "select output from task_runs where id = $r_script")
check "an exec command gets TRACEPARENT in the run's trace: $out" '[[ "$out" == tp=00-$script_trace-????????????????-01* ]]'

# --- the collector is down: runs go on, only spans are lost, and /metrics counts them
stop_all
OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=http://127.0.0.1:1/v1/traces "$worker" --instance down >"$tmp/down.log" 2>&1 & pids+=($!)
for _ in 1 2 3; do "$cli" tasks trigger "$t_script" >/dev/null; done
wait_sql "runs succeed with the collector down" 15 "select count(*) from task_runs where task_id = $t_script and status = 'succeeded'" = 4
sleep 2.5
api_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
HTTP_LISTEN=127.0.0.1:$api_port "$orch" --instance om >"$tmp/om.log" 2>&1 & pids+=($!)
for _ in $(seq 50); do curl -s "http://127.0.0.1:$api_port/healthz" >/dev/null && break; sleep 0.1; done
curl -s "http://127.0.0.1:$api_port/metrics" >"$tmp/metrics"
lost=$(sed -n 's/^agentcron_trace_spans{result="failed"} //p' "$tmp/metrics")
check "lost spans are counted in /metrics: $lost" '[ "${lost:-0}" -ge 6 ]'
check "the worker said so once in its log" '[ "$(grep -c "traces.export_failed" "$tmp/down.log")" = 1 ]'
check "per-agent run counts in /metrics" \
  'grep -q "^agentcron_agent_runs{agent=\"script\",outcome=\"succeeded\"} 4$" "$tmp/metrics" && grep -q "^agentcron_agent_runs{agent=\"hook\",outcome=\"succeeded\"} 1$" "$tmp/metrics"'
check "per-agent tokens and credits" \
  'grep -q "^agentcron_agent_tokens{agent=\"hook\",kind=\"prompt\"} 120$" "$tmp/metrics" && grep -q "^agentcron_agent_credits{agent=\"hook\"} 3$" "$tmp/metrics"'
check "a per-agent duration histogram, cumulative to its count" \
  '[ "$(sed -n "s/^agentcron_agent_run_duration_seconds_bucket{agent=\"script\",le=\"+Inf\"} //p" "$tmp/metrics")" = 4 ] && grep -q "^agentcron_agent_run_duration_seconds_count{agent=\"script\"} 4$" "$tmp/metrics"'
check "no per-task or per-user series" '! grep -q "task=\|user=" "$tmp/metrics"'
finish
