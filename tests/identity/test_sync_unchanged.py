"""Unchanged people are found before mapping: the raw digest on the link (what mapping reads of the entry, with the
source's mapping and rules) is compared first, so an unchanged person is neither mapped nor written; an edited
mapping or role rule maps everyone again on the next run, and writes only what changed."""

import gc

import pytest

from identity.mapping import Mapper
from identity.models import AttributeMapping, Learner, RoleAssignment, RoleRule, SourceLink
from identity.services.sync import source_sync
from tests.factories import RoleFactory
from tests.identity.sync_fixtures import *  # noqa: F403  (the fixtures)
from tests.identity.sync_fixtures import FileSourceHelper, make_file_source

pytestmark = pytest.mark.django_db

ADA = "1,E1,Ada@Example.com,Ada Lovelace,support,2,support;ops,yes"
BOB = "2,E2,bob@example.com,Bob Byte,sales,3,,yes"
CY = "3,E3,cy@example.com,Cy Clone,support,1,support,yes"


@pytest.fixture
def mapped(monkeypatch) -> list[str]:
    """The remote ids mapped, in order (every call of Mapper.map)."""
    calls: list[str] = []
    original = Mapper.map

    def counting(self, entry, values=None):
        calls.append(entry.remote_id)
        return original(self, entry, values)

    monkeypatch.setattr(Mapper, "map", counting)
    return calls


def _rows() -> dict[str, list]:
    """Everything a sync may write, as stored."""
    return {
        "learners": list(Learner.objects.order_by("pk").values()),
        "links": list(SourceLink.objects.order_by("pk").values()),
        "roles": list(RoleAssignment.objects.order_by("pk").values()),
    }


def _sync(hr_file, *rows):
    hr_file.write(*rows)
    run = source_sync(source=hr_file.source)
    assert run.errors == [], run.errors
    return run


def test_an_unchanged_entry_is_not_mapped_and_writes_nothing(hr_file, mapped, django_assert_max_num_queries):
    _sync(hr_file, ADA, BOB, CY)
    assert sorted(mapped) == ["1", "2", "3"]
    assert all(len(link.raw_hash) == 64 for link in SourceLink.objects.all())
    before = _rows()
    mapped.clear()

    with django_assert_max_num_queries(12):  # the run's own rows, the links, the checks: nothing per person
        run = source_sync(source=hr_file.source)

    assert mapped == []
    assert run.counts["unchanged"] == 3 and run.diff == [] and run.errors == []
    assert _rows() == before


def test_a_changed_entry_alone_is_mapped_and_written(hr_file, mapped):
    _sync(hr_file, ADA, BOB, CY)
    mapped.clear()
    before = SourceLink.objects.get(remote_id="1")

    run = _sync(hr_file, ADA, "2,E2,bob@example.com,Bob Byte,support,3,,yes", CY)

    assert mapped == ["2"]
    assert (run.counts["updated"], run.counts["unchanged"]) == (1, 2)
    assert Learner.objects.get(external_id="2").attributes["department"] == "support"
    after = SourceLink.objects.get(remote_id="1")
    assert (after.raw_hash, after.entry_hash, after.last_seen_at) == (
        before.raw_hash,
        before.entry_hash,
        before.last_seen_at,
    )


def test_an_unmapped_column_does_not_count_as_a_change(hr_file, mapped):
    """The employee number is not mapped (the external id is the remote id): changing it changes nothing."""
    _sync(hr_file, ADA, BOB)
    mapped.clear()

    run = _sync(hr_file, "1,E99,Ada@Example.com,Ada Lovelace,support,2,support;ops,yes", BOB)

    assert mapped == [] and run.counts["unchanged"] == 2


def test_an_edited_mapping_maps_everyone_on_the_next_run_then_no_one(hr_file, mapped):
    _sync(hr_file, ADA, BOB, CY)
    mapped.clear()
    AttributeMapping.objects.filter(source=hr_file.source, target="display_name").update(transform="upper")

    run = _sync(hr_file, ADA, BOB, CY)

    assert sorted(mapped) == ["1", "2", "3"]
    assert run.counts["updated"] == 3
    assert sorted(Learner.objects.values_list("display_name", flat=True)) == ["ADA LOVELACE", "BOB BYTE", "CY CLONE"]
    mapped.clear()

    again = _sync(hr_file, ADA, BOB, CY)

    assert mapped == [] and again.counts["unchanged"] == 3


