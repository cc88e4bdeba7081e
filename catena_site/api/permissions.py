"""DRF permissions reading the caller's flags (set by X-Auth-Token authentication).

Every member of a portal may read; a write needs the flag that governs the resource. The message names the
permission, so an integrator knows what to ask for.
"""

from __future__ import annotations

from rest_framework.permissions import SAFE_METHODS, BasePermission

from catena_site.errors import Forbidden


class IsPortalMember(BasePermission):
    """Any valid token of a portal (API key or manager session)."""

    def has_permission(self, request, view) -> bool:
        return getattr(request.auth, "portal", None) is not None


class _WritesNeedPermission(IsPortalMember):
    """Writes need ``permission``, answered by the caller (``Caller.require``, the same check the services make,
    whose refusal is the 403's message: the permission as the screens name it, and its flag)."""

    permission: str = ""

    def has_permission(self, request, view) -> bool:
        if not super().has_permission(request, view):
            return False
        if request.method in SAFE_METHODS:
            return True
        try:
            request.auth.require(self.permission)
        except Forbidden as refusal:
            self.message = refusal.message  # DRF reads it from this instance, made for this request
            return False
        return True


class CanManage(_WritesNeedPermission):
    """Portal settings, API key, free packages, managers."""

    permission = "isAdmin"


class CanManageContent(_WritesNeedPermission):
    """Channels, logos, packages, channel-package links, EPG sources."""

    permission = "isContentAdmin"


class CanManageSubscribers(_WritesNeedPermission):
    """Subscribers, subscriptions, blocking, playback tokens."""

    permission = "isSubscriberAdmin"
