import re

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from identity.keys import key_hash
from identity.models import ApiKey, LearnerToken

pytestmark = pytest.mark.django_db


def test_an_admin_issues_a_key_shown_once_and_stored_hashed(admin_client):
    response = admin_client.post(
        reverse("admin:identity_apikey_add"), {"name": "LMS connector", "scopes": ["events:write", "learners:read"]}
    )

    key = re.search(r"onb_\w+_\S+", str([m.message for m in get_messages(response.wsgi_request)])).group(0)
    stored = ApiKey.objects.get()
    assert stored.key_hash == key_hash(key) and key not in str(ApiKey.objects.values())
    assert stored.scopes == ["events:write", "learners:read"]


def test_keys_and_tokens_are_revoked_by_an_action(admin_client, learner):
    admin_client.post(reverse("admin:identity_apikey_add"), {"name": "old", "scopes": ["events:write"]})
    admin_client.post(reverse("admin:identity_learnertoken_add"), {"learner": learner.pk, "name": "phone"})

    for model, url in (
        (ApiKey, "admin:identity_apikey_changelist"),
        (LearnerToken, "admin:identity_learnertoken_changelist"),
    ):
        admin_client.post(
            reverse(url), {"action": "revoke", "_selected_action": list(model.objects.values_list("pk", flat=True))}
        )

        assert model.objects.get().revoked_at is not None


def test_staff_without_permission_cannot_issue_keys(client, staff_without_permission):
    client.force_login(staff_without_permission)

    assert (
        client.post(reverse("admin:identity_apikey_add"), {"name": "x", "scopes": ["events:write"]}).status_code == 403
    )
    assert not ApiKey.objects.exists()
