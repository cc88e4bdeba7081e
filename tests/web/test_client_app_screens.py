"""Screens of the client apps: SMS and stream settings of the portal, the card's app sessions and playlist."""

from __future__ import annotations

import datetime as dt
import html as html_lib
import re

import pytest
from django.test import Client
from django.utils import timezone

from catena_site.errors import Forbidden
from portals.auth import Caller
from subscribers import sms_login
from subscribers.client_sessions import AppSession
from subscribers.models import Subscription
from tests.conftest import LATER_SETTINGS
from tests.content.test_channels_api import make_channel, make_package
from tests.subscribers.test_subscribers_api import make_subscriber

from .conftest import page
from .test_portal_settings import settings_form

SETTINGS = "/portal/settings/"


@pytest.fixture
def alice(portal):
    return make_subscriber(portal, "Alice Smith", "1", "2025550143")


def app_session(subscriber, n: int, *, device="", ip=None, expires_in=dt.timedelta(days=30)) -> AppSession:
    now = timezone.now()
    return AppSession.objects.create(token_hash=f"{n:064d}", subscriber=subscriber, full_phone=subscriber.full_phone,
                                     device=device, ip=ip, last_seen_at=now - dt.timedelta(minutes=n),
                                     expires_at=now + expires_in)


def card(client, subscriber) -> str:
    return page(client.get(f"/subscribers/{subscriber.public_id}/"))


def apps_section(html: str) -> str:
    start = html.index('data-testid="app-sessions"')
    return html[start:html.index("</section>", start)]


# --- Portal settings: self-registration, SMS template, stream base URL --------------------------------------


def test_the_settings_explain_the_new_fields_and_their_defaults(web, portal, settings):
    settings.STREAM_BASE_URL = "http://streams.internal:8080"
    html = html_lib.unescape(page(web["owner"].get(SETTINGS)))
    assert "Create subscribers on first SMS login (they get only free packages)" in html
    assert "SMS message template" in html
    assert "{title} is replaced by the portal title and {code} by the login code" in html
    assert "Leave blank for the default: Your {title} code: {code}" in html
    assert re.search(r'<textarea name="sms_template"[^>]*placeholder="Your \{title\} code: \{code\}"', html)
    assert "Stream base URL" in html
    assert re.search(r'<input type="url" name="stream_base_url"[^>]*placeholder="http://streams.internal:8080"',
                     html)


def test_sms_template_and_stream_base_url_are_saved_and_used(web, portal, alice):
    client = web["admin"]
    response = client.post(SETTINGS, settings_form(
        portal, auto_create_subscribers="on", sms_template="{title}: your code is {code}",
        stream_base_url=" https://cdn.example.net/live/ "))
    assert response.status_code == 302
    portal.refresh_from_db()
    assert portal.effective_settings["autoCreateSubscribers"] is True
    assert portal.effective_settings["smsTemplate"] == "{title}: your code is {code}"
    assert portal.effective_settings["streamBaseUrl"] == "https://cdn.example.net/live/"
    assert sms_login.sms_text(portal, "1234") == "Main TV: your code is 1234"
    html = page(client.get(SETTINGS))
    assert "{title}: your code is {code}</textarea>" in html
    assert 'value="https://cdn.example.net/live/"' in html
    # The players' playlist now points at the new stream server.
    channel = make_channel(portal, "news", "World News")
    Subscription.objects.create(subscriber=alice, package=make_package(portal, "basic", [channel]))
    playlist = Client().get(f"/tv/api/v1/playlist.m3u?token={alice.playback_token}").content.decode()
    assert f"https://cdn.example.net/live/news/index.m3u8?token={alice.playback_token}" in playlist


def test_blank_fields_go_back_to_the_defaults(web, portal):
    client = web["admin"]
    client.post(SETTINGS, settings_form(portal, sms_template="Code {code}", stream_base_url="http://s.example"))
    response = client.post(SETTINGS, settings_form(portal, sms_template="  ", stream_base_url=""))
    assert response.status_code == 302
    portal.refresh_from_db()
    assert (portal.effective_settings["smsTemplate"], portal.effective_settings["streamBaseUrl"]) == (None, None)
    assert sms_login.sms_text(portal, "0042") == "Your Main TV code: 0042"


@pytest.mark.parametrize(("field", "value", "message"), [
    ("sms_template", "Your {title} code", "Must contain {code}, where the login code goes."),
    ("sms_template", "{code}" + "x" * 300, "Must be at most 300 characters."),
    ("stream_base_url", "ftp://streams.example", "Must be an http:// or https:// URL."),
])
def test_a_bad_value_is_refused_on_its_field_and_nothing_is_saved(web, portal, field, value, message):
    response = web["owner"].post(SETTINGS, settings_form(portal, title="Changed", auto_create_subscribers="on",
                                                         **{field: value}))
    assert response.status_code == 400
    html = page(response)
    errors = re.search(rf'name="{field}".*?<ul class="field-errors">(.*?)</ul>', html, re.S)
    assert errors and message in errors.group(1)
    portal.refresh_from_db()
    assert portal.title == "Main TV"
    assert portal.effective_settings == {"autoCreateSubscribers": False, "maxSessionsPerSubscriber": None,
                                         "smsTemplate": None, "streamBaseUrl": None, "require2fa": False, **LATER_SETTINGS}


