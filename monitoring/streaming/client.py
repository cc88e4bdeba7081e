"""A small client of the streaming server's HTTP API (Flussonic ``/streamer/api/v3``), standard library only.

Used from Celery tasks: ``POST /sessions/reauth?name=…`` after access changes, and ``GET /sessions`` for
reconciliation, each against one streaming server's API (``portals.streaming_servers.ServerConfig``: its API
URL and credentials, a token (Bearer) or a user and password (Basic); the default server's empty fields are
the ``STREAMER_API_*`` settings).
"""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.parse
import urllib.request

from django.conf import settings

from portals.streaming_servers import ServerConfig


class StreamerUnavailable(Exception):
    """A transient failure worth retrying: network error, timeout, 429 or 5xx."""


class StreamerError(Exception):
    """A definite refusal (4xx other than 404/429): retrying will not help."""


def configured(server: ServerConfig | None) -> bool:
    return server is not None and server.api_configured


def _request(server: ServerConfig, method: str, path: str, query: dict | None = None) -> tuple[int, bytes]:
    url = server.api_url.rstrip("/") + path
    if query:
        url += "?" + urllib.parse.urlencode(query)
    request = urllib.request.Request(url, method=method, data=b"" if method == "POST" else None)
    request.add_header("Accept", "application/json")
    if server.api_token:
        request.add_header("Authorization", f"Bearer {server.api_token}")
    elif server.api_user:
        pair = f"{server.api_user}:{server.api_password}".encode()
        request.add_header("Authorization", "Basic " + base64.b64encode(pair).decode())
    try:
        with urllib.request.urlopen(request, timeout=settings.STREAMER_API_TIMEOUT) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        if exc.code == 429 or exc.code >= 500:
            raise StreamerUnavailable(f"{method} {path}: HTTP {exc.code}") from exc
        return exc.code, exc.read() if exc.fp else b""
    except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
        raise StreamerUnavailable(f"{method} {path}: {exc}") from exc


def reauth(server: ServerConfig, stream_name: str) -> bool:
    """Ask the streaming server to re-authorize every session of a stream now. False if it has no such stream."""
    status, body = _request(server, "POST", "/sessions/reauth", {"name": stream_name})
    if status == 404:
        return False
    if status >= 400:
        raise StreamerError(f"reauth {stream_name}: HTTP {status} {body[:200]!r}")
    return True


def session_ids(server: ServerConfig, page_limit: int = 1000, max_pages: int = 1000) -> set[str]:
    """IDs of every play session the streaming server has open (``GET /sessions``, following ``next``)."""
    ids: set[str] = set()
    cursor = None
    for _ in range(max_pages):
        query = {"limit": page_limit, **({"cursor": cursor} if cursor else {})}
        status, body = _request(server, "GET", "/sessions", query)
        if status >= 400:
            raise StreamerError(f"list sessions: HTTP {status} {body[:200]!r}")
        try:
            page = json.loads(body or b"{}")
        except ValueError as exc:
            raise StreamerUnavailable("list sessions: not JSON") from exc
        for session in page.get("sessions") or []:
            if isinstance(session, dict) and session.get("id"):
                ids.add(str(session["id"]))
        cursor = page.get("next")
        if not cursor:
            return ids
    raise StreamerError("list sessions: too many pages")
