"""A CSV file source through the sync service, on real PostgreSQL: joiners, movers, leavers, returners, the brake,
dry runs, bad rows, and what is announced to the layers above (read back from the real Redis broker)."""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from identity.models import Learner, LearnerToken, RoleAssignment, SourceLink, SyncRun, SyncRunStatus
from identity.services import learner_token_create
from identity.services.sync import source_sync
from tests.factories import RoleFactory, UserFactory
from tests.identity.sync_fixtures import *  # noqa: F403  (the fixtures)
from tests.identity.sync_fixtures import FileSourceHelper, make_file_source

pytestmark = pytest.mark.django_db

ADA = "1,E1,Ada@Example.com,Ada Lovelace,support,2,support;ops,yes"
BOB = "2,E2,bob@example.com,Bob Byte,sales,3,,yes"
CY = "3,E3,cy@example.com,Cy Clone,support,1,support,yes"
DEE = "4,E4,dee@example.com,Dee Dot,sales,1,sales,yes"


def _roles(external_id: str, source=None) -> set[str]:
    assignments = RoleAssignment.objects.filter(learner__external_id=external_id)
    if source is not None:
        assignments = assignments.filter(identity_source=source)
    return set(assignments.values_list("role__slug", flat=True))


def _sync(hr_file, *rows, **kwargs) -> SyncRun:
    hr_file.write(*rows)
    return source_sync(source=hr_file.source, **kwargs)


