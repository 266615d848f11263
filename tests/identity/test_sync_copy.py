"""Chunks written through COPY on PostgreSQL, against the ORM's bulk statements (what SQLite uses): the same
learners, links and role claims, the same counts, diffs and re-route tasks, runs of several chunks included; a chunk
the database refuses is written entry by entry, and the refused entry leaves nothing behind."""

from contextlib import nullcontext
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from identity.models import Learner, RoleAssignment, SourceLink, SyncRun
from identity.services import sync
from identity.services.sync import source_sync
from tests.identity.sync_fixtures import *  # noqa: F403  (the fixtures)
from tests.identity.sync_fixtures import FileSourceHelper, make_file_source

# No skip on other databases: the suite runs on PostgreSQL (bin/test), whose COPY path these tests are about.

T0 = timezone.now().replace(microsecond=0) - timedelta(days=3)
ADA = "1,E1,Ada@Example.com,Ada Lovelace,support,2,support;ops,yes"
BOB = "2,E2,bob@example.com,Bob Byte,sales,3,,yes"
CY = "3,E3,cy@example.com,Cy Clone,support,1,support,yes"
DEE = "4,E4,dee@example.com,Dee Dot,sales,1,sales,yes"
EVE = "5,E5,eve@example.com,Eve Echo,support,4,support,yes"  # her learner exists already: linked, not created
ZED_GONE = "9,E9,zed@example.com,Zed,sales,1,,no"  # disabled and unknown: skipped
RUNS = [
    [ADA, BOB, CY, DEE, EVE, ZED_GONE],
    [
        "1,E1,ada@example.com,Ada Lovelace,sales,3,sales,yes",  # moved: support → team_lead
        "2,E2,bob@example.com,Robert Byte,sales,3,,yes",  # renamed
        "6,E3,cy@example.com,Cy Clone,support,1,support,yes",  # recreated under a new remote id: relinked
        "4,E4,dee@example.com,Dee Dot,sales,1,sales,no",  # disabled: withdrawn and deactivated
        "7,E7,fay@example.com,Fay Fern,support,1,support;ops,yes",  # a joiner; Eve is missing
    ],
    [ADA, BOB, CY, DEE, EVE],  # Cy back under remote id 3 (6 is missing), Dee and Eve back
]


def _source(files_dir) -> FileSourceHelper:
    return FileSourceHelper(files_dir, make_file_source(files_dir, external_id_from="employee_number"))


def _state(source) -> dict[str, Any]:
    """What the source's runs wrote, keyed by external and remote ids rather than primary keys."""
    learners = {
        row["external_id"]: row
        for row in Learner.objects.values(
            "external_id", "email", "display_name", "timezone", "locale", "attributes", "is_active", "deactivated_at"
        )
    }
    links = {
        row["remote_id"]: row
        for row in SourceLink.objects.filter(source=source).values(
            "remote_id",
            "learner__external_id",
            "entry_hash",
            "raw_hash",
            "last_seen_at",
            "missing_since",
            "deactivated_at",
            "mapped",
        )
    }
    roles: dict[str, list[tuple[str, str, int | None]]] = {}
    for external_id, slug, kind, source_id in RoleAssignment.objects.order_by("created_at", "pk").values_list(
        "learner__external_id", "role__slug", "source", "identity_source_id"
    ):
        roles.setdefault(external_id, []).append((slug, kind, source_id))  # in order: the first is the primary role
    return {"learners": learners, "links": links, "roles": roles}


def _report(run: SyncRun) -> dict[str, Any]:
    return {
        "status": run.status,
        "counts": run.counts,
        "errors": run.errors,
        "diff": sorted(run.diff, key=lambda change: (change["entry"], change["change"])),
    }


def _tasks(broker) -> list[list[str]]:
    """The re-route tasks sent, each as its learners' external ids."""
    external_id_of = dict(Learner.objects.values_list("pk", "external_id"))
    tasks = broker.tasks("playbooks.reroute_learners")
    return [sorted(external_id_of[pk] for pk in task["learner_ids"]) for task in tasks]


def _scenario(helper: FileSourceHelper, broker, run_on_commit) -> list[dict[str, Any]]:
    Learner.objects.create(external_id="E5", display_name="Eve (by hand)")
    results = []
    for number, rows in enumerate(RUNS):
        helper.write(*rows)
        with run_on_commit():
            run = source_sync(source=helper.source, now=T0 + timedelta(days=number))
        results.append({"report": _report(run), "state": _state(helper.source), "tasks": _tasks(broker)})
    return results


def _wipe() -> None:
    Learner.objects.all().delete()
    SyncRun.objects.all().delete()


@pytest.fixture
def chunks_of_two(monkeypatch):
    monkeypatch.setattr(sync, "CHUNK", 2)


