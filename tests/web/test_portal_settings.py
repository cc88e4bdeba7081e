"""The portal settings screen: branding, logo, settings and the API key."""

from __future__ import annotations

import io
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image
from rest_framework.test import APIClient

from monitoring.operations import Operation, OperationType
from tests.conftest import LATER_SETTINGS

from .conftest import page

API_PORTAL = "/tv-management/api/v1/portal"


def png(size=(8, 8)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


def settings_form(portal, **changes) -> dict:
    """The settings form as the browser submits it unchanged, with ``changes`` applied."""
    data = {"title": portal.title, "description": portal.description, "logo_url": portal.logo_url,
            "max_sessions_per_subscriber": "",
            # checked by default (lifecycle.md §2): a browser sends a checked box as "on"
            "allow_device_registration": "on", "allow_device_unregister": "on"}
    data.update(changes)
    return {key: value for key, value in data.items() if value is not None}


def test_changing_the_title_shows_it_in_the_header(web, portal):
    client = web["admin"]
    response = client.post("/portal/settings/", settings_form(portal, title="Brand New TV",
                                                                description="Films and news"))
    assert response.status_code == 302 and response["Location"] == "/portal/settings/"
    assert "Portal settings saved." in page(client.get("/portal/settings/"))
    html = page(client.get("/"))
    assert '<span class="brand-title" data-testid="portal-title">Brand New TV</span>' in html
    portal.refresh_from_db()
    assert (portal.title, portal.description) == ("Brand New TV", "Films and news")
    operation = Operation.objects.get(portal=portal, type=OperationType.UPDATE_PORTAL)
    assert operation.actor_email == "admin@example.com"


def test_the_settings_show_name_and_domain_read_only(web, portal):
    html = page(web["owner"].get("/portal/settings/"))
    assert portal.name in html and portal.domain in html
    assert 'name="name"' not in html and 'name="domain"' not in html


def test_a_too_long_title_is_refused_on_its_field(web, portal):
    response = web["owner"].post("/portal/settings/", settings_form(portal, title="x" * 201))
    assert response.status_code == 400
    assert "Must be at most 200 characters." in page(response)
    portal.refresh_from_db()
    assert portal.title == "Main TV"


def test_settings_are_saved_and_blank_means_unlimited(web, portal):
    client = web["owner"]
    client.post("/portal/settings/", settings_form(portal, auto_create_subscribers="on",
                                                   max_sessions_per_subscriber="3"))
    portal.refresh_from_db()
    assert portal.effective_settings["autoCreateSubscribers"] is True
    assert portal.effective_settings["maxSessionsPerSubscriber"] == 3
    client.post("/portal/settings/", settings_form(portal))
    portal.refresh_from_db()
    assert portal.effective_settings == {"autoCreateSubscribers": False, "maxSessionsPerSubscriber": None,
                                         "smsTemplate": None, "streamBaseUrl": None, "require2fa": False, **LATER_SETTINGS}


def test_an_out_of_range_session_limit_is_refused_by_the_service_rule(web, portal):
    response = web["owner"].post("/portal/settings/", settings_form(portal, max_sessions_per_subscriber="0"))
    assert response.status_code == 400
    assert "whole number from 1 to 1000" in page(response)
    portal.refresh_from_db()
    assert portal.effective_settings["maxSessionsPerSubscriber"] is None


def test_an_uploaded_logo_is_stored_and_shown_in_the_header(web, portal):
    client = web["admin"]
    image = png()
    response = client.post("/portal/settings/", {**settings_form(portal),
                                                 "logo": SimpleUploadedFile("logo.png", image, "image/png")})
    assert response.status_code == 302
    portal.refresh_from_db()
    assert bytes(portal.logo_image) == image and portal.logo_content_type == "image/png"
    assert 'class="brand-logo" src="/portal/logo?v=' in page(client.get("/"))
    logo = client.get("/portal/logo")
    assert logo.status_code == 200 and logo["Content-Type"] == "image/png" and logo.content == image


def test_a_file_that_is_not_an_image_is_refused_on_the_logo_field(web, portal):
    response = web["owner"].post("/portal/settings/", {
        **settings_form(portal), "logo": SimpleUploadedFile("logo.png", b"not an image", "image/png")})
    assert response.status_code == 400
    assert "not a readable PNG, JPEG or WebP image" in page(response)
    portal.refresh_from_db()
    assert not portal.logo_image


def test_the_logo_can_be_removed(web, portal):
    client = web["owner"]
    client.post("/portal/settings/", {**settings_form(portal), "logo": SimpleUploadedFile("l.png", png())})
    client.post("/portal/settings/", settings_form(portal, remove_logo="on"))
    portal.refresh_from_db()
    assert not portal.logo_image and not portal.logo_url
    assert client.get("/portal/logo").status_code == 404


def test_a_logo_url_must_be_https(web, portal):
    client = web["owner"]
    response = client.post("/portal/settings/", settings_form(portal, logo_url="http://cdn.example.com/l.png"))
    assert response.status_code == 400
    assert "https://" in page(response)
    client.post("/portal/settings/", settings_form(portal, logo_url="https://cdn.example.com/l.png"))
    portal.refresh_from_db()
    assert portal.logo_url == "https://cdn.example.com/l.png"
    assert 'src="https://cdn.example.com/l.png"' in page(client.get("/"))
    assert client.get("/portal/logo")["Location"] == "https://cdn.example.com/l.png"


def test_emptying_the_logo_url_removes_that_logo(web, portal):
    client = web["owner"]
    client.post("/portal/settings/", settings_form(portal, logo_url="https://cdn.example.com/l.png"))
    portal.refresh_from_db()
    client.post("/portal/settings/", settings_form(portal, logo_url=""))
    portal.refresh_from_db()
    assert portal.logo_url == ""


@pytest.mark.parametrize("persona", ["owner", "admin"])
def test_the_api_key_is_masked_with_reveal_and_copy(persona, web, portal):
    html = page(web[persona].get("/portal/settings/"))
    assert f'data-secret-value="{portal.api_key}"' in html
    assert "Reveal" in html and "Copy" in html
    masked = html.split('data-testid="api-key">', 1)[1].split("</code>", 1)[0]
    assert portal.api_key not in masked and masked.endswith(portal.api_key[-4:])


def test_generating_a_new_api_key_needs_confirmation_and_refuses_the_old_key(web, portal):
    old_key = portal.api_key
    client = web["admin"]
    confirmation = client.get("/portal/api-key/reset/")
    assert "stops working at once" in page(confirmation)
    portal.refresh_from_db()
    assert portal.api_key == old_key  # showing the confirmation changes nothing

    response = client.post("/portal/api-key/reset/")
    assert response["Location"] == "/portal/settings/"
    portal.refresh_from_db()
    assert portal.api_key != old_key
    assert "The previous key no longer works." in page(client.get("/portal/settings/"))
    assert Operation.objects.filter(portal=portal, type=OperationType.RESET_API_KEY).count() == 1

    api = APIClient()
    assert api.get(API_PORTAL, HTTP_X_AUTH_TOKEN=old_key).status_code == 401
    assert api.get(API_PORTAL, HTTP_X_AUTH_TOKEN=portal.api_key).status_code == 200


def test_the_logo_of_another_portal_is_never_served(stranger_web, web, portal):
    web["owner"].post("/portal/settings/", {**settings_form(portal), "logo": SimpleUploadedFile("l.png", png())})
    assert stranger_web.get("/portal/logo").status_code == 404


# --- Guide language (the screen only: the Management API documents no such setting) ------------------------


def test_the_guide_language_is_saved_in_its_usual_spelling_shown_and_logged(web, portal):
    client = web["admin"]
    response = client.post("/portal/settings/", settings_form(portal, guide_language=" pt-br "))
    assert response.status_code == 302
    portal.refresh_from_db()
    assert portal.settings["language"] == "pt-BR"
    html = page(client.get("/portal/settings/"))
    assert "Programme guide" in html
    assert 'name="guide_language" value="pt-BR"' in html
    assert 'name="guide_language" value="pt-BR"' in page(web["viewer"].get("/portal/settings/"))  # read-only
    operation = Operation.objects.get(portal=portal, type=OperationType.UPDATE_PORTAL)
    assert operation.payload == {"guideLanguage": {"old": None, "new": "pt-BR"}, "managerEmail": "admin@example.com"}
    assert operation.actor_email == "admin@example.com"


def test_a_blank_guide_language_clears_it_and_saving_it_unchanged_logs_nothing(web, portal):
    client = web["owner"]
    client.post("/portal/settings/", settings_form(portal, guide_language="ru"))
    client.post("/portal/settings/", settings_form(portal, guide_language="ru"))
    assert Operation.objects.filter(portal=portal, type=OperationType.UPDATE_PORTAL).count() == 1
    client.post("/portal/settings/", settings_form(portal, guide_language=""))
    portal.refresh_from_db()
    assert "language" not in portal.settings
    last = Operation.objects.filter(portal=portal, type=OperationType.UPDATE_PORTAL).latest("id")
    assert last.payload == {"guideLanguage": {"old": "ru", "new": None}, "managerEmail": portal.owner.email}
    assert 'name="guide_language" value=' not in page(client.get("/portal/settings/"))


@pytest.mark.parametrize("value", ["e", "english-language", "en_US", "en-", "pt-BRA", "fr-12", "ру", "en us", "12"])
def test_a_guide_language_that_is_not_a_language_code_is_refused_on_its_field(web, portal, value):
    web["owner"].post("/portal/settings/", settings_form(portal, guide_language="en"))
    response = web["owner"].post("/portal/settings/", settings_form(portal, title="Not saved", guide_language=value))
    assert response.status_code == 400
    field = page(response).split('for="id_guide_language"', 1)[1].split('<div class="form-field', 1)[0]
    assert "Must be a language code such as en, ru or pt-BR" in field
    portal.refresh_from_db()
    assert (portal.title, portal.settings["language"]) == ("Main TV", "en")  # nothing half-applied
    assert Operation.objects.filter(portal=portal, type=OperationType.UPDATE_PORTAL).count() == 1


@pytest.mark.parametrize("value", ["en", "ru", "pt-BR", "es-419", "fil", "zh-TW"])
def test_language_codes_with_or_without_a_region_are_accepted(web, portal, value):
    assert web["owner"].post("/portal/settings/", settings_form(portal, guide_language=value)).status_code == 302
    portal.refresh_from_db()
    assert portal.settings["language"] == value


def test_readers_cannot_change_the_guide_language(web, portal):
    response = web["viewer"].post("/portal/settings/", settings_form(portal, guide_language="ru"))
    assert response.status_code == 403
    portal.refresh_from_db()
    assert "language" not in portal.settings


def test_the_guide_language_stays_out_of_the_management_api(web, portal):
    web["owner"].post("/portal/settings/", settings_form(portal, guide_language="ru"))
    api = APIClient(HTTP_X_AUTH_TOKEN=portal.api_key)
    body = api.get(API_PORTAL).json()
    assert body["settings"] == {"autoCreateSubscribers": False, "maxSessionsPerSubscriber": None,
                                "smsTemplate": None, "streamBaseUrl": None, "require2fa": False, **LATER_SETTINGS}
    # Sent back (or sent on purpose), it is an unknown field: ignored, and the screen's choice is kept.
    response = api.put(API_PORTAL, {"settings": {**body["settings"], "language": "de", "guideLanguage": "de"}},
                       format="json")
    assert response.status_code == 200 and "language" not in response.json()["settings"]
    portal.refresh_from_db()
    assert portal.settings["language"] == "ru"


def test_every_bad_setting_is_shown_on_its_field_in_one_answer(web, portal):
    response = web["owner"].post("/portal/settings/", settings_form(
        portal, title="x" * 201, max_sessions_per_subscriber="many", sms_template="no placeholder",
        stream_base_url="ftp://streams", guide_language="en_US", logo_url="http://insecure.example.com/l.png"))
    assert response.status_code == 400
    html = page(response)
    for field, message in [
        ("title", "Must be at most 200 characters."),
        ("max_sessions_per_subscriber", "Must be a whole number."),
        ("sms_template", "Must contain {code}, where the login code goes."),
        ("stream_base_url", "Must be an http:// or https:// URL."),
        ("guide_language", "Must be a language code such as en, ru or pt-BR"),
        ("logo_url", "Logo URL must be an https:// URL."),
    ]:
        errors = re.search(rf'name="{field}".*?<ul class="field-errors">(.*?)</ul>', html, re.S)
        assert errors and message in errors.group(1), field
    portal.refresh_from_db()
    assert portal.title == "Main TV"
    assert not Operation.objects.filter(type=OperationType.UPDATE_PORTAL).exists()


@pytest.mark.parametrize(("value", "stored"), [("1000", 1000), (" 3 ", 3), ("", None)])
def test_max_sessions_per_subscriber_on_the_screen(web, portal, value, stored):
    response = web["owner"].post("/portal/settings/", settings_form(portal, max_sessions_per_subscriber=value))
    assert response.status_code == 302
    portal.refresh_from_db()
    assert portal.effective_settings["maxSessionsPerSubscriber"] == stored


def test_more_than_1000_sessions_is_refused_on_the_screen_too(web, portal):
    response = web["owner"].post("/portal/settings/", settings_form(portal, max_sessions_per_subscriber="1001"))
    assert response.status_code == 400
    assert "Must be a whole number from 1 to 1000, or empty for unlimited." in page(response)


def test_a_reader_is_told_which_permission_saving_needs(web, portal):
    assert "changing them requires the Admin permission." in page(web["viewer"].get("/portal/settings/"))
    response = web["viewer"].post("/portal/settings/", settings_form(portal, title="No"))
    assert response.status_code == 403
    assert "Changing portal settings requires the Admin permission (isAdmin)." in page(response)


def test_expiry_reminders_are_set_on_the_settings_screen_and_refused_with_the_rule(web, portal):
    client = web["owner"]
    response = client.post("/portal/settings/", settings_form(
        portal, expiry_reminder_days="5", expiry_reminder_template="{title}: {package} ends {date}"))
    assert response.status_code == 302
    portal.refresh_from_db()
    assert (portal.effective_settings["expiryReminderDays"], portal.effective_settings["expiryReminderTemplate"]) \
        == (5, "{title}: {package} ends {date}")
    html = page(client.get("/portal/settings/"))
    assert 'name="expiry_reminder_days" value="5"' in html and "{title}: {package} ends {date}</textarea>" in html
    response = client.post("/portal/settings/", settings_form(portal, expiry_reminder_days="91",
                                                              expiry_reminder_template="Pay by {when}"))
    assert response.status_code == 400
    html = page(response)
    assert "Must be a whole number from 1 to 90, or empty to send no reminders." in html
    assert "Unknown placeholder {when}: use {title}, {package} and {date}." in html
    client.post("/portal/settings/", settings_form(portal, expiry_reminder_template="  "))
    portal.refresh_from_db()
    assert (portal.effective_settings["expiryReminderDays"], portal.effective_settings["expiryReminderTemplate"]) \
        == (None, None)
