"""Test data built through the service layer, as the product builds it."""

from __future__ import annotations

import itertools
import time

import pyotp

from portals import services
from portals.auth import Caller, start_session
from portals.models import Manager, Portal, StreamingServer

PASSWORD = "Correct-Horse-9"
_counter = itertools.count(1)


def make_portal(name: str | None = None, *, owner_email: str | None = None, title: str = "",
                streaming_server: StreamingServer | None = None) -> Portal:
    n = next(_counter)
    name = name or f"portal-{n}"
    return services.create_portal(
        name=name,
        domain=f"{name}.example.com",
        owner_email=owner_email or f"owner-{n}@example.com",
        owner_password=PASSWORD,
        title=title or name.title(),
        streaming_server=streaming_server,
    )


def make_streaming_server(name: str, *, key: str | None = None, **fields) -> StreamingServer:
    """A streaming server besides the default one (its own key: ``<name>-key`` unless given)."""
    return services.save_streaming_server(StreamingServer(name=name, key=f"{name}-key" if key is None else key,
                                                          **fields))


def make_manager(portal: Portal, email: str | None = None, *, password: str = PASSWORD, name: str = "",
                 is_admin=False, is_content_admin=False, is_subscriber_admin=False) -> Manager:
    email = email or f"manager-{next(_counter)}@example.com"
    return services.create_manager(
        portal,
        caller=Caller(portal=portal),
        data={"email": email, "password": password, "name": name, "isAdmin": is_admin,
              "isContentAdmin": is_content_admin, "isSubscriberAdmin": is_subscriber_admin},
    )


def session_token(manager: Manager) -> str:
    return start_session(manager)


def totp_code(secret: str, steps: int = 0) -> str:
    """The authenticator's code ``steps`` 30-second steps from now, never taken in a step's last two seconds: the
    server checks it a moment later, and had the step turned meanwhile, a code of the previous step (what an
    enrolment is confirmed with, so that the current one stays unused) would be out of its window."""
    now = time.time()
    if now % 30 > 28:
        time.sleep(30.05 - now % 30)
        now = time.time()
    return pyotp.TOTP(secret).at(now + 30 * steps)
