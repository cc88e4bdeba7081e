import datetime as dt

import pytest
import time_machine
from django.core.cache import cache
from django.utils import timezone

from monitoring.operations import Operation
from portals.auth import Caller
from subscribers import services
from subscribers.models import AppSession, Subscriber
from tests.client.conftest import CLIENT, allow_self_registration, last_code, sent_messages
from tests.content.test_channels_api import make_package
from tests.subscribers.test_subscribers_api import make_subscriber

# SMS are handed to the backend after commit, as in production: these tests commit for real.
pytestmark = pytest.mark.django_db(transaction=True)

NUMBER = {"phoneCountryCode": "1", "phone": "2345678901"}


def login(app, sms_file, number=NUMBER, ip="198.51.100.1"):
    assert app.post(f"{CLIENT}/auth/sms/request", number, format="json", REMOTE_ADDR=ip).status_code == 200
    return app.post(f"{CLIENT}/auth/sms/verify", {**number, "code": last_code(sms_file)}, format="json")


def test_the_whole_sms_flow(app, portal, sms_file):
    subscriber = make_subscriber(portal)
    response = app.post(f"{CLIENT}/auth/sms/request", NUMBER, format="json")
    assert response.status_code == 200
    assert response.json() == {"ttl": 300, "retryAfter": 60}
    [message] = sent_messages(sms_file)
    assert message["to"] == "+12345678901" and message["portalId"] == portal.public_id
    assert message["text"].startswith("Your Main TV code: ") and message["text"][-4:].isdigit()
    verified = app.post(f"{CLIENT}/auth/sms/verify", {**NUMBER, "code": message["text"][-4:]}, format="json")
    assert verified.status_code == 200
    assert verified["Cache-Control"] == "no-store"  # the session token and the playback token
    body = verified.json()
    assert set(body) == {"token", "subscriberId", "playback_token", "expiresAt"}
    assert body["subscriberId"] == subscriber.public_id and body["playback_token"] == subscriber.playback_token
    me = app.get(f"{CLIENT}/me", HTTP_AUTHORIZATION=f"Bearer {body['token']}")
    assert me.status_code == 200 and me.json()["name"] == "Alice"
    # A code is single-use.
    again = app.post(f"{CLIENT}/auth/sms/verify", {**NUMBER, "code": message["text"][-4:]}, format="json")
    assert again.status_code == 401


def test_codes_are_stored_hashed(app, portal, sms_file):
    from subscribers.models import SmsCode

    make_subscriber(portal)
    app.post(f"{CLIENT}/auth/sms/request", NUMBER, format="json")
    code = last_code(sms_file)
    assert code not in SmsCode.objects.get().code_hash


def test_portal_template_is_used(app, portal, sms_file):
    from portals import services as portal_services

    portal_services.update_portal(portal, caller=Caller(portal=portal),
                                  data={"settings": {"smsTemplate": "{title}: enter {code} in the app"}})
    make_subscriber(portal)
    app.post(f"{CLIENT}/auth/sms/request", NUMBER, format="json")
    assert sent_messages(sms_file)[0]["text"].startswith("Main TV: enter ")


def test_wrong_code_and_the_sixth_try(app, portal, sms_file):
    make_subscriber(portal)
    app.post(f"{CLIENT}/auth/sms/request", NUMBER, format="json")
    right = last_code(sms_file)
    wrong = "0000" if right != "0000" else "1111"
    for _ in range(5):
        response = app.post(f"{CLIENT}/auth/sms/verify", {**NUMBER, "code": wrong}, format="json")
        assert response.status_code == 401
        assert response.json()["message"] == "sms code doesn't match"
    # After five wrong tries the code is void, even the right one.
    assert app.post(f"{CLIENT}/auth/sms/verify", {**NUMBER, "code": right}, format="json").status_code == 401
    assert not AppSession.objects.exists()


def test_an_expired_code_gets_the_answer_a_number_without_a_code_gets(app, portal, sms_file):
    """M5: "code expired" would tell a subscriber's number (a code was stored) from an unknown one."""
    make_subscriber(portal)
    unknown = {"phoneCountryCode": "1", "phone": "9999999"}
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        assert app.post(f"{CLIENT}/auth/sms/request", NUMBER, format="json").status_code == 200
        assert app.post(f"{CLIENT}/auth/sms/request", unknown, format="json").status_code == 200
        code = last_code(sms_file)
        traveller.shift(dt.timedelta(seconds=301))
        expired = app.post(f"{CLIENT}/auth/sms/verify", {**NUMBER, "code": code}, format="json")
        never_sent = app.post(f"{CLIENT}/auth/sms/verify", {**unknown, "code": code}, format="json")
    assert expired.status_code == never_sent.status_code == 401
    assert expired.json() == never_sent.json() == {"message": "sms code doesn't match"}
    assert not AppSession.objects.exists()


