"""Runs from the command line and from the identity worker's task; JSON and YAML files."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from identity.models import Learner, SyncRun, SyncRunStatus
from identity.services.sync import source_sync
from identity.tasks import sync_source
from tests.identity.sync_fixtures import *  # noqa: F403  (the fixtures)

pytestmark = pytest.mark.django_db


def _call(*args: str) -> str:
    out, err = StringIO(), StringIO()
    call_command("sync_identity", *args, stdout=out, stderr=err)
    return out.getvalue()


def test_the_command_prints_the_dry_run_diff_and_writes_nothing(hr_file):
    hr_file.write("1,E1,ada@example.com,Ada,support,2,support,yes")

    output = _call("--source", "hr-file", "--dry-run")

    assert "hr-file: dry run succeeded" in output
    assert "created 1" in output
    assert "created     1 (line 2 (1)): email: None → 'ada@example.com'" in output
    assert "+role support" in output
    assert not Learner.objects.exists()


def test_the_command_prints_errors_checks_and_a_held_run(hr_file):
    hr_file.write("1,E1,ada@example.com,Ada,none,1,,yes", "2,E2,bad,Bob,x,1,,yes")
    output = _call()
    assert "error: line 3 (2) [mail]: 'bad' is not an e-mail address" in output
    assert "check: 1 active people of this source hold no role (e.g. 1)" in output

    hr_file.source.deactivation_brake = 10
    hr_file.source.grace_period = "0"
    hr_file.source.save()
    hr_file.write("3,E3,cy@example.com,Cy,x,1,,yes")
    with pytest.raises(CommandError, match="failed or was held"):
        _call("--source", "hr-file")
    assert not Learner.objects.filter(is_active=False).exists()

    output = _call("--source", "hr-file", "--confirm")
    assert "deactivated 1" in output


def test_an_unknown_source_is_refused_by_name(hr_file):
    with pytest.raises(CommandError, match="No pull source named 'nope' \\(sources: hr-file\\)"):
        _call("--source", "nope")


def test_the_task_runs_one_sync_per_source_at_a_time(hr_file):
    hr_file.write("1,E1,ada@example.com,Ada,support,2,support,yes")
    running = SyncRun.objects.create(source=hr_file.source, started_at=timezone.now(), heartbeat_at=timezone.now())

    assert sync_source.run(source_id=hr_file.source.pk) == running.pk
    assert not Learner.objects.exists()

    running.status = SyncRunStatus.SUCCEEDED
    running.save()
    run_id = sync_source.run(source_id=hr_file.source.pk)

    assert SyncRun.objects.get(pk=run_id).status == SyncRunStatus.SUCCEEDED and Learner.objects.count() == 1
    hr_file.source.enabled = False
    hr_file.source.save()
    assert sync_source.run(source_id=hr_file.source.pk) is None


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("people.json", '{"people": [{"id": 1, "mail": "a@example.com", "groups": ["support"], "active": true}]}'),
        ("people.yaml", "- id: '1'\n  mail: a@example.com\n  groups: support|ops\n  active: yes\n"),
    ],
)
def test_json_and_yaml_files_hold_the_same_people(hr_file, name, text):
    (hr_file.directory / name).write_text(text)
    hr_file.source.settings = {**hr_file.source.settings, "path": name}
    hr_file.source.save()

    run = source_sync(source=hr_file.source)

    assert run.counts["created"] == 1, run.errors
    assert Learner.objects.get().email == "a@example.com"


def test_yaml_aliases_are_refused(hr_file):
    (hr_file.directory / "people.yaml").write_text("- &a {id: '1'}\n- *a\n")
    hr_file.source.settings = {**hr_file.source.settings, "path": "people.yaml"}
    hr_file.source.save()

    run = source_sync(source=hr_file.source)

    assert run.status == SyncRunStatus.FAILED and "aliases" in run.errors[0]["message"]


def test_a_path_outside_the_files_directory_is_refused(hr_file):
    hr_file.source.settings = {**hr_file.source.settings, "path": "../../etc/passwd.csv"}
    hr_file.source.save()

    run = source_sync(source=hr_file.source)

    assert run.status == SyncRunStatus.FAILED and "must be inside" in run.errors[0]["message"]
