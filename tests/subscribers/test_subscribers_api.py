import pytest

from monitoring.operations import Operation
from portals.auth import Caller
from subscribers import services
from subscribers.models import Subscriber, Subscription
from tests.conftest import API, api_client
from tests.content.test_channels_api import make_package

SUBSCRIBER_KEYS = {"subscriberId", "portalId", "name", "phoneCountryCode", "phone", "login", "playback_token",
                   "playerPassword", "packages",
                   "disabled", "createdAt", "updatedAt", "lastActivityAt", "suspectedSharing", "sharingIps",
                   "subscriptions", "maxDevices"}
ALICE = {"name": "Alice", "phoneCountryCode": "1", "phone": "2345678901"}


def make_subscriber(portal, name="Alice", country_code="1", phone="2345678901"):
    return services.create_subscriber(portal, caller=Caller(portal=portal),
                                      data={"name": name, "phoneCountryCode": country_code, "phone": phone})


def test_create_subscriber_returns_the_documented_object_with_a_token(api, portal):
    response = api.post(f"{API}/subscribers", ALICE, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert set(body) == SUBSCRIBER_KEYS
    assert (body["name"], body["phoneCountryCode"], body["phone"]) == ("Alice", "1", "2345678901")
    assert body["packages"] == [] and body["disabled"] is False and body["lastActivityAt"] is None
    assert len(body["playback_token"]) >= 22  # ≥ 128 bits, URL-safe base64
    operation = Operation.objects.get(type="createSubscriber")
    assert operation.payload == {"name": "Alice", "phone": "+12345678901"}
    assert operation.subscriber_id == Subscriber.objects.get().id
    assert body["playback_token"] not in str(operation.payload)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"phone": "+1 234"}, "phone"),
        ({"phone": "123"}, "phone"),
        ({"phone": "1" * 16}, "phone"),
        ({"phone": 2345678}, "phone"),
        ({"phoneCountryCode": "+1"}, "phoneCountryCode"),
        ({"phoneCountryCode": ""}, "phoneCountryCode"),
        ({"phoneCountryCode": "12345"}, "phoneCountryCode"),
        ({"name": ""}, "name"),
        ({"name": "x" * 201}, "name"),
    ],
)
def test_invalid_subscribers_are_400_naming_the_field(api, portal, changes, field):
    response = api.post(f"{API}/subscribers", {**ALICE, **changes}, format="json")
    assert response.status_code == 400
    assert field in response.json()["errors"]
    assert not Subscriber.objects.exists() and not Operation.objects.exists()


COUNTRY_CODE_RULE = "Must be 1–4 digits, without '+' or spaces."
PHONE_RULE = "Must be 4–15 digits, without '+', spaces or dashes."


def test_every_field_error_comes_back_in_one_answer_in_plain_words(api, portal):
    response = api.post(f"{API}/subscribers", {"name": "x" * 201, "phoneCountryCode": "+1", "phone": 2345678},
                        format="json")
    assert response.status_code == 400
    assert response.json() == {
        "message": "Invalid subscriber: name: Must be at most 200 characters.; "
                   f"phoneCountryCode: {COUNTRY_CODE_RULE}; phone: Must be text.",
        "errors": {"name": ["Must be at most 200 characters."], "phoneCountryCode": [COUNTRY_CODE_RULE],
                   "phone": ["Must be text."]},
    }
    response = api.post(f"{API}/subscribers", {"name": None}, format="json")
    assert response.json()["errors"] == {"name": ["This field is required."],
                                         "phoneCountryCode": ["This field is required."],
                                         "phone": ["This field is required."]}
    assert not Subscriber.objects.exists() and not Operation.objects.exists()


def test_a_phone_with_surrounding_spaces_or_a_newline_is_refused_as_documented(api, portal):
    for phone in (" 2345678901", "2345678901\n", "２３４５６７８９０１"):
        response = api.post(f"{API}/subscribers", {**ALICE, "phone": phone}, format="json")
        assert response.status_code == 400 and response.json()["errors"] == {"phone": [PHONE_RULE]}, phone
    assert not Subscriber.objects.exists()


def test_an_update_checks_only_the_fields_sent_and_reports_all_of_them(api, portal):
    alice = make_subscriber(portal)
    url = f"{API}/subscribers/{alice.public_id}"
    response = api.put(url, {"name": "  ", "phone": "12"}, format="json")
    assert response.status_code == 400
    assert response.json()["errors"] == {"name": ["This field is required."], "phone": [PHONE_RULE]}
    response = api.put(url, {"phoneCountryCode": "44"}, format="json")
    assert response.status_code == 200 and (response.json()["phoneCountryCode"], response.json()["phone"]) == (
        "44", "2345678901")
    alice.refresh_from_db()
    assert (alice.name, alice.full_phone) == ("Alice", "442345678901")


