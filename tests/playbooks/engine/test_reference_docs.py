"""The reference in docs/ names every condition name and every action the engine knows: a name added to the
vocabulary or an action added to the format without an entry in the reference fails here."""

import re
from pathlib import Path

from playbooks.engine.conditions import BASE_VOCABULARY
from playbooks.engine.spec import ACTIONS

DOCS = Path(__file__).resolve().parents[3] / "docs"


def _documented() -> set[str]:
    text = "\n".join((DOCS / name).read_text(encoding="utf-8") for name in ("conditions.md", "playbook-format.md"))
    return set(re.findall(r"`([a-z_]+)`", text))


def test_every_condition_name_has_an_entry():
    assert sorted(set(BASE_VOCABULARY) - _documented()) == []


def test_every_action_has_an_entry():
    assert sorted(set(ACTIONS) - _documented()) == []


def test_the_docs_refer_to_nothing_outside_the_repository():
    for page in DOCS.glob("*.md"):
        text = page.read_text(encoding="utf-8")
        assert "DESIGN.md" not in text and "../shared" not in text, page.name
        for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", text):
            assert (page.parent / target).exists(), f"{page.name} links to {target}, which does not exist"
