"""My account: what every manager changes about themselves — password, sessions, two-factor authentication.

One function per change, each acting on the caller's own manager only (the API key has no account: 403), in
one transaction with its ``updateManager`` operation row. The rows say what changed, never a secret:
``{"password": "changed"}``, ``{"totp": "enabled"}``, ``{"totp": "disabled"}``, ``{"sessions": "ended"}``.
"""

from __future__ import annotations

from django.conf import settings as django_settings
from django.db import transaction
from django.utils import timezone

from catena_site.errors import Conflict, Forbidden, Invalid, NotFound, RateLimited
from catena_site.throttle import Counter, Limit
from monitoring.operations import Actor, OperationType, record

from . import totp
from .account_inputs import WRONG_CURRENT_PASSWORD, PasswordChangeShape, TotpCodeShape
from .auth import Caller, session_ttl
from .models import Manager, ManagerSession, ManagerTotp, RecoveryCode

NO_ACCOUNT = "The API key has no account: log in as a manager (POST /login) and use that session."
ALREADY_ENABLED = "Two-factor authentication is already on. Turn it off first to enrol another authenticator."
NOT_PENDING = "Start the enrolment first (POST /me/totp): there is no authenticator waiting for confirmation."
NOT_ENABLED = "Two-factor authentication is not on."
REQUIRED_BY_PORTAL = "This portal requires two-factor authentication: it cannot be turned off."
# Wrong passwords and codes given while logged in (password change, confirming or turning off 2FA): a stolen
# session cannot try them all.
SECRET_CHECKS = Limit("account-secrets", 10, 15 * 60, "Too many wrong passwords or codes. Try again later.")


def own_manager(caller: Caller) -> Manager:
    """The caller's own manager; ``Forbidden`` for the API key, which has no account."""
    if caller.manager is None:
        raise Forbidden(NO_ACCOUNT)
    return caller.manager


def _record(manager: Manager, caller: Caller, change: dict) -> None:
    record(manager.portal, OperationType.UPDATE_MANAGER, actor=caller.actor,
           payload={"managerId": manager.public_id, "email": manager.email, "changes": change})


def change_password(caller: Caller, data: dict) -> Manager:
    """Change the caller's own password (``currentPassword``, ``newPassword``); the manager's other sessions end,
    this one stays. A wrong current password is a 400 on ``currentPassword`` and changes nothing."""
    manager = own_manager(caller)
    counter = _secret_counter(manager)
    try:
        clean = PasswordChangeShape.check(data, manager=manager)
    except Invalid as exc:
        if WRONG_CURRENT_PASSWORD in exc.errors.get("currentPassword", []):
            counter.add()
        raise
    with transaction.atomic():
        manager = Manager.objects.select_for_update(of=("self",)).select_related("portal").get(pk=manager.pk)
        manager.set_password(clean["newPassword"])
        manager.save(update_fields=["password", "updated_at"])
        _other_sessions(manager, caller).delete()
        _record(manager, caller, {"password": "changed"})
    return manager


def set_language(caller: Caller, language: str) -> Manager:
    """Store the screens' language the caller chose in the header (one of ``settings.LANGUAGES``; ``""``: the
    browser's). ``Invalid`` on ``language`` for any other value; an unchanged choice writes nothing."""
    manager = own_manager(caller)
    if language not in {"", *dict(django_settings.LANGUAGES)}:
        raise Invalid({"language": [f"Unknown language {language!r}: use one of "
                                    + ", ".join(code for code, _name in django_settings.LANGUAGES) + "."]})
    with transaction.atomic():
        manager = Manager.objects.select_for_update(of=("self",)).select_related("portal").get(pk=manager.pk)
        if manager.language != language:
            manager.language = language
            manager.save(update_fields=["language", "updated_at"])
            _record(manager, caller, {"language": language})
    return manager


def _other_sessions(manager: Manager, caller: Caller):
    sessions = ManagerSession.objects.filter(manager=manager)
    return sessions.exclude(pk=caller.session.pk) if caller.session is not None else sessions


def sessions(caller: Caller) -> list[ManagerSession]:
    """The caller's own live sessions (web and API), most recently used first."""
    manager = own_manager(caller)
    live = ManagerSession.objects.filter(manager=manager, last_seen_at__gte=timezone.now() - session_ttl())
    return list(live.order_by("-last_seen_at", "-id"))


def end_session(caller: Caller, session_id: int) -> None:
    """End one of the caller's own sessions; ``NotFound`` for any other (another manager's is not told apart
    from a missing one)."""
    manager = own_manager(caller)
    with transaction.atomic():
        deleted, _ = ManagerSession.objects.filter(manager=manager, pk=session_id).delete()
        if not deleted:
            raise NotFound("No such session of yours.")
        _record(manager, caller, {"sessions": "ended"})


