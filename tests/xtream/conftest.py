"""A portal serving the Xtream Codes API, its catalogue and guide, and a subscriber's player (players.md §3).

Changes that move access go through ``committed`` (their cache invalidation runs after commit, as in
production): the next request must see them.
"""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlencode

import pytest
from django.test import Client
from django.utils import timezone

from content import services as content
from content.models import EpgSource, Program
from portals import services as portals
from portals.auth import Caller
from subscribers import services as subscribers
from tests.content.helpers import data_uri, image_bytes

STREAMER_KEY = "xtream-test-streamer-key"


@pytest.fixture(autouse=True)
def _streamer(settings):
    settings.STREAMER_KEY = STREAMER_KEY
    settings.STREAMER_ALLOWED_IPS = []
    settings.STREAMER_API_URL = ""


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    """``committed(fn, *args, **kwargs)``: run a change, then what it scheduled for after its commit."""

    def run(function, *args, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return function(*args, **kwargs)

    return run


def enable_xtream(portal, on: bool = True, **settings):
    return portals.update_portal(portal, caller=Caller(portal=portal),
                                 data={"settings": {"xtreamApi": on, **settings}})


@pytest.fixture
def player(portal):
    """A player application reaching the portal by its domain (``Host``)."""
    return Client(HTTP_HOST=portal.domain)


@pytest.fixture
def world(portal):
    """Channels (ordered as the lists: by number, then the unnumbered by title):

    ``news`` 1 (categories News; 7 days of archive; a guide; a logo), ``kids`` 2 (Kids; not subscribed),
    ``sport`` 5 (Sport, News), ``cinema`` and ``docs`` (no number, no category). ``alice`` subscribes to
    ``basic`` (news, sport, cinema, docs) without an end; ``extra`` holds kids.
    """
    caller = Caller(portal=portal)
    enable_xtream(portal)
    cats = {name: content.create_category(portal, caller=caller, data={"name": name, "title": name.title()})
            for name in ("news", "sport", "kids")}
    source = EpgSource.objects.create(portal=portal, name="guide", url="https://epg.example.com/g.xml")

    def channel(name, title, **data):
        if "categories" in data:
            data["categories"] = [cats[c].public_id for c in data["categories"]]
        return content.create_channel(portal, caller=caller, data={"name": name, "title": title, **data})

    channels = {
        "news": channel("news", "World News", number=1, categories=["news"], archiveDays=7, epgSourceName="guide",
                        epgChannelName="news.id", logo=data_uri(image_bytes())),
        "kids": channel("kids", "Cartoons", number=2, categories=["kids"]),
        "sport": channel("sport", "Arena Sport", number=5, categories=["sport", "news"], epgSourceName="guide",
                         epgChannelName="sport.id"),
        "cinema": channel("cinema", "Cinema"),
        "docs": channel("docs", "Documentaries", archiveDays=3),
    }
    basic = content.create_package(portal, caller=caller, data={"name": "basic"})
    for name in ("news", "sport", "cinema", "docs"):
        content.add_channel_to_package(basic, channels[name], caller=caller)
    extra = content.create_package(portal, caller=caller, data={"name": "extra"})
    content.add_channel_to_package(extra, channels["kids"], caller=caller)
    alice = subscribers.create_subscriber(portal, caller=caller,
                                          data={"name": "Alice", "phoneCountryCode": "1", "phone": "2345678901"})
    subscribers.subscribe(alice, basic, caller=caller)
    now = timezone.now().replace(second=0, microsecond=0)
    programs = {}
    for key, channel_name, start, minutes, title in [
            ("ancient", "news.id", now - dt.timedelta(days=9), 60, "Old Times"),
            ("past", "news.id", now - dt.timedelta(hours=3), 60, "Morning News"),
            ("recent", "news.id", now - dt.timedelta(hours=2), 90, "Weather Ü"),
            ("on_air", "news.id", now - dt.timedelta(minutes=30), 60, "Noon News"),
            ("next", "news.id", now + dt.timedelta(minutes=30), 30, "Sports Desk"),
            ("later", "news.id", now + dt.timedelta(minutes=60), 60, "Evening News"),
            ("last", "news.id", now + dt.timedelta(minutes=120), 60, "Night News"),
            ("match", "sport.id", now - dt.timedelta(hours=1), 120, "Match")]:
        programs[key] = Program.objects.create(
            portal=portal, epg_source=source, epg_channel_name=channel_name, start=start,
            end=start + dt.timedelta(minutes=minutes), title=title, description=f"About {title}", language="en",
            genre="News", content_hash=0)
    return {"portal": portal, "caller": caller, "channels": channels, "categories": cats, "basic": basic,
            "extra": extra, "alice": alice, "programs": programs, "source": source, "now": now}


def credentials(subscriber, **more) -> dict:
    return {"username": subscriber.login, "password": subscriber.player_password, **more}


def api(player, subscriber, action=None, **params):
    """``GET /player_api.php`` as a player sends it; the response."""
    query = credentials(subscriber, **({"action": action} if action else {}), **params)
    return player.get(f"/player_api.php?{urlencode(query)}")


def live_path(subscriber, channel, ext="m3u8") -> str:
    return f"/live/{subscriber.login}/{subscriber.player_password}/{channel.id}.{ext}"


def timeshift_path(subscriber, channel, start: dt.datetime, minutes: int = 60, ext="m3u8") -> str:
    return (f"/timeshift/{subscriber.login}/{subscriber.player_password}/{minutes}/"
            f"{start.astimezone(dt.UTC):%Y-%m-%d:%H-%M}/{channel.id}.{ext}")
