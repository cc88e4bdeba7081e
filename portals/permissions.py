"""The three permission flags of a manager, by every name they go by: the one table the API, the services, the
screens' labels and every refusal read.

The API and the spec name a flag ``isContentAdmin``; the screens call it "Content admin". A refusal names both,
``This action requires the Content admin permission (isContentAdmin).``, so a person reads the name the screens
show and an API client still finds the flag it must ask for.
"""

from __future__ import annotations

from dataclasses import dataclass

# Marked for the Russian screens (they translate a label when they show it); the API's texts stay English.
from django.utils.translation import gettext_noop


@dataclass(frozen=True)
class Permission:
    """One flag: its API name, the ``Manager`` field holding it, the ``Caller`` property answering it, the name
    the screens show and what it lets a manager change."""

    flag: str
    field: str
    caller_property: str
    label: str
    scope: str


PERMISSIONS: dict[str, Permission] = {
    permission.flag: permission
    for permission in (
        Permission("isAdmin", "is_admin", "can_manage", gettext_noop("Admin"),
                   gettext_noop("Portal settings and branding, API key, free packages, managers.")),
        Permission("isContentAdmin", "is_content_admin", "can_manage_content", gettext_noop("Content admin"),
                   gettext_noop("Channels, logos, packages, EPG sources.")),
        Permission("isSubscriberAdmin", "is_subscriber_admin", "can_manage_subscribers",
                   gettext_noop("Subscriber admin"),
                   gettext_noop("Subscribers, subscriptions, blocking, playback tokens.")),
    )
}


def permission_label(flag: str) -> str:
    """The name the screens give ``flag`` (``"isContentAdmin"`` → ``"Content admin"``)."""
    return PERMISSIONS[flag].label


def requires_sentence(flag: str, action: str = "This action") -> str:
    """The refusal for a caller without ``flag``: ``<action> requires the Content admin permission
    (isContentAdmin).``"""
    return f"{action} requires the {permission_label(flag)} permission ({flag})."
