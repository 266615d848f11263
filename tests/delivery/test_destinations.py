"""Webhook destinations: an admin-editable URL must not become a way into the platform's own network."""

import pytest

from delivery.destinations import DestinationRefused, destination_check


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://127.0.0.1:8000/admin/", "resolves to 127.0.0.1, an internal address"),
        ("https://localhost/hook", "an internal address"),
        ("https://169.254.169.254/latest/meta-data/", "resolves to 169.254.169.254, an internal address"),
        ("https://10.1.2.3/hook", "resolves to 10.1.2.3, an internal address"),
        ("https://192.168.0.10/hook", "an internal address"),
        ("https://[::1]/hook", "resolves to ::1, an internal address"),
        ("https://[::ffff:127.0.0.1]/hook", "an internal address"),
        ("https://0.0.0.0/hook", "an internal address"),
        ("https://100.64.0.1/hook", "an internal address"),
        ("ftp://example.com/hook", "is not an http(s) URL"),
        ("https://user:pw@example.com/hook", "credentials do not belong in the URL"),
        ("https://does-not-exist.invalid/hook", "does not resolve"),
    ],
)
def test_internal_or_malformed_destinations_are_refused(url, reason, settings):
    settings.WEBHOOK_ALLOWED_NETWORKS = []

    with pytest.raises(DestinationRefused, match=reason.replace("(", r"\(").replace(")", r"\)")):
        destination_check(url)


def test_an_allowed_network_is_reachable_and_the_request_goes_to_the_checked_address(settings):
    settings.WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.0/8"]

    target = destination_check("http://localhost:8080/hooks?x=1")

    assert (target.address, target.port, target.path, target.host) == ("127.0.0.1", 8080, "/hooks?x=1", "localhost")


def test_plain_http_to_a_public_address_is_refused(settings):
    settings.WEBHOOK_ALLOWED_NETWORKS = []

    with pytest.raises(DestinationRefused, match="use https"):
        destination_check("http://93.184.215.14/hook")


def test_a_public_https_address_passes_without_being_contacted(settings):
    settings.WEBHOOK_ALLOWED_NETWORKS = []

    assert destination_check("https://93.184.215.14/hooks").address == "93.184.215.14"
