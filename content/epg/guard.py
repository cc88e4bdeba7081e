"""Which hosts a fetch may reach: public addresses only, unless ``EPG_ALLOW_PRIVATE_URLS`` says otherwise.

The check is made on the addresses the name resolves to (not on the name), and the connection then goes to
exactly the address that was checked, so a DNS answer that changes between check and connect (rebinding)
cannot steer the fetch into the private network. Every redirect target is checked again.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from .errors import FetchFailed

ALLOWED_SCHEMES = ("http", "https")
DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True)
class Target:
    """A URL split into what a connection needs, with the vetted addresses to connect to."""

    url: str
    scheme: str
    host: str
    port: int
    path: str
    addresses: tuple[str, ...]


def is_public_address(address: str) -> bool:
    """True for a globally routable unicast address (IPv4-mapped IPv6 judged by its IPv4 address)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def split_url(url: str) -> tuple[str, str, int, str]:
    """``(scheme, host, port, path with query)`` of an http(s) URL; FetchFailed for anything else."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise FetchFailed(f"Invalid URL {url!r}: {exc}.") from None
    scheme = parts.scheme.lower()
    if scheme not in ALLOWED_SCHEMES:
        raise FetchFailed(f"Only http:// and https:// URLs can be fetched, not {url!r}.")
    if not parts.hostname:
        raise FetchFailed(f"The URL {url!r} has no host name.")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return scheme, parts.hostname, port or DEFAULT_PORTS[scheme], path


def resolve(url: str, *, allow_private: bool) -> Target:
    """Resolve a URL's host and vet every address; FetchFailed names the refused address or DNS error."""
    scheme, host, port, path = split_url(url)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise FetchFailed(f"Cannot resolve host {host!r}: {exc}.") from None
    addresses = tuple(dict.fromkeys(info[4][0] for info in infos))
    if not addresses:
        raise FetchFailed(f"Host {host!r} has no address.")
    if not allow_private:
        for address in addresses:
            if not is_public_address(address):
                raise FetchFailed(
                    f"Refused to fetch {url}: host {host!r} resolves to the non-public address {address} "
                    "(private, loopback, link-local or multicast). Set EPG_ALLOW_PRIVATE_URLS=true to allow it."
                )
    return Target(url=url, scheme=scheme, host=host, port=port, path=path, addresses=addresses)
