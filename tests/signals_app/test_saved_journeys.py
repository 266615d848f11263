"""A playbook's saved journeys (``tests:``) are its tests: publishing runs them and is refused when one fails."""

import pytest
import yaml

from playbooks.engine.spec import PlaybookInvalid
from playbooks.models import PlaybookVersion, VersionStatus
from playbooks.services import playbook_import, playbook_publish
from tests.playbooks.engine.replay import SCENARIOS

pytestmark = pytest.mark.django_db

SPECIALIST = SCENARIOS / "support-specialist"


def _playbook_with_tests(*tests: dict) -> str:
    document = yaml.safe_load((SPECIALIST / "playbook.yaml").read_text())
    document["tests"] = list(tests)
    return yaml.safe_dump(document, sort_keys=False)


def _journey(name: str, **changes) -> dict:
    journey = yaml.safe_load((SPECIALIST / "journeys" / f"{name}.yaml").read_text())
    journey.pop("playbook")  # a saved journey runs on its own playbook
    journey.update(changes)
    return journey


def test_a_version_whose_saved_journeys_pass_is_published():
    text = _playbook_with_tests(
        {"name": "fast skipper", "journey": _journey("fast-skipper")},
        {"name": "steady learner", "journey": _journey("steady-learner")},
    )

    version = playbook_import(text=text, publish=True).version

    assert version.status == VersionStatus.PUBLISHED
    assert [test["name"] for test in version.tests] == ["fast skipper", "steady learner"]


def test_publishing_is_refused_when_a_saved_journey_fails_and_says_which_and_why():
    failing = _journey("fast-skipper", expect=[{"at": "5m", "next_module": "compliance-escalation"}])
    text = _playbook_with_tests({"name": "fast skipper", "journey": failing})
    draft = playbook_import(text=text).version

    with pytest.raises(PlaybookInvalid) as refused:
        playbook_publish(version=draft)

    assert [str(error) for error in refused.value.errors] == [
        "tests[0] 'fast skipper': failed: next module at 5m: expected 'compliance-escalation', got "
        "'advanced-debugging' (branch 'specialist-track': avg_module_seconds < 90 and skips >= 3: Chosen because "
        "avg_module_seconds < 90 and skips >= 3 held (avg_module_seconds = 50, skips = 3).)"
    ]
    draft.refresh_from_db()
    assert draft.status == VersionStatus.DRAFT
    assert not PlaybookVersion.objects.filter(status=VersionStatus.PUBLISHED).exists()


def test_a_malformed_saved_journey_is_refused_at_import_with_its_path():
    broken = _journey("fast-skipper")
    broken["events"][2]["module"] = "crm-basic"
    text = _playbook_with_tests({"name": "fast skipper", "journey": broken}, {"name": "fast skipper", "journey": {}})

    with pytest.raises(PlaybookInvalid) as refused:
        playbook_import(text=text)

    messages = [str(error) for error in refused.value.errors]
    assert (
        "tests[0].journey.events[2].module: unknown module 'crm-basic' in playbook 'support-specialist'; "
        "did you mean 'crm-basics'?"
    ) in messages
    assert "tests[1].name: another test is already named 'fast skipper'" in messages
    assert not PlaybookVersion.objects.exists()