def test_a_new_code_replaces_the_old_one(app, portal, sms_file, monkeypatch):
    import secrets
    from types import SimpleNamespace

    from subscribers import sms_login

    drawn = iter([1234, 5678])  # two different codes, so the old one's refusal is always checked
    monkeypatch.setattr(sms_login, "secrets", SimpleNamespace(randbelow=lambda n: next(drawn),
                                                              token_urlsafe=secrets.token_urlsafe))
    make_subscriber(portal)
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        app.post(f"{CLIENT}/auth/sms/request", NUMBER, format="json")
        first = last_code(sms_file)
        traveller.shift(dt.timedelta(seconds=61))
        app.post(f"{CLIENT}/auth/sms/request", NUMBER, format="json")
        second = last_code(sms_file)
        assert (first, second) == ("1234", "5678")
        assert app.post(f"{CLIENT}/auth/sms/verify", {**NUMBER, "code": first}, format="json").status_code == 401
        assert app.post(f"{CLIENT}/auth/sms/verify", {**NUMBER, "code": second}, format="json").status_code == 200


def test_rate_limits_per_number(app, portal, sms_file):
    make_subscriber(portal)
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        assert app.post(f"{CLIENT}/auth/sms/request", NUMBER, format="json").status_code == 200
        blocked = app.post(f"{CLIENT}/auth/sms/request", NUMBER, format="json")
        assert blocked.status_code == 429 and 1 <= int(blocked["Retry-After"]) <= 60
        for _ in range(4):
            traveller.shift(dt.timedelta(seconds=61))
            assert app.post(f"{CLIENT}/auth/sms/request", NUMBER, format="json").status_code == 200
        traveller.shift(dt.timedelta(seconds=61))
        sixth = app.post(f"{CLIENT}/auth/sms/request", NUMBER, format="json")
        assert sixth.status_code == 429 and int(sixth["Retry-After"]) > 60
    assert len(sent_messages(sms_file)) == 5


def test_rate_limit_per_ip(app, portal, sms_file):
    with time_machine.travel(timezone.now(), tick=False):
        for i in range(30):
            number = {"phoneCountryCode": "1", "phone": f"55500{i:03d}"}
            assert app.post(f"{CLIENT}/auth/sms/request", number, format="json", REMOTE_ADDR="203.0.113.9").status_code == 200
        extra = app.post(f"{CLIENT}/auth/sms/request", {"phoneCountryCode": "1", "phone": "55599999"},
                         format="json", REMOTE_ADDR="203.0.113.9")
        assert extra.status_code == 429 and extra["Retry-After"]
        other_ip = app.post(f"{CLIENT}/auth/sms/request", {"phoneCountryCode": "1", "phone": "55599999"},
                            format="json", REMOTE_ADDR="203.0.113.10")
        assert other_ip.status_code == 200


def test_the_per_number_limits_count_across_portals(app, portal, other_portal, sms_file):
    """One phone gets at most one code a minute and five an hour, however many portals are asked."""
    from rest_framework.test import APIClient

    make_subscriber(portal)
    make_subscriber(other_portal)
    other_app = APIClient(HTTP_HOST=other_portal.domain)
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        assert app.post(f"{CLIENT}/auth/sms/request", NUMBER, format="json").status_code == 200
        again = other_app.post(f"{CLIENT}/auth/sms/request", NUMBER, format="json")
        assert again.status_code == 429 and 1 <= int(again["Retry-After"]) <= 60
        for attempt in range(4):
            traveller.shift(dt.timedelta(seconds=61))
            client = other_app if attempt % 2 == 0 else app
            assert client.post(f"{CLIENT}/auth/sms/request", NUMBER, format="json").status_code == 200
        traveller.shift(dt.timedelta(seconds=61))
        sixth = other_app.post(f"{CLIENT}/auth/sms/request", NUMBER, format="json")
        assert sixth.status_code == 429 and int(sixth["Retry-After"]) > 60
    assert len(sent_messages(sms_file)) == 5


