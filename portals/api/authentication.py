"""DRF authentication for the ``X-Auth-Token`` header."""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework.authentication import BaseAuthentication
from rest_framework.exceptions import AuthenticationFailed

from catena_site import logs
from portals.auth import caller_for_token


class XAuthTokenAuthentication(BaseAuthentication):
    """``X-Auth-Token``: the portal's API key or a manager's sessionId. Sets ``request.auth`` to the Caller."""

    def authenticate(self, request):
        token = request.META.get("HTTP_X_AUTH_TOKEN")
        if token is None:
            return None
        caller = caller_for_token(token.strip())
        if caller is None:
            raise AuthenticationFailed("Invalid, expired or revoked X-Auth-Token.")
        logs.identify(portal_id=caller.portal.id, manager_id=caller.manager.id if caller.manager else None)
        return caller, caller

    def authenticate_header(self, request) -> str:
        return "X-Auth-Token"


class XAuthTokenScheme(OpenApiAuthenticationExtension):
    target_class = XAuthTokenAuthentication
    name = "XAuthToken"

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "header", "name": "X-Auth-Token"}
