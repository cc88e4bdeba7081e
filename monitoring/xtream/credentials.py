"""Who an Xtream request is for: a subscriber's ``login`` and player password (players.md §2), compared in
constant time, with wrong passwords throttled per client address."""

from __future__ import annotations

import datetime as dt
import hmac
from dataclasses import dataclass

from catena_site.throttle import Counter, Limit, take
from portals.models import Portal
from subscribers.models import PLAYER_PASSWORD_LENGTH, Subscriber

# 20 wrong passwords from one address within a minute: that address (and only it) gets 429 until the oldest
# of them leaves the window. A right password is not counted (a player asks many times a minute).
WRONG_PASSWORDS = Limit("xtream-ip", 20, 60, "Too many wrong player passwords from this address; try again later.")

# Compared against when the login is unknown, so that an unknown login and a wrong password take the same time.
_DUMMY_PASSWORD = "x" * PLAYER_PASSWORD_LENGTH
_MAX_LOGIN = Subscriber._meta.get_field("login").max_length


@dataclass(frozen=True)
class Player:
    """A subscriber logged in with its player password: the attributes the access rule and the stream URLs read
    (``subscribers.access``, ``client_api.views.stream_url``), without loading the whole model."""

    id: int
    portal: Portal
    login: str
    player_password: str
    playback_token: str
    disabled: bool
    created_at: dt.datetime

    @property
    def portal_id(self) -> int:
        return self.portal.id


def _usable(text: str) -> bool:
    # A control character (a NUL above all: PostgreSQL refuses it in a query) or an overlong login never matches.
    return 0 < len(text) <= _MAX_LOGIN and text.isprintable()


def player_for(portal: Portal, login: str | None, password: str | None) -> Player | None:
    """The portal's subscriber with this login and player password, or None (one indexed query).

    The password is compared with ``hmac.compare_digest``, against a dummy when the login is unknown.
    """
    login, password = login or "", password or ""
    row = None
    if _usable(login):
        row = (Subscriber.objects.filter(portal_id=portal.id, login=login)
               .values_list("id", "player_password", "playback_token", "disabled", "created_at").first())
    stored = row[1] if row is not None else _DUMMY_PASSWORD
    matches = hmac.compare_digest(stored.encode("utf-8", "surrogatepass"), password.encode("utf-8", "surrogatepass"))
    if row is None or not matches or not password:
        return None
    subscriber_id, player_password, token, disabled, created_at = row
    return Player(subscriber_id, portal, login, player_password, token, disabled, created_at)


def log_in(portal: Portal, login: str | None, password: str | None, ip: str | None) -> Player | None:
    """:func:`player_for`, counted against the address's limit of wrong passwords: ``RateLimited`` (429) when the
    address is past it, whatever the password; a right password is taken back from the count."""
    counted = take(Counter.of(WRONG_PASSWORDS, ip or "-"))
    player = player_for(portal, login, password)
    if player is not None:
        for counter in counted:
            counter.undo()
    return player
