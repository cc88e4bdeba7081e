"""Every change of portals and managers: one function per change, one transaction, one operation row."""

from __future__ import annotations

import base64
import datetime as dt
import re

from django.conf import settings
from django.contrib.auth.hashers import check_password, make_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from catena_site import access_events
from catena_site.errors import Conflict, Forbidden, Invalid
from catena_site.throttle import LoginAttempt
from monitoring.operations import Actor, OperationType, changes, record

from . import streaming_servers
from .auth import Caller, start_session
from .models import (
    DEFAULT_PORTAL_SETTINGS,
    Manager,
    ManagerSession,
    Portal,
    StreamingServer,
    new_api_key,
)
from .totp import managers_of_state, second_factor
from .validators import (
    decode_logo,
    decode_logo_data_uri,
    normalize_email,
    password_problems,
    validate_logo_url,
)

FLAG_FIELDS = {"isAdmin": "is_admin", "isContentAdmin": "is_content_admin", "isSubscriberAdmin": "is_subscriber_admin"}
GENERIC_LOGIN_FAILURE = "Invalid email or password."


# --- Portals ----------------------------------------------------------------------------------------------


def create_portal(*, name: str, domain: str, owner_email: str, owner_password: str, title: str = "",
                  streaming_server: StreamingServer | None = None) -> Portal:
    """Create a portal and its owner (infrastructure level: the create_portal command and the admin), bound to
    ``streaming_server`` (default: the server named ``default``)."""
    problems = password_problems(owner_password, [owner_email, name, domain, title])
    if problems:
        raise Invalid("owner password: " + " ".join(problems), {"password": problems})
    email = normalize_email(owner_email)
    with transaction.atomic():
        if Portal.objects.filter(Q(name=name) | Q(domain=domain)).exists():
            raise Conflict("A portal with this name or domain already exists.")
        server = streaming_server or streaming_servers.default_server()
        portal = Portal.objects.create(name=name, domain=domain, title=title or name, settings=dict(DEFAULT_PORTAL_SETTINGS),
                                       streaming_server=server)
        owner = Manager(portal=portal, email=email, name="Owner", is_admin=True, is_content_admin=True,
                        is_subscriber_admin=True)
        owner.set_password(owner_password)
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
# A BCP 47 language tag reduced to what XMLTV guides use: a 2–8 letter language, optionally a region
# (2 letters or 3 digits): ``en``, ``ru``, ``pt-BR``, ``es-419``.
GUIDE_LANGUAGE_PATTERN = re.compile(r"([A-Za-z]{2,8})(?:-([A-Za-z]{2}|[0-9]{3}))?")


def guide_language(portal: Portal) -> str:
    """The language whose titles and descriptions win when an XMLTV guide offers several (e.g. ``"en"``);
    empty when none is chosen, and the first one listed is kept."""
    value = (portal.settings or {}).get(GUIDE_LANGUAGE_KEY)
    return value.strip() if isinstance(value, str) else ""


