"""Conventions every endpoint shares: the schema, JSON 404s, the error body, pagination limits."""

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