def end_other_sessions(caller: Caller) -> int:
    """End every session of the caller but this one; how many ended."""
    manager = own_manager(caller)
    with transaction.atomic():
        deleted, _ = _other_sessions(manager, caller).delete()
        if deleted:
            _record(manager, caller, {"sessions": "ended"})
    return deleted


def totp_enabled(manager: Manager) -> bool:
    return totp.enabled_for(manager)


def start_totp(caller: Caller) -> tuple[str, str]:
    """A new authenticator secret for the caller, waiting for confirmation: ``(secret, otpauth URL)``.

    Two-factor authentication stays as it was (off) until :func:`confirm_totp`; starting again replaces the
    waiting secret. Refused (409) while 2FA is on. Nothing is recorded: nothing about the account changed yet.
    """
    manager = own_manager(caller)
    secret = totp.new_secret()
    with transaction.atomic():
        current = ManagerTotp.objects.select_for_update().filter(manager=manager).first()
        if current is not None and current.enabled:
            raise Conflict(ALREADY_ENABLED)
        ManagerTotp.objects.update_or_create(manager=manager, defaults={"secret": secret, "confirmed_at": None,
                                                                       "last_used_step": None})
    return secret, totp.otpauth_url(secret, manager)


def pending_totp(caller: Caller) -> ManagerTotp | None:
    """The caller's authenticator waiting for confirmation, if any."""
    return ManagerTotp.objects.filter(manager=own_manager(caller), confirmed_at__isnull=True).first()


def _secret_counter(manager: Manager) -> Counter:
    """The wrong passwords and codes a manager gave while logged in; past the limit every one is refused (429)
    unchecked, the right one too, so that guessing gains nothing."""
    counter = Counter.of(SECRET_CHECKS, manager.pk)
    if counter.count() >= SECRET_CHECKS.limit:
        raise RateLimited(SECRET_CHECKS.message, counter.retry_after())
    return counter


def confirm_totp(caller: Caller, data: dict) -> list[str]:
    """Turn two-factor authentication on with a code of the waiting authenticator; returns the ten recovery
    codes (shown once: only their hashes are kept). A wrong code is a 400 on ``code`` and 2FA stays off."""
    manager = own_manager(caller)
    clean = TotpCodeShape.check(data)
    counter = _secret_counter(manager)
    codes = totp.new_recovery_codes()
    with transaction.atomic():
        waiting = ManagerTotp.objects.select_for_update().filter(manager=manager).first()
        if waiting is None or waiting.enabled:
            raise Conflict(ALREADY_ENABLED if waiting is not None else NOT_PENDING)
        accepted = totp.use_code(manager, clean["code"], pending=True)
        if accepted:
            ManagerTotp.objects.filter(pk=waiting.pk).update(confirmed_at=timezone.now())
            RecoveryCode.objects.filter(manager=manager).delete()
            RecoveryCode.objects.bulk_create(
                [RecoveryCode(manager=manager, code_hash=totp.recovery_hash(code)) for code in codes])
            _record(manager, caller, {"totp": "enabled"})
    if not accepted:
        counter.add()
        raise Invalid.of("code", {"code": [totp.CODE_REFUSED]})
    return codes


def disable_totp(caller: Caller, data: dict) -> None:
    """Turn two-factor authentication off with a code of the authenticator or an unused recovery code.

    Refused (409) when it is not on or when the portal requires it; a wrong code is a 400 on ``code``.
    """
    manager = own_manager(caller)
    clean = TotpCodeShape.check(data)
    counter = _secret_counter(manager)
    with transaction.atomic():
        current = ManagerTotp.objects.select_for_update().filter(manager=manager).first()
        if current is None or not current.enabled:
            raise Conflict(NOT_ENABLED)
        if totp.required_by(manager.portal):
            raise Conflict(REQUIRED_BY_PORTAL)
        accepted = totp.use_code(manager, clean["code"])
        if accepted:
            current.delete()
            RecoveryCode.objects.filter(manager=manager).delete()
            _record(manager, caller, {"totp": "disabled"})
    if not accepted:
        counter.add()
        raise Invalid.of("code", {"code": [totp.CODE_REFUSED]})


def reset_two_factor(manager: Manager, *, actor: Actor | None = None) -> bool:
    """Turn a manager's two-factor authentication off without a code (a system administrator, in the Django
    admin, for a manager who lost both the authenticator and the recovery codes); whether it was on or waiting.
    Their sessions stay. Records ``updateManager`` ``{"totp": "disabled"}``."""
    with transaction.atomic():
        deleted, _ = ManagerTotp.objects.filter(manager=manager).delete()
        RecoveryCode.objects.filter(manager=manager).delete()
        if deleted:
            record(manager.portal, OperationType.UPDATE_MANAGER, actor=actor or Actor.system(),
                   payload={"managerId": manager.public_id, "email": manager.email, "changes": {"totp": "disabled"}})
    return bool(deleted)