def clean_guide_language(value) -> str:
    """``value`` as a guide language in its usual spelling (``pt-br`` → ``pt-BR``), or ``""`` for none.

    Raises ``Invalid`` (``guideLanguage``) for anything else.
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return ""
    match = GUIDE_LANGUAGE_PATTERN.fullmatch(value.strip()) if isinstance(value, str) else None
    if match is None:
        message = "Must be a language code such as en, ru or pt-BR (2–8 letters, optionally a region), or blank."
        raise Invalid(f"guideLanguage: {message}", {"guideLanguage": [message]})
    language, region = match.groups()
    return language.lower() + (f"-{region.upper()}" if region else "")


def portal_logo_value(portal: Portal) -> str | None:
    """The branding logo as the API shows it: the https URL, or the stored image as a data URI."""
    if portal.logo_image:
        return f"data:{portal.logo_content_type};base64,{base64.b64encode(bytes(portal.logo_image)).decode()}"
    return portal.logo_url or None


def _validate_settings(values: dict) -> dict:
    errors: dict[str, list[str]] = {}
    result = {}
    for key, value in values.items():
        if key in ("autoCreateSubscribers", "require2fa"):
            if not isinstance(value, bool):
                errors[f"settings.{key}"] = ["Must be true or false."]
            result[key] = value
        elif key == "maxSessionsPerSubscriber":
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 1000):
                errors[f"settings.{key}"] = ["Must be null (unlimited) or a whole number from 1 to 1000."]
            result[key] = value
        elif key == "smsTemplate":
            if value is not None and (not isinstance(value, str) or len(value) > 300 or "{code}" not in value):
                errors[f"settings.{key}"] = ["Must be text of at most 300 characters containing {code}."]
            result[key] = value or None
        elif key == "streamBaseUrl":
            if value not in (None, "") and (not isinstance(value, str) or not value.startswith(("http://", "https://"))
                                            or len(value) > 500):
                errors[f"settings.{key}"] = ["Must be an http:// or https:// URL, or null for the default."]
            result[key] = value or None
        # unknown keys are ignored, like unknown fields
    if errors:
        raise Invalid("Invalid portal settings.", errors)
    return result


def update_portal(
    portal: Portal,
    *,
    caller: Caller,
    branding: dict | None = None,
    settings_values: dict | None = None,
    logo_file: bytes | None = None,
    remove_logo: bool = False,
    guide_language_value: str | None = None,
) -> Portal:
    """Change branding and settings; records ``updatePortal`` with old → new (the logo as a marker).

    ``guide_language_value`` (the settings screen only; ``""`` clears it) is the portal's guide language,
    recorded as ``guideLanguage``.
    """
    caller.require("isAdmin")
    branding = branding or {}
    with transaction.atomic():
        portal = Portal.objects.select_for_update().get(pk=portal.pk)
        before = _portal_snapshot(portal)
        errors: dict[str, list[str]] = {}
        if "title" in branding:
            title = branding["title"]
            if not isinstance(title, str) or len(title) > 200:
                errors["branding.title"] = ["Must be text of at most 200 characters."]
            else:
                portal.title = title.strip()
        if "description" in branding:
            description = branding["description"]
            if description is not None and (not isinstance(description, str) or len(description) > 2000):
                errors["branding.description"] = ["Must be text of at most 2000 characters."]
            else:
                portal.description = (description or "").strip()
        if "logo" in branding:
            _apply_logo(portal, branding["logo"], errors)
        if logo_file is not None:
            try:
                portal.logo_image, portal.logo_content_type = decode_logo(logo_file)
                portal.logo_url = ""
            except ValidationError as exc:
                errors["logo"] = exc.messages
        if remove_logo:
            portal.logo_image, portal.logo_content_type, portal.logo_url = None, "", ""
        if settings_values is not None:
            if not isinstance(settings_values, dict):
                errors["settings"] = ["Must be an object."]
            else:
                try:
                    portal.settings = {**portal.effective_settings, **_validate_settings(settings_values)}
                except Invalid as exc:
                    errors.update(exc.errors)
        if guide_language_value is not None:
            try:
                _set_guide_language(portal, clean_guide_language(guide_language_value))
            except Invalid as exc:
                errors.update(exc.errors)
        if errors:
            raise Invalid.of("portal", errors)
        diff = changes(before, _portal_snapshot(portal))
        _check_owner_only_settings(caller, diff)
        if diff:
            portal.save()
            record(portal, OperationType.UPDATE_PORTAL, actor=caller.actor, payload=diff)
            if "settings" in diff:  # maxSessionsPerSubscriber is part of every cached playback decision
                access_events.portal_changed(portal.id)
    return portal


# Settings only the portal's owner may change (the API key acts as the owner).
OWNER_ONLY_SETTINGS = ("require2fa",)


def _check_owner_only_settings(caller: Caller, diff: dict) -> None:
    """``Forbidden`` when ``diff`` changes an owner-only setting and the caller is not the owner."""
    setting_diff = diff.get("settings") or {}
    changed = [key for key in OWNER_ONLY_SETTINGS
               if (setting_diff.get("old") or {}).get(key) != (setting_diff.get("new") or {}).get(key)]
    if changed and not caller.is_owner:
        raise Forbidden(f"Only the portal owner can change {', '.join(changed)}.")


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


def _apply_logo(portal: Portal, value, errors: dict) -> None:
    if value in (None, ""):
        portal.logo_image, portal.logo_content_type, portal.logo_url = None, "", ""
        return
    if not isinstance(value, str):
        errors["branding.logo"] = ["Must be an https:// URL, a data:image/…;base64, string or null."]
        return
    if value == portal_logo_value(portal):
        return  # a GET → PUT round trip sends the stored logo back unchanged
    try:
        if value.startswith("data:"):
            portal.logo_image, portal.logo_content_type = decode_logo_data_uri(value)
            portal.logo_url = ""
        else:
            portal.logo_url = validate_logo_url(value)
            portal.logo_image, portal.logo_content_type = None, ""
    except ValidationError as exc:
        errors["branding.logo"] = exc.messages


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


def _clean_manager_fields(data: dict, *, creating: bool, current: Manager | None = None) -> dict:
    """Validate the writable manager fields present in ``data`` (API names); raise Invalid with all errors."""
    errors: dict[str, list[str]] = {}
    clean: dict = {}
    if "email" in data or creating:
        try:
            clean["email"] = normalize_email(data.get("email") or "")
        except ValidationError as exc:
            errors["email"] = exc.messages
    if "name" in data:
        name = data.get("name") or ""
        if not isinstance(name, str) or len(name) > 200:
            errors["name"] = ["Must be text of at most 200 characters."]
        else:
            clean["name"] = name.strip()
    for api_name in FLAG_FIELDS:
        if api_name in data:
            if not isinstance(data[api_name], bool):
                errors[api_name] = ["Must be true or false."]
            else:
                clean[api_name] = data[api_name]
    if "password" in data or creating:
        password = data.get("password")
        if not isinstance(password, str) or not password:
            errors["password"] = ["This field is required."]
        else:
            known = [data.get("email"), data.get("name"), current and current.email, current and current.name]
            problems = password_problems(password, [str(word) for word in known if isinstance(word, str)])
            if problems:
                errors["password"] = problems
            else:
                clean["password"] = password
    if errors:
        raise Invalid.of("manager", errors)
    return clean


def _email_taken(portal: Portal, email: str, exclude: int | None = None) -> bool:
    return Manager.objects.for_portal(portal).filter(email=email).exclude(pk=exclude).exists()


def create_manager(portal: Portal, *, caller: Caller, data: dict) -> Manager:
    """Create a manager of ``portal`` from API-named fields; records ``createManager``."""
    caller.require("isAdmin")
    clean = _clean_manager_fields(data, creating=True)
    with transaction.atomic():
        if _email_taken(portal, clean["email"]):
            raise Conflict("A manager with this email already exists in this portal.",
                           {"email": ["A manager with this email already exists in this portal."]})
        manager = Manager(portal=portal, email=clean["email"], name=clean.get("name", ""))
        for api_name, field in FLAG_FIELDS.items():
            setattr(manager, field, clean.get(api_name, False))
        manager.set_password(clean["password"])
        try:
            with transaction.atomic():
                manager.save()
        except IntegrityError:  # a concurrent create with the same email won the race
            raise Conflict("A manager with this email already exists in this portal.") from None
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
    """Change a manager; a new password ends all of that manager's sessions. Records ``updateManager``."""
    caller.require("isAdmin")
    clean = _clean_manager_fields(data, creating=False, current=manager)
    with transaction.atomic():
        manager = Manager.objects.select_for_update(of=("self",)).select_related("portal").get(pk=manager.pk)
        portal = manager.portal
        if manager.is_owner:
            raise Forbidden("The portal owner cannot be changed here; a system administrator changes owners.")
        before = _manager_snapshot(manager)
        flag_changes = {k: v for k, v in clean.items() if k in FLAG_FIELDS and v != before[k]}
        if flag_changes and caller.manager is not None and caller.manager.id == manager.id:
            raise Forbidden("You cannot change your own permissions.")
        if flag_changes.get("isAdmin") is False and _admins_left_without(portal, manager):
            raise Conflict("This is the last manager who can manage managers; it must keep isAdmin.")
        if "email" in clean and clean["email"] != manager.email and _email_taken(portal, clean["email"], manager.pk):
            raise Conflict("A manager with this email already exists in this portal.",
                           {"email": ["A manager with this email already exists in this portal."]})
        manager.email = clean.get("email", manager.email)
        manager.name = clean.get("name", manager.name)
        for api_name, field in FLAG_FIELDS.items():
            if api_name in clean:
                setattr(manager, field, clean[api_name])
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
    """Create or change a streaming server (the Django admin); every process reads the servers again after
    commit. Its key must differ from every other server's effective key (the auth check finds a server by it)."""
    with transaction.atomic():
        problems = streaming_servers.address_problems(server.allowed_ips)
        if problems:
            raise Invalid("allowed IPs: " + " ".join(problems), {"allowed_ips": problems})
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

