"""Item 7 of issue 14: a manager reorders categories on the Categories screen and a TV app sees the new order
in the client API (``GET /tv/api/v1/categories``); each channel's own category order is not the display order
and stays as it was."""

from __future__ import annotations

import json
import urllib.request

import pytest

from content import services as content
from portals.auth import Caller
from portals.models import Portal
from tests.client.test_watching import app_token
from tests.content.test_channels_api import make_channel, make_package
from tests.subscribers.test_subscribers_api import make_subscriber

from .conftest import wait_until

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ROW_TITLES = "Array.from(document.querySelectorAll('[data-testid=category-row] td:nth-child(2)'), td => td.innerText)"


def client_get(base_url: str, path: str, portal: Portal, token: str) -> dict:
    """What a TV app asks: the client API with its app session."""
    request = urllib.request.Request(f"{base_url}/tv/api/v1/{path}?portalId={portal.public_id}",
                                     headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200
        return json.loads(response.read())


def test_reordering_categories_on_the_screen_reorders_them_in_the_client_api(owner_page, live_server):
    page = owner_page
    portal = Portal.objects.get(name="main-portal")
    caller = Caller(portal=portal)
    ids = {name: content.create_category(portal, caller=caller, data={"name": name, "title": title}).public_id
           for name, title in [("news", "News"), ("sport", "Sport"), ("music", "Music")]}
    channels = [make_channel(portal, "news", "World News", number=1, categories=[ids["news"]]),
                make_channel(portal, "sport", "Arena Sport", number=2, categories=[ids["sport"], ids["news"]]),
                make_channel(portal, "radio", "Radio One", number=3, audioOnly=True, categories=[ids["music"]])]
    content.add_free_package(make_package(portal, "basic", channels), caller=caller)
    token = app_token(make_subscriber(portal))

    def api_categories() -> list[str]:
        return [c["title"] for c in client_get(live_server.url, "categories", portal, token)["categories"]]

    def api_channels() -> list[tuple[str, list[str]]]:
        return [(c["name"], [k["title"] for k in c["categories"]])
                for c in client_get(live_server.url, "channels", portal, token)["channels"]]

    channels_before = api_channels()
    assert channels_before == [("news", ["News"]), ("sport", ["Sport", "News"]), ("radio", ["Music"])]
    assert api_categories() == ["News", "Sport", "Music"]

    page.click("nav >> text=Categories")
    wait_until(page, f"{ROW_TITLES}.join('|') === 'News|Sport|Music'")
    page.click("button[aria-label='Move Music up']")
    wait_until(page, f"{ROW_TITLES}.join('|') === 'News|Music|Sport'")
    assert api_categories() == ["News", "Music", "Sport"]

    page.click("button[aria-label='Move News down']")
    wait_until(page, f"{ROW_TITLES}.join('|') === 'Music|News|Sport'")
    assert api_categories() == ["Music", "News", "Sport"]
    body = client_get(live_server.url, "categories", portal, token)["categories"]
    assert [c["position"] for c in body] == [0, 1, 2]

    # Channels keep their order (by number) and each its own order of categories.
    assert api_channels() == channels_before
