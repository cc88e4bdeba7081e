"""The auth check's lean dispatch (``monitoring.streaming.dispatch``): a streaming server's GET is answered without
the middleware after the metrics, with the same answer — status, body and every header — as the full stack gives;
anything else (another method, a cookie, a refused host) still goes through the full stack."""

from __future__ import annotations

import pytest
from django.test import Client

from .conftest import AUTH, auth_params, make_channel, make_package, make_subscriber

LEAN = "monitoring.streaming.dispatch.StreamingAuthMiddleware"
SEEN = "tests.streaming.test_lean_dispatch.SeenMiddleware"


class SeenMiddleware:
    """Placed last: marks the answers of requests that went through the whole middleware stack."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        response["X-Seen"] = "1"
        return response


@pytest.fixture
def alice(portal):
    news = make_channel(portal, "news")
    make_channel(portal, "sport")
    return make_subscriber(portal, "Alice", [make_package(portal, "basic", [news])])


def requests(token: str) -> dict[str, tuple[str, dict, dict]]:
    """name → (path, query, extra request headers)."""
    return {
        "allowed": (AUTH, auth_params(token, "news"), {}),
        "allowed, trailing slash": (AUTH + "/", auth_params(token, "news"), {}),
        "allowed, a warm update": (AUTH, auth_params(token, "news", session_id="s-1", request_type="update_session"),
                                   {}),
        "not in the packages": (AUTH, auth_params(token, "sport"), {}),
        "unknown stream": (AUTH, auth_params(token, "nothing"), {}),
        "unknown token": (AUTH, auth_params("no-such-token", "news"), {}),
        "wrong key": (AUTH, auth_params(token, "news", key="wrong"), {}),
        "too many fields": (AUTH, {f"f{i}": "1" for i in range(300)}, {}),
        "another language asked": (AUTH, auth_params(token, "news"), {"HTTP_ACCEPT_LANGUAGE": "ru"}),
        "over https": (AUTH, auth_params(token, "news"), {"secure": True}),
    }


def answer(client, path: str, query: dict, extra: dict) -> tuple[int, bytes, dict]:
    extra = dict(extra)
    response = client.get(path, query, secure=extra.pop("secure", False), **extra)
    headers = {name: value for name, value in response.headers.items() if name != "X-Request-ID"}
    return response.status_code, response.content, headers


@pytest.mark.parametrize("case", list(requests("")))
def test_the_answer_is_the_full_stacks_header_for_header(client, settings, alice, case):
    settings.SECURE_HSTS_SECONDS = 3600  # the https case gets Strict-Transport-Security either way
    path, query, extra = requests(alice.playback_token)[case]
    settings.MIDDLEWARE = [*settings.MIDDLEWARE, SEEN]
    lean = answer(client, path, query, extra)
    settings.MIDDLEWARE = [m for m in settings.MIDDLEWARE if m != LEAN]
    full = answer(Client(), path, query, extra)  # a new client loads the middleware again
    assert full[2].pop("X-Seen") == "1" and "X-Seen" not in lean[2]  # only the second went through everything
    assert lean == full
    assert lean[2]["X-Frame-Options"] == "DENY" and lean[2]["X-Content-Type-Options"] == "nosniff"


def test_a_request_the_lean_dispatch_does_not_answer_goes_through_the_full_stack(client, settings, alice):
    settings.MIDDLEWARE = [*settings.MIDDLEWARE, SEEN]
    query = auth_params(alice.playback_token, "news")
    posted = client.post(AUTH + "?" + "&".join(f"{k}={v}" for k, v in query.items()))
    assert (posted.status_code, posted["X-Seen"]) == (405, "1")
    client.cookies["csrftoken"] = "x" * 32
    with_cookie = client.get(AUTH, query)
    assert (with_cookie.status_code, with_cookie["X-Seen"]) == (200, "1")
    client.cookies.clear()
    settings.ALLOWED_HOSTS = ["testserver"]
    assert client.get(AUTH, query, HTTP_HOST="elsewhere.invalid").status_code == 400
    lean = client.get(AUTH, query)
    assert lean.status_code == 200 and not lean.has_header("X-Seen")