def test_joiners_are_created_with_mapped_fields_attributes_and_roles(
    hr_file, broker, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        run = _sync(hr_file, ADA, BOB)

    assert run.status == SyncRunStatus.SUCCEEDED
    assert (run.counts["created"], run.counts["errors"]) == (2, 0)
    ada = Learner.objects.get(external_id="1")
    assert (ada.email, ada.display_name, ada.attributes) == (
        "ada@example.com",
        "Ada Lovelace",
        {"department": "support", "level": 2},
    )
    assert _roles("1") == {"support"} and _roles("2") == {"team_lead"}
    assert {change["learner"]: change["change"] for change in run.diff} == {"1": "created", "2": "created"}
    # One re-route task for the chunk, no per-person enrolment task.
    sent = broker.sent()
    assert [task for task, _kwargs in sent] == ["playbooks.reroute_learners"]
    assert sorted(sent[0][1]["learner_ids"]) == sorted(Learner.objects.values_list("pk", flat=True))


def test_a_mover_is_updated_and_rerouted_once_per_chunk(hr_file, broker, django_capture_on_commit_callbacks):
    _sync(hr_file, ADA, BOB, CY)
    broker.sent()

    moved_ada = "1,E1,ada@example.com,Ada Lovelace,sales,3,sales,yes"  # department, level, groups
    renamed_cy = "3,E3,cy@example.com,Cy Renamed,support,1,support,yes"  # a name only: no re-route
    with django_capture_on_commit_callbacks(execute=True):
        run = _sync(hr_file, moved_ada, BOB, renamed_cy)

    assert (run.counts["updated"], run.counts["unchanged"]) == (2, 1)
    assert (run.counts["roles_added"], run.counts["roles_removed"]) == (1, 1)
    ada = Learner.objects.get(external_id="1")
    assert ada.attributes == {"department": "sales", "level": 3}
    assert _roles("1") == {"team_lead"}
    change = next(change for change in run.diff if change["learner"] == "1")
    assert change["changes"]["attributes.department"] == ["support", "sales"]
    assert change["changes"]["roles"] == {"added": ["team_lead"], "removed": ["support"]}
    assert broker.tasks("playbooks.reroute_learners") == [{"learner_ids": [ada.pk]}]


def test_a_claim_withdrawn_by_a_sync_stamps_the_learner(hr_file):
    """Nothing else about Cy changes, and the claim leaves no row: the stamp is how readers of changes since a
    moment (the insights fold: Cy's primary role moved) find Cy."""
    _sync(hr_file, ADA, BOB, CY)
    before = Learner.objects.get(external_id="3").updated_at

    run = _sync(hr_file, ADA, BOB, "3,E3,cy@example.com,Cy Clone,support,1,,yes")  # out of the support group

    assert (run.counts["roles_removed"], _roles("3")) == (1, set())
    assert Learner.objects.get(external_id="3").updated_at > before


def test_an_unchanged_resync_writes_nothing(hr_file, django_assert_max_num_queries):
    _sync(hr_file, ADA, BOB, CY)
    learners_before = list(Learner.objects.order_by("pk").values_list("pk", "updated_at"))
    links_before = list(SourceLink.objects.order_by("pk").values_list("pk", "last_seen_at", "entry_hash"))

    with django_assert_max_num_queries(13):  # the run's own rows, the links, the checks: nothing per person
        run = source_sync(source=hr_file.source)

    assert run.counts["unchanged"] == 3 and run.diff == []
    assert list(Learner.objects.order_by("pk").values_list("pk", "updated_at")) == learners_before
    assert list(SourceLink.objects.order_by("pk").values_list("pk", "last_seen_at", "entry_hash")) == links_before


def test_a_leaver_inside_the_grace_period_stays_active_and_past_it_is_deactivated(
    hr_file,
    broker,
    django_capture_on_commit_callbacks,
):
    _sync(hr_file, ADA, BOB, CY, DEE)
    bob = Learner.objects.get(external_id="2")
    bob.user = UserFactory(username="bob")
    bob.save()
    token = learner_token_create(learner=bob, name="phone").token
    start = timezone.now()

    run = _sync(hr_file, ADA, CY, DEE, now=start)
    assert run.counts["missing"] == 1 and run.counts["deactivated"] == 0
    link = SourceLink.objects.get(remote_id="2")
    assert link.missing_since == start and Learner.objects.get(pk=bob.pk).is_active

    broker.sent()
    with django_capture_on_commit_callbacks(execute=True):
        run = source_sync(source=hr_file.source, now=start + timedelta(days=8))

    bob.refresh_from_db()
    assert run.counts["deactivated"] == 1 and not bob.is_active and bob.deactivated_at is not None
    assert not get_user_model().objects.get(pk=bob.user_id).is_active
    assert LearnerToken.objects.get(pk=token.pk).revoked_at is not None
    assert {"change": "deactivated", "learner": "2", "entry": "2"} in run.diff
    sent = broker.sent()
    assert ("delivery.cancel_for_learner", {"learner_id": bob.pk, "reason": "the learner was deactivated"}) in sent
    assert ("playbooks.reroute_learners", {"learner_ids": [bob.pk]}) in sent


def test_a_returning_leaver_is_reactivated_with_their_history(hr_file):
    _sync(hr_file, ADA, BOB, CY, DEE)
    bob = Learner.objects.get(external_id="2")
    bob.user = UserFactory(username="bob")
    bob.save()
    start = timezone.now()
    _sync(hr_file, ADA, CY, DEE, now=start)
    source_sync(source=hr_file.source, now=start + timedelta(days=8))
    assert not Learner.objects.get(pk=bob.pk).is_active

    run = _sync(hr_file, ADA, BOB, CY, DEE, now=start + timedelta(days=30))

    bob.refresh_from_db()
    assert run.counts["reactivated"] == 1 and bob.is_active and bob.deactivated_at is None
    assert get_user_model().objects.get(pk=bob.user_id).is_active
    link = SourceLink.objects.get(remote_id="2")
    assert (link.learner_id, link.missing_since, link.deactivated_at) == (bob.pk, None, None)
    assert Learner.objects.count() == 4


def test_an_entry_disabled_in_the_source_is_deactivated_at_once(hr_file):
    _sync(hr_file, ADA, BOB, CY, DEE)

    run = _sync(hr_file, ADA, "2,E2,bob@example.com,Bob Byte,sales,3,,no", CY, DEE)

    assert run.counts["deactivated"] == 1
    assert not Learner.objects.get(external_id="2").is_active
    assert _roles("2") == {"team_lead"}  # kept for a return

    run = _sync(hr_file, ADA, BOB, CY, DEE)
    assert run.counts["reactivated"] == 1 and Learner.objects.get(external_id="2").is_active


def test_an_unknown_person_disabled_in_the_source_is_not_created(hr_file):
    run = _sync(hr_file, ADA, "9,E9,zed@example.com,Zed,sales,1,,no")

    assert (run.counts["created"], run.counts["skipped"]) == (1, 1)
    assert not Learner.objects.filter(external_id="9").exists()


def test_a_renamed_external_id_attribute_with_the_same_remote_id_is_the_same_person(hr_file):
    _sync(hr_file, ADA, BOB)
    ada = Learner.objects.get(external_id="1")
    hr_file.source.external_id_from = "employee_number"
    hr_file.source.save()

    run = _sync(hr_file, ADA, BOB)

    assert run.counts["created"] == 0 and Learner.objects.count() == 2
    assert SourceLink.objects.get(remote_id="1").learner_id == ada.pk


def test_two_sources_feeding_one_person_each_remove_only_their_own_roles(hr_file, files_dir):
    other = make_file_source(files_dir, name="second-file")
    other.settings = {**other.settings, "path": "second.csv"}
    other.save()
    other.role_rules.filter(role__slug="support").update(when='"ops" in groups')
    manual = RoleFactory(slug="mentor")
    _sync(hr_file, ADA)
    ada = Learner.objects.get(external_id="1")
    RoleAssignment.objects.create(learner=ada, role=manual)
    hr_file.write(ADA, name="second.csv")
    source_sync(source=other)
    assert Learner.objects.count() == 1  # matched by external id: one person
    assert _roles("1", hr_file.source) == {"support"} and _roles("1", other) == {"support"}

    _sync(hr_file, "1,E1,ada@example.com,Ada Lovelace,support,2,,yes")  # the first source drops the group

    assert _roles("1", hr_file.source) == set()
    assert _roles("1", other) == {"support"}
    assert _roles("1") == {"support", "mentor"}


def test_the_brake_holds_a_run_that_would_deactivate_half_the_people_until_confirmed(files_dir):
    source = make_file_source(files_dir, brake=10, grace="0")
    helper = FileSourceHelper(files_dir, source)
    helper.write(ADA, BOB, CY, DEE)
    source_sync(source=source)

    helper.write(ADA, BOB)
    held = source_sync(source=source)

    assert held.status == SyncRunStatus.HELD
    assert "would deactivate 2 of the 4 people" in held.held_reason and "brake of 10%" in held.held_reason
    assert Learner.objects.filter(is_active=True).count() == 4
    assert not SourceLink.objects.filter(deactivated_at__isnull=False).exists()

    applied = source_sync(source=source, confirm=True)

    assert applied.status == SyncRunStatus.SUCCEEDED and applied.counts["deactivated"] == 2
    assert set(Learner.objects.filter(is_active=False).values_list("external_id", flat=True)) == {"3", "4"}


def test_a_dry_run_writes_nothing_but_reports_the_diff(hr_file, broker, django_capture_on_commit_callbacks):
    _sync(hr_file, ADA, BOB)
    broker.sent()
    tables = (Learner, SourceLink, RoleAssignment)
    before = [list(model.objects.order_by("pk").values()) for model in tables]

    with django_capture_on_commit_callbacks(execute=True):
        run = _sync(hr_file, "1,E1,ada@example.com,Ada Lovelace,sales,2,,yes", CY, dry_run=True)

    assert [list(model.objects.order_by("pk").values()) for model in tables] == before
    assert run.dry_run and run.pk and run.status == SyncRunStatus.SUCCEEDED
    assert (run.counts["created"], run.counts["updated"], run.counts["missing"]) == (1, 1, 1)
    changes = {change["learner"]: change for change in run.diff}
    assert changes["1"]["changes"]["attributes.department"] == ["support", "sales"]
    assert changes["3"]["change"] == "created" and changes["2"]["change"] == "missing"
    assert broker.sent() == []


def test_a_malformed_row_is_reported_with_its_line_and_the_others_are_applied(hr_file):
    run = _sync(
        hr_file, ADA, "2,E2,too,many,fields,here,x,y,z", CY, "4,E4,not-an-email,Dee,sales,1,,yes", "5,E5,,E,x,2.5,,yes"
    )

    assert run.counts["created"] == 2
    assert set(Learner.objects.values_list("external_id", flat=True)) == {"1", "3"}
    errors = {error["entry"]: error for error in run.errors}
    assert errors["line 3"]["message"] == "the row has 9 fields, the header 8: check quoting"
    assert errors["line 5 (4)"]["field"] == "mail" and "not an e-mail address" in errors["line 5 (4)"]["message"]
    assert errors["line 6 (5)"]["field"] == "level" and "not a whole number" in errors["line 6 (5)"]["message"]


def test_a_missing_file_fails_the_run_with_the_reason_and_marks_no_one_missing(hr_file):
    _sync(hr_file, ADA)
    (hr_file.directory / "people.csv").unlink()

    run = source_sync(source=hr_file.source)

    assert run.status == SyncRunStatus.FAILED
    assert "cannot open people.csv" in run.errors[0]["message"]
    assert not SourceLink.objects.filter(missing_since__isnull=False).exists()


def test_sync_checks_list_people_without_roles_shared_emails_and_disagreeing_sources(hr_file, files_dir):
    other = make_file_source(files_dir, name="second-file")
    other.settings = {**other.settings, "path": "second.csv"}
    other.save()
    hr_file.write("1,E1,ada@example.com,Ada,support,2,,yes", name="second.csv")  # gives Ada no support role
    source_sync(source=other)

    run = _sync(hr_file, ADA, "5,E5,ada@example.com,Ada Twin,none,1,,yes")

    checks = {check["code"]: check for check in run.checks}
    assert checks["no_role"]["examples"] == ["5"]
    assert checks["duplicate_email"]["examples"] == ["ada@example.com (2 people)"]
    assert checks["role_disagreement"]["examples"] == ["1: support from hr-file, not from second-file"]


def test_one_run_of_a_source_at_a_time_and_a_lost_run_is_recovered(hr_file):
    hr_file.write(ADA)
    running = SyncRun.objects.create(source=hr_file.source, started_at=timezone.now(), heartbeat_at=timezone.now())

    again = source_sync(source=hr_file.source)

    assert again.pk == running.pk and not Learner.objects.exists()

    SyncRun.objects.filter(pk=running.pk).update(heartbeat_at=timezone.now() - timedelta(hours=1))
    fresh = source_sync(source=hr_file.source)

    assert fresh.pk != running.pk and fresh.status == SyncRunStatus.SUCCEEDED
    running.refresh_from_db()
    assert running.status == SyncRunStatus.FAILED and "worker running it was lost" in running.errors[0]["message"]
