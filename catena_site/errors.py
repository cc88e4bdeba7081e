"""Domain errors raised by service functions; the API and the screens turn them into answers."""

from __future__ import annotations


class ServiceError(Exception):
    """A refused change. ``status`` is the HTTP status the API answers with."""

    status = 400

    def __init__(self, message: str, errors: dict[str, list[str]] | None = None):
        super().__init__(message)
        self.message = message
        self.errors = errors or {}


class Invalid(ServiceError):
    """Input breaks a rule: 400 with the field and the reason."""

    status = 400

    @classmethod
    def field(cls, field: str, reason: str) -> Invalid:
        return cls(f"{field}: {reason}", {field: [reason]})

    @classmethod
    def of(cls, what: str, errors: dict[str, list[str]]) -> Invalid:
        """Every broken rule of ``what`` at once: ``Invalid <what>: field: reason; …`` and the per-field reasons."""
        return cls(f"Invalid {what}: " + "; ".join(f"{k}: {v[0]}" for k, v in errors.items()), errors)


class Forbidden(ServiceError):
    """The caller may not do this: 403, the message names the permission."""

    status = 403


class NotFound(ServiceError):
    """No such object in the caller's portal: 404."""

    status = 404


class Conflict(ServiceError):
    """The change conflicts with the current state (duplicate, still in use): 409."""

    status = 409


class RateLimited(ServiceError):
    """Too many attempts: 429 with ``Retry-After``."""

    status = 429

    def __init__(self, message: str, retry_after: int):
        super().__init__(message)
        self.retry_after = max(1, int(retry_after))


class Unauthorized(ServiceError):
    """Credentials missing, wrong or expired: 401."""

    status = 401