def test_rotating_the_forwarded_for_hop_a_client_writes_does_not_escape_the_ip_limit(app, portal, sms_file,
                                                                                     settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    with time_machine.travel(timezone.now(), tick=False):
        for i in range(30):
            response = app.post(f"{CLIENT}/auth/sms/request", {"phoneCountryCode": "1", "phone": f"55500{i:03d}"},
                                format="json", REMOTE_ADDR="10.0.0.2",
                                HTTP_X_FORWARDED_FOR=f"192.0.2.{i}, 203.0.113.9")
            assert response.status_code == 200
        extra = app.post(f"{CLIENT}/auth/sms/request", {"phoneCountryCode": "1", "phone": "55599999"},
                         format="json", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="192.0.2.200, 203.0.113.9")
        assert extra.status_code == 429


def test_unknown_numbers_get_the_same_answer_and_no_sms(app, portal, sms_file):
    make_subscriber(portal)
    known = app.post(f"{CLIENT}/auth/sms/request", NUMBER, format="json")
    unknown = app.post(f"{CLIENT}/auth/sms/request", {"phoneCountryCode": "1", "phone": "9999999"}, format="json")
    assert known.status_code == unknown.status_code == 200
    assert known.json() == unknown.json()
    assert [m["to"] for m in sent_messages(sms_file)] == ["+12345678901"]
    verify = app.post(f"{CLIENT}/auth/sms/verify", {"phoneCountryCode": "1", "phone": "9999999", "code": "1234"},
                      format="json")
    assert verify.status_code == 401
    assert Subscriber.objects.count() == 1


def test_self_registration_creates_a_subscriber_with_only_free_packages(app, portal, sms_file):
    allow_self_registration(portal)
    free = make_package(portal, "free")
    make_package(portal, "paid")
    from content import services as content

    content.add_free_package(free, caller=Caller(portal=portal))
    response = login(app, sms_file, {"phoneCountryCode": "44", "phone": "7700900123"})
    assert response.status_code == 200
    subscriber = Subscriber.objects.get(full_phone="447700900123")
    assert not subscriber.subscriptions.exists()
    me = app.get(f"{CLIENT}/me", HTTP_AUTHORIZATION=f"Bearer {response.json()['token']}").json()
    assert me["packages"] == [{"packageId": free.public_id, "name": "free", "free": True}]
    operation = Operation.objects.get(type="autoCreateSubscriber")
    assert operation.actor_type == "subscriber" and operation.payload["phone"] == "+447700900123"


def test_self_registration_whose_number_is_another_subscribers_login_gets_a_free_login(app, portal, sms_file):
    allow_self_registration(portal)
    bob = make_subscriber(portal, "Bob", "1", "5550001")
    services.update_subscriber(bob, caller=Caller(portal=portal), data={"login": "447700900123"})
    carol = make_subscriber(portal, "Carol", "1", "5550002")
    services.update_subscriber(carol, caller=Caller(portal=portal), data={"login": "447700900123-2"})
    response = login(app, sms_file, {"phoneCountryCode": "44", "phone": "7700900123"})
    assert response.status_code == 200
    assert Subscriber.objects.get(full_phone="447700900123").login == "447700900123-3"


def test_disabled_subscriber_is_refused(app, portal, sms_file):
    subscriber = make_subscriber(portal)
    services.set_disabled(subscriber, True, caller=Caller(portal=portal))
    assert login(app, sms_file).status_code == 403
    assert not AppSession.objects.exists()


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("request", {"phoneCountryCode": "1", "phone": "+2345678901"}, "phone"),
        ("request", {"phoneCountryCode": "1", "phone": "234 567 8901"}, "phone"),
        ("request", {"phoneCountryCode": "+1", "phone": "2345678901"}, "phoneCountryCode"),
        ("verify", {**NUMBER, "code": "12a4"}, "code"),
        ("verify", {**NUMBER, "code": "123"}, "code"),
    ],
)
def test_bad_input_is_400_and_sends_nothing(app, portal, sms_file, path, body, field):
    make_subscriber(portal)
    response = app.post(f"{CLIENT}/auth/sms/{path}", body, format="json")
    assert response.status_code == 400
    assert field in response.json()["errors"]
    assert sent_messages(sms_file) == []


