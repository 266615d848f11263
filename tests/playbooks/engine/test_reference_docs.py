"""The reference in docs/ names every condition name and every action the engine knows: a name added to the
vocabulary or an action added to the format without an entry in the reference fails here."""

import re
from pathlib import Path

import yaml

from playbooks.engine.conditions import BASE_VOCABULARY, vocabulary_for
from playbooks.engine.document import PLAYBOOK_YAML, load_yaml, spec_from_document
from playbooks.engine.journeys import parse_journey
from playbooks.engine.spec import ACTIONS

DOCS = Path(__file__).resolve().parents[3] / "docs"


def _documented() -> set[str]:
    text = "\n".join((DOCS / name).read_text(encoding="utf-8") for name in ("conditions.md", "playbook-format.md"))
    return set(re.findall(r"`([a-z_]+)`", text))


def test_every_condition_name_has_an_entry():
    # With the names a playbook's own declarations add (a signal's is its own; parameters are read as ``params``).
    declared = vocabulary_for((), (("threshold", "number"),)).types
    assert sorted((set(BASE_VOCABULARY) | set(declared)) - {"threshold"} - _documented()) == []


def test_every_action_has_an_entry():
    assert sorted(set(ACTIONS) - _documented()) == []


def test_the_docs_refer_to_nothing_outside_the_repository():
    for page in DOCS.glob("*.md"):
        text = page.read_text(encoding="utf-8")
        assert "DESIGN.md" not in text and "../shared" not in text, page.name
        for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", text):
            assert (page.parent / target).exists(), f"{page.name} links to {target}, which does not exist"


def test_the_journey_reference_example_is_a_valid_journey():
    scenario = DOCS.parent / "tests" / "scenarios" / "support-specialist" / "playbook.yaml"
    spec = spec_from_document(load_yaml(scenario.read_text(encoding="utf-8"), PLAYBOOK_YAML))
    example = re.search(r"```yaml\n(.*?)```", (DOCS / "journeys.md").read_text(encoding="utf-8"), re.S).group(1)

    journey = parse_journey(yaml.safe_load(example), playbooks={spec.slug: spec})

    assert journey.external_id == "sim-fast-skipper" and len(journey.expectations) == 6
