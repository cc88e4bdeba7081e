"""Content-Security-Policy on every page, no-store on answers with secrets, and refusals at start-up."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from django.test import Client

from tests.conftest import API, api_client
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db


def _policy(response) -> dict[str, str]:
    directives = [part.strip().split(" ", 1) for part in response["Content-Security-Policy"].split(";")]
    return {name: value for name, value in directives}


def test_screens_allow_only_this_sites_scripts_and_styles(web, portal):
    for response in (Client().get("/login/"), web["owner"].get("/"), web["owner"].get("/portal/settings/")):
        assert response.status_code == 200
        policy = _policy(response)
        assert policy["script-src"] == "'self'" and policy["style-src"] == "'self'"
        assert policy["default-src"] == "'self'" and policy["frame-ancestors"] == "'none'"
        assert policy["object-src"] == "'none'"


def test_the_api_docs_page_loads_its_start_up_script_as_a_file(client):
    page = client.get("/api-docs/")
    assert page.status_code == 200
    assert "<script>" not in page.content.decode()  # no inline script: CSP would block it
    assert _policy(page)["script-src"] == "'self'"
    script = client.get("/api-docs/?script=")
    assert script.status_code == 200 and script["Content-Type"].startswith("application/javascript")


def test_admin_pages_keep_their_inline_styles_but_no_inline_scripts(admin_client):
    policy = _policy(admin_client.get("/admin/"))
    assert policy["style-src"] == "'self' 'unsafe-inline'" and policy["script-src"] == "'self'"


def test_json_answers_carry_no_policy_but_api_answers_are_never_stored(api, portal):
    response = api.get(f"{API}/portal")
    assert "Content-Security-Policy" not in response
    assert response["Cache-Control"] == "no-store"


def test_the_settings_page_with_the_api_key_is_never_stored(web, portal):
    response = web["owner"].get("/portal/settings/")
    assert portal.api_key in response.content.decode()
    assert response["Cache-Control"] == "no-store"


def test_the_api_key_reset_and_the_login_answers_are_never_stored(api, portal):
    reset = api.post(f"{API}/portal/reset_api_key")
    assert reset.status_code == 200 and reset["Cache-Control"] == "no-store"
    login = api_client().post(f"{API}/login", {"email": portal.owner.email, "password": PASSWORD}, format="json")
    assert login.status_code == 200 and "sessionId" in login.content.decode()
    assert login["Cache-Control"] == "no-store"


def test_a_subscriber_page_with_the_playback_token_is_never_stored(web, portal):
    from tests.subscribers.test_subscribers_api import make_subscriber

    subscriber = make_subscriber(portal)
    response = web["owner"].get(f"/subscribers/{subscriber.public_id}/")
    assert response.status_code == 200 and subscriber.playback_token in response.content.decode()
    assert response["Cache-Control"] == "no-store"


def test_the_login_page_itself_may_be_cached(client):
    assert "no-store" not in Client().get("/login/").get("Cache-Control", "")


def _start(**environment) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if key != "SECRET_KEY"}
    env.update(environment)
    return subprocess.run([sys.executable, "-c", "import catena_site.settings"], env=env, capture_output=True,
                          text=True, timeout=60)


def test_the_development_secret_key_is_refused_with_debug_off():
    refused = _start(DEBUG="false")
    assert refused.returncode != 0
    assert "ImproperlyConfigured" in refused.stderr and "SECRET_KEY" in refused.stderr
    assert _start(DEBUG="false", SECRET_KEY="a-real-secret-" + "x" * 40).returncode == 0
    assert _start(DEBUG="true").returncode == 0
