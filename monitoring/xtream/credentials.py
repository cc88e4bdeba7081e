"""Who an Xtream request is for: the portal, and a subscriber's ``login`` and player password (players.md §2),
compared in constant time, with wrong passwords throttled per client address."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from catena_site.errors import NotFound, RateLimited
from catena_site.throttle import Counter, Limit
from portals.models import Portal
from subscribers.access import player_password_matches
from subscribers.models import Subscriber

# 20 wrong passwords from one address within a minute: that address (and only it) gets 429, whatever the password,
# until the oldest of them leaves the window. Right passwords are never counted (a player asks many times a
# minute), so a request reads the count (one round trip) and only a wrong password adds to it: concurrent wrong
# guesses can pass the limit by at most their number, which leaves a 10-character password as safe.
WRONG_PASSWORDS = Limit("xtream-ip", 20, 60, "Too many wrong player passwords from this address; try again later.")
NO_API = "No Xtream Codes API here: unknown portal, or its xtreamApi setting is off."

_MAX_LOGIN = Subscriber._meta.get_field("login").max_length
_PORTAL_FIELDS = ("id", "name", "domain", "settings", "streaming_server_id")


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


def _serving(portal: Portal | None) -> Portal:
    if portal is None or not portal.effective_settings.get("xtreamApi"):
        raise NotFound(NO_API)
    return portal


def player_for(portals: dict, login: str | None, password: str | None) -> tuple[Portal, Player | None]:
    """The portal (``portals``: the filter naming it) and its subscriber with this login and player password, or
    None; 404 when no such portal serves the Xtream API. One query when the login exists (the subscriber with its
    portal), two otherwise. The password is compared by ``subscribers.access.player_password_matches`` (in
    constant time, against a dummy when the login is unknown)."""
    login, password = login or "", password or ""
    subscriber = None
    if _usable(login):
        subscriber = (Subscriber.objects.select_related("portal")
                      .only("id", "login", "player_password", "playback_token", "disabled", "created_at",
                            *(f"portal__{name}" for name in _PORTAL_FIELDS))
                      .filter(login=login, **{f"portal__{key}": value for key, value in portals.items()}).first())
    portal = _serving(subscriber.portal if subscriber is not None else Portal.objects.only(*_PORTAL_FIELDS).filter(**portals).first())
    matches = player_password_matches(subscriber.player_password if subscriber is not None else None, password)
    if subscriber is None or not matches or not password:
        return portal, None
    return portal, Player(subscriber.id, portal, login, subscriber.player_password, subscriber.playback_token,
                          subscriber.disabled, subscriber.created_at)


def log_in(portals: dict, login: str | None, password: str | None, ip: str | None) -> tuple[Portal, Player | None]:
    """:func:`player_for`, within the address's limit of wrong passwords: ``RateLimited`` (429) when the address
    is past it, whatever the password; a wrong password (or none) counts one more."""
    counter = Counter.of(WRONG_PASSWORDS, ip or "-")
    if counter.count() >= WRONG_PASSWORDS.limit:
        raise RateLimited(WRONG_PASSWORDS.message, counter.retry_after())
    portal, player = player_for(portals, login, password)
    if player is None:
        counter.add()
    return portal, player
