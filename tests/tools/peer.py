#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A real HTTP peer for the worker's tests: a webhook target and an OpenAI-compatible endpoint.

Every request is appended to a JSON-lines log (method, path, headers, body, and whether the
bearer and the X-Agentcron-Signature checked out). Behaviour is chosen by the path:

  /ok                      200 with {"ok": true, "usage": {...}}
  /status/CODE             that status (with Retry-After: N when ?retry_after=N)
  /flaky/KEY?fail=N&code=C C for the first N requests with this KEY, then 200
  /slow?ms=N               answers after N ms
  /drop                    closes the connection without an answer
  /big?bytes=N             200 with an N-byte body
  /redirect?to=PATH        302 to PATH
  /v1/chat/completions     an LLM answer echoing the user message, with usage
  /v1/traces               an OTLP/HTTP JSON trace receiver: 200 if the export request has
                           every field the OTLP schema requires, else 400 naming the first
                           missing or malformed one (the log's "otlp_error")

Usage: peer.py --port P [--tls-port Q --cert C --key K] --log FILE [--bearer B]
               [--signing-key K1] [--signing-key K2]
Port 0 picks a free port. Prints "ready PORT [TLS_PORT]" once listening.
"""
import argparse
import hashlib
import hmac
import json
import socket
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

lock = threading.Lock()
counters = {}
args = None


def signature_ok(header, body):
    """Verifies t=...,v1=... the way a receiver would: any v1 under any known key, fresh t."""
    if not header or not args.signing_key:
        return None
    parts = [p.split("=", 1) for p in header.split(",") if "=" in p]
    stamp = next((v for k, v in parts if k == "t"), None)
    macs = [v for k, v in parts if k == "v1"]
    if not stamp or not macs or abs(time.time() - int(stamp)) > 300:
        return False
    for key in args.signing_key:
        want = hmac.new(key.encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
        if any(hmac.compare_digest(want, m) for m in macs):
            return True
    return False


HEX = set("0123456789abcdef")


def otlp_error(body):
    """The first way an ExportTraceServiceRequest (OTLP/JSON) breaks the schema, or None."""
    def hexid(v, n):
        return isinstance(v, str) and len(v) == n and set(v) <= HEX and v != "0" * n

    def attrs_error(attrs, where):
        if not isinstance(attrs, list):
            return where + ".attributes is not an array"
        kinds = {"stringValue", "boolValue", "intValue", "doubleValue", "arrayValue", "kvlistValue", "bytesValue"}
        for a in attrs:
            if not isinstance(a, dict) or not isinstance(a.get("key"), str) or not a["key"]:
                return where + ": an attribute without a key"
            v = a.get("value")
            if not isinstance(v, dict) or len(v) != 1 or next(iter(v)) not in kinds:
                return where + ": attribute %s has no single typed value" % a["key"]
            if "intValue" in v and not str(v["intValue"]).lstrip("-").isdigit():
                return where + ": attribute %s: intValue is not an integer" % a["key"]
        return None

    try:
        doc = json.loads(body)
    except ValueError as e:
        return "not JSON: %s" % e
    rs = doc.get("resourceSpans") if isinstance(doc, dict) else None
    if not isinstance(rs, list) or not rs:
        return "resourceSpans is missing or empty"
    for r in rs:
        res = r.get("resource")
        if not isinstance(res, dict):
            return "resource is missing"
        err = attrs_error(res.get("attributes", []), "resource")
        if err:
            return err
        if not any(a.get("key") == "service.name" for a in res.get("attributes", [])):
            return "resource has no service.name"
        for ss in r.get("scopeSpans", []):
            for sp in ss.get("spans", []):
                for f in ("traceId", "spanId", "name", "startTimeUnixNano", "endTimeUnixNano"):
                    if f not in sp:
                        return "a span has no " + f
                if not hexid(sp["traceId"], 32) or not hexid(sp["spanId"], 16):
                    return "span %s: traceId or spanId is not lowercase hex of the right length" % sp["name"]
                if sp.get("parentSpanId") not in (None, "") and not hexid(sp["parentSpanId"], 16):
                    return "span %s: parentSpanId is malformed" % sp["name"]
                if not isinstance(sp.get("kind", 0), int) or not 0 <= sp.get("kind", 0) <= 5:
                    return "span %s: kind is not 0-5" % sp["name"]
                try:
                    if int(sp["endTimeUnixNano"]) < int(sp["startTimeUnixNano"]):
                        return "span %s ends before it starts" % sp["name"]
                except (TypeError, ValueError):
                    return "span %s: times are not integers" % sp["name"]
                err = attrs_error(sp.get("attributes", []), "span " + sp["name"])
                if err:
                    return err
                for ev in sp.get("events", []):
                    if not isinstance(ev, dict) or not str(ev.get("timeUnixNano", "")).isdigit() or not ev.get("name"):
                        return "span %s: an event without timeUnixNano or name" % sp["name"]
                    err = attrs_error(ev.get("attributes", []), "event " + ev["name"])
                    if err:
                        return err
                st = sp.get("status", {})
                if not isinstance(st, dict) or st.get("code", 0) not in (0, 1, 2):
                    return "span %s: status.code is not 0-2" % sp["name"]
    return None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # else each answer waits for a delayed ACK (40 ms)

    def log_message(self, *a):
        pass

    def answer(self, code, doc=None, body=None, headers=()):
        data = body if body is not None else json.dumps(doc if doc is not None else {}).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def handle_any(self):
        url = urlparse(self.path)
        q = {k: v[0] for k, v in parse_qs(url.query).items()}
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        auth = self.headers.get("Authorization")
        record = {
            "method": self.command, "path": url.path, "query": q, "headers": dict(self.headers),
            "user_agents": self.headers.get_all("User-Agent") or [],
            "body": body.decode("utf-8", "replace"), "tls": isinstance(self.connection, ssl.SSLSocket),
            "bearer_ok": None if not args.bearer else auth == "Bearer " + args.bearer,
            "signature_ok": signature_ok(self.headers.get("X-Agentcron-Signature"), body),
            "at": time.time(),
        }
        if url.path == "/v1/traces":
            record["otlp_error"] = otlp_error(body)
        with lock:
            with open(args.log, "a") as f:
                f.write(json.dumps(record) + "\n")
        if args.bearer and auth != "Bearer " + args.bearer:
            return self.answer(401, {"error": "bad bearer"})
        usage = {"prompt_tokens": 120, "completion_tokens": 30, "total_tokens": 150}
        path = url.path
        if path == "/ok":
            return self.answer(200, {"ok": True, "usage": usage})
        if path.startswith("/status/"):
            code = int(path.split("/")[2])
            headers = [("Retry-After", q["retry_after"])] if "retry_after" in q else []
            return self.answer(code, {"error": "as asked"}, headers=headers)
        if path.startswith("/flaky/"):
            key = path.split("/")[2]
            with lock:
                n = counters[key] = counters.get(key, 0) + 1
            if n <= int(q.get("fail", 1)):
                code = int(q.get("code", 500))
                headers = [("Retry-After", q["retry_after"])] if "retry_after" in q else []
                return self.answer(code, {"error": "flaky"}, headers=headers)
            return self.answer(200, {"ok": True, "after": n, "usage": usage})
        if path == "/slow":
            time.sleep(int(q.get("ms", 1000)) / 1000)
            return self.answer(200, {"ok": True, "slow": True})
        if path == "/drop":
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if path == "/big":
            return self.answer(200, body=b"x" * int(q.get("bytes", 1000)))
        if path == "/redirect":
            return self.answer(302, {}, headers=[("Location", q.get("to", "/ok"))])
        if path == "/v1/traces":
            if record["otlp_error"]:
                return self.answer(400, {"error": record["otlp_error"]})
            return self.answer(200, {"partialSuccess": {}})
        if path == "/v1/chat/completions":
            req = json.loads(body or b"{}")
            user = next((m["content"] for m in req.get("messages", []) if m.get("role") == "user"), "")
            system = next((m["content"] for m in req.get("messages", []) if m.get("role") == "system"), "")
            return self.answer(200, {
                "id": "chatcmpl-test", "object": "chat.completion", "model": req.get("model"),
                "choices": [{"index": 0, "finish_reason": "stop", "message": {
                    "role": "assistant", "content": f"answer to: {user} (system: {system}; max_tokens: {req.get('max_tokens')})"}}],
                "usage": {"prompt_tokens": 1000, "completion_tokens": 1500, "total_tokens": 2500}})
        return self.answer(404, {"error": "no such path"})

    do_GET = do_POST = handle_any


def main():
    global args
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--tls-port", type=int)
    p.add_argument("--cert")
    p.add_argument("--key")
    p.add_argument("--log", required=True)
    p.add_argument("--bearer")
    p.add_argument("--signing-key", action="append")
    args = p.parse_args()
    servers = [ThreadingHTTPServer(("127.0.0.1", args.port), Handler)]
    if args.tls_port is not None:
        tls = ThreadingHTTPServer(("127.0.0.1", args.tls_port), Handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args.cert, args.key)
        tls.socket = ctx.wrap_socket(tls.socket, server_side=True)
        servers.append(tls)
    for s in servers:
        s.daemon_threads = True
        threading.Thread(target=s.serve_forever, daemon=True).start()
    print("ready", *[s.server_address[1] for s in servers], flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
