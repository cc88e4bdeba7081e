"""Download a guide as a stream of byte chunks, never holding the whole body.

Redirects (at most five) are followed by hand so that every hop goes through :mod:`.guard`; each socket
read waits at most for what is left of the fetch's deadline; the time spent waiting on the network is
measured, which is the fetch's ``fetchDuration``.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import time
from collections.abc import Iterator
from urllib.parse import urljoin

from . import guard
from .errors import Deadline, FetchFailed, FetchTimedOut

CHUNK_SIZE = 256 * 1024
MAX_REDIRECTS = 5
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
USER_AGENT = "Catena-EPG/1 (XMLTV importer)"
ACCEPTED_ENCODINGS = ("", "identity", "gzip", "x-gzip")
MAX_ETAG, MAX_LAST_MODIFIED = 512, 64  # the columns that keep them (EpgSource.guide_etag, guide_last_modified)


def pinned_connection(target: guard.Target, timeout: float) -> http.client.HTTPConnection:
    """A connection to ``target.host`` that opens its socket to the vetted addresses only (also used by the
    webhook deliveries, ``monitoring.webhooks.delivery``)."""
    if target.scheme == "https":
        connection = http.client.HTTPSConnection(target.host, target.port, timeout=timeout,
                                                 context=ssl.create_default_context())
    else:
        connection = http.client.HTTPConnection(target.host, target.port, timeout=timeout)

    def create_connection(address, timeout=None, source_address=None):
        error: OSError | None = None
        for ip in target.addresses:
            try:
                return socket.create_connection((ip, target.port), timeout, source_address)
            except OSError as exc:
                error = exc
        raise error or OSError("no address to connect to")

    # http.client's documented seam for opening the socket; TLS still verifies the certificate for the
    # host name, since HTTPSConnection wraps this socket with server_hostname=target.host.
    connection._create_connection = create_connection
    return connection


class Download:
    """An open HTTP response of the guide. Iterate :meth:`chunks`, then :meth:`close`."""

    def __init__(self, url: str, *, deadline: Deadline, allow_private: bool, etag: str = "", last_modified: str = ""):
        self.url = url
        # The validators of the body imported last: sent as If-None-Match / If-Modified-Since; a 304 answer sets
        # not_modified (and the body is empty). The validators of the answer are kept in etag/last_modified.
        self._conditions = {name: value for name, value in (("If-None-Match", etag),
                                                             ("If-Modified-Since", last_modified)) if value}
        self.not_modified = False
        self.etag = ""
        self.last_modified = ""
        self.deadline = deadline
        self.allow_private = allow_private
        self.network_seconds = 0.0
        self.received = 0
        self.content_encoding = ""
        self._connection: http.client.HTTPConnection | None = None
        self._response: http.client.HTTPResponse | None = None
        self._socket: socket.socket | None = None  # kept: http.client detaches it for "Connection: close"

    def open(self) -> Download:
        """Connect, follow redirects, and stop at a 2xx answer; FetchFailed for anything else."""
        url = self.url
        for hop in range(MAX_REDIRECTS + 1):
            started = time.perf_counter()
            try:
                status, response = self._request(url)
            finally:
                self.network_seconds += time.perf_counter() - started
            if status in REDIRECT_STATUSES:
                location = response.getheader("Location")
                self.close()
                if not location:
                    raise FetchFailed(f"HTTP {status} redirect without a Location header from {url}.")
                if hop == MAX_REDIRECTS:
                    raise FetchFailed(f"Too many redirects (more than {MAX_REDIRECTS}), the last one to {location}.")
                url = urljoin(url, location)
                continue
            if status == 304 and self._conditions:  # validators it leaves out stay as they were
                self.url, self.not_modified = url, True
                etag, modified = self._validators(response)
                self.etag = etag or self._conditions.get("If-None-Match", "")
                self.last_modified = modified or self._conditions.get("If-Modified-Since", "")
                return self
            if not 200 <= status < 300:
                reason = response.reason or ""
                self.close()
                raise FetchFailed(f"The server answered HTTP {status} {reason} for {url}.".replace("  ", " "))
            encoding = (response.getheader("Content-Encoding") or "").strip().lower()
            if encoding not in ACCEPTED_ENCODINGS:
                self.close()
                raise FetchFailed(f"Unsupported Content-Encoding {encoding!r} from {url} (only gzip is accepted).")
            self.url, self.content_encoding = url, encoding
            self.etag, self.last_modified = self._validators(response)
            return self
        raise AssertionError("unreachable")

    @staticmethod
    def _validators(response: http.client.HTTPResponse) -> tuple[str, str]:
        """The answer's ETag and Last-Modified (empty when absent or implausibly long)."""
        etag, modified = (response.getheader(name) or "" for name in ("ETag", "Last-Modified"))
        return (etag if len(etag) <= MAX_ETAG else ""), (modified if len(modified) <= MAX_LAST_MODIFIED else "")

    def _request(self, url: str) -> tuple[int, http.client.HTTPResponse]:
        target = guard.resolve(url, allow_private=self.allow_private)
        timeout = self.deadline.remaining(f"connecting to {target.host}")
        self._connection = pinned_connection(target, timeout)
        try:
            self._connection.request("GET", target.path, headers={
                "User-Agent": USER_AGENT, "Accept": "application/xml, text/xml, */*", "Accept-Encoding": "gzip",
                **self._conditions})
            self._socket = self._connection.sock
            self._socket.settimeout(self.deadline.remaining(f"waiting for {target.host} to answer"))
            self._response = self._connection.getresponse()
        except TimeoutError:
            self.close()
            self.deadline.remaining(f"waiting for {target.host} to answer")
            raise FetchTimedOut(f"{target.host} did not answer in time.") from None
        except (OSError, http.client.HTTPException, ssl.CertificateError) as exc:
            self.close()
            raise FetchFailed(f"Cannot fetch {url}: {exc or type(exc).__name__}.") from None
        return self._response.status, self._response

    def chunks(self) -> Iterator[bytes]:
        """The raw body (as sent, possibly gzip) in chunks; FetchTimedOut when the deadline passes."""
        response = self._response
        while not self.not_modified:
            self._socket.settimeout(self.deadline.remaining(f"downloading the guide ({self.received:,} bytes "
                                                            "received)"))
            started = time.perf_counter()
            try:
                data = response.read1(CHUNK_SIZE)
            except TimeoutError:
                self.deadline.remaining(f"downloading the guide ({self.received:,} bytes received)")
                raise FetchTimedOut(f"The download stalled after {self.received:,} bytes.") from None
            except (OSError, http.client.HTTPException) as exc:
                raise FetchFailed(f"The download failed after {self.received:,} bytes: {exc}.") from None
            finally:
                self.network_seconds += time.perf_counter() - started
            if not data:
                break
            self.received += len(data)
            yield data
        if response.length:  # the connection closed before Content-Length bytes arrived
            raise FetchFailed(f"The download ended early: {self.received:,} bytes received, "
                              f"{response.length:,} more announced by Content-Length.")

    def close(self) -> None:
        if self._response is not None:
            self._response.close()
            self._response = None
        if self._connection is not None:
            self._connection.close()
            self._connection = None
        if self._socket is not None:
            self._socket.close()
            self._socket = None

    def __enter__(self) -> Download:
        return self.open()

    def __exit__(self, *exc_info) -> None:
        self.close()
