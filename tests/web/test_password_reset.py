"""Password reset by email: "Forgot your password?" → one email listing a link per portal account → a new
password for that account, its sessions ended, the change in the operations log; the same answer for unknown
emails, links that work once and for an hour, and throttling per email and per client IP.

The email task runs eagerly and Django's test email backend keeps the messages (``mailoutbox``).
"""

from __future__ import annotations

import datetime as dt
import re

import pytest
import time_machine
from django.test import Client

from catena_site.celery import app
from monitoring.operations import Operation
from portals.models import Manager
from tests.factories import PASSWORD, make_manager, make_portal, session_token

from .conftest import logged_in_client, page

NEW_PASSWORD = "Quiet-Lantern-Harbour-42"
LINK = re.compile(r"http://testserver(/password-reset/[^/\s]+/[^/\s]+/)")


@pytest.fixture(autouse=True)
def _emails_sent_at_once(monkeypatch):
    monkeypatch.setitem(app.conf, "task_always_eager", True)
    monkeypatch.setitem(app.conf, "task_eager_propagates", True)


def ask_for_reset(client: Client, email: str):
    return client.post("/password-reset/", {"email": email})


def links_in(message) -> list[str]:
    return LINK.findall(message.body)


def set_password(client: Client, link: str, password: str = NEW_PASSWORD, again: str | None = None):
    """Open ``link`` and submit the new password; the answer to the submission (or to the link, when it is
    refused)."""
    opened = client.get(link)
    if opened.status_code != 302:
        return opened
    return client.post(opened["Location"], {"new_password": password,
                                            "new_password_again": password if again is None else again})


def can_log_in(email: str, password: str) -> bool:
    return Client().post("/login/", {"email": email, "password": password}).status_code == 302


def reset_operations(manager: Manager) -> list[Operation]:
    return [op for op in Operation.objects.filter(portal=manager.portal, type="updateManager")
            if op.payload.get("passwordReset")]


def test_the_login_page_links_to_the_reset(db):
    html = page(Client().get("/login/"))
    assert 'href="/password-reset/"' in html and "Forgot your password?" in html


def test_a_reset_from_the_email_sets_the_new_password_ends_sessions_and_is_logged(portal, managers, mailoutbox):
    admin = managers["admin"]
    api_session = session_token(admin)
    web = logged_in_client(admin)
    client = Client()

    response = ask_for_reset(client, "  Admin@Example.com ")

    assert response.status_code == 302 and response["Location"] == "/password-reset/sent/"
    assert "Check your email" in page(client.get(response["Location"]))
    [message] = mailoutbox
    assert message.to == ["admin@example.com"] and message.subject == "Reset your Catena password"
    assert "Main TV (main-portal.example.com)" in message.body and "within 60 minutes" in message.body
    [link] = links_in(message)

    opened = client.get(link)
    assert opened.status_code == 302 and opened["Location"] == f"/password-reset/{admin.public_id}/set-password/"
    form = client.get(opened["Location"])
    assert form.status_code == 200 and "admin@example.com" in page(form) and "Main TV" in page(form)
    done = client.post(opened["Location"], {"new_password": NEW_PASSWORD, "new_password_again": NEW_PASSWORD})

    assert done.status_code == 302 and done["Location"] == "/login/"
    assert "Your password has been changed" in page(client.get("/login/"))
    assert can_log_in("admin@example.com", NEW_PASSWORD) and not can_log_in("admin@example.com", PASSWORD)
    # Every session of the account ended: the API session and the web login of another browser.
    assert Client().get("/tv-management/api/v1/portal", HTTP_X_AUTH_TOKEN=api_session).status_code == 401
    assert web.get("/").status_code == 302
    [operation] = reset_operations(admin)
    assert operation.payload == {"managerId": admin.public_id, "email": "admin@example.com", "changes": {},
                                 "passwordChanged": True, "passwordReset": True, "managerEmail": "admin@example.com"}
    assert (operation.actor_type, operation.actor_manager_id) == ("manager", admin.id)
    assert NEW_PASSWORD not in str(operation.payload) and link.split("/")[-2] not in str(operation.payload)


def without_csrf_token(html: str) -> str:
    return re.sub(r'name="csrfmiddlewaretoken" value="[^"]*"', 'name="csrfmiddlewaretoken" value=""', html)


