"""``{{ heading|in_screen_zone }}``: a column heading that says ``(UTC)`` names the zone the screen's times are in.

A list's columns serve its screen and its CSV export: the export's times stay UTC, the screen shows them in the
portal's ``timeZone`` (README "Languages and time zone"), so the heading follows the screen.
"""

from __future__ import annotations

from django import template
from django.utils import timezone

register = template.Library()


@register.filter
def in_screen_zone(heading) -> str:
    """``heading`` with ``(UTC)`` replaced by the current time zone's name, e.g. ``Opened (Europe/Moscow)``."""
    return str(heading).replace("(UTC)", f"({timezone.get_current_timezone_name()})")
