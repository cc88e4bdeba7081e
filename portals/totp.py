"""TOTP two-factor authentication of managers: secrets, codes, recovery codes, the enrolment QR code, and the
second step of a login.

The codes are RFC 6238 TOTP (``pyotp``: SHA-1, 6 digits, 30-second steps), accepted from one step before to one
step after the current one (clock drift), each at most once: the step of the last accepted code is stored per
manager and only a later step is accepted again. Recovery codes are 10 random characters (about 50 bits), so
a SHA-256 of each is enough to store (like the session tokens); each works once.
"""

from __future__ import annotations

import secrets
import time

import pyotp
import segno
from django.core import signing
from django.db import transaction
from django.utils import timezone
from pyotp.utils import strings_equal

from catena_site.errors import Unauthorized

from .models import Manager, ManagerTotp, Portal, RecoveryCode, hash_token

VALID_WINDOW = 1  # steps accepted before and after the current one
RECOVERY_CODE_COUNT = 10
RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i: read from paper and typed back
ISSUER = "Catena"

# The signed "password OK" state between the two steps of a web login, and how long it is good for.
PASSWORD_OK_SALT = "catena.login.password-ok"
PASSWORD_OK_SECONDS = 5 * 60

CODE_REQUIRED = "Enter the code from your authenticator app (or a recovery code)."
CODE_REFUSED = "Invalid or already used code."
ENROL_FIRST = ("This portal requires two-factor authentication: log in to the screens and enrol an "
               "authenticator app under My account first.")
STEP_EXPIRED = "The login took too long. Enter your email and password again."


class SecondFactorRequired(Unauthorized):
    """The password was right but a code is missing or wrong: 401 with ``totpRequired``.

    ``password_ok`` is the signed state that lets the web login ask for the code without the password again.
    """

    def __init__(self, message: str, password_ok: str = ""):
        super().__init__(message)
        self.password_ok = password_ok


def new_secret() -> str:
    """A fresh base32 TOTP secret (160 bits)."""
    return pyotp.random_base32(32)


def otpauth_url(secret: str, manager: Manager) -> str:
    """The ``otpauth://totp/…`` URI an authenticator app reads from the QR code."""
    issuer = f"{ISSUER} {manager.portal.display_title}"
    return pyotp.TOTP(secret).provisioning_uri(name=manager.email, issuer_name=issuer)


def qr_svg(url: str) -> str:
    """``url`` as a QR code: an inline ``<svg>`` element (no script, no style attribute: allowed by the CSP)."""
    return segno.make(url, error="m").svg_inline(scale=5, dark="#000", light="#fff", svgclass="qr-code",
                                                 lineclass=None, title="QR code of the authenticator key")


def clean_code(code) -> str:
    """A code as typed, spaces and dashes removed, lower-case (recovery codes are shown lower-case)."""
    return "".join(str(code or "").split()).replace("-", "").lower()


