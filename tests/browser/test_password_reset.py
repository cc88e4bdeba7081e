"""Forgot password in a real browser: the link on the login page, the email's link, a new password, a login."""

from __future__ import annotations

import re

import pytest

from catena_site.celery import app
from tests.factories import PASSWORD, make_portal

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

NEW_PASSWORD = "Quiet-Lantern-Harbour-42"


def test_a_manager_who_forgot_the_password_sets_a_new_one_from_the_email_and_logs_in(page, mailoutbox,
                                                                                    monkeypatch):
    monkeypatch.setitem(app.conf, "task_always_eager", True)
    make_portal("reset-portal", title="Reset TV", owner_email="owner@reset.example.com")

    page.goto("/login/")
    page.click("text=Forgot your password?")
    page.wait_for_url(re.compile(r"/password-reset/$"))
    page.fill("input[name=email]", "owner@reset.example.com")
    page.click("button:has-text('Send the link')")
    page.wait_for_url(re.compile(r"/password-reset/sent/$"))
    assert "Check your email" in page.text_content("h1")

    [message] = mailoutbox
    [link] = re.findall(r"https?://\S+/password-reset/\S+/\S+/", message.body)
    page.goto(link)
    page.wait_for_url(re.compile(r"/set-password/$"))  # the token left the address bar
    assert "Reset TV" in page.text_content("main")
    page.fill("input[name=new_password]", NEW_PASSWORD)
    page.fill("input[name=new_password_again]", NEW_PASSWORD)
    page.click("button:has-text('Set the password')")
    page.wait_for_url(re.compile(r"/login/$"))
    assert "Your password has been changed" in page.text_content("main")

    page.fill("input[name=email]", "owner@reset.example.com")
    page.fill("input[name=password]", PASSWORD)
    page.click("button:has-text('Log in')")
    assert "Invalid email or password." in page.text_content("main")
    page.fill("input[name=password]", NEW_PASSWORD)
    page.click("button:has-text('Log in')")
    page.wait_for_url(re.compile(r"/$"))
    assert page.text_content("[data-testid=portal-title]") == "Reset TV"

    page.goto(link)  # the link worked once
    assert "This link no longer works" in page.text_content("h1")
