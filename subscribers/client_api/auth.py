"""Who is calling the client API: the portal (by Host or ``portalId``) and, for most calls, an app session."""

from __future__ import annotations

from rest_framework.authentication import BaseAuthentication
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.permissions import BasePermission

from catena_site import logs
from catena_site.errors import NotFound
from catena_site.ids import InvalidId, decode_id
from portals.models import Portal
from subscribers.sms_login import session_for_token


def resolve_portal(request) -> Portal:
    """The portal a client request is for: ``portalId`` in the query or body, else the Host's domain; else 404."""
    portal_id = request.query_params.get("portalId")
    if portal_id is None and isinstance(getattr(request, "data", None), dict):
        portal_id = request.data.get("portalId")
    if portal_id:
        try:
            portal = Portal.objects.filter(pk=decode_id(portal_id)).first()
        except InvalidId:
            portal = None
    else:
        portal = Portal.objects.filter(domain=request.get_host().split(":")[0].lower()).first()
    if portal is None:
        raise NotFound("Unknown portal.")
    return portal


class BearerAppSession(BaseAuthentication):
    """``Authorization: Bearer <token>`` of an app session; sets ``request.auth`` to the AppSession."""

    def authenticate(self, request):
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if not header:
            return None
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthenticationFailed("Use Authorization: Bearer <token>.")
        session = session_for_token(token.strip())
        if session is None:
            raise AuthenticationFailed("Invalid, expired or ended session; log in again.")
        logs.identify(portal_id=session.subscriber.portal_id, subscriber_id=session.subscriber_id)
        return session.subscriber, session

    def authenticate_header(self, request) -> str:
        return "Bearer"


class HasAppSession(BasePermission):
    def has_permission(self, request, view) -> bool:
        return request.auth is not None
