"""Import, export and publish through the management commands and services."""

import io

import pytest
import yaml
from django.core.management import CommandError, call_command

from playbooks.models import ContentModule, Playbook, PlaybookVersion, Step, VersionStatus
from playbooks.services import draft_create, playbook_import, playbook_publish
from tests.playbooks.engine.replay import SCENARIOS

pytestmark = pytest.mark.django_db

PLAYBOOK = SCENARIOS / "support-specialist" / "playbook.yaml"


def _export(slug: str, *extra: str) -> str:
    out = io.StringIO()
    call_command("export_playbook", slug, *extra, stdout=out)
    return out.getvalue()


def test_the_scenario_playbook_imports_publishes_and_round_trips():
    out = io.StringIO()
    call_command("import_playbook", str(PLAYBOOK), "--publish", stdout=out)

    version = PlaybookVersion.objects.get(playbook__slug="support-specialist")
    assert (version.number, version.status) == (1, VersionStatus.PUBLISHED)
    assert "Imported support-specialist v1 (Published)" in out.getvalue()
    assert yaml.safe_load(_export("support-specialist")) == yaml.safe_load(PLAYBOOK.read_text())


def test_importing_the_same_file_again_writes_nothing():
    call_command("import_playbook", str(PLAYBOOK), "--publish")
    stamp = PlaybookVersion.objects.get().updated_at
    out = io.StringIO()

    call_command("import_playbook", str(PLAYBOOK), "--publish", stdout=out)

    assert "Unchanged: support-specialist v1" in out.getvalue()
    assert PlaybookVersion.objects.get().updated_at == stamp


def test_a_changed_file_becomes_version_2_and_archives_version_1(tmp_path):
    call_command("import_playbook", str(PLAYBOOK), "--publish")
    changed = PLAYBOOK.read_text().replace("tickets_7d >= 14", "tickets_7d >= 10")
    (tmp_path / "v2.yaml").write_text(changed)

    call_command("import_playbook", str(tmp_path / "v2.yaml"), "--publish")

    statuses = dict(PlaybookVersion.objects.values_list("number", "status"))
    assert statuses == {1: VersionStatus.ARCHIVED, 2: VersionStatus.PUBLISHED}
    assert "tickets_7d >= 10" in _export("support-specialist")
    assert "tickets_7d >= 14" in _export("support-specialist", "--version", "1")


BAD_FILES = {
    "unknown name": (
        lambda t: t.replace("avg_module_seconds < 90 and", "avg_module_secs < 90 and"),
        "steps[4].branch[0].when: unknown name 'avg_module_secs' at column 1; did you mean 'avg_module_seconds'?",
    ),
    "type error": (
        lambda t: t.replace("'skip_streak >= 3'", "'skip_streak >= \"3\"'"),
        "triggers[1].when: type error at column 1 in 'skip_streak >= \"3\"': data type mismatch",
    ),
    "missing otherwise": (
        lambda t: t.replace("      - {otherwise: policy-compliance}\n", ""),
        "steps[5].branch: a branch needs a final 'otherwise' option",
    ),
    "unknown module": (
        lambda t: t.replace("  - module: ticketing-101", "  - module: ticketing-102"),
        "steps[2].module: unknown module 'ticketing-102'; did you mean 'ticketing-101'?",
    ),
    "duplicate step id": (
        lambda t: t.replace("id: escalation", "id: specialist-track"),
        "steps[5].id: duplicate step id 'specialist-track' (also steps[4])",
    ),
    "goto cycle": (
        lambda t: t.replace("module: escalation-prep}", "goto: specialist-track}"),
        "steps[5].branch[0].goto: a cycle of gotos: 'specialist-track' leads back here",
    ),
    "malformed yaml": (lambda t: t.replace("steps:\n", "steps: [\n"), "malformed YAML at line"),
}


@pytest.mark.parametrize("case", BAD_FILES, ids=list(BAD_FILES))
def test_a_bad_file_is_rejected_whole_with_a_precise_message(tmp_path, case):
    mutate, message = BAD_FILES[case]
    bad = tmp_path / "bad.yaml"
    bad.write_text(mutate(PLAYBOOK.read_text()))

    with pytest.raises(CommandError) as error:
        call_command("import_playbook", str(bad), "--publish")

    assert message in str(error.value)
    assert "nothing was imported" in str(error.value)
    assert not Playbook.objects.exists() and not ContentModule.objects.exists() and not Step.objects.exists()


def test_a_condition_error_shows_a_caret_under_the_column(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        PLAYBOOK.read_text().replace("skips >= 3', module: advanced", "skips >= 3 and skipz', module: advanced")
    )

    with pytest.raises(CommandError) as error:
        call_command("import_playbook", str(bad))

    assert "      avg_module_seconds < 90 and skips >= 3 and skipz\n" in str(error.value)
    assert "\n" + " " * 6 + " " * 43 + "^" in str(error.value)


def test_a_published_version_cannot_be_rewritten():
    version = playbook_import(text=PLAYBOOK.read_text(), publish=True).version

    draft = draft_create(playbook=version.playbook)

    assert (draft.number, draft.status) == (2, VersionStatus.DRAFT)
    assert draft_create(playbook=version.playbook) == draft  # one draft at a time
    assert playbook_publish(version=version) == version  # publishing the published one is a no-op