@pytest.fixture
def copies(monkeypatch) -> list[str]:
    """The temporary tables COPY wrote to, one per statement: proof of which path ran."""
    tables: list[str] = []
    original = sync._copy_then

    def spying(table, *args, **kwargs):
        tables.append(table)
        return original(table, *args, **kwargs)

    monkeypatch.setattr(sync, "_copy_then", spying)
    return tables


@pytest.mark.django_db
def test_copy_writes_the_same_rows_counts_diffs_and_tasks_as_the_orm(
    files_dir, broker, chunks_of_two, copies, monkeypatch, django_capture_on_commit_callbacks
):
    helper = _source(files_dir)

    def on_commit():
        return django_capture_on_commit_callbacks(execute=True)

    monkeypatch.setattr(sync, "COPY_WRITES", False)
    through_orm = _scenario(helper, broker, on_commit)
    assert copies == []
    _wipe()
    monkeypatch.setattr(sync, "COPY_WRITES", True)
    through_copy = _scenario(helper, broker, on_commit)
    assert {"identity_sync_learner", "identity_sync_link", "identity_sync_role"} <= set(copies)

    for orm, copy in zip(through_orm, through_copy, strict=True):
        assert copy == orm
    first, second, third = through_copy
    counts = first["report"]["counts"]
    assert (counts["seen"], counts["created"], counts["linked"], counts["skipped"]) == (6, 4, 1, 1)
    assert len(first["tasks"]) >= 2  # a task per chunk of two
    assert second["state"]["links"]["6"]["learner__external_id"] == "E3"  # the link moved with Cy
    assert second["state"]["roles"]["E1"] == [("team_lead", "file", helper.source.pk)]
    assert not second["state"]["learners"]["E4"]["is_active"]
    assert third["report"]["counts"]["reactivated"] == 1
    assert all(len(link["raw_hash"]) == 64 for link in third["state"]["links"].values())


@pytest.mark.django_db
def test_a_dry_run_through_copy_reports_what_the_orm_reports_and_writes_nothing(
    files_dir, broker, chunks_of_two, copies, monkeypatch
):
    """A dry run is one transaction: its chunks share the temporary tables, which must start empty each time."""
    helper = _source(files_dir)
    helper.write(*RUNS[0])
    source_sync(source=helper.source, now=T0)
    tables = (Learner, SourceLink, RoleAssignment)
    before = [list(model.objects.order_by("pk").values()) for model in tables]
    helper.write(*RUNS[1])

    reports = []
    for copy in (False, True):
        monkeypatch.setattr(sync, "COPY_WRITES", copy)
        run = source_sync(source=helper.source, dry_run=True, now=T0 + timedelta(days=1))
        reports.append(_report(run))
        assert [list(model.objects.order_by("pk").values()) for model in tables] == before

    assert reports[0] == reports[1]
    assert reports[1]["counts"]["created"] == 1 and reports[1]["counts"]["updated"] == 2
    assert copies.count("identity_sync_link") >= 2  # several chunks in the one transaction


@pytest.mark.django_db
def test_an_entry_the_database_refuses_is_an_error_and_leaves_nothing(files_dir, copies, monkeypatch):
    with connection.cursor() as cursor:  # rolled back with the test
        cursor.execute("ALTER TABLE identity_learner ADD CONSTRAINT test_refused CHECK (display_name <> 'Refused')")
    helper = _source(files_dir)
    helper.write(ADA, "8,E8,ref@example.com,Refused,support,3,support,yes", BOB)
    results = []
    for copy in (False, True):
        monkeypatch.setattr(sync, "COPY_WRITES", copy)
        run = source_sync(source=helper.source, now=T0)
        (error,) = run.errors
        assert error["entry"] == "line 3 (8)" and "could not be stored" in error["message"]
        assert "test_refused" in error["message"]
        assert (run.counts["created"], run.counts["errors"]) == (2, 1)
        assert not Learner.objects.filter(external_id="E8").exists()
        assert not SourceLink.objects.filter(remote_id="8").exists()
        results.append(_state(helper.source))
        _wipe()
    assert results[0] == results[1]
    assert copies  # the refused chunk, then each entry alone, through COPY


@pytest.mark.django_db(transaction=True)
def test_copy_in_committed_chunks_writes_what_the_orm_writes(files_dir, broker, chunks_of_two, copies, monkeypatch):
    """Each chunk a transaction of its own, as in production: the temporary tables are emptied by each commit."""
    helper = _source(files_dir)
    monkeypatch.setattr(sync, "COPY_WRITES", False)
    through_orm = _scenario(helper, broker, nullcontext)  # the callbacks run at each real commit
    _wipe()
    monkeypatch.setattr(sync, "COPY_WRITES", True)
    through_copy = _scenario(helper, broker, nullcontext)

    assert copies and through_copy == through_orm
