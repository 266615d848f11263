"""Sign-in is throttled (django-axes): after 5 failures a username is locked on that address for 15 minutes, the right
password included. Password reset exists only where mail leaves the machine."""

import re

import pytest
from django.contrib.auth import SESSION_KEY

from tests.conftest import PASSWORD
from tests.factories import UserFactory
from tests.receivers import SmtpSink

pytestmark = pytest.mark.django_db

LOGIN_PAGES = ["/accounts/login/", "/admin/login/"]


def _sign_in(client, url: str, username: str, password: str):
    return client.post(url, {"username": username, "password": password}, REMOTE_ADDR="198.51.100.7")


@pytest.mark.parametrize("url", LOGIN_PAGES)
def test_five_wrong_passwords_lock_the_username_and_then_the_right_one_is_refused(client, url, settings):
    UserFactory(username="ada", is_staff=True)
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert _sign_in(client, url, "ada", "wrong").status_code == 200  # the form again, with its error
    locked = _sign_in(client, url, "ada", "wrong")

    refused = _sign_in(client, url, "ada", PASSWORD)

    assert locked.status_code == refused.status_code == 429
    assert b"Too many failed sign-ins" in refused.content
    assert b"locked for 15 minutes" in refused.content
    assert SESSION_KEY not in client.session


def test_a_lockout_is_per_username_and_address(client, settings):
    UserFactory(username="ada")
    UserFactory(username="grace")
    for _ in range(settings.AXES_FAILURE_LIMIT):
        _sign_in(client, "/accounts/login/", "ada", "wrong")

    other_user = _sign_in(client, "/accounts/login/", "grace", PASSWORD)
    other_address = client.post(
        "/accounts/login/", {"username": "ada", "password": PASSWORD}, REMOTE_ADDR="203.0.113.9"
    )

    assert other_user.status_code == 302
    assert other_address.status_code == 302


def test_a_success_before_the_limit_forgets_the_failures(client, settings):
    UserFactory(username="ada")
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        _sign_in(client, "/accounts/login/", "ada", "wrong")
    assert _sign_in(client, "/accounts/login/", "ada", PASSWORD).status_code == 302
    client.logout()

    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        _sign_in(client, "/accounts/login/", "ada", "wrong")

    assert _sign_in(client, "/accounts/login/", "ada", PASSWORD).status_code == 302


@pytest.mark.parametrize(
    "backend",
    ["django.core.mail.backends.console.EmailBackend", "django.core.mail.backends.dummy.EmailBackend"],
)
@pytest.mark.parametrize(
    "url", ["/accounts/password_reset/", "/accounts/password_reset/done/", "/accounts/reset/done/"]
)
def test_password_reset_is_not_found_where_mail_goes_nowhere(client, settings, backend, url):
    settings.EMAIL_BACKEND = backend

    assert client.get(url).status_code == 404


def test_password_reset_mails_a_link_where_an_smtp_server_is_configured(client, settings):
    UserFactory(username="ada", email="ada@example.com")
    with SmtpSink() as sink:
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", sink.port

        form = client.get("/accounts/password_reset/")
        sent = client.post("/accounts/password_reset/", {"email": "ada@example.com"})

    assert form.status_code == 200
    assert sent.status_code == 302 and sent["Location"] == "/accounts/password_reset/done/"
    assert [mail.to for mail in sink.received] == [["ada@example.com"]]
    link = re.search(r"http://testserver(/accounts/reset/\S+/)", sink.received[0].body).group(1)
    assert client.get(link, follow=True).status_code == 200  # the form to choose a new password
