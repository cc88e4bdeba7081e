"""Blocks of content drawn on other apps' screens: ``{% load content_blocks %}``.

The portal settings screen lists the portal's free packages, with a form to make another one free. Packages
belong to content, which sits above ``portals`` in the architecture's layers, so the settings view cannot
read them: the settings template asks for the block by tag, and content reads and draws it, scoped to the
caller's portal (its add and remove screens are content's too).
"""

from __future__ import annotations

from django import template

from content.models import Package

register = template.Library()


@register.inclusion_tag("content/_portal_free_packages.html", takes_context=True)
def portal_free_packages(context) -> dict:
    """The portal's free packages by name, and the others (the choices of "Make free") for a ``can_manage``
    caller; everyone reads the list."""
    caller = context.request.caller
    packages = Package.objects.for_portal(caller.portal).select_related("free_link").order_by("name")
    return {
        "caller": caller,
        "free_packages": [p for p in packages if hasattr(p, "free_link")],
        "non_free_packages": [p for p in packages if not hasattr(p, "free_link")],
    }
