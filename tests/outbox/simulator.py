"""
A vendor simulator on loopback that honours idempotency keys and counts what it applied.

``POST /v1/payment_intents`` with an ``Idempotency-Key`` header applies the body once per key (a
replay returns the first result, like Stripe); ``GET /stats`` reports requests, applications and
the order in which each patient's payments were applied.
"""

from __future__ import annotations

import json
import threading
from collections import Counter, defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class VendorSimulator:
    """Runs the HTTP server in a daemon thread; `url` is its base address."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests: Counter[str] = Counter()
        self.applied: dict[str, dict[str, Any]] = {}
        self.order: defaultdict[str, list[int]] = defaultdict(list)
        self.mismatched = 0
        sim = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_args: object) -> None:
                return

            def _reply(self, status: int, body: object) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                with sim.lock:
                    self._reply(200, sim.stats())

            def do_POST(self) -> None:
                key = self.headers.get("Idempotency-Key", "")
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with sim.lock:
                    sim.requests[key] += 1
                    first = sim.applied.get(key)
                    if first is None:
                        first = sim.applied[key] = {"id": f"pi_{len(sim.applied)}", **body}
                        sim.order[body["patient"]].append(body["n"])
                    elif {k: first[k] for k in body} != body:
                        sim.mismatched += 1
                        self._reply(409, {"error": "idempotency key reused"})
                        return
                self._reply(200, first)

        class Server(ThreadingHTTPServer):
            request_queue_size = 256  # a relay opens a batch of connections at once
            daemon_threads = True

        self.server = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def stats(self) -> dict[str, Any]:
        return {
            "requests": sum(self.requests.values()),
            "applied": len(self.applied),
            "max_per_key": max(self.requests.values(), default=0),
        }

    def __enter__(self) -> VendorSimulator:
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
