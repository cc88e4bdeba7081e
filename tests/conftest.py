"""Shared fixtures: portals and the personas of the permission matrix, each with an API client.

Personas: ``api_key`` (the portal's key), ``owner``, ``admin`` (isAdmin), ``content`` (isContentAdmin),
``subscribers`` (isSubscriberAdmin), ``viewer`` (no flag) — and ``stranger``, the owner of another portal.
"""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from tests.factories import make_manager, make_portal, make_streaming_server, session_token
from tests.worker import celery_worker_process  # noqa: F401  (one real Celery worker for the whole session)

API = "/tv-management/api/v1"

# The settings of catalog.md §4, lifecycle.md §1–§3, players.md §3 and operations.md §4, with their defaults.
LATER_SETTINGS = {"icareusApi": False, "defaultArchiveDays": None, "expiryReminderDays": None,
                  "expiryReminderTemplate": None, "allowDeviceRegistration": True, "allowDeviceUnregister": True,
                  "maxDevicesPerSubscriber": None, "deviceLimitPolicy": "refuse", "allowAnonymous": False,
                  "xtreamApi": False, "timeZone": "UTC"}
PERSONAS = ("api_key", "owner", "admin", "content", "subscribers", "viewer")


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["tests.hashers.FastArgon2PasswordHasher"]


@pytest.fixture(autouse=True)
def _isolated_cache(settings, tmp_path):
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
                    "LOCATION": str(tmp_path / "cache")}
    }


def api_client(token: str | None = None) -> APIClient:
    client = APIClient()
    if token:
        client.credentials(HTTP_X_AUTH_TOKEN=token)
    return client


@pytest.fixture
def portal(db):
    return make_portal("main-portal", title="Main TV")


@pytest.fixture
def other_portal(db):
    # On a streaming server of its own: tests give it channels named like the main portal's, which two portals
    # may only have on different servers (a stream name is unique per server).
    return make_portal("other-portal", title="Other TV", streaming_server=make_streaming_server("other-server"))


@pytest.fixture
def managers(portal):
    """One manager per flag combination of the permission matrix."""
    return {
        "owner": portal.owner,
        "admin": make_manager(portal, "admin@example.com", name="Admin", is_admin=True),
        "content": make_manager(portal, "content@example.com", name="Content", is_content_admin=True),
        "subscribers": make_manager(portal, "subs@example.com", name="Subs", is_subscriber_admin=True),
        "viewer": make_manager(portal, "viewer@example.com", name="Viewer"),
    }


@pytest.fixture
def clients(portal, managers):
    """An API client per persona, keyed by persona name."""
    result = {"api_key": api_client(portal.api_key)}
    for persona, manager in managers.items():
        result[persona] = api_client(session_token(manager))
    return result


@pytest.fixture
def api(portal):
    """The portal's API-key client (acts as the owner)."""
    return api_client(portal.api_key)


@pytest.fixture
def stranger(other_portal):
    """The owner of another portal."""
    return api_client(session_token(other_portal.owner))


@pytest.fixture
def anonymous(db):
    return APIClient()
