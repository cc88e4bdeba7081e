"""A real webhook receiver for the tests: an HTTP server on 127.0.0.1 in a thread that records every POST and
answers as told (a status per request, or hanging until released)."""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HANG = "hang"


@dataclass
class Received:
    """One POST as the receiver got it."""

    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def delivery_id(self) -> str:
        return self.headers["X-Catena-Delivery"]

    def signature_is_valid(self, secret: str) -> bool:
        """The check a receiver makes (the README's example)."""
        timestamp = self.headers["X-Catena-Timestamp"]
        expected = hmac.new(secret.encode(), timestamp.encode() + b"." + self.body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(self.headers["X-Catena-Signature"], f"sha256={expected}")


class Receiver:
    """``answers``: what to do for the next requests, in turn (a status code or ``HANG``); 200 afterwards."""

    def __init__(self):
        self.received: list[Received] = []
        self.answers: deque = deque()
        self.release = threading.Event()  # ends every hanging request
        self.hanging = threading.Event()  # set while a request hangs
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.received.append(Received(self.path, dict(self.headers.items()), body))
                answer = receiver.answers.popleft() if receiver.answers else 200
                if answer == HANG:
                    receiver.hanging.set()
                    receiver.release.wait(120)
                    return  # no answer at all
                self.send_response(answer)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def wait_for(self, count: int, timeout: float = 30.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.received) >= count:
                return True
            time.sleep(0.05)
        return False

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
