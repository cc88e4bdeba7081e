"""``{% permission_name "isContentAdmin" %}`` → ``Content admin``: the screens name a permission from the one
table in ``portals.permissions``."""

from __future__ import annotations

from django import template
from django.utils.translation import gettext

from portals.permissions import permission_label

register = template.Library()


@register.simple_tag
def permission_name(flag: str) -> str:
    """The name the screens give the permission ``flag``."""
    return gettext(permission_label(flag))
