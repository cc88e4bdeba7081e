"""Small HTTP helpers shared by the API and the screens."""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from django.conf import settings


@lru_cache(maxsize=8)
def _networks(cidrs: tuple[str, ...]) -> tuple:
    return tuple(ipaddress.ip_network(cidr.strip(), strict=False) for cidr in cidrs if cidr.strip())


def _address(value: str):
    try:
        return ipaddress.ip_address(value.strip())
    except ValueError:
        return None


def _trusted(address, networks) -> bool:
    return address is not None and any(address in network for network in networks)


def client_ip(request) -> str | None:
    """The client's address, never one the client chose.

    REMOTE_ADDR, unless that immediate peer is one of ``TRUSTED_PROXIES``: then ``X-Forwarded-For`` is read
    from the right, one hop per trusted proxy (``TRUSTED_PROXY_COUNT``), each skipped hop being a trusted proxy
    itself. Whatever a client puts at the left of the header is never reached, and a hop that is not an
    address (or a header shorter than the proxy chain) stops the walk at the last address a proxy vouched for.
    """
    remote = request.META.get("REMOTE_ADDR") or None
    networks = _networks(tuple(getattr(settings, "TRUSTED_PROXIES", ())))
    if not networks or remote is None:
        return remote
    address = _address(remote)
    hops = [hop for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if hop.strip()]
    for _ in range(max(1, getattr(settings, "TRUSTED_PROXY_COUNT", 1))):
        if not _trusted(address, networks) or not hops:
            break
        candidate = _address(hops.pop())
        if candidate is None:
            break
        address = candidate
    return str(address) if address is not None else remote

