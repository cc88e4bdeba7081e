"""Small HTTP helpers shared by the API and the screens."""

from django.conf import settings


def client_ip(request) -> str | None:
    """The client address: REMOTE_ADDR, or the first X-Forwarded-For hop when behind a trusted proxy."""
    if getattr(settings, "USE_X_FORWARDED_FOR", False):
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        if forwarded:
            return forwarded.split(",")[0].strip() or None
    return request.META.get("REMOTE_ADDR") or None
