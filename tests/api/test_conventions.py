"""Conventions every endpoint shares: the schema, JSON 404s, the error body, pagination limits."""

import pytest

from tests.conftest import API


def test_openapi_schema_is_public_and_describes_the_api(anonymous):
    response = anonymous.get(f"{API}/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    paths = schema["paths"]
    for path in ("/tv-management/api/v1/portal/", "/tv-management/api/v1/managers/",
                 "/tv-management/api/v1/managers/{id}/", "/tv-management/api/v1/login/",
                 "/tv-management/api/v1/operations/", "/tv-management/api/v1/channels/",
                 "/tv-management/api/v1/packages/", "/tv-management/api/v1/subscribers/",
                 "/tv-management/api/v1/channels-packages/", "/tv-management/api/v1/packages-subscribers/"):
        assert any(p.rstrip("/") == path.rstrip("/") for p in paths), path
    assert "XAuthToken" in schema["components"]["securitySchemes"]


def test_interactive_api_page_is_served_without_a_cdn(client, db):
    response = client.get("/api-docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "swagger" in html.lower()
    assert "cdn." not in html and "unpkg" not in html and "jsdelivr" not in html


def test_unknown_api_paths_answer_json_404(api):
    response = api.get(f"{API}/no-such-thing")
    assert response.status_code == 404
    assert response.json() == {"message": "Not found."}


def test_wrong_method_is_405_with_a_message(api):
    response = api.patch(f"{API}/portal", {}, format="json")
    assert response.status_code == 405
    assert "message" in response.json()


def test_limit_bounds_and_default(api, managers):
    assert len(api.get(f"{API}/managers?limit=2").json()["managers"]) == 2
    assert api.get(f"{API}/managers?limit=1000").status_code == 200
    for bad in ("0", "1001", "-1", "ten"):
        response = api.get(f"{API}/managers?limit={bad}")
        assert response.status_code == 400 and "limit" in response.json()["errors"]


def test_a_body_that_is_not_an_object_is_400(api):
    response = api.post(f"{API}/managers", [1, 2], format="json")
    assert response.status_code == 400
    assert response.json()["errors"]


def test_a_body_over_the_upload_limit_is_413_and_creates_nothing(api, portal, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    body = {"name": "big", "title": "Big", "padding": "x" * 2000}
    response = api.post(f"{API}/channels", body, format="json")
    assert response.status_code == 413
    assert response.json()["message"] == "Request body larger than 1000 bytes."
    assert not portal.channels.filter(name="big").exists()
    assert api.post(f"{API}/channels", {"name": "small", "title": "Small"}, format="json").status_code == 201


def test_an_unexpected_error_answers_json_500_and_logs_the_traceback(api, monkeypatch, caplog):
    def broken(*args, **kwargs):
        raise RuntimeError("a bug in a service")

    monkeypatch.setattr("content.services.create_package", broken)
    api.raise_request_exception = False
    response = api.post(f"{API}/packages", {"name": "basic"}, format="json")
    assert response.status_code == 500
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"message": "Internal error"}
    logged = [r for r in caplog.records if r.levelname == "ERROR" and r.exc_info]
    assert len(logged) == 1 and "POST /tv-management/api/v1/packages" in logged[0].getMessage()
    assert "a bug in a service" in str(logged[0].exc_info[1])


@pytest.mark.parametrize("path", [f"{API}/portal", "/tv/api/v1/me"])
def test_an_error_outside_the_view_still_answers_json_under_the_api_prefixes(path, api, monkeypatch):
    """Rendering happens after the view, beyond DRF's exception handler: ``handler500`` answers there."""
    def broken(*args, **kwargs):
        raise RuntimeError("a bug in the renderer")

    monkeypatch.setattr("rest_framework.renderers.JSONRenderer.render", broken)
    api.raise_request_exception = False
    response = api.get(path, HTTP_AUTHORIZATION="Bearer nope")
    assert response.status_code == 500
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"message": "Internal error"}


def test_the_screens_keep_the_html_error_page(client, portal, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("a bug in a screen")

    monkeypatch.setattr("portals.views.LoginView.get", broken)
    client.raise_request_exception = False
    response = client.get("/login/")
    assert response.status_code == 500 and response["Content-Type"].startswith("text/html")


def _json_schema(node):
    """An OpenAPI 3.0 schema as JSON Schema: ``nullable: true`` becomes a ``null`` alternative."""
    if isinstance(node, list):
        return [_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _json_schema(value) for key, value in node.items() if key != "nullable"}
    if node.get("nullable"):
        if "type" in out:
            out["type"] = [out["type"], "null"]
            if "enum" in out:
                out["enum"] = [*out["enum"], None]
        else:
            out = {"anyOf": [out, {"type": "null"}]}
    return out


def test_every_list_answer_matches_its_documented_schema(api, portal, managers):
    """Objects fresh from a create (never logged in, never active: ``lastLoginAt``/``lastActivityAt`` null)."""
    import jsonschema

    for path, body in (("/managers", {"email": "new@example.com", "password": "Vq7#mLp2-Xr9!tZk"}),
                       ("/subscribers", {"name": "Ann", "phoneCountryCode": "1", "phone": "5550001"}),
                       ("/channels", {"name": "news", "title": "News"}),
                       ("/packages", {"name": "basic"}),
                       ("/epg-sources", {"name": "main-epg", "url": "http://127.0.0.1:9/guide.xml"})):
        assert api.post(f"{API}{path}", body, format="json").status_code == 201
    schema = api.get(f"{API}/schema/", HTTP_ACCEPT="application/json").json()
    root = {"components": _json_schema(schema["components"])}
    for path in ("/managers", "/subscribers", "/channels", "/packages", "/epg-sources", "/operations"):
        operation = schema["paths"][f"{API}{path}/"]["get"]
        documented = operation["responses"]["200"]["content"]["application/json"]["schema"]
        page = schema["components"]["schemas"][documented["$ref"].rsplit("/", 1)[1]]
        answer = api.get(f"{API}{path}").json()
        assert set(page["properties"]) == set(answer), path  # the documented list key, and "next"
        assert answer[path.strip("/").replace("epg-sources", "epgSources")], path  # the page is not empty
        jsonschema.validate(answer, {**root, **documented})


@pytest.mark.parametrize("path", [f"{API}/portal", "/tv/api/v1/me"])
def test_a_request_django_refuses_before_any_view_answers_json_under_the_api_prefixes(path, api, settings):
    settings.ALLOWED_HOSTS = ["testserver"]
    api.raise_request_exception = False
    response = api.get(path, HTTP_HOST="attacker.example")
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"message": "Bad request."}


def test_a_suspicious_request_inside_an_api_view_is_a_json_400_not_a_500(anonymous, portal, settings):
    """``request.get_host()`` in the client API's portal lookup refuses a Host not in ``ALLOWED_HOSTS``."""
    from django.middleware.common import CommonMiddleware

    settings.ALLOWED_HOSTS = ["testserver", ".example.com"]
    settings.MIDDLEWARE = [m for m in settings.MIDDLEWARE if m != f"{CommonMiddleware.__module__}.CommonMiddleware"]
    anonymous.raise_request_exception = False
    response = anonymous.post("/tv/api/v1/auth/sms/request", {"phoneCountryCode": "1", "phone": "5550001"},
                              format="json", HTTP_HOST="attacker.example")
    assert response.status_code == 400
    assert response.json() == {"message": "Bad request."}
