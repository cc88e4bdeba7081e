"""Field rules for portals and managers, which the input shapes (``portals.inputs``) and the Django admin apply."""

from __future__ import annotations

import base64
import binascii
import functools
import io
import re
import zoneinfo

from django.contrib.auth.password_validation import CommonPasswordValidator
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator

MAX_LOGO_BYTES = 1024 * 1024
MAX_LOGO_PIXELS_SIDE = 4096
LOGO_FORMATS = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp"}
_DATA_URI = re.compile(r"^data:image/[a-zA-Z0-9.+-]+;base64,(?P<data>.*)$", re.DOTALL)


MIN_PASSWORD_SCORE = 3  # zxcvbn: 0 too guessable … 3 safely unguessable (~10^10 guesses) … 4 very unguessable
ZXCVBN_MAX_LENGTH = 72  # zxcvbn refuses longer input; the first 72 characters decide


def password_strength_problem(password: str, user_inputs: list[str] | tuple = ()) -> str | None:
    """Why ``password`` is too easy to guess (zxcvbn below ``MIN_PASSWORD_SCORE``), in plain words; else None.

    ``user_inputs`` (the manager's email, name, the portal's name) count as known words: a password built
    from them is weak.
    """
    from zxcvbn import zxcvbn

    words = [str(w) for w in user_inputs if w]
    for value in list(words):  # "alice@example.com" also gives "alice" and "example"
        words.extend(part for part in re.split(r"[^A-Za-z0-9]+", value) if len(part) > 2)
    result = zxcvbn(password[:ZXCVBN_MAX_LENGTH], user_inputs=words)
    if result["score"] >= MIN_PASSWORD_SCORE:
        return None
    feedback = result.get("feedback") or {}
    reason = (feedback.get("warning") or "").rstrip(".")
    advice = " ".join(feedback.get("suggestions") or []) or "Add another word or two; uncommon words are better."
    return f"Password is too easy to guess{' (' + reason.lower() + ')' if reason else ''}. {advice}"


def password_problems(password: str, user_inputs: list[str] | tuple = ()) -> list[str]:
    """Every rule of the password policy that ``password`` breaks (empty when it is acceptable)."""
    problems = []
    if len(password) < 8:
        problems.append("Password must be at least 8 characters long.")
    if not re.search(r"[A-Z]", password):
        problems.append("Password must contain an upper-case letter.")
    if not re.search(r"[a-z]", password):
        problems.append("Password must contain a lower-case letter.")
    if not re.search(r"[0-9]", password):
        problems.append("Password must contain a digit.")
    if not re.search(r"[^A-Za-z0-9]", password):
        problems.append("Password must contain a special character.")
    try:
        CommonPasswordValidator().validate(password)
    except ValidationError:
        problems.append("Password is too common.")
    if not problems:
        weak = password_strength_problem(password, user_inputs)
        if weak:
            problems.append(weak)
    return problems


class PasswordStrengthValidator:
    """Django password validator (``AUTH_PASSWORD_VALIDATORS``): zxcvbn score of at least 3, the user's
    username, email and names counting as known words (Django admin accounts, ``createsuperuser``)."""

    def validate(self, password, user=None):
        inputs = [getattr(user, name, "") for name in ("username", "email", "first_name", "last_name")] if user else []
        problem = password_strength_problem(password, inputs)
        if problem:
            raise ValidationError(problem, code="password_too_weak")

    def get_help_text(self):
        return "Your password must not be easy to guess (a few uncommon words, not a common password)."


def decode_logo(data: bytes) -> tuple[bytes, str]:
    """Verify image bytes with Pillow and return them with their content type.

    Only PNG, JPEG and WebP, at most 1 MB and 4096×4096 pixels; a renamed file, a truncated image or a
    decompression bomb raises ``ValidationError`` before anything is stored.
    """
    from PIL import Image

    if len(data) > MAX_LOGO_BYTES:
        raise ValidationError("Logo must be at most 1 MB.")
    if not data:
        raise ValidationError("Logo is empty.")
    try:
        with Image.open(io.BytesIO(data)) as image:
            kind = image.format
            width, height = image.size
            if kind not in LOGO_FORMATS:
                raise ValidationError("Logo must be a PNG, JPEG or WebP image.")
            if width > MAX_LOGO_PIXELS_SIDE or height > MAX_LOGO_PIXELS_SIDE:
                raise ValidationError(f"Logo must be at most {MAX_LOGO_PIXELS_SIDE}×{MAX_LOGO_PIXELS_SIDE} pixels.")
            image.verify()
        with Image.open(io.BytesIO(data)) as image:
            image.load()  # verify() does not decode pixels; a truncated file fails only here
    except ValidationError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ValidationError("Logo is too large.") from None
    except Exception:
        raise ValidationError("Logo is not a readable PNG, JPEG or WebP image.") from None
    return data, LOGO_FORMATS[kind]


def decode_logo_data_uri(value: str) -> tuple[bytes, str]:
    """A ``data:image/…;base64,…`` string as verified image bytes and content type."""
    match = _DATA_URI.match(value or "")
    if not match:
        raise ValidationError("Logo must be an https:// URL or a data:image/…;base64, string.")
    encoded = match.group("data").strip()
    if len(encoded) > (MAX_LOGO_BYTES * 4) // 3 + 8:
        raise ValidationError("Logo must be at most 1 MB.")
    try:
        raw = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise ValidationError("Logo is not valid base64.") from None
    return decode_logo(raw)


def logo_data_uri(image: bytes, content_type: str) -> str:
    """Stored logo bytes as the API shows them: ``data:<content type>;base64,…``."""
    return f"data:{content_type};base64,{base64.b64encode(image).decode()}"


def validate_logo_url(value: str) -> str:
    URLValidator(schemes=["https"], message="Logo URL must be an https:// URL.")(value)
    return value


@functools.cache
def time_zone_names() -> frozenset[str]:
    """Every IANA time zone name this machine knows (the system's database, else the tzdata package)."""
    return frozenset(zoneinfo.available_timezones()) | {"UTC"}


def time_zone_problem(name: str) -> str | None:
    """Why ``name`` is not a time zone for a portal's ``timeZone`` setting, or None when it is one."""
    if name not in time_zone_names():
        return f"Unknown time zone {name!r}: use an IANA name such as UTC or Europe/Moscow."
    return None
