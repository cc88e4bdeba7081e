"""Blocks of monitoring drawn on other apps' screens: ``{% load monitoring_blocks %}``.

The subscriber card shows the subscriber's recent play sessions and operations. Both belong to monitoring,
which sits above ``subscribers`` in the architecture's layers, so the card's view cannot build them: the
card's template asks for them by tag, and monitoring reads and draws them, scoped to the caller's portal.
"""

from __future__ import annotations

from django import template

from monitoring.views import OPERATION_COLUMNS, recent_operations, recent_play_sessions

register = template.Library()


def _portal(context):
    return context.request.caller.portal


@register.inclusion_tag("monitoring/_subscriber_play_sessions.html", takes_context=True)
def subscriber_play_sessions(context, subscriber) -> dict:
    """The subscriber's most recent play sessions, newest first, with a link to all of them."""
    return {"subscriber": subscriber, "play_sessions": recent_play_sessions(_portal(context), subscriber)}


@register.inclusion_tag("monitoring/_subscriber_operations.html", takes_context=True)
def subscriber_operations(context, subscriber) -> dict:
    """The operations about the subscriber, newest first, with a link to all of them in the operations log."""
    return {"subscriber": subscriber, "operations": recent_operations(_portal(context), subscriber),
            "columns": OPERATION_COLUMNS}
