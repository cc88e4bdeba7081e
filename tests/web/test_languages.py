"""Russian screens and the portal's time zone (operations.md §4): the manager's stored language, else the
browser's Accept-Language; the header's switcher; times in the portal's zone with the zone named; the API
stays English and UTC."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.test import Client

from monitoring.operations import Operation
from portals.auth import Caller
from portals.models import Manager
from subscribers import services as subscribers
from subscribers.models import Subscriber
from tests.conftest import API

from .conftest import logged_in_client, page

# The header's sections, in English and as the Russian manual names them.
NAV = {"Dashboard": "Обзор", "Channels": "Каналы", "Packages": "Пакеты", "Subscribers": "Абоненты",
       "Play sessions": "Сессии просмотра", "Managers": "Менеджеры", "Operations log": "Журнал операций",
       "Portal settings": "Настройки портала", "Log out": "Выйти"}
SCREENS = ["/", "/channels/", "/packages/", "/categories/", "/locations/", "/epg-sources/", "/subscribers/",
           "/play-sessions/", "/play-sessions/history/", "/managers/", "/operations/", "/webhooks/",
           "/portal/settings/", "/account/"]


def nav_labels(html: str) -> list[str]:
    nav = html[html.index('<nav class="nav"'):html.index("</nav>")]
    return [label.strip() for label in re.findall(r">([^<>]+)</a>", nav)]


def choose(client: Client, language: str, next_url: str = "/"):
    return client.post("/language/", {"language": language, "next": next_url})


def test_choosing_russian_stores_the_managers_choice_and_every_main_screen_speaks_russian(web, managers):
    client = web["owner"]
    response = choose(client, "ru", "/subscribers/")
    assert response.status_code == 302 and response["Location"] == "/subscribers/"
    owner = Manager.objects.get(pk=managers["owner"].pk)
    assert owner.language == "ru"
    operation = Operation.objects.filter(type="updateManager").latest("id")
    assert operation.payload["changes"] == {"language": "ru"}
    for url in SCREENS:
        response = client.get(url)
        assert response.status_code == 200, url
        html = page(response)
        assert '<html lang="ru">' in html, url
        labels = nav_labels(html)
        for english, russian in NAV.items():
            assert russian in labels or russian in html, (url, russian)
            assert english not in labels, (url, english)
    assert "Поиск" in page(client.get("/subscribers/"))
    assert "Сохранить настройки" in page(client.get("/portal/settings/"))


def test_the_stored_choice_follows_the_manager_to_another_browser_whatever_it_asks_for(web, managers):
    choose(web["admin"], "ru")
    elsewhere = logged_in_client(managers["admin"])
    html = page(elsewhere.get("/channels/", HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9"))
    assert "Журнал операций" in nav_labels(html) and "Operations log" not in nav_labels(html)
    # choosing English again is stored too
    choose(elsewhere, "en")
    assert Manager.objects.get(pk=managers["admin"].pk).language == "en"
    assert "Operations log" in nav_labels(page(web["admin"].get("/channels/", HTTP_ACCEPT_LANGUAGE="ru")))


def test_without_a_choice_the_browsers_accept_language_decides(web, managers):
    assert managers["viewer"].language == ""
    client = web["viewer"]
    russian = page(client.get("/packages/", HTTP_ACCEPT_LANGUAGE="ru-RU,ru;q=0.9,en;q=0.5"))
    assert "Пакеты" in nav_labels(russian) and "Добавить пакет" not in russian  # a reader gets no "Add"
    assert "Packages" in nav_labels(page(client.get("/packages/", HTTP_ACCEPT_LANGUAGE="en")))
    assert "Packages" in nav_labels(page(client.get("/packages/", HTTP_ACCEPT_LANGUAGE="de")))  # not offered


def test_the_login_page_switches_language_for_a_visitor_without_storing_anything(db):
    client = Client()
    assert "Log in" in page(client.get("/login/"))
    assert "Войти" in page(client.get("/login/", HTTP_ACCEPT_LANGUAGE="ru"))
    response = choose(client, "ru", "/login/")
    assert response.status_code == 302 and response["Location"] == "/login/"
    assert response.cookies["django_language"].value == "ru"
    html = page(client.get("/login/"))
    assert "Войти" in html and 'data-testid="language-switcher"' in html and ">English<" in html
    assert not Operation.objects.exists()


@pytest.mark.parametrize("language", ["de", "", "ru-RU<script>"])
def test_an_unknown_language_is_refused_with_the_field_and_changes_nothing(web, managers, language):
    response = choose(web["owner"], language)
    assert response.status_code == 400
    assert response.content.decode().startswith("language: unknown language")
    assert Manager.objects.get(pk=managers["owner"].pk).language == ""
    assert "django_language" not in response.cookies


def test_the_switcher_does_not_send_anyone_to_another_site(web):
    response = choose(web["owner"], "ru", "https://evil.example.com/")
    assert response.status_code == 302 and response["Location"] == "/"


def test_the_api_stays_english_whatever_the_browser_or_the_manager_chose(web, clients, portal):
    choose(web["owner"], "ru")
    response = clients["owner"].put(f"{API}/portal", {"settings": {"require2fa": "yes"}}, format="json",
                                    HTTP_ACCEPT_LANGUAGE="ru")
    assert response.status_code == 400
    assert response.json()["errors"] == {"settings.require2fa": ["Must be true or false."]}
    missing = clients["owner"].get(f"{API}/channels/nope", HTTP_ACCEPT_LANGUAGE="ru")
    assert missing.status_code == 404 and re.search(r"[A-Za-z]", missing.content.decode())
    assert not re.search(r"[А-Яа-я]", missing.content.decode())


# --- The portal's time zone -------------------------------------------------------------------------------


def test_the_time_zone_setting_is_validated_stored_and_shown_by_the_api(clients, portal):
    assert clients["owner"].get(f"{API}/portal").json()["settings"]["timeZone"] == "UTC"
    for bad in ("Mars/Olympus_Mons", "Europe/../etc/passwd", "", 3):
        response = clients["owner"].put(f"{API}/portal", {"settings": {"timeZone": bad}}, format="json")
        assert response.status_code == 400, bad
        assert list(response.json()["errors"]) == ["settings.timeZone"], response.json()
    portal.refresh_from_db()
    assert portal.effective_settings["timeZone"] == "UTC"
    response = clients["owner"].put(f"{API}/portal", {"settings": {"timeZone": "Europe/Moscow"}}, format="json")
    assert response.status_code == 200 and response.json()["settings"]["timeZone"] == "Europe/Moscow"
    operation = Operation.objects.filter(portal=portal, type="updatePortal").latest("id")
    assert operation.payload["settings"]["new"]["timeZone"] == "Europe/Moscow"
    # a reader may not change it
    assert clients["viewer"].put(f"{API}/portal", {"settings": {"timeZone": "UTC"}}, format="json").status_code == 403


def _subscriber_seen_at(portal, moment: dt.datetime) -> Subscriber:
    subscriber = subscribers.create_subscriber(portal, caller=Caller(portal=portal),
                                               data={"name": "Zoe", "phoneCountryCode": "7", "phone": "9001234567"})
    Subscriber.objects.filter(pk=subscriber.pk).update(last_activity_at=moment)
    return subscriber


def test_screens_show_times_in_the_portals_zone_with_its_name_and_the_api_stays_utc(web, clients, portal):
    subscriber = _subscriber_seen_at(portal, dt.datetime(2026, 1, 15, 12, 0, tzinfo=dt.UTC))
    card = f"/subscribers/{subscriber.public_id}/"
    html = page(web["owner"].get(card))
    assert "2026-01-15 12:00 UTC" in html
    assert clients["owner"].put(f"{API}/portal", {"settings": {"timeZone": "Asia/Yekaterinburg"}},
                                format="json").status_code == 200
    html = page(web["owner"].get(card))
    assert "2026-01-15 17:00 Asia/Yekaterinburg" in html and "2026-01-15 12:00" not in html
    assert '>Asia/Yekaterinburg</span>' in html  # named in the header too
    body = clients["owner"].get(f"{API}/subscribers/{subscriber.public_id}").json()
    assert body["lastActivityAt"].startswith("2026-01-15T12:00:00")
    # another portal's zone is its own
    assert "UTC" in page(web["owner"].get("/operations/"))


def test_the_settings_screen_changes_the_time_zone_and_refuses_an_unknown_one(web, portal):
    from tests.web.test_portal_settings import settings_form

    client = web["admin"]
    assert 'name="time_zone"' in page(client.get("/portal/settings/"))
    refused = client.post("/portal/settings/", settings_form(portal, time_zone="Nowhere/Land"))
    assert refused.status_code == 400 and "Nowhere/Land" in page(refused)
    portal.refresh_from_db()
    assert portal.effective_settings["timeZone"] == "UTC"
    assert client.post("/portal/settings/", settings_form(portal, time_zone="Europe/Moscow")).status_code == 302
    portal.refresh_from_db()
    assert portal.effective_settings["timeZone"] == "Europe/Moscow"
    assert client.post("/portal/settings/", settings_form(portal)).status_code == 302  # unchanged when not sent
    portal.refresh_from_db()
    assert portal.effective_settings["timeZone"] == "Europe/Moscow"
