"""A real HTTP webhook on 127.0.0.1 for Apprise's json:// URLs, shared by the channel, transport and outbox tests.

POST /status/NNN answers NNN; /slow waits (far longer than any client timeout) until the receiver closes;
anything else answers ``receiver.status`` (200 unless a test sets it), after ``receiver.delay`` seconds
(0 unless a test sets it: a receiver that answers after the sender's timeout). Only what it answered 2xx
is kept in ``received``; ``per_delivery`` counts every request that arrived, by its X-Shanhai-Delivery
header, whatever it answered and whether or not the sender was still waiting.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class WebhookReceiver(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: int = 0) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.status = 200
        self.delay = 0.0
        self.received: list[tuple[str, dict]] = []
        self.headers_seen: list[dict[str, str]] = []
        self.per_delivery: Counter[str] = Counter()
        self.lock = threading.Lock()
        self.release = threading.Event()
        self._thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def port(self) -> int:
        return self.server_address[1]

    @property
    def bodies(self) -> list[dict]:
        with self.lock:
            return [payload for _, payload in self.received]

    def __enter__(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self.shutdown()
        self.server_close()
        self._thread.join(5)


class _Handler(BaseHTTPRequestHandler):
    server: WebhookReceiver

    def do_POST(self) -> None:  # noqa: N802
        data = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
        with self.server.lock:
            self.server.headers_seen.append(dict(self.headers.items()))
            if "X-Shanhai-Delivery" in self.headers:
                self.server.per_delivery[self.headers["X-Shanhai-Delivery"]] += 1
        if self.path == "/slow":
            self.server.release.wait(10)
        elif self.server.delay:
            self.server.release.wait(self.server.delay)  # processing: answers late, or at close
        with self.server.lock:
            status = int(self.path.rsplit("/", 1)[1]) if self.path.startswith("/status/") else self.server.status
            if 200 <= status < 300:
                self.server.received.append((self.path, data))
        payload = b'{"ok": true}'
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except OSError:  # the sender stopped waiting and closed the connection
            pass

    def log_message(self, *args: object) -> None:
        pass
