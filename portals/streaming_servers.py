"""The streaming servers as the streaming endpoints and the streamer's API client see them.

Each :class:`~portals.models.StreamingServer` row becomes a :class:`ServerConfig` with its effective values:
the server named ``default`` takes each empty field from the ``STREAMER_*`` settings (a deployment configured
by environment variables keeps working unchanged); the other servers use their own fields only, so two
servers can never share a key or an API by accident.

The auth check finds its server by the ``key`` it received on every request, so that lookup costs no
database query: the rows are kept in the shared cache (written on a miss, deleted after every change of a
server) and in each process for :data:`PROCESS_SECONDS`. A change of a server (a new key, a new allow-list)
reaches every process within that bound; a change of a portal's server is exact (the portal's cached
playback facts carry its server and are invalidated with the portal's stamp).
"""

from __future__ import annotations

import functools
import hmac
import ipaddress
import logging
import re
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.signals import setting_changed
from django.db import transaction

from catena_site import access_events

from .models import DEFAULT_SERVER_NAME, StreamingServer

log = logging.getLogger(__name__)

PROCESS_SECONDS = 10  # how long a process trusts its copy of the servers
SHARED_KEY = "streaming-servers:v1"  # the rows in the shared cache (no expiry: deleted on every change)
FIELDS = ("id", "name", "key", "allowed_ips", "api_url", "api_user", "api_password", "api_token")


@dataclass(frozen=True)
class ServerConfig:
    """A streaming server's effective settings (defaults from ``STREAMER_*`` already applied)."""

    id: int
    name: str
    key: str
    allowed_ips: tuple[str, ...]
    api_url: str
    api_user: str
    api_password: str
    api_token: str

    @property
    def api_configured(self) -> bool:
        return bool(self.api_url)

    def key_matches(self, provided: str) -> bool:
        """Constant-time comparison with this server's key; a server without a key matches nothing."""
        if not self.key:
            return False
        return hmac.compare_digest(provided.encode("utf-8", "surrogatepass"), self.key.encode())

    def allows_address(self, address: str | None) -> bool:
        """Whether the allow-list (empty: any address) admits ``address``."""
        if not self.allowed_ips:
            return True
        try:
            parsed = ipaddress.ip_address(address or "")
        except ValueError:
            return False
        return any(parsed in network for network in _networks(self.allowed_ips))


@functools.lru_cache(maxsize=32)
def _networks(allowed: tuple[str, ...]) -> tuple:
    return tuple(ipaddress.ip_network(entry, strict=False) for entry in allowed)


def split_addresses(text: str) -> tuple[str, ...]:
    """The entries of an allow-list written one per line or comma-separated."""
    return tuple(part for part in re.split(r"[\s,]+", text or "") if part)


def address_problems(text: str) -> list[str]:
    """Why an allow-list is not a list of addresses or CIDRs (empty when it is)."""
    problems = []
    for entry in split_addresses(text):
        try:
            ipaddress.ip_network(entry, strict=False)
        except ValueError:
            problems.append(f"'{entry}' is not an IP address or network.")
    return problems


def config_of(row: dict) -> ServerConfig:
    """The effective settings of a server row (``FIELDS``)."""
    fallback = row["name"] == DEFAULT_SERVER_NAME
    key = row["key"] or (settings.STREAMER_KEY if fallback else "")
    allowed = split_addresses(row["allowed_ips"])
    if not allowed and fallback:
        allowed = tuple(entry.strip() for entry in settings.STREAMER_ALLOWED_IPS if entry.strip())
    api_url = row["api_url"] or (settings.STREAMER_API_URL if fallback else "")
    has_credentials = bool(row["api_token"] or row["api_user"])
    if fallback and not has_credentials:
        user, password, token = settings.STREAMER_API_USER, settings.STREAMER_API_PASSWORD, settings.STREAMER_API_TOKEN
    else:
        user, password, token = row["api_user"], row["api_password"], row["api_token"]
    return ServerConfig(id=row["id"], name=row["name"], key=key, allowed_ips=allowed, api_url=api_url,
                        api_user=user, api_password=password, api_token=token)


_memo: tuple[float, tuple[ServerConfig, ...]] | None = None


def forget(**kwargs) -> None:
    """Drop this process's copy (tests changing the settings, or a change of a server made here)."""
    global _memo
    _memo = None


setting_changed.connect(forget, dispatch_uid="streaming_servers.forget")


def _rows() -> list[dict]:
    cache = access_events.cache()
    try:
        rows = cache.get(SHARED_KEY)
    except Exception:  # the shared cache is down: read the database
        log.warning("shared cache unavailable; reading the streaming servers from the database", exc_info=True)
        rows = None
    if rows is None:
        rows = list(StreamingServer.objects.order_by("id").values(*FIELDS))
        try:
            cache.set(SHARED_KEY, rows, timeout=None)
        except Exception:
            log.warning("could not cache the streaming servers", exc_info=True)
    return rows


def all_servers() -> tuple[ServerConfig, ...]:
    """Every streaming server, effective settings, at most :data:`PROCESS_SECONDS` old."""
    global _memo
    memo = _memo
    now = time.monotonic()
    if memo is not None and memo[0] > now:
        return memo[1]
    servers = tuple(config_of(row) for row in _rows())
    _memo = (now + PROCESS_SECONDS, servers)
    return servers


def by_key(provided: str) -> ServerConfig | None:
    """The server whose key this is, or None. Every key is compared (in constant time), so the time taken
    does not tell which server, if any, nearly matched."""
    found = None
    for server in all_servers():
        if server.key_matches(provided) and found is None:
            found = server
    return found


def by_id(server_id: int | None) -> ServerConfig | None:
    """The server with this ID (None: the default server), or None if there is none."""
    servers = all_servers()
    for server in servers:
        if (server.id == server_id) if server_id is not None else (server.name == DEFAULT_SERVER_NAME):
            return server
    if server_id is not None:  # created moments ago in another process: read again
        forget()
        return next((s for s in all_servers() if s.id == server_id), None)
    return None


def changed() -> None:
    """A streaming server was created or changed: every process reads them again (this one at once, the others
    within :data:`PROCESS_SECONDS`). Done now and again after commit, so that a copy taken in between from the
    old rows does not survive."""

    def run() -> None:
        forget()
        try:
            access_events.cache().delete(SHARED_KEY)
        except Exception:
            log.exception("could not invalidate the cached streaming servers")

    run()
    transaction.on_commit(run, robust=True)


def default_server() -> StreamingServer:
    """The server new portals are bound to unless told otherwise (created when missing)."""
    server, created = StreamingServer.objects.get_or_create(name=DEFAULT_SERVER_NAME)
    if created:
        changed()
    return server