def test_duplicate_full_number_is_409(api, portal):
    make_subscriber(portal, country_code="1", phone="2345678901")
    response = api.post(f"{API}/subscribers", ALICE, format="json")
    assert response.status_code == 409
    assert response.json() == {"message": "A subscriber with phone +12345678901 already exists.",
                               "errors": {"phone": ["A subscriber with phone +12345678901 already exists."]}}
    # The same full number split differently is the same number.
    assert api.post(f"{API}/subscribers", {**ALICE, "phoneCountryCode": "12", "phone": "345678901"},
                    format="json").status_code == 409
    assert Subscriber.objects.count() == 1
    assert Operation.objects.filter(type="createSubscriber").count() == 1


def test_playback_token_is_shown_only_to_those_allowed(clients, portal):
    subscriber = make_subscriber(portal)
    for persona in ("api_key", "owner", "subscribers"):
        body = clients[persona].get(f"{API}/subscribers/{subscriber.public_id}").json()
        assert body["playback_token"] == subscriber.playback_token
    for persona in ("admin", "content", "viewer"):
        body = clients[persona].get(f"{API}/subscribers/{subscriber.public_id}").json()
        assert body["playback_token"] is None
        assert [s["playback_token"] for s in clients[persona].get(f"{API}/subscribers").json()["subscribers"]] == [None]


def test_update_subscriber_logs_old_and_new_but_never_the_token(api, portal):
    subscriber = make_subscriber(portal)
    response = api.put(f"{API}/subscribers/{subscriber.public_id}", {"name": "Alice B", "phone": "2345678902"},
                       format="json")
    assert response.status_code == 200
    assert response.json()["phone"] == "2345678902"
    operation = Operation.objects.get(type="updateSubscriber")
    # The login was the full phone number: it follows the new number.
    assert operation.payload == {"name": {"old": "Alice", "new": "Alice B"},
                                 "phone": {"old": "2345678901", "new": "2345678902"},
                                 "login": {"old": "12345678901", "new": "12345678902"}}
    assert subscriber.playback_token not in str(operation.payload)


def test_phone_change_to_a_taken_number_is_409(api, portal):
    make_subscriber(portal, "Bob", phone="5555555")
    alice = make_subscriber(portal)
    assert api.put(f"{API}/subscribers/{alice.public_id}", {"phone": "5555555"}, format="json").status_code == 409
    alice.refresh_from_db()
    assert alice.phone == "2345678901"
    assert not Operation.objects.filter(type="updateSubscriber").exists()


def test_filters(api, portal):
    basic = make_package(portal, "basic")
    alice = make_subscriber(portal, "Alice", "1", "2345678901")
    bob = make_subscriber(portal, "Bob", "44", "7700900123")
    carol = make_subscriber(portal, "Carol", "49", "15123456789")
    services.subscribe(bob, basic, caller=Caller(portal=portal))
    services.set_disabled(carol, True, caller=Caller(portal=portal))

    def names(query):
        response = api.get(f"{API}/subscribers?{query}")
        assert response.status_code == 200, response.json()
        return [s["name"] for s in response.json()["subscribers"]]

    assert names("") == ["Alice", "Bob", "Carol"]
    assert names("phone=7700900") == ["Bob"]
    assert names("phone=447700900123") == ["Bob"]
    assert names("phone=%2B12345678901") == ["Alice"]
    assert names("search=car") == ["Carol"]
    assert names("search=2345") == ["Alice", "Carol"]
    assert names(f"packageId={basic.public_id}") == ["Bob"]
    assert names("disabled=true") == ["Carol"]
    assert names("disabled=false") == ["Alice", "Bob"]
    assert alice.public_id in api.get(f"{API}/subscribers").content.decode()


def test_disable_enable_and_token_reset(api, portal):
    subscriber = make_subscriber(portal)
    url = f"{API}/subscribers/{subscriber.public_id}"
    assert api.post(f"{url}/disable").json()["disabled"] is True
    assert api.post(f"{url}/enable").json()["disabled"] is False
    old = subscriber.playback_token
    response = api.post(f"{url}/reset_playback_token")
    assert response.status_code == 200
    new = response.json()["playback_token"]
    assert new != old and Subscriber.objects.filter(playback_token=old).count() == 0
    types = list(Operation.objects.filter(subscriber_id=subscriber.id).order_by("id").values_list("type", flat=True))
    assert types == ["createSubscriber", "disableSubscriber", "enableSubscriber", "resetPlaybackToken"]
    assert old not in str(Operation.objects.get(type="resetPlaybackToken").payload)


