"""System checks of content: stream names shared by portals on one streaming server (``manage.py check``).

Such names predate streaming servers (channel names used to be unique per portal only). The migration that
binds every portal to the default server does not fail on them; this check lists them so that an operator can
delete the channel in all but one portal (a channel name never changes) or move a portal to another server.
It is a warning, not an error, so that it never blocks ``migrate`` or the server from starting.
"""

from __future__ import annotations

from django.core.checks import Warning
from django.db import DatabaseError
from django.db.models import Count

from catena_site.ids import encode_id


def shared_stream_names() -> list[tuple[str, str, list[str]]]:
    """``(streaming server name, channel name, portals)`` of each name used by several portals on one server;
    each portal as ``name (ID)``, the ID as the admin shows it."""
    from .models import Channel

    shared = (Channel.objects.values("portal__streaming_server_id", "portal__streaming_server__name", "name")
              .annotate(portals=Count("portal_id", distinct=True)).filter(portals__gt=1)
              .order_by("portal__streaming_server__name", "name"))
    found = []
    for row in shared:
        portals = (Channel.objects.filter(portal__streaming_server_id=row["portal__streaming_server_id"], name=row["name"])
                   .order_by("portal_id").values_list("portal__name", "portal_id"))
        found.append((row["portal__streaming_server__name"], row["name"],
                      [f"{name} ({encode_id(portal_id)})" for name, portal_id in portals]))
    return found


def check_stream_names(app_configs=None, **kwargs) -> list[Warning]:
    """``content.W001`` for each channel name that two or more portals on the same streaming server use."""
    try:
        shared = shared_stream_names()
    except (DatabaseError, RuntimeError):  # not migrated yet, or no database access here (Celery's start-up
        return []                          # checks in a test process): nothing to report
    return [
        Warning(
            f"Portals {', '.join(portals)} on streaming server '{server}' each have a channel "
            f"named '{name}': the server cannot tell their streams apart.",
            hint="Delete the channel in all but one of these portals (and create it under another name), or move "
                 "all but one of the portals to another streaming server (Django admin, Portals).",
            id="content.W001",
        )
        for server, name, portals in shared
    ]
