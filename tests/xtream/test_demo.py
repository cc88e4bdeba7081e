"""The README's player walkthrough on the demo portal of ``dev.py run`` (``manage.py demo_portal``): the demo
serves the Xtream Codes API from its creation, so a subscriber created there logs in with its login and player
password at the players' URL the command prints (``?portalId=…``: the development server's host is no portal's
domain)."""

from __future__ import annotations

import io
import json
from urllib.parse import urlencode, urlsplit

import pytest
from django.core.management import call_command
from django.test import Client

from tests.conftest import API, api_client

pytestmark = pytest.mark.django_db


def test_a_subscriber_of_the_fresh_demo_logs_in_at_the_players_url_it_prints():
    out = io.StringIO()
    call_command("demo_portal", "--json", stdout=out)
    demo = json.loads(out.getvalue())
    created = api_client(demo["apiKey"]).post(f"{API}/subscribers", {"name": "Viewer", "phoneCountryCode": "1",
                                                                       "phone": "5550123"}, format="json")
    assert created.status_code == 201
    viewer = created.json()
    url = urlsplit(demo["players"])
    player = Client(HTTP_HOST=url.netloc)

    def log_in(password: str) -> dict:
        return player.get(f"{url.path}?{url.query}&{urlencode({'username': viewer['login'], 'password': password})}"
                          ).json()

    info = log_in(viewer["playerPassword"])["user_info"]
    assert (info["auth"], info["status"], info["username"]) == (1, "Active", viewer["login"])
    assert log_in("wrong-one") == {"user_info": {"auth": 0}}