def matching_step(secret: str, code: str, after: int | None, now: float | None = None) -> int | None:
    """The time-step whose code is ``code`` (within the window and later than ``after``), or None."""
    totp = pyotp.TOTP(secret)
    current = int((time.time() if now is None else now) // totp.interval)
    for step in range(current - VALID_WINDOW, current + VALID_WINDOW + 1):
        if (after is None or step > after) and strings_equal(totp.generate_otp(step), code):
            return step
    return None


def new_recovery_codes() -> list[str]:
    """Ten fresh recovery codes, as shown to the manager (``xxxxx-xxxxx``)."""
    codes = []
    for _ in range(RECOVERY_CODE_COUNT):
        raw = "".join(secrets.choice(RECOVERY_ALPHABET) for _ in range(10))
        codes.append(f"{raw[:5]}-{raw[5:]}")
    return codes


def recovery_hash(code: str) -> str:
    return hash_token(clean_code(code))


def use_code(manager: Manager, code, *, pending: bool = False) -> bool:
    """Whether ``code`` is a valid, unused code of the manager's authenticator (or, unless ``pending``, one of
    their unused recovery codes); an accepted code is used up (in this transaction).

    ``pending`` checks the authenticator that is waiting to be confirmed instead of the enabled one.
    """
    code = clean_code(code)
    if not code:
        return False
    with transaction.atomic():
        totp = ManagerTotp.objects.select_for_update().filter(manager=manager).first()
        if totp is None or totp.enabled == pending:
            return False
        if code.isdigit():
            step = matching_step(totp.secret, code, totp.last_used_step)
            if step is None:
                return False
            ManagerTotp.objects.filter(pk=totp.pk).update(last_used_step=step)
            return True
        if pending:
            return False
        used = RecoveryCode.objects.filter(manager=manager, code_hash=recovery_hash(code), used_at__isnull=True)
        return used.update(used_at=timezone.now()) == 1


def enabled_for(manager: Manager) -> bool:
    """Whether two-factor authentication is on for the manager."""
    return ManagerTotp.objects.filter(manager=manager, confirmed_at__isnull=False).exists()


def required_by(portal: Portal) -> bool:
    """Whether the portal's owner requires two-factor authentication of every manager (``require2fa``)."""
    return bool(portal.effective_settings.get("require2fa"))


# --- The second step of a login -----------------------------------------------------------------------------


def _password_fingerprint(manager: Manager) -> str:
    """Part of the password hash: a password changed between the two steps voids the first."""
    return hash_token(manager.password)[:16]


def password_ok_state(email: str, managers: list[Manager]) -> str:
    """The signed, time-stamped "password OK" state of ``managers`` (all with ``email``)."""
    return signing.dumps({"email": email, "managers": [[m.pk, _password_fingerprint(m)] for m in managers]},
                         salt=PASSWORD_OK_SALT, compress=True)


def managers_of_state(state: str, email: str | None = None) -> list[Manager]:
    """The managers whose password a :func:`password_ok_state` vouches for; ``Unauthorized`` when it expired,
    was tampered with, names another email or a password changed since."""
    try:
        data = signing.loads(state, salt=PASSWORD_OK_SALT, max_age=PASSWORD_OK_SECONDS)
    except signing.BadSignature:
        raise Unauthorized(STEP_EXPIRED) from None
    if email is not None and data["email"] != email:
        raise Unauthorized(STEP_EXPIRED)
    fingerprints = dict(data["managers"])
    managers = [m for m in Manager.objects.select_related("portal").filter(pk__in=fingerprints, email=data["email"])
                .order_by("id") if _password_fingerprint(m) == fingerprints[m.pk]]
    if not managers:
        raise Unauthorized(STEP_EXPIRED)
    return managers


def _enrolled_where_required(managers: list[Manager]) -> list[Manager]:
    """``managers`` less those whose portal requires 2FA and who have none; ``Unauthorized`` if none is left."""
    allowed = [m for m in managers if not required_by(m.portal) or enabled_for(m)]
    if not allowed:
        raise Unauthorized(ENROL_FIRST)
    return allowed


def second_factor(matched: list[Manager], code, *, api: bool) -> list[Manager]:
    """Which of ``matched`` (their password was right) may log in, given ``code`` (or None).

    - ``api``: a manager of a portal that requires 2FA and has none enrolled is left out; none left →
      ``Unauthorized`` saying to enrol in the screens (the screens let them in and send them to enrol);
    - no code while one of them has 2FA on → ``SecondFactorRequired`` carrying the "password OK" state;
    - with a code: the managers without 2FA, and those whose authenticator (or recovery codes) accepts the code
      (each code once); if none with 2FA accepts it → ``SecondFactorRequired`` (wrong or reused code).
    """
    if api:
        matched = _enrolled_where_required(matched)
    protected = [m for m in matched if enabled_for(m)]
    if not protected:
        return matched
    if not clean_code(code):
        raise SecondFactorRequired(CODE_REQUIRED, password_ok_state(matched[0].email, matched))
    accepted = {m.pk for m in protected if use_code(m, code)}
    if not accepted:
        raise SecondFactorRequired(CODE_REFUSED, password_ok_state(matched[0].email, matched))
    return [m for m in matched if m.pk in accepted or m not in protected]
