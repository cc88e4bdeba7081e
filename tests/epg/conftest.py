"""A real HTTP server for guides, and private URLs allowed (it listens on 127.0.0.1) unless a test says not."""

from __future__ import annotations

import shutil
import ssl
import subprocess
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


@dataclass
class Route:
    """A canned answer: status, headers, body; ``trickle`` sends the body a byte at a time with pauses;
    ``pause_at`` sends that many bytes, sets the server's ``paused`` event and waits for ``resume``."""

    body: bytes = b""
    status: int = 200
    headers: dict = field(default_factory=dict)
    trickle: float | None = None
    pause_at: int | None = None


class GuideServer:
    """An HTTP server on 127.0.0.1 (random port) in a thread, answering each path with its :class:`Route`."""

    def __init__(self, tls: ssl.SSLContext | None = None):
        self.tls = tls
        self.routes: dict[str, Route] = {}
        self.requests: list[str] = []
        self.request_headers: list[dict] = []
        self.paused = threading.Event()
        self.resume = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _not_modified(self, route: Route) -> bool:
                """A conditional GET naming the route's validators (ETag, or else Last-Modified) gets a 304."""
                etag, modified = route.headers.get("ETag"), route.headers.get("Last-Modified")
                if etag and self.headers.get("If-None-Match"):
                    return self.headers["If-None-Match"] == etag
                return bool(modified) and self.headers.get("If-Modified-Since") == modified

            def do_GET(self):
                server.requests.append(self.path)
                server.request_headers.append(dict(self.headers))
                route = server.routes.get(self.path, Route(b"not found", 404))
                if route.status == 200 and self._not_modified(route):
                    self.send_response(304)
                    if "ETag" in route.headers:  # (a 304 need not repeat Last-Modified)
                        self.send_header("ETag", route.headers["ETag"])
                    self.end_headers()
                    return
                self.send_response(route.status)
                for name, value in route.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(route.body)))
                self.end_headers()
                try:
                    if route.pause_at is not None:
                        self.wfile.write(route.body[:route.pause_at])
                        self.wfile.flush()
                        server.paused.set()
                        server.resume.wait()
                        self.wfile.write(route.body[route.pause_at:])
                        return
                    if route.trickle is None:
                        self.wfile.write(route.body)
                        return
                    for index in range(len(route.body)):
                        self.wfile.write(route.body[index:index + 1])
                        self.wfile.flush()
                        time.sleep(route.trickle)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        if tls is not None:
            self.httpd.socket = tls.wrap_socket(self.httpd.socket, server_side=True)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def port(self) -> int:
        return self.httpd.server_address[1]

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"{'https' if self.tls else 'http'}://{host}:{self.port}{path}"

    def serve(self, path: str, body: bytes = b"", status: int = 200, **options) -> str:
        """Answer ``path`` with this body (and status, headers, trickle); returns its URL."""
        self.routes[path] = Route(body, status, options.pop("headers", {}), **options)
        return self.url(path)

    def redirect(self, path: str, location: str, status: int = 302) -> str:
        return self.serve(path, b"", status, headers={"Location": location})

    def close(self) -> None:
        self.resume.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def sent(monkeypatch):
    """Job ids of EPG fetches sent to the broker (recorded instead of sent)."""
    from content import tasks

    jobs = []
    monkeypatch.setattr(tasks.fetch_epg_source, "apply_async", lambda args, task_id: jobs.append(task_id))
    return jobs


@pytest.fixture
def server():
    guide_server = GuideServer()
    yield guide_server
    guide_server.close()


@pytest.fixture
def certificate(tmp_path) -> str:
    """A self-signed certificate (and key) for ``localhost``, as one PEM file."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a test certificate")
    pem = tmp_path / "localhost.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost", "-keyout", str(pem), "-out", str(pem)],
                   check=True, capture_output=True)
    return str(pem)


@pytest.fixture
def tls_server(certificate):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certificate)
    guide_server = GuideServer(tls=context)
    yield guide_server
    guide_server.close()


@pytest.fixture(autouse=True)
def _private_urls_allowed(settings):
    """The test server is on 127.0.0.1; the URL-guard tests switch this back off."""
    settings.EPG_ALLOW_PRIVATE_URLS = True
    settings.EPG_FETCH_TIMEOUT = 20
