#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Test peer for durable steps (docs/steps.md): real HTTP on loopback, standard library only.

  POST /app                  an http agent's app using the step protocol: for each step s1..sN
                             of the run not done yet, reserve, work, report
  POST /v1/chat/completions  an OpenAI-compatible model scripted by the goal: it calls tool
                             `lookup` `tools` times (one call per answer), then answers
  POST /tool/lookup          the tool the model calls

The goal (JSON) scripts each run: {"steps": N, "credits": C, "tokens": [P, C], "tools": K,
"pause": [POSITION for the run's first start, for its second, ...]} (a start: a request of an
attempt, which a drain repeats with the same attempt number). A position stops that start there for
good (the test kills the worker meanwhile): "s2:mid" (reserved, not reported), "s2:after"
(reported), "model-2:mid" (the model's second call, unanswered), "tool-call_1:before" (the tool
call arrived: the model step before it is recorded), "tool-call_1:mid", "model-2:before".

Every event is a JSON line in the log: "paused" (run, start, attempt, at), "executed" (run, step,
attempt: a step's work done, once it will be reported), "refused" and "stopped" (the answers
the app got), "token" (the run token a request carried).
Usage: step_peer.py --port P --log FILE. Prints "ready PORT" once listening.
"""
import argparse
import json
import sys
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

lock = threading.Lock()
args = None
PAUSE_S = 600  # "for good": the test is over long before


def log(**event):
    with lock, open(args.log, "a") as f:
        f.write(json.dumps(event) + "\n")


starts = {}  # run -> requests of the app for it so far


def pause_here(goal, run, start, attempt, at):
    pauses = goal.get("pause") or []
    if start <= len(pauses) and pauses[start - 1] == at:
        log(event="paused", run=run, start=start, attempt=attempt, at=at)
        time.sleep(PAUSE_S)
        return True
    return False


def call(url, token, body):
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json", "Authorization": "Bearer " + token})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def app(body):
    """The http agent's app: what a customer writes (docs/steps.md shows the same)."""
    run, attempt, token, url = body["run"], body["attempt"], body["runToken"], body["stepsUrl"]
    goal = json.loads(body["goal"])
    log(event="token", run=run, attempt=attempt, token=token, url=url)
    with lock:
        start = starts[run] = starts.get(run, 0) + 1
    done = {s["id"] for s in body["steps"]}
    prompt, completion = goal.get("tokens", [100, 50])
    for i in range(1, goal["steps"] + 1):
        sid = f"s{i}"
        if sid in done:
            continue
        code, r = call(f"{url}/{sid}/reserve", token, {"credits": goal.get("credits", 1)})
        if r.get("status") == "duplicate":
            continue
        if r.get("status") != "granted":
            log(event="refused", run=run, attempt=attempt, step=sid, code=code, reason=r.get("reason"),
                message=r.get("message"))
            return 200, {"stopped": r.get("reason") or r.get("status")}
        if pause_here(goal, run, start, attempt, f"{sid}:mid"):
            return 500, {"error": "paused"}
        time.sleep(goal.get("work_ms", 0) / 1000)
        log(event="executed", run=run, step=sid, attempt=attempt)
        code, r = call(url, token, {"step": sid, "output": {"i": i, "attempt": attempt},
                                    "usage": {"prompt_tokens": prompt, "completion_tokens": completion}})
        if r.get("status") not in ("recorded", "duplicate"):
            log(event="stopped", run=run, attempt=attempt, step=sid, code=code, status=r.get("status"))
            return 200, {"stopped": r.get("status")}
        if pause_here(goal, run, start, attempt, f"{sid}:after"):
            return 500, {"error": "paused"}
    return 200, {"done": goal["steps"]}


def model(req):
    """A model that calls `lookup` once an answer until it has made `tools` calls, then answers."""
    goal = json.loads(next(m["content"] for m in req["messages"] if m["role"] == "user"))
    answers = sum(1 for m in req["messages"] if m["role"] == "assistant")
    n = answers + 1
    usage = {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120}
    if n <= goal.get("tools", 0):
        message = {"role": "assistant", "content": None, "tool_calls": [
            {"id": f"call_{n}", "type": "function", "function": {"name": "lookup", "arguments": json.dumps({"n": n})}}]}
    else:
        message = {"role": "assistant", "content": f"final answer after {answers} tool calls"}
    return {"id": f"chatcmpl-{n}", "object": "chat.completion", "model": req.get("model"),
            "choices": [{"index": 0, "finish_reason": "tool_calls" if "tool_calls" in message else "stop",
                         "message": message}], "usage": usage}


# The llm loop's positions are reached in order; a start of the run is the count of pauses made
# for it so far, plus one.
paused_runs = {}
tool_goals = {}  # run -> goal, learned from the model's calls (a tool does not see the goal)


def llm_pause(goal, run, at):
    with lock:
        start = paused_runs.get(run, 0) + 1
        pauses = goal.get("pause") or []
        hit = start <= len(pauses) and pauses[start - 1] == at
        if hit:
            paused_runs[run] = start
    if hit:
        log(event="paused", run=run, start=start, at=at)
        time.sleep(PAUSE_S)
    return hit


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # else each answer waits for a delayed ACK (40 ms)

    def log_message(self, fmt, *a):
        pass

    def answer(self, code, doc):
        data = json.dumps(doc).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        run = int(self.headers.get("X-Agentcron-Run") or 0)
        if self.path == "/app":
            code, doc = app(json.loads(body))
            return self.answer(code, doc)
        if self.path == "/v1/chat/completions":
            req = json.loads(body)
            goal = json.loads(next(m["content"] for m in req["messages"] if m["role"] == "user"))
            tool_goals[run] = goal
            n = sum(1 for m in req["messages"] if m["role"] == "assistant") + 1
            if llm_pause(goal, run, f"model-{n}:before") or llm_pause(goal, run, f"model-{n}:mid"):
                return
            log(event="executed", run=run, step=f"model-{n}", max_tokens=req.get("max_tokens"),
                tools=[t["function"]["name"] for t in req.get("tools", [])])
            return self.answer(200, model(req))
        if self.path == "/tool/lookup":
            n = json.loads(body)["n"]
            step = f"tool-call_{n}"
            goal = tool_goals.get(run, {})
            if llm_pause(goal, run, f"{step}:before") or llm_pause(goal, run, f"{step}:mid"):
                return
            log(event="executed", run=run, step=step, auth=self.headers.get("Authorization"),
                key=self.headers.get("Idempotency-Key"))
            return self.answer(200, {"n": n, "found": f"fact {n}"})
        return self.answer(404, {"error": "no such path"})


def main():
    global args
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--log", required=True)
    args = p.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print("ready", server.server_address[1], flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
