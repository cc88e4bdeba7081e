import base64
import io

import pytest
from PIL import Image

from monitoring.operations import Operation
from portals.models import Portal
from tests.conftest import API, LATER_SETTINGS, api_client

PORTAL_KEYS = {"portalId", "name", "domain", "freePackages", "branding", "apiKey", "ownerId", "createdAt",
               "updatedAt", "flags", "settings"}


def png_data_uri(size=(8, 8), fmt="PNG") -> str:
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 10, 10)).save(buffer, fmt)
    kind = {"PNG": "png", "JPEG": "jpeg", "WEBP": "webp"}[fmt]
    return f"data:image/{kind};base64," + base64.b64encode(buffer.getvalue()).decode()


def test_get_portal_returns_the_documented_object(api, portal):
    response = api.get(f"{API}/portal")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == PORTAL_KEYS
    assert body["portalId"] == portal.public_id
    assert body["name"] == "main-portal"
    assert body["domain"] == "main-portal.example.com"
    assert body["freePackages"] == []
    assert body["branding"] == {"logo": None, "title": "Main TV", "description": ""}
    assert body["apiKey"] == portal.api_key
    assert body["ownerId"] == portal.owner.public_id
    assert body["flags"] == {"canManage": True, "canManageSubscribers": True, "canManageContent": True}
    assert body["settings"] == {"autoCreateSubscribers": False, "maxSessionsPerSubscriber": None,
                                "smsTemplate": None, "streamBaseUrl": None, "require2fa": False,
                                **LATER_SETTINGS}
    assert body["createdAt"].endswith("Z")


@pytest.mark.parametrize(
    ("persona", "sees_key", "flags"),
    [
        ("api_key", True, (True, True, True)),
        ("owner", True, (True, True, True)),
        ("admin", True, (True, False, False)),
        ("content", False, (False, False, True)),
        ("subscribers", False, (False, True, False)),
        ("viewer", False, (False, False, False)),
    ],
)
def test_api_key_and_flags_depend_on_the_caller(clients, portal, persona, sees_key, flags):
    body = clients[persona].get(f"{API}/portal/").json()
    assert body["apiKey"] == (portal.api_key if sees_key else None)
    assert (body["flags"]["canManage"], body["flags"]["canManageSubscribers"], body["flags"]["canManageContent"]) == flags


def test_missing_or_unknown_token_is_401(anonymous):
    response = anonymous.get(f"{API}/portal")
    assert response.status_code == 401
    assert "message" in response.json()
    assert api_client("no-such-token").get(f"{API}/portal").status_code == 401


def test_put_portal_updates_branding_and_settings_and_logs_it(clients, portal, managers):
    response = clients["admin"].put(
        f"{API}/portal",
        {"name": "main-portal", "domain": "main-portal.example.com",
         "branding": {"title": "Brand New", "description": "Best TV", "logo": "https://cdn.example.com/l.png"},
         "settings": {"maxSessionsPerSubscriber": 2, "autoCreateSubscribers": True}},
        format="json",
    )
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["branding"] == {"title": "Brand New", "description": "Best TV", "logo": "https://cdn.example.com/l.png"}
    assert body["settings"] == {"autoCreateSubscribers": True, "maxSessionsPerSubscriber": 2, "smsTemplate": None,
                                "streamBaseUrl": None, "require2fa": False, **LATER_SETTINGS}
    portal.refresh_from_db()
    assert portal.title == "Brand New"
    operation = Operation.objects.get(portal=portal, type="updatePortal")
    assert operation.payload["title"] == {"old": "Main TV", "new": "Brand New"}
    assert operation.actor_manager_id == managers["admin"].id
    assert operation.actor_email == "admin@example.com"