def test_an_unknown_email_gets_the_same_answer_and_no_email(portal, managers, mailoutbox):
    known, unknown = Client(), Client()
    known_answer = ask_for_reset(known, "admin@example.com")
    unknown_answer = ask_for_reset(unknown, "nobody@example.com")

    assert (unknown_answer.status_code, unknown_answer["Location"]) == (known_answer.status_code,
                                                                        known_answer["Location"])
    # The same page but for each browser's own CSRF token (the header's language switcher is a form).
    assert without_csrf_token(page(unknown.get(unknown_answer["Location"]))) == \
        without_csrf_token(page(known.get(known_answer["Location"])))
    assert [message.to for message in mailoutbox] == [["admin@example.com"]]


def test_a_malformed_email_is_refused_and_nothing_is_sent(db, mailoutbox):
    for email in ("not-an-email", ""):
        response = ask_for_reset(Client(), email)
        assert response.status_code == 400
        assert ("Enter a valid email address." if email else "This field is required.") in page(response)
    assert mailoutbox == []


def test_a_link_works_once(portal, managers, mailoutbox):
    ask_for_reset(Client(), "viewer@example.com")
    [link] = links_in(mailoutbox[0])
    assert set_password(Client(), link).status_code == 302

    again = set_password(Client(), link, password="Another-Lantern-Harbour-77")

    assert again.status_code == 410
    assert "This link no longer works" in page(again) and "has not been changed" in page(again)
    assert can_log_in("viewer@example.com", NEW_PASSWORD)
    assert len(reset_operations(managers["viewer"])) == 1


def test_a_link_opened_in_time_but_used_after_the_other_browser_used_it_changes_nothing(portal, managers,
                                                                                        mailoutbox):
    ask_for_reset(Client(), "viewer@example.com")
    [link] = links_in(mailoutbox[0])
    slow, fast = Client(), Client()
    form_url = slow.get(link)["Location"]  # opened, not submitted yet
    assert set_password(fast, link).status_code == 302

    late = slow.post(form_url, {"new_password": "Another-Lantern-Harbour-77",
                                "new_password_again": "Another-Lantern-Harbour-77"})

    assert late.status_code == 410
    assert can_log_in("viewer@example.com", NEW_PASSWORD)


def test_an_expired_link_changes_nothing(portal, managers, mailoutbox):
    with time_machine.travel(dt.datetime(2026, 3, 1, 12, 0), tick=False):
        ask_for_reset(Client(), "viewer@example.com")
    [link] = links_in(mailoutbox[0])

    with time_machine.travel(dt.datetime(2026, 3, 1, 13, 0, 1), tick=False):
        expired = set_password(Client(), link)

    assert expired.status_code == 410 and "has expired or was used already" in page(expired)
    assert can_log_in("viewer@example.com", PASSWORD)
    assert reset_operations(managers["viewer"]) == []


def test_a_link_is_still_valid_just_before_the_hour_is_over(portal, managers, mailoutbox):
    with time_machine.travel(dt.datetime(2026, 3, 1, 12, 0), tick=False):
        ask_for_reset(Client(), "viewer@example.com")
    [link] = links_in(mailoutbox[0])

    with time_machine.travel(dt.datetime(2026, 3, 1, 12, 59, 50), tick=False):
        assert set_password(Client(), link).status_code == 302


def test_logging_in_with_the_old_password_ends_the_link(portal, managers, mailoutbox):
    """Like Django's own links: the account's last login is part of the token."""
    ask_for_reset(Client(), "viewer@example.com")
    [link] = links_in(mailoutbox[0])
    assert can_log_in("viewer@example.com", PASSWORD)
    assert set_password(Client(), link).status_code == 410


def test_a_forged_link_or_no_opened_link_changes_nothing(portal, managers, mailoutbox):
    viewer = managers["viewer"]
    for link in (f"/password-reset/{viewer.public_id}/1-abcdef/", "/password-reset/not-an-id/1-abcdef/"):
        assert Client().get(link).status_code == 410
    no_link = Client().post(f"/password-reset/{viewer.public_id}/set-password/",
                            {"new_password": NEW_PASSWORD, "new_password_again": NEW_PASSWORD})
    assert no_link.status_code == 410
    assert can_log_in("viewer@example.com", PASSWORD)