def test_subscriptions(api, portal):
    subscriber, package = make_subscriber(portal), make_package(portal)
    link = {"subscriberId": subscriber.public_id, "packageId": package.public_id}
    response = api.post(f"{API}/packages-subscribers", link, format="json")
    assert response.status_code == 200
    assert response.json() == {**link, "portalId": portal.public_id}
    assert api.post(f"{API}/packages-subscribers", link, format="json").status_code == 409
    assert api.get(f"{API}/subscribers/{subscriber.public_id}").json()["packages"] == [package.public_id]
    assert api.delete(f"{API}/packages-subscribers", link, format="json").status_code == 201
    assert not Subscription.objects.exists()
    assert api.get(f"{API}/subscribers/{subscriber.public_id}").json()["packages"] == []
    assert api.delete(f"{API}/packages-subscribers", link, format="json").status_code == 404
    operation = Operation.objects.get(type="createPackageSubscriber")
    assert operation.payload == {"packageId": package.public_id, "subscriberId": subscriber.public_id,
                                 "packageName": "basic"}
    assert (operation.subscriber_id, operation.package_id) == (subscriber.id, package.id)
    ended = Operation.objects.get(type="deletePackageSubscriber")  # once: the refused second delete logs nothing
    assert ended.payload == operation.payload
    assert (ended.subscriber_id, ended.package_id) == (subscriber.id, package.id)


def test_a_subscription_body_reports_every_field_at_once(api, portal, other_portal):
    subscriber, package = make_subscriber(portal), make_package(portal)
    response = api.post(f"{API}/packages-subscribers", {"subscriberId": "nope", "portalId": other_portal.public_id},
                        format="json")
    assert response.status_code == 400
    assert response.json() == {
        "message": "Invalid subscription: subscriberId: Not a valid ID.; packageId: This field is required.; "
                   "portalId: Must be the portal of the API key or session.",
        "errors": {"subscriberId": ["Not a valid ID."], "packageId": ["This field is required."],
                   "portalId": ["Must be the portal of the API key or session."]},
    }
    link = {"subscriberId": subscriber.public_id, "packageId": package.public_id, "portalId": portal.public_id}
    assert api.post(f"{API}/packages-subscribers", link, format="json").status_code == 200
    response = api.delete(f"{API}/packages-subscribers", {**link, "packageId": 5}, format="json")
    assert response.status_code == 400 and response.json()["errors"] == {"packageId": ["Not a valid ID."]}
    assert Subscription.objects.count() == 1
    assert not Operation.objects.filter(type="deletePackageSubscriber").exists()


def test_the_documented_request_bodies_are_the_input_shapes(api):
    schema = api.get(f"{API}/schema/", {"format": "json"}).json()
    bodies = schema["components"]["schemas"]
    subscribers = schema["paths"][f"{API}/subscribers/"]["post"]["requestBody"]["content"]["application/json"]
    assert subscribers["schema"]["$ref"].endswith("/SubscriberInputRequest")
    created = bodies["SubscriberInputRequest"]
    assert set(created["required"]) == {"name", "phoneCountryCode", "phone"}
    assert created["properties"]["name"]["maxLength"] == 200
    assert created["properties"]["phoneCountryCode"]["pattern"] == "^[0-9]{1,4}$"
    assert created["properties"]["phone"]["pattern"] == "^[0-9]{4,15}$"
    updated = schema["paths"][f"{API}/subscribers/{{id}}/"]["put"]["requestBody"]["content"]["application/json"]
    assert updated["schema"]["$ref"].endswith("/PatchedSubscriberInputRequest")
    assert "required" not in bodies["PatchedSubscriberInputRequest"]
    assert set(bodies["SubscriptionInputRequest"]["properties"]) == {"subscriberId", "packageId", "portalId"}
    assert set(bodies["SubscriptionInputRequest"]["required"]) == {"subscriberId", "packageId"}


def test_a_free_package_never_given_explicitly_is_not_subscribed(api, portal):
    subscriber, package = make_subscriber(portal), make_package(portal)
    assert api.post(f"{API}/portal/free-packages/{package.public_id}").status_code == 201
    link = {"subscriberId": subscriber.public_id, "packageId": package.public_id}
    assert api.delete(f"{API}/packages-subscribers", link, format="json").status_code == 404
    assert api.get(f"{API}/portal").json()["freePackages"] == [package.public_id]  # still free for everyone
    assert not Operation.objects.filter(type="deletePackageSubscriber").exists()


