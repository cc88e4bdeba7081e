"""DRF permissions reading the caller's flags (set by X-Auth-Token authentication).

Every member of a portal may read; a write needs the flag that governs the resource. The message names the
permission, so an integrator knows what to ask for.
"""

from __future__ import annotations

from rest_framework.permissions import SAFE_METHODS, BasePermission


class IsPortalMember(BasePermission):
    """Any valid token of a portal (API key or manager session)."""

    def has_permission(self, request, view) -> bool:
        return getattr(request.auth, "portal", None) is not None


class _WritesNeedFlag(IsPortalMember):
    flag: str = ""
    flag_name: str = ""

    @property
    def message(self) -> str:
        return f"This action requires the {self.flag_name} permission."

    def has_permission(self, request, view) -> bool:
        if not super().has_permission(request, view):
            return False
        return request.method in SAFE_METHODS or getattr(request.auth, self.flag)


class CanManage(_WritesNeedFlag):
    """Portal settings, API key, free packages, managers."""

    flag, flag_name = "can_manage", "isAdmin"


class CanManageContent(_WritesNeedFlag):
    """Channels, logos, packages, channel-package links, EPG sources."""

    flag, flag_name = "can_manage_content", "isContentAdmin"


class CanManageSubscribers(_WritesNeedFlag):
    """Subscribers, subscriptions, blocking, playback tokens."""

    flag, flag_name = "can_manage_subscribers", "isSubscriberAdmin"
