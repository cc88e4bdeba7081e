"""Screen test helpers: a logged-in browser session (Django test client) per persona.

Clients log in through the login screen itself, like a person would, so every test also exercises it.
"""

from __future__ import annotations

import pytest
from django.test import Client

from tests.factories import PASSWORD

PERSONAS = ("owner", "admin", "content", "subscribers", "viewer")
WRITERS = ("owner", "admin")  # may change settings, the API key and managers
READERS = ("content", "subscribers", "viewer")  # see the same screens, read-only


def logged_in_client(manager, password: str = PASSWORD) -> Client:
    """A client logged in as ``manager`` (whose email must exist in one portal only)."""
    client = Client()
    response = client.post("/login/", {"email": manager.email, "password": password})
    assert response.status_code == 302, response.content.decode()[:500]
    return client


@pytest.fixture
def web(managers):
    """``web["viewer"]`` → a client logged in as that persona of the main portal."""

    class _Clients(dict):
        def __missing__(self, persona):
            client = logged_in_client(managers[persona])
            self[persona] = client
            return client

    return _Clients()


@pytest.fixture
def stranger_web(other_portal):
    """A client logged in as the owner of another portal."""
    return logged_in_client(other_portal.owner)


def page(response) -> str:
    return response.content.decode()


def table(response) -> str:
    """The body of the page's table (empty when the page shows no table)."""
    html = page(response)
    start = html.find("<tbody>")
    return html[start:html.find("</tbody>", start)] if start >= 0 else ""
