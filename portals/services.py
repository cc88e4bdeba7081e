"""Every change of portals and managers: one function per change, one transaction, one operation row."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from django.conf import settings
from django.contrib.auth.hashers import check_password, make_password
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from catena_site import access_events
from catena_site.errors import Conflict, Forbidden, Invalid
from catena_site.throttle import LoginAttempt
from monitoring.operations import Actor, OperationType, changes, record

from . import streaming_servers
from .auth import Caller, start_session
from .inputs import (
    NO_LOGO,
    LoginInput,
    Logo,
    ManagerInput,
    ManagerUpdateInput,
    PortalCreationInput,
    PortalSettingsScreenInput,
    PortalUpdateInput,
    StreamingServerInput,
)
from .models import (
    DEFAULT_PORTAL_SETTINGS,
    Manager,
    ManagerSession,
    Portal,
    StreamingServer,
    new_api_key,
)
from .permissions import PERMISSIONS, permission_label
from .totp import managers_of_state, second_factor
from .validators import logo_data_uri, password_problems

GENERIC_LOGIN_FAILURE = "Invalid email or password."


# --- Portals ----------------------------------------------------------------------------------------------


def create_portal(*, name: str, domain: str, owner_email: str, owner_password: str, title: str = "",
                  streaming_server: StreamingServer | None = None) -> Portal:
    """Create a portal and its owner (infrastructure level: the create_portal command and the admin), bound to
    ``streaming_server`` (default: the server named ``default``). The values follow ``PortalCreationInput``."""
    clean = PortalCreationInput.check({"name": name, "domain": domain, "title": title, "ownerEmail": owner_email,
                                       "ownerPassword": owner_password})
    name, domain = clean["name"], clean["domain"]
    with transaction.atomic():
        if Portal.objects.filter(Q(name=name) | Q(domain=domain)).exists():
            raise Conflict("A portal with this name or domain already exists.")
        server = streaming_server or streaming_servers.default_server()
        portal = Portal.objects.create(name=name, domain=domain, title=clean.get("title") or name,
                                       settings=dict(DEFAULT_PORTAL_SETTINGS), streaming_server=server)
        owner = Manager(portal=portal, email=clean["ownerEmail"], name="Owner", is_admin=True, is_content_admin=True,
                        is_subscriber_admin=True)
        owner.set_password(clean["ownerPassword"])
        owner.save()
        portal.owner = owner
        portal.save(update_fields=["owner"])
    return portal


def portal_branding(portal: Portal) -> dict:
    return {"logo": portal_logo_value(portal), "title": portal.title, "description": portal.description}


def portal_settings(portal: Portal) -> dict:
    """The settings as ``GET /portal`` shows them: every key the API knows, defaults filled in.

    Screen-only settings stored beside them (the guide language) are left out, so the API's object stays the
    documented one whatever an operator chose on the screens.
    """
    effective = portal.effective_settings
    return {key: effective[key] for key in DEFAULT_PORTAL_SETTINGS}


# The guide language is set on the portal settings screen only: the Management API's ``settings`` object
# documents no such field. It is kept in ``Portal.settings`` under this key.
GUIDE_LANGUAGE_KEY = "language"


def guide_language(portal: Portal) -> str:
    """The language whose titles and descriptions win when an XMLTV guide offers several (e.g. ``"en"``);
    empty when none is chosen, and the first one listed is kept."""
    value = (portal.settings or {}).get(GUIDE_LANGUAGE_KEY)
    return value.strip() if isinstance(value, str) else ""


def portal_logo_value(portal: Portal) -> str | None:
    """The branding logo as the API shows it: the https URL, or the stored image as a data URI."""
    if portal.logo_image:
        return logo_data_uri(bytes(portal.logo_image), portal.logo_content_type)
    return portal.logo_url or None


def update_portal(portal: Portal, *, caller: Caller, data: dict, screen: bool = False) -> Portal:
    """Change branding and settings as ``PortalUpdateInput`` allows (``PUT /portal``); records ``updatePortal``
    with old → new (the logo as a marker).

    ``screen`` takes ``PortalSettingsScreenInput`` instead, the settings screen's: also an uploaded logo
    (``logoFile``), ``removeLogo`` and the guide language (``guideLanguage``, ``""`` clears it, recorded as
    ``guideLanguage``), which the Management API does not offer.
    """
    caller.require("isAdmin")
    shape = PortalSettingsScreenInput if screen else PortalUpdateInput
    with transaction.atomic():
        portal = Portal.objects.select_for_update().get(pk=portal.pk)
        clean = shape.check(data, portal=portal)
        before = _portal_snapshot(portal)
        _apply_branding(portal, clean.get("branding") or {})
        if "settings" in clean:
            portal.settings = {**portal.effective_settings, **clean["settings"]}
        for logo in (clean.get("logoFile"), NO_LOGO if clean.get("removeLogo") else None):
            if logo is not None:
                _set_logo(portal, logo)
        if "guideLanguage" in clean:
            _set_guide_language(portal, clean["guideLanguage"])
        diff = changes(before, _portal_snapshot(portal))
        _check_owner_only_settings(caller, diff)
        if diff:
            portal.save()
            record(portal, OperationType.UPDATE_PORTAL, actor=caller.actor, payload=diff)
            if "settings" in diff:  # maxSessionsPerSubscriber is part of every cached playback decision
                access_events.portal_changed(portal.id)
                _close_anonymous_sessions_if_switched_off(portal, diff["settings"])
    return portal


def _close_anonymous_sessions_if_switched_off(portal: Portal, setting_diff: dict) -> None:
    """``allowAnonymous`` switched off: re-check the sessions on the free channels (the anonymous viewers' are
    closed, the subscribers' stay)."""
    if not (setting_diff.get("old") or {}).get("allowAnonymous") or (setting_diff.get("new") or {}).get("allowAnonymous"):
        return
    channel_ids = (portal.free_package_links.exclude(package__channel_links__channel_id=None)
                   .values_list("package__channel_links__channel_id", flat=True))
    access_events.recheck_sessions(portal.id, channel_ids=list(channel_ids))


# Settings only the portal's owner may change (the API key acts as the owner).
OWNER_ONLY_SETTINGS = ("require2fa",)


def _check_owner_only_settings(caller: Caller, diff: dict) -> None:
    """``Forbidden`` when ``diff`` changes an owner-only setting and the caller is not the owner."""
    setting_diff = diff.get("settings") or {}
    changed = [key for key in OWNER_ONLY_SETTINGS
               if (setting_diff.get("old") or {}).get(key) != (setting_diff.get("new") or {}).get(key)]
    if changed and not caller.is_owner:
        raise Forbidden(f"Only the portal owner can change {', '.join(changed)}.")


def _apply_branding(portal: Portal, branding: dict) -> None:
    if "title" in branding:
        portal.title = branding["title"]
    if "description" in branding:
        portal.description = branding["description"]
    if "logo" in branding:
        _set_logo(portal, branding["logo"])


def _set_logo(portal: Portal, logo: Logo) -> None:
    portal.logo_image, portal.logo_content_type, portal.logo_url = logo.image, logo.content_type, logo.url


def _portal_snapshot(portal: Portal) -> dict:
    """What ``updatePortal`` compares and records."""
    return {"title": portal.title, "description": portal.description, "logo": _logo_marker(portal),
            "settings": portal_settings(portal), "guideLanguage": guide_language(portal) or None}


def _set_guide_language(portal: Portal, language: str) -> None:
    settings_values = dict(portal.settings or {})
    if language:
        settings_values[GUIDE_LANGUAGE_KEY] = language
    else:
        settings_values.pop(GUIDE_LANGUAGE_KEY, None)  # unset stays absent, so the stored settings stay as before
    portal.settings = settings_values


def _logo_marker(portal: Portal) -> str | None:
    """What the operations log says about a logo: its URL, or the size of stored image bytes."""
    if portal.logo_image:
        return f"<{portal.logo_content_type}, {len(bytes(portal.logo_image))} bytes>"
    return portal.logo_url or None


def reset_api_key(portal: Portal, *, caller: Caller) -> Portal:
    """Issue a new API key; the old one is refused from the moment this commits."""
    caller.require("isAdmin")
    with transaction.atomic():
        portal = Portal.objects.select_for_update().get(pk=portal.pk)
        portal.api_key = new_api_key()
        portal.save(update_fields=["api_key", "updated_at"])
        record(portal, OperationType.RESET_API_KEY, actor=caller.actor, payload={})
    return portal


# --- Managers ---------------------------------------------------------------------------------------------


def _manager_snapshot(manager: Manager) -> dict:
    return {"email": manager.email, "name": manager.name, "isAdmin": manager.is_admin,
            "isContentAdmin": manager.is_content_admin, "isSubscriberAdmin": manager.is_subscriber_admin}


def _email_taken(portal: Portal, email: str, exclude: int | None = None) -> bool:
    return Manager.objects.for_portal(portal).filter(email=email).exclude(pk=exclude).exists()


def _email_taken_error(email: str) -> dict[str, list[str]]:
    return {"email": [f"A manager with email {email} already exists in this portal."]}


def _check_manager(shape: type[ManagerInput], data, *, portal: Portal, manager: Manager | None = None) -> dict:
    """``data`` checked by ``shape``. A taken email is a 409 of its own, but when other fields are wrong too it is
    listed with them in the 400, so that one answer names everything to fix."""
    try:
        return shape.check(data, portal=portal, manager=manager)
    except Invalid as exc:
        email = data.get("email") if isinstance(data, Mapping) else None
        if isinstance(email, str) and "email" not in exc.errors:
            email = email.strip().lower()
            if email != (manager and manager.email) and _email_taken(portal, email):
                raise Invalid.of(shape.what, {**exc.errors, **_email_taken_error(email)}) from None
        raise


def _refuse_taken_email(portal: Portal, email: str, exclude: int | None = None) -> None:
    if _email_taken(portal, email, exclude):
        errors = _email_taken_error(email)
        raise Conflict(errors["email"][0], errors)


def create_manager(portal: Portal, *, caller: Caller, data: dict) -> Manager:
    """Create a manager of ``portal`` from ``ManagerInput`` (API names); records ``createManager``."""
    caller.require("isAdmin")
    clean = _check_manager(ManagerInput, data, portal=portal)
    with transaction.atomic():
        _refuse_taken_email(portal, clean["email"])
        manager = Manager(portal=portal, email=clean["email"], name=clean.get("name", ""))
        for flag, permission in PERMISSIONS.items():
            setattr(manager, permission.field, clean.get(flag, False))
        manager.set_password(clean["password"])
        try:
            with transaction.atomic():
                manager.save()
        except IntegrityError:  # a concurrent create with the same email won the race
            errors = _email_taken_error(manager.email)
            raise Conflict(errors["email"][0], errors) from None
        record(portal, OperationType.CREATE_MANAGER, actor=caller.actor,
               payload={"managerId": manager.public_id, "email": manager.email,
                        "changes": changes({}, _manager_snapshot(manager))})
    return manager


def _admins_left_without(portal: Portal, manager: Manager) -> bool:
    """True when the portal has no owner and ``manager`` is its last manager able to manage managers."""
    if portal.owner_id is not None:
        return False
    return not Manager.objects.for_portal(portal).filter(is_admin=True).exclude(pk=manager.pk).exists()


def update_manager(manager: Manager, *, caller: Caller, data: dict) -> Manager:
    """Change a manager as ``ManagerUpdateInput`` allows; a new password ends all of that manager's sessions.
    Records ``updateManager``."""
    caller.require("isAdmin")
    clean = _check_manager(ManagerUpdateInput, data, portal=manager.portal, manager=manager)
    with transaction.atomic():
        manager = Manager.objects.select_for_update(of=("self",)).select_related("portal").get(pk=manager.pk)
        portal = manager.portal
        if manager.is_owner:
            raise Forbidden("The portal owner cannot be changed here; a system administrator changes owners.")
        before = _manager_snapshot(manager)
        flag_changes = {k: v for k, v in clean.items() if k in PERMISSIONS and v != before[k]}
        if flag_changes and caller.manager is not None and caller.manager.id == manager.id:
            raise Forbidden("You cannot change your own permissions.")
        if flag_changes.get("isAdmin") is False and _admins_left_without(portal, manager):
            raise Conflict(f"This is the last manager who can manage managers; it must keep the "
                           f"{permission_label('isAdmin')} permission (isAdmin).")
        if clean.get("email", manager.email) != manager.email:
            _refuse_taken_email(portal, clean["email"], manager.pk)
        manager.email = clean.get("email", manager.email)
        manager.name = clean.get("name", manager.name)
        for flag, permission in PERMISSIONS.items():
            if flag in clean:
                setattr(manager, permission.field, clean[flag])
        password_changed = "password" in clean
        if password_changed:
            manager.set_password(clean["password"])
        diff = changes(before, _manager_snapshot(manager))
        if diff or password_changed:
            manager.save()
            payload = {"managerId": manager.public_id, "email": manager.email, "changes": diff}
            if password_changed:
                payload["passwordChanged"] = True
                ManagerSession.objects.filter(manager=manager).delete()
            record(portal, OperationType.UPDATE_MANAGER, actor=caller.actor, payload=payload)
    return manager


def delete_manager(manager: Manager, *, caller: Caller) -> None:
    """Delete a manager and end its sessions. Records ``deleteManager``."""
    caller.require("isAdmin")
    with transaction.atomic():
        manager = Manager.objects.select_for_update(of=("self",)).select_related("portal").get(pk=manager.pk)
        portal = manager.portal
        if manager.is_owner:
            raise Forbidden("The portal owner cannot be deleted here; a system administrator changes owners.")
        if manager.is_admin and _admins_left_without(portal, manager):
            raise Conflict("This is the last manager who can manage managers; it cannot be deleted.")
        record(portal, OperationType.DELETE_MANAGER, actor=caller.actor,
               payload={"managerId": manager.public_id, "email": manager.email})
        manager.delete()  # sessions go with it (CASCADE)


# --- System administration (Django admin) ------------------------------------------------------------


def change_portal_owner(portal: Portal, new_owner: Manager, *, actor: Actor | None = None) -> Portal:
    """Make ``new_owner`` — a manager of ``portal`` — its owner. Records ``updatePortal`` (ownerId old → new)."""
    actor = actor or Actor.system()
    with transaction.atomic():
        portal = Portal.objects.select_for_update().get(pk=portal.pk)
        new_owner = Manager.objects.select_for_update().get(pk=new_owner.pk)
        if new_owner.portal_id != portal.pk:
            raise Invalid("The owner must be a manager of this portal.", {"owner": ["The owner must be a manager of this portal."]})
        if portal.owner_id == new_owner.pk:
            return portal
        before = {"ownerId": portal.owner.public_id if portal.owner_id else None}
        portal.owner = new_owner
        portal.save(update_fields=["owner", "updated_at"])
        record(portal, OperationType.UPDATE_PORTAL, actor=actor,
               payload=changes(before, {"ownerId": new_owner.public_id}))
    return portal


def streaming_server_key_taken(server: StreamingServer, *, lock: bool = False) -> bool:
    """Whether another server's effective key (``STREAMER_KEY`` for an empty one of the default server) is this
    server's effective key: the auth check could not tell them apart."""
    def effective_key(row: StreamingServer) -> str:
        return streaming_servers.config_of({f: getattr(row, f) for f in streaming_servers.FIELDS}).key

    mine = effective_key(server)
    others = StreamingServer.objects.exclude(pk=server.pk)
    return bool(mine) and any(effective_key(other) == mine for other in (others.select_for_update() if lock else others))


def save_streaming_server(server: StreamingServer) -> StreamingServer:
    """Create or change a streaming server (the Django admin) as ``StreamingServerInput`` allows; every process
    reads the servers again after commit. Its key must differ from every other server's effective key (the auth
    check finds a server by it)."""
    clean = StreamingServerInput.check({field: getattr(server, field) for field in StreamingServerInput._declared_fields})
    for field, value in clean.items():
        setattr(server, field, value)
    with transaction.atomic():
        if streaming_server_key_taken(server, lock=True):
            raise Conflict("Another streaming server uses this key.", {"key": ["Another streaming server uses this key."]})
        try:
            with transaction.atomic():
                server.save()
        except IntegrityError:
            raise Conflict("A streaming server with this name or key already exists.") from None
        streaming_servers.changed()
    return server


def colliding_stream_names(portal: Portal, server: StreamingServer) -> list[str]:
    """The portal's channel names that another portal on ``server`` also uses (sorted)."""
    others = Portal.objects.filter(streaming_server=server).exclude(pk=portal.pk).values("channels__name")
    return sorted(portal.channels.filter(name__in=others).values_list("name", flat=True))


def move_portal_to_server(portal: Portal, server: StreamingServer, *, actor: Actor | None = None) -> Portal:
    """Bind the portal to another streaming server; refused (409, naming the channels) while one of its channel
    names is used by another portal on that server. Records ``updatePortal``; the portal's cached playback
    facts are invalidated after commit (a token of this portal is then only accepted from the new server).

    Locks the portal's row, then the server's, like every creation of a channel (``content.services``).
    """
    actor = actor or Actor.system()
    with transaction.atomic():
        portal = Portal.objects.select_for_update().select_related("streaming_server").get(pk=portal.pk)
        server = StreamingServer.objects.select_for_update().get(pk=server.pk)
        if portal.streaming_server_id == server.pk:
            return portal
        taken = colliding_stream_names(portal, server)
        if taken:
            message = (f"Channels named {', '.join(taken)} already exist on streaming server {server.name}: "
                       f"delete them in one of the portals first.")
            raise Conflict(message, {"streaming_server": [message]})
        before = {"streamingServer": portal.streaming_server.name}
        portal.streaming_server = server
        portal.save(update_fields=["streaming_server", "updated_at"])
        record(portal, OperationType.UPDATE_PORTAL, actor=actor, payload=changes(before, {"streamingServer": server.name}))
        access_events.portal_changed(portal.pk)
    return portal


def set_manager_password(manager: Manager, password: str, *, actor: Actor | None = None) -> Manager:
    """Give a manager a new password (policy checked) and end all of their sessions. Records ``updateManager``."""
    problems = password_problems(password, [manager.email, manager.name])
    if problems:
        raise Invalid("password: " + " ".join(problems), {"password": problems})
    actor = actor or Actor.system()
    with transaction.atomic():
        manager = Manager.objects.select_for_update(of=("self",)).select_related("portal").get(pk=manager.pk)
        manager.set_password(password)
        manager.save(update_fields=["password", "updated_at"])
        ManagerSession.objects.filter(manager=manager).delete()
        record(manager.portal, OperationType.UPDATE_MANAGER, actor=actor,
               payload={"managerId": manager.public_id, "email": manager.email, "changes": {},
                        "passwordChanged": True})
    return manager


# --- Login ------------------------------------------------------------------------------------------------

_DUMMY_HASH = None


def login(email: str, password: str | None, *, totp: str | None = None, password_ok: str | None = None,
          web: bool = False, ip: str | None = None, user_agent: str = "") -> list[tuple[Manager, str]]:
    """Managers with this email and password (and second factor), each with a new session token.

    An empty list means no match (the caller answers one generic 401); each failure is counted, and
    ``RateLimited`` is raised as ``catena_site.throttle.LoginAttempt`` says (per email and IP pair, per IP,
    per email from new addresses). With two-factor authentication on, ``totp`` (a code or a recovery code) is
    needed too (``portals.totp.second_factor``: its 401s count as failures like a wrong password);
    ``password_ok`` (the web login's second step) stands for the password checked a few minutes earlier.
    ``web`` lets a manager whose portal requires 2FA in without it (the screens then send them to enrol).
    """
    if password_ok is None:
        credentials = LoginInput.check({"email": email, "password": password, "totp": totp})
        email, password, totp = credentials["email"], credentials["password"], credentials.get("totp")
    else:  # the web login's second step: the email the signed state names
        email = (email or "").strip().lower()
    attempt = LoginAttempt("manager", email, ip)
    attempt.begin()
    matched = managers_of_state(password_ok, email) if password_ok else _password_matches(email, password)
    if not matched:
        return []
    matched = second_factor(matched, totp, api=not web)
    attempt.succeeded()
    return _open_sessions(matched, ip=ip, user_agent=user_agent)


def _password_matches(email: str, password: str | None) -> list[Manager]:
    """The managers with this (lower-case) email whose password is ``password``, oldest first."""
    global _DUMMY_HASH
    candidates = list(Manager.objects.select_related("portal").filter(email=email).order_by("id"))
    if not candidates:
        # Spend the same time as a real check, so timing does not tell which emails exist.
        _DUMMY_HASH = _DUMMY_HASH or make_password("not-a-real-password")
        check_password(password or "", _DUMMY_HASH)
    return [m for m in candidates if m.check_password(password or "")]


def _open_sessions(managers: list[Manager], *, ip: str | None, user_agent: str) -> list[tuple[Manager, str]]:
    now = timezone.now()
    result = []
    with transaction.atomic():
        for manager in managers:
            Manager.objects.filter(pk=manager.pk).update(last_login_at=now)
            manager.last_login_at = now
            result.append((manager, start_session(manager, ip=ip, user_agent=user_agent)))
    return result


def purge_expired_sessions() -> int:
    """Delete manager sessions idle past the TTL; return the count."""
    idle_since = timezone.now() - dt.timedelta(seconds=settings.MANAGER_SESSION_TTL)
    deleted, _ = ManagerSession.objects.filter(last_seen_at__lt=idle_since).delete()
    return deleted

