"""Who may read /metrics: the token's bearer or an allowed network; anyone else is told which setting decides."""

import pytest

pytestmark = pytest.mark.django_db

TOKEN = "a-long-scrape-token-0123456789"


def test_metrics_are_refused_until_a_token_or_network_is_set(client, settings):
    settings.METRICS_TOKEN, settings.METRICS_ALLOWED_NETWORKS = "", []

    response = client.get("/metrics")

    assert response.status_code == 403
    assert "METRICS_TOKEN or METRICS_ALLOWED_NETWORKS" in response.content.decode()


def test_the_token_opens_them_and_a_wrong_one_is_401(client, settings):
    settings.METRICS_TOKEN, settings.METRICS_ALLOWED_NETWORKS = TOKEN, []

    right = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    wrong = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}x")

    assert right.status_code == 200 and right["Content-Type"].startswith("text/plain; version=")
    assert "onboarding_events_pending 0.0" in right.content.decode()
    assert wrong.status_code == 401 and wrong["WWW-Authenticate"] == 'Bearer realm="metrics"'


def test_an_allowed_network_needs_no_token_and_another_address_is_403(client, settings):
    settings.METRICS_TOKEN, settings.METRICS_ALLOWED_NETWORKS = "", ["10.1.0.0/16"]

    inside = client.get("/metrics", REMOTE_ADDR="10.1.2.3")
    outside = client.get("/metrics", REMOTE_ADDR="10.2.0.1")

    assert inside.status_code == 200
    assert outside.status_code == 403 and "METRICS_ALLOWED_NETWORKS" in outside.content.decode()


def test_with_both_set_an_outside_address_may_still_use_the_token(client, settings):
    settings.METRICS_TOKEN, settings.METRICS_ALLOWED_NETWORKS = TOKEN, ["10.1.0.0/16"]

    without = client.get("/metrics", REMOTE_ADDR="192.0.2.7")
    with_token = client.get("/metrics", REMOTE_ADDR="192.0.2.7", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")

    assert without.status_code == 401 and with_token.status_code == 200


def test_requests_are_timed_by_route_not_by_path(client, settings):
    settings.METRICS_TOKEN, settings.METRICS_ALLOWED_NETWORKS = TOKEN, []
    client.get("/api/v1/learners/nobody-1/next-module")
    client.get("/api/v1/learners/nobody-2/next-module")

    body = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").content.decode()

    route = 'route="api/v1/learners/<str:external_id>/next-module"'
    assert f'onboarding_http_request_duration_seconds_count{{method="GET",{route},status="401"}}' in body
    assert "nobody-1" not in body