def test_put_portal_accepts_a_logo_as_data_uri_and_returns_it(api, portal):
    logo = png_data_uri()
    response = api.put(f"{API}/portal", {"branding": {"logo": logo}}, format="json")
    assert response.status_code == 200
    assert response.json()["branding"]["logo"] == logo
    portal.refresh_from_db()
    assert portal.logo_content_type == "image/png"
    # A GET → PUT round trip with the same body changes nothing and logs nothing more.
    before = Operation.objects.filter(type="updatePortal").count()
    again = api.put(f"{API}/portal", api.get(f"{API}/portal").json(), format="json")
    assert again.status_code == 200
    assert Operation.objects.filter(type="updatePortal").count() == before


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "renamed"}, "name"),
        ({"domain": "other.example.com"}, "domain"),
        ({"branding": {"logo": "http://insecure.example.com/logo.png"}}, "branding.logo"),
        ({"branding": {"logo": "data:image/png;base64,bm90IGFuIGltYWdl"}}, "branding.logo"),
        ({"branding": {"logo": png_data_uri((5000, 10))}}, "branding.logo"),
        ({"branding": {"title": "x" * 201}}, "branding.title"),
        ({"branding": "text"}, "branding"),
        ({"settings": {"maxSessionsPerSubscriber": 0}}, "settings.maxSessionsPerSubscriber"),
        ({"settings": {"autoCreateSubscribers": "yes"}}, "settings.autoCreateSubscribers"),
        ({"settings": {"smsTemplate": "no code placeholder"}}, "settings.smsTemplate"),
        ({"settings": {"streamBaseUrl": "ftp://streams"}}, "settings.streamBaseUrl"),
        ({"settings": {"icareusApi": "on"}}, "settings.icareusApi"),
        ({"settings": {"defaultArchiveDays": 366}}, "settings.defaultArchiveDays"),
        ({"settings": {"expiryReminderDays": 0}}, "settings.expiryReminderDays"),
        ({"settings": {"expiryReminderTemplate": "ends {when}"}}, "settings.expiryReminderTemplate"),
        ({"settings": {"maxDevicesPerSubscriber": -1}}, "settings.maxDevicesPerSubscriber"),
        ({"settings": {"deviceLimitPolicy": "kick"}}, "settings.deviceLimitPolicy"),
        ({"settings": {"allowAnonymous": None}}, "settings.allowAnonymous"),
    ],
)
def test_invalid_portal_changes_are_400_naming_the_field_and_change_nothing(api, portal, body, field):
    response = api.put(f"{API}/portal", body, format="json")
    assert response.status_code == 400
    assert field in response.json()["errors"], response.json()
    assert response.json()["message"]
    fresh = Portal.objects.get(pk=portal.pk)
    assert (fresh.name, fresh.title, fresh.logo_url, fresh.settings) == (
        portal.name, portal.title, portal.logo_url, portal.settings)
    assert not Operation.objects.filter(type="updatePortal").exists()


def test_malformed_json_is_400(api):
    response = api.put(f"{API}/portal", "{not json", content_type="application/json")
    assert response.status_code == 400
    assert "message" in response.json()


def test_reset_api_key_refuses_the_old_key_at_once(clients, portal):
    old_key = portal.api_key
    response = clients["admin"].post(f"{API}/portal/reset_api_key")
    assert response.status_code == 200
    new_key = response.json()["apiKey"]
    assert new_key != old_key and len(new_key) >= 43
    assert api_client(old_key).get(f"{API}/portal").status_code == 401
    assert api_client(new_key).get(f"{API}/portal").status_code == 200
    operation = Operation.objects.get(portal=portal, type="resetApiKey")
    assert old_key not in str(operation.payload) and new_key not in str(operation.payload)


def test_each_portal_sees_only_itself(api, stranger, portal, other_portal):
    assert api.get(f"{API}/portal").json()["portalId"] == portal.public_id
    assert stranger.get(f"{API}/portal").json()["portalId"] == other_portal.public_id


# --- Every rule in one answer; the document says what is enforced -----------------------------------------------