def test_every_bad_field_of_a_login_is_reported_at_once_and_nothing_is_sent(app, portal, sms_file):
    make_subscriber(portal)
    response = app.post(f"{CLIENT}/auth/sms/verify", {"phoneCountryCode": "+1", "phone": 2345678901, "code": "12"},
                        format="json")
    assert response.status_code == 400
    assert response.json() == {
        "message": "Invalid login: phoneCountryCode: Must be 1–4 digits, without '+' or spaces.; "
                   "phone: Must be text.; code: Must be 4 digits.",
        "errors": {"phoneCountryCode": ["Must be 1–4 digits, without '+' or spaces."], "phone": ["Must be text."],
                   "code": ["Must be 4 digits."]},
    }
    response = app.post(f"{CLIENT}/auth/sms/request", {"phone": "1 2"}, format="json")
    assert response.status_code == 400
    assert response.json()["errors"] == {"phoneCountryCode": ["This field is required."],
                                         "phone": ["Must be 4–15 digits, without '+', spaces or dashes."]}
    assert sent_messages(sms_file) == []
    assert login(app, sms_file).status_code == 200


def test_unknown_portal_is_404(sms_file, db):
    from rest_framework.test import APIClient

    client = APIClient(HTTP_HOST="nowhere.example.com")
    assert client.post(f"{CLIENT}/auth/sms/request", NUMBER, format="json").status_code == 404
    assert client.post(f"{CLIENT}/auth/sms/request?portalId=aKl9SW3AAAE.", NUMBER, format="json").status_code == 404
    assert sent_messages(sms_file) == []  # no portal, no SMS


def test_portal_id_selects_the_portal_when_one_host_serves_several(portal, other_portal, sms_file):
    from rest_framework.test import APIClient

    make_subscriber(other_portal)
    client = APIClient(HTTP_HOST="tv.example.net")
    response = client.post(f"{CLIENT}/auth/sms/request?portalId={other_portal.public_id}", NUMBER, format="json")
    assert response.status_code == 200
    assert sent_messages(sms_file)[0]["portalId"] == other_portal.public_id


def test_app_sessions_end_on_logout_phone_change_disable_delete_and_expiry(app, portal, sms_file):
    subscriber = make_subscriber(portal)
    caller = Caller(portal=portal)

    def fresh_token():
        AppSession.objects.all().delete()
        cache.clear()  # not testing limits here (they are counted in the shared cache)
        return {"HTTP_AUTHORIZATION": "Bearer " + login(app, sms_file, {
            "phoneCountryCode": subscriber.phone_country_code, "phone": subscriber.phone}).json()["token"]}

    auth = fresh_token()
    assert app.post(f"{CLIENT}/auth/logout", **auth).status_code == 204
    assert app.get(f"{CLIENT}/me", **auth).status_code == 401

    auth = fresh_token()
    services.update_subscriber(subscriber, caller=caller, data={"phone": "2345678999"})
    assert app.get(f"{CLIENT}/me", **auth).status_code == 401
    subscriber.refresh_from_db()

    auth = fresh_token()
    with time_machine.travel(timezone.now() + dt.timedelta(days=91)):
        assert app.get(f"{CLIENT}/me", **auth).status_code == 401

    auth = fresh_token()
    services.set_disabled(subscriber, True, caller=caller)
    assert app.get(f"{CLIENT}/me", **auth).status_code == 401
    services.set_disabled(subscriber, False, caller=caller)

    auth = fresh_token()
    services.delete_subscriber(subscriber, caller=caller)
    assert app.get(f"{CLIENT}/me", **auth).status_code == 401


def test_sms_http_backend_posts_json_and_retries_on_failure(portal, settings):
    """The http backend against a small local gateway that fails once, then accepts."""
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    calls = []

    class Gateway(BaseHTTPRequestHandler):
        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            calls.append((body, self.headers.get("X-Api-Key")))
            self.send_response(503 if len(calls) == 1 else 200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Gateway)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    settings.SMS_HTTP_URL = f"http://127.0.0.1:{server.server_port}/send"
    settings.SMS_HTTP_AUTH_HEADER = "X-Api-Key: secret"
    from subscribers.tasks import SmsGatewayError, send_sms_http

    try:
        with pytest.raises(SmsGatewayError):
            send_sms_http.run("+12345678901", "Your code: 1234", portal.public_id)
        send_sms_http.run("+12345678901", "Your code: 1234", portal.public_id)
    finally:
        server.shutdown()
    assert calls == [({"to": "+12345678901", "text": "Your code: 1234"}, "secret")] * 2
    assert send_sms_http.autoretry_for == (SmsGatewayError,) and send_sms_http.max_retries >= 3
