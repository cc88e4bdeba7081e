"""Who is calling: an X-Auth-Token (API key or manager session) resolved into a :class:`Caller`."""

from __future__ import annotations

import datetime as dt
import functools
import secrets
from dataclasses import dataclass

from django.conf import settings
from django.utils import timezone

from catena_site.errors import Forbidden
from monitoring.operations import Actor

from .models import Manager, ManagerSession, Portal, hash_token
from .permissions import PERMISSIONS, requires_sentence

# A session's last_seen_at is written at most this often, so that every request is not a write.
TOUCH_INTERVAL = dt.timedelta(seconds=60)


@dataclass
class Caller:
    """The portal a request acts on, the manager behind it (None for the API key) and their rights."""

    portal: Portal
    manager: Manager | None = None
    session: ManagerSession | None = None
    acting_as: Actor | None = None  # e.g. the system, for command-line tools acting with the owner's rights

    is_authenticated = True  # lets DRF and templates treat a Caller like a logged-in user

    @property
    def is_owner(self) -> bool:
        return self.manager is None or self.manager.id == self.portal.owner_id

    @property
    def can_manage(self) -> bool:
        return self.is_owner or self.manager.is_admin

    @property
    def can_manage_content(self) -> bool:
        return self.is_owner or self.manager.is_content_admin

    @property
    def can_manage_subscribers(self) -> bool:
        return self.is_owner or self.manager.is_subscriber_admin

    @property
    def can_see_api_key(self) -> bool:
        return self.can_manage

    @property
    def can_see_playback_tokens(self) -> bool:
        return self.can_manage_subscribers

    @property
    def flags(self) -> dict:
        return {
            "canManage": self.can_manage,
            "canManageSubscribers": self.can_manage_subscribers,
            "canManageContent": self.can_manage_content,
        }

    def holds(self, permission: str) -> bool:
        """Whether the caller has ``permission`` (``"isAdmin"``, ``"isContentAdmin"``, ``"isSubscriberAdmin"``)."""
        return getattr(self, PERMISSIONS[permission].caller_property)

    def require(self, permission: str, action: str = "This action") -> None:
        """Raise ``Forbidden`` unless the caller has ``permission`` (see :meth:`holds`); the message names it as
        the screens do and by its flag: ``This action requires the Content admin permission (isContentAdmin).``
        ``action`` begins the sentence ("This page", "Changing channels")."""
        if not self.holds(permission):
            raise Forbidden(requires_sentence(permission, action))

    @property
    def actor(self) -> Actor:
        if self.acting_as is not None:
            return self.acting_as
        if self.manager is None:
            return Actor(Actor.API_KEY)
        return Actor(Actor.MANAGER, self.manager.id, self.manager.email)


def session_ttl() -> dt.timedelta:
    return dt.timedelta(seconds=settings.MANAGER_SESSION_TTL)


def start_session(manager: Manager, *, ip: str | None = None, user_agent: str = "") -> str:
    """Open a session for a manager and return its secret token (shown once, stored only as a hash)."""
    token = secrets.token_urlsafe(32)
    ManagerSession.objects.create(
        token_hash=hash_token(token),
        manager=manager,
        last_seen_at=timezone.now(),
        ip=ip,
        user_agent=(user_agent or "")[:300],
    )
    return token


def resolve_session(token: str) -> ManagerSession | None:
    """The live session for a token, touched; None when unknown or expired (an expired one is removed)."""
    session = (
        ManagerSession.objects.select_related("manager", "manager__portal")
        .filter(token_hash=hash_token(token))
        .first()
    )
    if session is None:
        return None
    now = timezone.now()
    if now - session.last_seen_at > session_ttl():
        session.delete()
        return None
    if now - session.last_seen_at > TOUCH_INTERVAL:
        ManagerSession.objects.filter(pk=session.pk).update(last_seen_at=now)
        session.last_seen_at = now
    return session


def portal_with_api_key(token: str) -> Portal | None:
    """The portal whose API key is ``token``, or None. One select written out: it runs on every API request, and
    the ORM's query compiler cost twice the lookup itself (bench/lists.py)."""
    return next(iter(Portal.objects.raw(_portal_with_api_key_sql(), [token])), None)


@functools.cache
def _portal_with_api_key_sql() -> str:
    meta = Portal._meta
    columns = ", ".join(f'"{field.column}"' for field in meta.concrete_fields)
    return f'SELECT {columns} FROM "{meta.db_table}" WHERE "{meta.get_field("api_key").column}" = %s LIMIT 1'


def caller_for_token(token: str | None) -> Caller | None:
    """Resolve an X-Auth-Token: the portal's API key, or a manager's session; None if neither."""
    if not token:
        return None
    portal = portal_with_api_key(token)
    if portal is not None:
        return Caller(portal=portal)
    session = resolve_session(token)
    if session is None:
        return None
    return Caller(portal=session.manager.portal, manager=session.manager, session=session)


def end_session(token: str) -> bool:
    """End the session a token names; True if there was one."""
    deleted, _ = ManagerSession.objects.filter(token_hash=hash_token(token)).delete()
    return bool(deleted)
