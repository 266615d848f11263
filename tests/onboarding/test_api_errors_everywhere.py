"""Every error under /api/ is the API's JSON body ``{code, message, field}``, whoever answers it: the URL resolver, a
DRF view, the request guard in front of the views, or a crash. Outside /api/ the site keeps Django's HTML pages."""

import pytest

from tests.factories import api_key

JSON_ERROR_KEYS = {"code", "message", "field"}


def _assert_json_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    body = response.json()
    assert set(body) >= JSON_ERROR_KEYS and body["code"] == code, body
    return body


@pytest.fixture
def writer(client, db):
    key, _ = api_key("events:write", "learners:read")
    client.defaults["HTTP_AUTHORIZATION"] = f"Api-Key {key}"
    return client


@pytest.mark.parametrize("path", ["/api", "/api/", "/api/nope", "/api/v1/nope", "/api/v2/events"])
def test_an_unknown_api_path_is_a_json_404(client, path):
    _assert_json_error(client.get(path), 404, "not_found")


def test_an_unknown_page_outside_the_api_is_still_html(client):
    response = client.get("/nope")

    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


@pytest.mark.parametrize(
    ("method", "path"),
    [("put", "/api/v1/events"), ("delete", "/api/v1/events"), ("post", "/api/schema/"), ("post", "/api/docs/")],
)
def test_a_wrong_method_is_a_json_405_even_where_the_page_is_yaml_or_html(writer, method, path):
    _assert_json_error(getattr(writer, method)(path), 405, "method_not_allowed")


def test_a_chunked_body_is_refused_with_411_before_the_view(writer):
    response = writer.post("/api/v1/events", b"{}", content_type="application/json", HTTP_TRANSFER_ENCODING="chunked")

    body = _assert_json_error(response, 411, "length_required")
    assert "Content-Length" in body["message"]


def test_a_body_announced_over_the_cap_is_refused_with_413_before_it_is_read(writer, settings):
    announced = settings.API_MAX_BODY_BYTES + 1

    response = writer.post("/api/v1/events", b"{}", content_type="application/json", CONTENT_LENGTH=str(announced))

    body = _assert_json_error(response, 413, "body_too_large")
    assert str(announced) in body["message"]


def test_a_malformed_content_length_is_a_json_400(writer):
    response = writer.post("/api/v1/events", b"{}", content_type="application/json", CONTENT_LENGTH="-3")

    _assert_json_error(response, 400, "bad_request")


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/learners/alice%00/next-module",
        "/api/v1/events/evt%00-1",
        "/api/v1/learners/alice/decisions?cursor=%00",
    ],
)
def test_a_nul_character_in_the_path_or_query_is_a_json_400(writer, path):
    _assert_json_error(writer.get(path), 400, "invalid_path")


def test_a_nul_character_outside_the_api_is_an_html_400(client):
    response = client.get("/learn/%00")

    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/html")


@pytest.mark.urls("tests.onboarding.crash_urls")
def test_a_crash_under_the_api_is_a_json_500_and_html_elsewhere(client):
    client.raise_request_exception = False

    _assert_json_error(client.get("/api/v1/crash"), 500, "server_error")
    page = client.get("/crash")
    assert page.status_code == 500 and page["Content-Type"].startswith("text/html")


def test_an_oversize_real_body_is_still_refused_as_the_events_api_always_did(writer, settings):
    body = b"{" + b" " * settings.API_MAX_BODY_BYTES + b"}"

    response = writer.post("/api/v1/events", body, content_type="application/json")

    _assert_json_error(response, 413, "body_too_large")


def test_the_schema_lists_these_refusals_on_every_operation(client, db):
    schema = client.get("/api/schema/", {"format": "json"}).json()

    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            expected = {"400", "503"} | ({"411", "413"} if "requestBody" in operation else set())
            assert expected <= set(operation["responses"]), (method, path)