def test_subscriptions_across_portals_are_404(api, portal, other_portal):
    subscriber, package = make_subscriber(portal), make_package(portal)
    foreign_subscriber, foreign_package = make_subscriber(other_portal), make_package(other_portal, "foreign")
    for body in ({"subscriberId": subscriber.public_id, "packageId": foreign_package.public_id},
                 {"subscriberId": foreign_subscriber.public_id, "packageId": package.public_id}):
        assert api.post(f"{API}/packages-subscribers", body, format="json").status_code == 404
    assert not Subscription.objects.exists()


def test_deleting_a_subscriber_ends_each_subscription_and_keeps_the_log(api, portal):
    subscriber = make_subscriber(portal)
    for name in ("basic", "sports"):
        services.subscribe(subscriber, make_package(portal, name), caller=Caller(portal=portal))
    response = api.delete(f"{API}/subscribers/{subscriber.public_id}")
    assert response.status_code == 201 and response.json() == {"deleted": subscriber.public_id}
    assert not Subscriber.objects.exists() and not Subscription.objects.exists()
    types = list(Operation.objects.filter(subscriber_id=subscriber.id).order_by("id").values_list("type", flat=True))
    assert types == ["createSubscriber", "createPackageSubscriber", "createPackageSubscriber",
                     "deletePackageSubscriber", "deletePackageSubscriber", "deleteSubscriber"]
    listed = api.get(f"{API}/operations?subscriberId={subscriber.public_id}").json()["operations"]
    assert len(listed) == 6


def test_package_with_subscribers_is_409_until_forced(api, portal):
    package = make_package(portal)
    for phone in ("1111111", "2222222"):
        services.subscribe(make_subscriber(portal, phone=phone), package, caller=Caller(portal=portal))
    response = api.delete(f"{API}/packages/{package.public_id}")
    assert response.status_code == 409
    assert "2 subscribers" in response.json()["message"]
    assert api.delete(f"{API}/packages/{package.public_id}?force=true").status_code == 201
    assert not Subscription.objects.exists()
    ended = Operation.objects.filter(type="deletePackageSubscriber", package_id=package.id)
    assert ended.count() == 2 and all(op.payload["packageName"] == "basic" for op in ended)


def test_other_portals_subscribers_are_404(stranger, portal):
    subscriber = make_subscriber(portal)
    url = f"{API}/subscribers/{subscriber.public_id}"
    assert stranger.get(url).status_code == 404
    assert stranger.put(url, {"name": "X"}, format="json").status_code == 404
    assert stranger.delete(url).status_code == 404
    assert stranger.post(f"{url}/disable").status_code == 404
    assert stranger.get(f"{API}/subscribers").json()["subscribers"] == []
    assert Subscriber.objects.get().disabled is False


def test_subscriber_list_has_constant_queries(api, portal, django_assert_max_num_queries):
    packages = [make_package(portal, f"p{i}") for i in range(3)]
    for i in range(15):
        subscriber = make_subscriber(portal, phone=f"55500{i:03d}")
        for package in packages[: i % 3 + 1]:
            services.subscribe(subscriber, package, caller=Caller(portal=portal))
    with django_assert_max_num_queries(3):
        body = api.get(f"{API}/subscribers").json()
    assert [len(s["packages"]) for s in body["subscribers"]][:3] == [1, 2, 3]


def test_a_session_of_a_deleted_manager_is_refused(clients, managers):
    deleted = api_client(managers["admin"].portal.api_key).delete(f"{API}/managers/{managers['subscribers'].public_id}")
    assert deleted.status_code == 201, deleted.content
    assert clients["subscribers"].get(f"{API}/subscribers").status_code == 401


def test_suspected_sharing_is_shown_with_the_ips_until_the_token_is_reset(api, portal):
    from django.utils import timezone

    from catena_site.access_events import token_digest
    from monitoring.models import TokenSharingSuspicion

    subscriber = make_subscriber(portal)
    url = f"{API}/subscribers/{subscriber.public_id}"
    assert (api.get(url).json()["suspectedSharing"], api.get(url).json()["sharingIps"]) == (False, [])
    now = timezone.now()
    TokenSharingSuspicion.objects.create(portal=portal, subscriber=subscriber, ips=["192.0.2.1", "192.0.2.2"],
                                         token_digest=token_digest(subscriber.playback_token), detected_at=now,
                                         last_detected_at=now)
    body = api.get(url).json()
    assert body["suspectedSharing"] is True and body["sharingIps"] == ["192.0.2.1", "192.0.2.2"]
    assert api.get(f"{API}/subscribers").json()["subscribers"][0]["suspectedSharing"] is True
    api.post(f"{url}/reset_playback_token")
    assert api.get(url).json()["suspectedSharing"] is False
