"""Manager login for the web screens, on the same ManagerSession as the API's sessionId.

The Django session keeps only the session token, so ending a manager's sessions (password change,
deletion, logout, inactivity) ends their web login too.
"""

from __future__ import annotations

import zoneinfo

from django.conf import settings
from django.shortcuts import redirect
from django.utils import timezone, translation

from catena_site import logs

from . import totp
from .auth import Caller, caller_for_token

SESSION_KEY = "catena_manager_session"
# Screens (by URL namespace) that a manager who must enrol 2FA first does not reach, and the pages of the
# ``web`` namespace they still do: enrolment, logging out, the header's logo.
SCREEN_NAMESPACES = ("web", "content", "subscribers", "monitoring")
BEFORE_ENROLMENT = ("account-2fa", "logout", "language", "login", "login-code", "choose-portal", "portal-logo")


class ManagerSessionMiddleware:
    """Sets ``request.caller`` to the logged-in manager's Caller, or None."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.caller = None
        token = request.session.get(SESSION_KEY) if hasattr(request, "session") else None
        if token:
            caller = caller_for_token(token)
            if caller is None or caller.manager is None:
                request.session.pop(SESSION_KEY, None)
            else:
                request.caller = caller
                logs.identify(portal_id=caller.portal.id, manager_id=caller.manager.id)
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        """A portal that requires two-factor authentication sends its managers without it to enrol first."""
        caller = request.caller
        if caller is None or not totp.required_by(caller.portal):
            return None
        match = request.resolver_match
        if match.namespace not in SCREEN_NAMESPACES or match.url_name in BEFORE_ENROLMENT:
            return None
        if totp.enabled_for(caller.manager):
            return None
        return redirect("web:account-2fa")


class ScreenLocaleMiddleware:
    """The screens speak the manager's chosen language (else the cookie's or Accept-Language, which
    ``LocaleMiddleware`` already chose) and show times in the portal's ``timeZone``; the API, the streaming
    server's calls and the players' APIs stay English and UTC whatever the browser asks for."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()

    def process_view(self, request, view_func, view_args, view_kwargs):
        match = request.resolver_match
        if match.namespace not in SCREEN_NAMESPACES:
            translation.activate(settings.LANGUAGE_CODE)
            request.LANGUAGE_CODE = settings.LANGUAGE_CODE
            return None
        caller = request.caller
        if caller is None:
            return None
        language = caller.manager.language
        if language:
            translation.activate(language)
            request.LANGUAGE_CODE = language
        try:
            timezone.activate(zoneinfo.ZoneInfo(caller.portal.effective_settings["timeZone"]))
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):  # a zone this machine lacks: UTC
            timezone.deactivate()
        return None


def log_in(request, token: str) -> None:
    request.session.cycle_key()  # a new session id at login: no session fixation
    request.session[SESSION_KEY] = token


def caller_context(request) -> dict:
    """Template context: the caller and its portal for the base layout."""
    caller: Caller | None = getattr(request, "caller", None)
    return {"caller": caller, "current_portal": caller.portal if caller else None}
