"""The input shape of a webhook: its URL (refused when it reaches a non-public address), types and ``active``."""

from __future__ import annotations

import socket

from django.conf import settings
from rest_framework import serializers

from catena_site.inputs import Boolean, InputShape, Text, model_max_length
from content.epg import guard
from content.epg.errors import FetchFailed
from content.inputs import SCHEME_RULE, GuideUrl, url_problem
from monitoring.operations import OperationType, Webhook

MAX_URL_LENGTH = model_max_length(Webhook, "url")
TYPES_RULE = "Must be a list of operation types (an empty list: every type)."


def unknown_type(value) -> str:
    return f"'{value}' is not an operation type."


def address_problem(url: str) -> str | None:
    """Why ``url``'s host may not receive webhooks — it resolves to a private, loopback, link-local or multicast
    address — or None. Nothing is refused with ``EPG_ALLOW_PRIVATE_URLS=true``. A name that does not resolve (yet)
    is accepted: the address is vetted again at every delivery (``delivery.post``), since a DNS answer may change,
    and a delivery to a name without an address fails visibly and is retried."""
    if settings.EPG_ALLOW_PRIVATE_URLS:
        return None
    try:
        scheme, host, port, path = guard.split_url(url)
        addresses = {info[4][0] for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)}
    except (FetchFailed, OSError, UnicodeError):
        return None
    for address in sorted(addresses):
        if not guard.is_public_address(address):
            return (f"Refused: host {host!r} resolves to the non-public address {address} (private, loopback, "
                    "link-local or multicast). Webhooks must reach a public address.")
    return None


class WebhookInput(InputShape):
    """``POST``/``PUT /webhooks``: on update (``partial``) only the keys given change; ``types`` is every type and
    ``active`` true when left out on create."""

    what = "webhook"

    url = GuideUrl(max_length=MAX_URL_LENGTH,
                   help_text="http:// or https:// only, at most 2000 characters, reaching a public address.")
    types = serializers.ListField(child=Text(), required=False, max_length=100,
                                  help_text="Operation types to receive; [] (the default) for all of them.")
    active = Boolean(required=False, help_text="false pauses deliveries (nothing is queued meanwhile).")

    def validate_url(self, value: str) -> str:
        problem = url_problem(value) or address_problem(value)
        if problem:
            raise serializers.ValidationError(problem)
        return value

    def validate_types(self, value: list) -> list[str]:
        problems = [unknown_type(item) for item in value if item not in OperationType.values]
        if problems:
            raise serializers.ValidationError(problems)
        return list(dict.fromkeys(value))


__all__ = ["MAX_URL_LENGTH", "SCHEME_RULE", "TYPES_RULE", "WebhookInput", "address_problem"]
