"""The push side of the sync (SCIM and the HR API call it): entries_apply and entry_remove."""

import pytest

from identity.models import IdentitySource, Learner, SourceLink
from identity.services.sync import entries_apply, entry_remove
from identity.sources.base import Entry

pytestmark = pytest.mark.django_db


@pytest.fixture
def scim():
    return IdentitySource.objects.create(name="okta", kind="scim", external_id_from="userName")


def _user(remote_id: str, user_name: str, **kwargs) -> Entry:
    return Entry(remote_id=remote_id, attributes={"userName": user_name}, ref=user_name, **kwargs)


def test_entries_apply_reports_each_entry_and_applies_the_valid_ones(scim):
    entries = [_user("u1", "ada"), _user("", "nobody"), _user("u3", "cy")]

    result = entries_apply(source=scim, entries=entries)

    assert [outcome.change for outcome in result.outcomes] == ["created", "error", "created"]
    ids = result.learner_ids
    assert ids[1] is None and {ids[0], ids[2]} == set(Learner.objects.values_list("pk", flat=True))
    (error,) = result.errors
    assert (error.index, error.entry, error.field) == (1, "nobody", "remote id")

    again = entries_apply(source=scim, entries=[entries[0], _user("u4", "dee")])
    assert [outcome.change for outcome in again.outcomes] == ["unchanged", "created"]


def test_a_disabled_entry_and_a_removal_deactivate_and_a_return_reactivates(scim):
    entries_apply(source=scim, entries=[_user("u1", "ada"), _user("u2", "bob")])

    result = entries_apply(source=scim, entries=[_user("u1", "ada", enabled=False)])
    assert result.outcomes[0].change == "deactivated"
    learner_id = entry_remove(source=scim, remote_id="u2")

    assert not Learner.objects.filter(is_active=True).exists()
    assert entry_remove(source=scim, remote_id="unknown") is None

    # Recreated in the IdP under a new id, with the same external id: the same person, back.
    result = entries_apply(source=scim, entries=[_user("u2-new", "bob")])
    assert result.outcomes[0].change == "reactivated" and result.learner_ids == [learner_id]
    assert Learner.objects.get(pk=learner_id).is_active
    assert SourceLink.objects.get(learner_id=learner_id).remote_id == "u2-new"


def test_a_person_another_enabled_source_vouches_for_stays_active(scim):
    other = IdentitySource.objects.create(name="hr", kind="api")
    entries_apply(source=scim, entries=[_user("u1", "E1")])
    entries_apply(source=other, entries=[Entry(remote_id="E1", attributes={})])  # matched by external id
    assert Learner.objects.count() == 1

    entry_remove(source=scim, remote_id="u1")

    assert Learner.objects.get().is_active
    entry_remove(source=other, remote_id="E1")
    assert not Learner.objects.get().is_active
