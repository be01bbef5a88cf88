#!/usr/bin/env python3
"""Serves N Prometheus targets from one loopback port for the agent benchmark.

Usage: bench_targets.py BODY_FILE N PORT

Every target /t/<i> (0 <= i < N) answers BODY_FILE's exposition (a real node exporter's, captured
by scripts/agent_bench.sh) with the DCMI power of host i appended, so each target is a host with
a wall meter. Counts the requests it served in BODY_FILE.served on exit.
"""
import http.server
import signal
import sys


def main():
    body_file, n, port = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    base = open(body_file, "rb").read()
    bodies = [
        base
        + b"# TYPE ipmi_dcmi_power_consumption_watts gauge\n"
        + b"ipmi_dcmi_power_consumption_watts %d\n" % (150 + i % 200)
        for i in range(n)
    ]
    served = [0]

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):
            parts = self.path.split("/")
            try:
                body = bodies[int(parts[2])]
            except (IndexError, ValueError):
                self.send_error(404)
                return
            served[0] += 1
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True

    def stop(*_):
        open(body_file + ".served", "w").write(str(served[0]))
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    server.serve_forever()


if __name__ == "__main__":
    main()