def test_every_broken_portal_field_comes_back_in_one_answer(api, portal):
    response = api.put(f"{API}/portal", {
        "name": "renamed", "domain": 5,
        "branding": {"title": "x" * 201, "description": "d" * 2001, "logo": "http://insecure.example.com/l.png"},
        "settings": {"autoCreateSubscribers": "yes", "maxSessionsPerSubscriber": 1001,
                     "smsTemplate": "no placeholder", "streamBaseUrl": "ftp://streams"},
    }, format="json")
    assert response.status_code == 400
    assert response.json()["errors"] == {
        "name": ["The portal name cannot be changed."],
        "domain": ["Must be text."],
        "branding.logo": ["Logo URL must be an https:// URL."],
        "branding.title": ["Must be at most 200 characters."],
        "branding.description": ["Must be at most 2000 characters."],
        "settings.autoCreateSubscribers": ["Must be true or false."],
        "settings.maxSessionsPerSubscriber": ["Must be a whole number from 1 to 1000, or empty for unlimited."],
        "settings.smsTemplate": ["Must contain {code}, where the login code goes."],
        "settings.streamBaseUrl": ["Must be an http:// or https:// URL."],
    }
    assert Portal.objects.get(pk=portal.pk).settings == portal.settings
    assert not Operation.objects.filter(type="updatePortal").exists()


@pytest.mark.parametrize(("value", "accepted"), [
    (None, True), (1, True), (1000, True), (0, False), (1001, False), ("5", False), (2.0, False), (True, False),
])
def test_max_sessions_per_subscriber_is_null_or_a_whole_number_from_1_to_1000(api, value, accepted):
    response = api.put(f"{API}/portal", {"settings": {"maxSessionsPerSubscriber": value}}, format="json")
    assert response.status_code == (200 if accepted else 400), response.json()
    if accepted:
        assert response.json()["settings"]["maxSessionsPerSubscriber"] == value


@pytest.mark.parametrize("body", [{"branding": None}, {"settings": None}, {"settings": ["x"]}])
def test_branding_and_settings_must_be_objects(api, body):
    response = api.put(f"{API}/portal", body, format="json")
    assert response.status_code == 400
    assert response.json()["errors"] == {next(iter(body)): ["Must be an object."]}


def test_empty_texts_mean_the_defaults_and_unknown_settings_are_ignored(api, portal):
    api.put(f"{API}/portal", {"settings": {"smsTemplate": "Code {code}", "streamBaseUrl": "https://s.example"}},
            format="json")
    response = api.put(f"{API}/portal", {"settings": {"smsTemplate": "", "streamBaseUrl": "", "color": "red"},
                                         "branding": {"description": None, "logo": ""}}, format="json")
    assert response.status_code == 200
    assert response.json()["settings"] == {"autoCreateSubscribers": False, "maxSessionsPerSubscriber": None,
                                           "smsTemplate": None, "streamBaseUrl": None, "require2fa": False,
                                           **LATER_SETTINGS}
    assert response.json()["branding"]["description"] == ""
    assert "color" not in Portal.objects.get(pk=portal.pk).settings


def _documented(component: str) -> dict:
    from drf_spectacular.generators import SchemaGenerator

    schemas = SchemaGenerator().get_schema(request=None, public=True)["components"]["schemas"]
    return schemas[component]


def test_the_document_states_the_bounds_the_service_enforces():
    settings = _documented("PortalSettingsInputRequest")["properties"]
    assert (settings["maxSessionsPerSubscriber"]["minimum"], settings["maxSessionsPerSubscriber"]["maximum"]) == (1, 1000)
    assert settings["maxSessionsPerSubscriber"]["nullable"] is True
    assert settings["smsTemplate"]["maxLength"] == 300 and settings["streamBaseUrl"]["maxLength"] == 500
    assert (settings["smsTemplate"]["pattern"], settings["streamBaseUrl"]["pattern"]) == (r"\{code\}", "^https?://")
    assert settings["autoCreateSubscribers"]["type"] == "boolean"
    branding = _documented("BrandingInputRequest")["properties"]
    assert (branding["title"]["maxLength"], branding["description"]["maxLength"]) == (200, 2000)
    assert _documented("ManagerInputRequest")["required"] == ["email", "password"]
    assert "required" not in _documented("ManagerUpdateInputRequest")
