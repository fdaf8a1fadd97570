#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""An OpenAI-compatible model and a tool for the steps benchmark (bench/run-steps.sh), answering
at once or after a set latency: an 8-step agent loop per run, 4 model calls and 4 tool calls (the first answer calls
the tool twice, the next two once each, the fourth answers). Every answer's usage is 100 prompt
+ 20 completion tokens.

It measures what agentcron adds between two calls of a run: the time from sending an answer to
receiving the run's next call (a checkpoint of the step and, before a model call, a reservation
of credits); gaps over a second (a takeover after a worker was killed) are counted apart. Every
model answer is logged (run, step, time) so that tokens paid twice can be found afterwards.

Usage: llm_sim.py --port-file F --log F          serve until killed; GET /stats for the numbers,
                                                   GET /config?model_ms=M&tool_ms=T for latency
       llm_sim.py --baseline N                     N loops by a client without steps (the gap
                                                   a bare HTTP client leaves), printed as JSON
"""
import argparse
import http.client
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TOOLS_PER_ANSWER = [2, 1, 1]  # then the answer: 4 model calls + 4 tool calls = 8 steps
USAGE = {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120}
lock = threading.Lock()
delay_s = {"model": 0.0, "tool": 0.0}  # how long a call takes: GET /config?model_ms=M&tool_ms=T
last_answer = {}  # run -> monotonic time of its last answer
gaps, takeovers = [], 0
log_file = None


def model_answer(req):
    messages = req["messages"]
    answers = sum(1 for m in messages if m["role"] == "assistant")
    if answers < len(TOOLS_PER_ANSWER):
        calls = [{"id": f"call_{answers + 1}_{k}", "type": "function",
                  "function": {"name": "lookup", "arguments": json.dumps({"n": answers * 10 + k})}}
                 for k in range(TOOLS_PER_ANSWER[answers])]
        message = {"role": "assistant", "content": None, "tool_calls": calls}
    else:
        message = {"role": "assistant", "content": f"done after {answers} answers"}
    return answers + 1, {"id": "sim", "object": "chat.completion", "model": req.get("model"),
                         "choices": [{"index": 0, "message": message, "finish_reason": "stop"}], "usage": USAGE}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # else each answer waits for a delayed ACK (40 ms)

    def log_message(self, fmt, *a):
        pass

    def reply(self, doc):
        data = json.dumps(doc).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        """/config sets the calls' latency; /stats: the numbers since the last (each round starts with one)."""
        global takeovers
        if self.path.startswith("/config?"):
            for part in self.path.split("?", 1)[1].split("&"):
                k, v = part.split("=")
                delay_s[k.replace("_ms", "")] = int(v) / 1000
            return self.reply(delay_s)
        with lock:
            g = sorted(gaps)
            n = len(g)
            doc = {"gaps": n, "takeovers": takeovers,
                   "gap_mean_ms": sum(g) / n * 1000 if n else None,
                   "gap_p50_ms": g[n // 2] * 1000 if n else None,
                   "gap_p99_ms": g[min(n - 1, n * 99 // 100)] * 1000 if n else None}
            gaps.clear()
            last_answer.clear()
            takeovers = 0
        self.reply(doc)

    def do_POST(self):
        global takeovers
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        run = self.headers.get("X-Agentcron-Run") or "0"
        now = time.monotonic()
        with lock:
            prev = last_answer.get(run)
            if prev is not None:
                if now - prev < 1.0:
                    gaps.append(now - prev)
                else:
                    takeovers += 1
        is_model = self.path.startswith("/v1/chat/completions")
        time.sleep(delay_s["model" if is_model else "tool"])
        if is_model:
            n, doc = model_answer(json.loads(body))
            with lock:
                log_file.write(f'{{"run": {run}, "step": "model-{n}", "t": {time.time():.6f}}}\n')
        else:
            doc = {"found": json.loads(body)}
        with lock:
            last_answer[run] = time.monotonic()
        self.reply(doc)


def baseline(n):
    """The same 8 calls, one after another, by a client that records nothing: its gap."""
    server = Server(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    c = http.client.HTTPConnection("127.0.0.1", server.server_address[1])
    for i in range(n):
        messages = [{"role": "user", "content": "go"}]
        while True:
            c.request("POST", "/v1/chat/completions", json.dumps({"messages": messages}),
                      {"Content-Type": "application/json", "X-Agentcron-Run": str(i + 1)})
            msg = json.loads(c.getresponse().read())["choices"][0]["message"]
            messages.append(msg)
            if not msg.get("tool_calls"):
                break
            for call in msg["tool_calls"]:
                c.request("POST", "/tool", call["function"]["arguments"],
                          {"Content-Type": "application/json", "X-Agentcron-Run": str(i + 1)})
                messages.append({"role": "tool", "tool_call_id": call["id"], "content": c.getresponse().read().decode()})
    g = sorted(gaps)
    print(json.dumps({"runs": n, "gap_mean_ms": sum(g) / len(g) * 1000, "gap_p50_ms": g[len(g) // 2] * 1000}))


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 512  # 64 runs connect at once: a short backlog drops SYNs (a 1 s retry each)


def main():
    global log_file
    p = argparse.ArgumentParser()
    p.add_argument("--port-file")
    p.add_argument("--log", default="/dev/null")
    p.add_argument("--baseline", type=int)
    args = p.parse_args()
    log_file = open(args.log, "a", buffering=1)
    if args.baseline:
        baseline(args.baseline)
        return 0
    server = Server(("127.0.0.1", 0), Handler)
    with open(args.port_file, "w") as f:
        f.write(str(server.server_address[1]))
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