def test_readers_see_the_new_settings_disabled_and_cannot_save_them(web, portal):
    html = page(web["viewer"].get(SETTINGS))
    assert re.search(r'<textarea name="sms_template"[^>]*disabled', html)
    assert re.search(r'<input type="url" name="stream_base_url"[^>]*disabled', html)
    response = web["viewer"].post(SETTINGS, settings_form(portal, sms_template="Hi {code}"))
    assert response.status_code == 403
    portal.refresh_from_db()
    assert portal.effective_settings["smsTemplate"] is None


# --- Subscriber card: apps ----------------------------------------------------------------------------------


def test_the_card_lists_app_sessions(web, portal, alice):
    app_session(alice, 1, device="CatenaTV/2.1 (Android 14; Pixel 8)", ip="203.0.113.7")
    app_session(alice, 2, device="", ip=None, expires_in=-dt.timedelta(hours=1))
    other = make_subscriber(portal, "Bob", "44", "7700900123")
    app_session(other, 3, device="Bob's TV")
    for persona in ("viewer", "subscribers"):
        section = apps_section(card(web[persona], alice))
        assert "CatenaTV/2.1 (Android 14; Pixel 8)" in section and "203.0.113.7" in section
        assert "Unknown device" in section and "Expired" in section
        assert section.count("<tr>") == 3  # the heading and two sessions, last seen first
        assert section.index("Pixel 8") < section.index("Unknown device")
        assert "Bob&#x27;s TV" not in section
    assert "Log out everywhere" in apps_section(card(web["subscribers"], alice))
    assert "Log out everywhere" not in apps_section(card(web["viewer"], alice))


def test_a_subscriber_without_app_sessions_shows_an_empty_state(web, alice):
    section = apps_section(card(web["subscribers"], alice))
    assert "No app logins" in section and "Log out everywhere" not in section


def test_log_out_everywhere_ends_every_app_session_after_a_confirmation(web, portal, alice):
    app_session(alice, 1)
    app_session(alice, 2)
    other = make_subscriber(portal, "Bob", "44", "7700900123")
    app_session(other, 3)
    client = web["subscribers"]
    url = f"/subscribers/{alice.public_id}/apps/logout/"
    confirmation = page(client.get(url))
    assert "Log Alice Smith out of every app?" in confirmation and 'method="post"' in confirmation
    assert AppSession.objects.filter(subscriber=alice).count() == 2  # the GET changed nothing
    response = client.post(url)
    assert response.status_code == 302 and response["Location"] == f"/subscribers/{alice.public_id}/#apps"
    assert not AppSession.objects.filter(subscriber=alice).exists()
    assert AppSession.objects.filter(subscriber=other).count() == 1
    html = card(client, alice)
    assert "Alice Smith was logged out of every app (2 app sessions ended)." in html
    assert "No app logins" in apps_section(html)


@pytest.mark.parametrize("persona", ["viewer", "content", "admin"])
def test_only_subscriber_admins_log_out_everywhere(web, alice, persona):
    app_session(alice, 1)
    url = f"/subscribers/{alice.public_id}/apps/logout/"
    assert web[persona].get(url).status_code == 403
    response = web[persona].post(url)
    assert response.status_code == 403
    assert "isSubscriberAdmin" in page(response)
    assert AppSession.objects.filter(subscriber=alice).count() == 1


def test_log_out_everywhere_of_another_portals_subscriber_is_404(stranger_web, alice):
    app_session(alice, 1)
    assert stranger_web.post(f"/subscribers/{alice.public_id}/apps/logout/").status_code == 404
    assert AppSession.objects.filter(subscriber=alice).count() == 1


def test_the_service_checks_the_permission(portal, managers, alice):
    app_session(alice, 1)
    with pytest.raises(Forbidden, match=re.escape(
            "This action requires the Subscriber admin permission (isSubscriberAdmin).")):
        sms_login.log_out_everywhere(alice, caller=Caller(portal=portal, manager=managers["viewer"]))
    assert AppSession.objects.filter(subscriber=alice).count() == 1
    assert sms_login.log_out_everywhere(alice, caller=Caller(portal=portal, manager=managers["subscribers"])) == 1
    assert not AppSession.objects.filter(subscriber=alice).exists()


# --- Subscriber card: player playlist -----------------------------------------------------------------------


def test_the_playlist_url_is_shown_masked_to_token_holders_and_serves_the_playlist(web, portal, alice):
    channel = make_channel(portal, "news", "World News")
    Subscription.objects.create(subscriber=alice, package=make_package(portal, "basic", [channel]))
    html = card(web["subscribers"], alice)
    token = alice.playback_token
    url = re.search(r'data-secret-value="([^"]+)" data-testid="playlist-url">([^<]+)<', html)
    assert url, "no playlist URL on the card"
    full, shown = html_lib.unescape(url.group(1)), url.group(2)
    assert full == f"http://testserver/tv/api/v1/playlist.m3u?token={token}"
    assert token not in shown and shown.startswith("http://testserver/tv/api/v1/playlist.m3u?token=")
    assert shown.endswith(token[-4:])
    assert "data-secret-copy" in html[html.index('id="playlist"'):]
    response = Client().get(full.removeprefix("http://testserver"))
    assert response.status_code == 200
    body = response.content.decode()
    assert body.startswith("#EXTM3U") and "World News" in body


@pytest.mark.parametrize("persona", ["viewer", "content", "admin"])
def test_the_playlist_url_is_hidden_from_those_who_may_not_see_tokens(web, alice, persona):
    html = card(web[persona], alice)
    assert "Player playlist" not in html and "playlist.m3u" not in html
    assert alice.playback_token not in html