def test_the_new_password_follows_the_policy_and_every_error_is_shown_at_once(portal, managers, mailoutbox):
    ask_for_reset(Client(), "viewer@example.com")
    [link] = links_in(mailoutbox[0])
    client = Client()

    refused = set_password(client, link, password="short", again="different")

    assert refused.status_code == 400
    html = page(refused)
    assert "Password must be at least 8 characters long." in html and "The two passwords differ." in html
    assert Manager.objects.get(pk=managers["viewer"].pk).check_password(PASSWORD)  # (a login would end the link)
    assert reset_operations(managers["viewer"]) == []
    # The link still works for a password the policy accepts.
    weak = set_password(client, link, password="Password1!")
    assert weak.status_code == 400 and "too common" in page(weak).lower()
    assert set_password(client, link).status_code == 302


def test_an_email_in_two_portals_gets_one_link_per_account_and_each_resets_only_its_own(db, mailoutbox):
    first = make_portal("first-portal", title="First TV", owner_email="shared@example.com")
    second = make_portal("second-portal", title="Second TV", owner_email="shared@example.com")
    make_manager(make_portal("third-portal"), "someone-else@example.com")

    ask_for_reset(Client(), "shared@example.com")

    [message] = mailoutbox
    assert "First TV (first-portal.example.com)" in message.body
    assert "Second TV (second-portal.example.com)" in message.body
    assert "each with its own password" in message.body
    first_link, second_link = links_in(message)
    assert first.owner.public_id in first_link and second.owner.public_id in second_link
    assert set_password(Client(), second_link).status_code == 302
    assert Manager.objects.get(pk=first.owner.pk).check_password(PASSWORD)
    assert Manager.objects.get(pk=second.owner.pk).check_password(NEW_PASSWORD)
    assert reset_operations(first.owner) == [] and len(reset_operations(second.owner)) == 1


def test_links_start_with_site_url_when_it_is_set(portal, managers, mailoutbox, settings):
    settings.SITE_URL = "https://tv.example.com"
    Client().post("/password-reset/", {"email": "viewer@example.com"}, HTTP_HOST="evil.example.net")
    assert f"https://tv.example.com/password-reset/{managers['viewer'].public_id}/" in mailoutbox[0].body
    assert "evil.example.net" not in mailoutbox[0].body


def test_requests_are_throttled_per_email_known_or_not(portal, managers, mailoutbox, settings):
    settings.PASSWORD_RESET_PER_EMAIL = 2
    for email in ("viewer@example.com", "nobody@example.com"):
        answers = [ask_for_reset(Client(REMOTE_ADDR=f"198.51.100.{n}"), email) for n in range(3)]
        assert [a.status_code for a in answers] == [302, 302, 429]
        assert "Too many password reset requests" in page(answers[2])
        assert int(answers[2]["Retry-After"]) >= 1
    assert len(mailoutbox) == 2  # the refused request sent nothing
    assert ask_for_reset(Client(), "admin@example.com").status_code == 302  # other emails are not affected


def test_requests_are_throttled_per_client_ip(portal, managers, mailoutbox, settings):
    settings.PASSWORD_RESET_PER_IP = 2
    one_ip = Client(REMOTE_ADDR="203.0.113.9")
    answers = [ask_for_reset(one_ip, email) for email in ("viewer@example.com", "a@example.com", "admin@example.com")]
    assert [a.status_code for a in answers] == [302, 302, 429]
    assert [message.to for message in mailoutbox] == [["viewer@example.com"]]
    assert ask_for_reset(Client(REMOTE_ADDR="203.0.113.10"), "admin@example.com").status_code == 302


def test_a_password_longer_than_1024_characters_is_refused(portal, managers, mailoutbox):
    ask_for_reset(Client(), "viewer@example.com")
    [link] = links_in(mailoutbox[0])
    long_password = "Vq7#mLp2-Xr9!tZk" * 65  # 1,040 characters

    refused = set_password(Client(), link, password=long_password)

    assert refused.status_code == 400 and "Must be at most 1024 characters." in page(refused)
    assert Manager.objects.get(pk=managers["viewer"].pk).check_password(PASSWORD)


def test_without_an_email_setting_in_production_no_link_is_written_anywhere(portal, managers, mailoutbox, settings,
                                                                             caplog):
    settings.EMAIL_BACKEND = "django.core.mail.backends.dummy.EmailBackend"  # DEBUG=false without EMAIL_URL

    answer = ask_for_reset(Client(), "admin@example.com")

    assert answer.status_code == 302  # the same answer as ever: nothing tells which emails exist
    assert mailoutbox == []
    assert "no EMAIL_URL is configured" in caplog.text
    assert "/password-reset/" not in caplog.text  # no link in the log