def test_an_edited_role_rule_maps_everyone_and_updates_only_whose_roles_change(hr_file, mapped):
    _sync(hr_file, ADA, BOB, CY)
    assert set(RoleAssignment.objects.values_list("learner__external_id", "role__slug")) == {
        ("1", "support"),
        ("3", "support"),
        ("2", "team_lead"),
    }
    mapped.clear()
    RoleRule.objects.filter(source=hr_file.source, role__slug="team_lead").update(when="attributes.level >= 2")
    bob = SourceLink.objects.get(remote_id="2")
    learners_before = dict(Learner.objects.values_list("external_id", "updated_at"))

    run = _sync(hr_file, ADA, BOB, CY)

    assert sorted(mapped) == ["1", "2", "3"]
    # Ada (level 2) is now a team lead; Bob and Cy map as before: not written, bar their raw digest.
    assert (run.counts["updated"], run.counts["unchanged"], run.counts["roles_added"]) == (1, 2, 1)
    assert ("1", "team_lead") in set(RoleAssignment.objects.values_list("learner__external_id", "role__slug"))
    assert [change["learner"] for change in run.diff] == ["1"]
    bob_after = SourceLink.objects.get(remote_id="2")
    assert bob_after.raw_hash != bob.raw_hash
    assert (bob_after.entry_hash, bob_after.last_seen_at, bob_after.mapped) == (
        bob.entry_hash,
        bob.last_seen_at,
        bob.mapped,
    )
    assert Learner.objects.get(external_id="2").updated_at == learners_before["2"]
    mapped.clear()

    again = _sync(hr_file, ADA, BOB, CY)

    assert mapped == [] and again.counts["unchanged"] == 3


def test_a_new_role_rule_maps_everyone(hr_file, mapped):
    _sync(hr_file, ADA, BOB, CY)
    mapped.clear()
    RoleRule.objects.create(source=hr_file.source, position=2, when='"ops" in groups', role=RoleFactory(slug="ops"))

    run = _sync(hr_file, ADA, BOB, CY)

    assert sorted(mapped) == ["1", "2", "3"]
    assert run.counts["roles_added"] == 1
    assert set(RoleAssignment.objects.filter(role__slug="ops").values_list("learner__external_id", flat=True)) == {"1"}


def test_links_without_a_raw_digest_are_mapped_once_and_only_the_digest_is_written(hr_file, mapped):
    """Links written before raw digests existed (or by an older mapping version) hold none: the first run maps
    everyone, finds their mapped entry unchanged and writes nothing but the digest."""
    _sync(hr_file, ADA, BOB, CY)
    SourceLink.objects.update(raw_hash="")
    before = _rows()
    mapped.clear()

    run = _sync(hr_file, ADA, BOB, CY)

    assert sorted(mapped) == ["1", "2", "3"] and run.counts["unchanged"] == 3 and run.diff == []
    after = _rows()
    assert after["learners"] == before["learners"] and after["roles"] == before["roles"]
    for link_before, link_after in zip(before["links"], after["links"], strict=True):
        assert len(link_after.pop("raw_hash")) == 64
        link_before.pop("raw_hash")
        assert link_after == link_before
    mapped.clear()

    assert _sync(hr_file, ADA, BOB, CY).counts["unchanged"] == 3 and mapped == []


def test_a_returning_leaver_with_an_unchanged_entry_is_mapped_and_reactivated(hr_file, mapped):
    _sync(hr_file, ADA, BOB)
    hr_file.write(ADA)
    source_sync(source=hr_file.source)  # Bob is missing from now on
    mapped.clear()

    run = _sync(hr_file, ADA, BOB)

    assert mapped == ["2"]  # missing until now: mapped and its link written, though the entry is the same
    assert SourceLink.objects.get(remote_id="2").missing_since is None
    assert run.counts["unchanged"] == 2 and run.counts["missing"] == 0


def test_an_unchanged_entry_still_claims_its_external_id(files_dir):
    """Two entries of one run may not share an external id, whether or not one of them is unchanged."""
    source = make_file_source(files_dir, external_id_from="employee_number")
    helper = FileSourceHelper(files_dir, source)
    helper.write(ADA, BOB)
    source_sync(source=source)

    helper.write(ADA, BOB, "7,E1,zed@example.com,Zed,sales,1,,yes")
    run = source_sync(source=source)

    assert run.counts["unchanged"] == 2 and run.counts["errors"] == 1
    (error,) = run.errors
    assert error["entry"] == "line 4 (7)" and error["field"] == "employee_number"
    assert "the external id 'E1' is also the entry line 2 (1)'s" in error["message"]
    assert Learner.objects.count() == 2


def test_a_run_hands_back_to_the_garbage_collector_what_it_set_aside(hr_file):
    """The run freezes its long-lived heap out of the collector's scans and unfreezes it at the end, unless the
    process had frozen objects itself (a pre-fork server's), which stay frozen."""
    gc.collect()
    gc.unfreeze()
    _sync(hr_file, ADA, BOB)
    assert gc.get_freeze_count() == 0

    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        _sync(hr_file, ADA, BOB, CY)
        assert gc.get_freeze_count() > frozen // 2  # still frozen (bar what was freed meanwhile)
    finally:
        gc.unfreeze()
