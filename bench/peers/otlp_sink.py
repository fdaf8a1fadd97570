#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A minimal OTLP/HTTP trace sink and webhook sink for the benchmarks: answers 200 to every POST
without parsing it (a collector elsewhere would do the parsing), and counts requests and bytes.
Usage: otlp_sink.py PORT_FILE   (writes the port it listens on; prints counts on SIGTERM)"""
import signal
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

counts = {"requests": 0, "bytes": 0}


class Sink(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # else each answer waits for a delayed ACK (40 ms)

    def log_message(self, *a):
        pass

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(n)
        counts["requests"] += 1
        counts["bytes"] += n
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")


def main():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Sink)
    with open(sys.argv[1], "w") as f:
        f.write(str(srv.server_address[1]))

    def stop(*_):
        print("sink: %d requests, %d bytes" % (counts["requests"], counts["bytes"]), file=sys.stderr)
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    srv.serve_forever()


if __name__ == "__main__":
    main()
