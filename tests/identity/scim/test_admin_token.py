"""An admin issues a source's SCIM token from the sources list: shown once in a message, stored only as a hash, and
the previous token stops working at once."""

import re

import pytest
from django.urls import reverse

from identity.models import IdentitySource
from tests.identity.scim.conftest import ScimClient, scim_source

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:identity_identitysource_changelist")


def _issue(admin_client, *sources: IdentitySource) -> list[str]:
    response = admin_client.post(
        CHANGELIST,
        {"action": "issue_scim_token", "_selected_action": [source.pk for source in sources]},
        follow=True,
    )
    return [str(message) for message in response.context["messages"]]


def test_a_token_issued_in_the_admin_is_shown_once_and_replaces_the_previous_one(admin_client):
    source = scim_source("okta")

    [first_message] = _issue(admin_client, source)
    first = re.search(r"token is (ons_\S+)", first_message).group(1)
    assert ScimClient(first).get("Users").status == 200

    [second_message] = _issue(admin_client, source)
    second = re.search(r"token is (ons_\S+)", second_message).group(1)
    assert ScimClient(second).get("Users").status == 200
    assert ScimClient(first).get("Users").status == 401

    source.refresh_from_db()
    assert second not in repr(source.__dict__)  # only its prefix and hash are kept
    page = admin_client.get(reverse("admin:identity_identitysource_change", args=[source.pk]))
    assert second.encode() not in page.content


def test_a_token_is_refused_for_a_source_that_is_not_scim(admin_client):
    source = IdentitySource.objects.create(name="hr-file", kind="file", settings={"path": "people.csv"})

    [message] = _issue(admin_client, source)

    assert "hr-file is a" in message and "SCIM tokens are for SCIM sources" in message
    source.refresh_from_db()
    assert source.token_hash == ""
