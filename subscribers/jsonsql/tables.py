"""The whitelist: every table and column a JSONSQL query may name, each an ORM expression (``lifecycle.md`` §4).

A column is a function of the ORM path prefix of its table in the query (``""`` for the first table,
``"subscriber__"`` for a subscriber joined from ``subscriber_package``) and of the :class:`Context`.
``links`` are the foreign keys a join may follow: ``column → (table, ORM path)``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from django.conf import settings
from django.db import models
from django.db.models import BooleanField, ExpressionWrapper, F, IntegerField, Q, Value

from content.models import Category, Channel, Package, PackageChannel
from subscribers.device_model import Device
from subscribers.models import Subscriber, Subscription


@dataclass(frozen=True)
class Context:
    """What a query is evaluated against: the caller's portal, the moment, the portal's stream base URL."""

    portal: object
    now: dt.datetime
    protocol: str | None = None
    inet_addr: str | None = None
    port: int | None = None

    @classmethod
    def of(cls, portal, now: dt.datetime) -> Context:
        base = (portal.effective_settings.get("streamBaseUrl") or settings.STREAM_BASE_URL or "").strip()
        parts = urlsplit(base)
        try:
            port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
        except ValueError:
            port = None
        return cls(portal=portal, now=now, protocol=parts.scheme or None, inet_addr=parts.hostname, port=port)


Column = Callable[[str, Context], object]


def field_(name: str) -> Column:
    return lambda prefix, ctx: F(prefix + name)


def condition(build: Callable[[str, Context], Q]) -> Column:
    return lambda prefix, ctx: ExpressionWrapper(build(prefix, ctx), output_field=BooleanField())


def constant(value, output_field: models.Field) -> Column:
    return lambda prefix, ctx: Value(value, output_field=output_field)


def from_context(name: str, output_field: models.Field) -> Column:
    return lambda prefix, ctx: Value(getattr(ctx, name), output_field=output_field)


def _in_force(prefix: str, ctx: Context) -> Q:
    starts, expires = prefix + "starts_at", prefix + "expires_at"
    return (Q(**{starts + "__isnull": True}) | Q(**{starts + "__lte": ctx.now})) & (
        Q(**{expires + "__isnull": True}) | Q(**{expires + "__gt": ctx.now}))


@dataclass(frozen=True)
class Table:
    """One JSONSQL table over a model; ``portal_path`` reaches the portal that owns a row, ``from_portal`` the
    rows of a portal (the ORM path back: how a cross join reaches this table from another one's portal)."""

    name: str
    model: type[models.Model]
    portal_path: str
    from_portal: str
    columns: dict[str, Column]
    links: dict[str, tuple[str, str]] = field(default_factory=dict)


TABLES: dict[str, Table] = {table.name: table for table in (
    Table("subscriber", Subscriber, "portal", "subscribers", {
        "id": field_("id"),
        "username": field_("login"),  # players.md §2: the login, by default the full phone number
        "password": constant(None, models.CharField()),  # write-only: always reads as null
        "name": field_("name"),
        "phone_country_code": field_("phone_country_code"),
        "phone": field_("phone"),  # without the country code, as the Management API's phone
        "disabled": field_("disabled"),
        "max_terminal": field_("max_devices"),  # the subscriber's own device limit (null: the portal's)
    }),
    Table("terminal", Device, "portal", "subscribers__devices", {
        "id": field_("id"),
        "subscriber_id": field_("subscriber_id"),
        "mac_addr": field_("mac"),  # "" for apps and players
        "uid": field_("uid"),
        "name": field_("name"),
        "registered": field_("first_seen_at"),
        "last_seen": field_("last_seen_at"),
    }, links={"subscriber_id": ("subscriber", "subscriber")}),
    Table("media", Channel, "portal", "channels", {
        "id": field_("id"),
        "name": field_("name"),
        "title": field_("title"),
        "number": field_("number"),
        "is_tv": condition(lambda prefix, ctx: Q(**{prefix + "audio_only": False})),
        "is_radio": field_("audio_only"),
        "description": field_("description"),
        "protocol": from_context("protocol", models.CharField()),
        "inet_addr": from_context("inet_addr", models.CharField()),
        "port": from_context("port", IntegerField()),
    }),
    Table("package", Package, "portal", "packages", {
        "id": field_("id"),
        "name": field_("name"),
        "description": field_("description"),
        "paid": condition(lambda prefix, ctx: Q(**{prefix + "free_link__isnull": True})),
    }),
    Table("package_media", PackageChannel, "package__portal", "packages__channel_links", {
        "package_id": field_("package_id"),
        "media_id": field_("channel_id"),
    }, links={"package_id": ("package", "package"), "media_id": ("media", "channel")}),
    Table("subscriber_package", Subscription, "subscriber__portal", "subscribers__subscriptions", {
        "id": field_("id"),
        "subscriber_id": field_("subscriber_id"),
        "package_id": field_("package_id"),
        "enabled": condition(_in_force),
        "started_on": field_("starts_at"),
        "expired_on": field_("expires_at"),
    }, links={"subscriber_id": ("subscriber", "subscriber"), "package_id": ("package", "package")}),
    Table("category", Category, "portal", "categories", {
        "id": field_("id"),
        "name": field_("name"),
        "title": field_("title"),
    }),
)}
