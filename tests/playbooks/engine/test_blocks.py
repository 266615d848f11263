"""Reusable blocks, expanded without a database: steps in their placeholder's place, signals and triggers joined,
export writing the include back, and every way an include can be wrong named at its path."""

import pytest
import yaml

from playbooks.engine.blocks import Unavailable, expand_includes
from playbooks.engine.document import BLOCK_KEYS, document_from_spec, spec_from_document
from playbooks.engine.validation import validate_spec

BASICS = {
    "slug": "basics",
    "name": "Basics",
    "signals": {"quiz_fails": {"event": "quiz_failed", "aggregate": "count"}},
    "steps": [{"module": "security-101", "required": True}, {"id": "quiz", "module": "quiz"}],
    "triggers": [{"name": "quiz help", "when": "quiz_fails >= 2", "then": [{"insert_module": "help"}]}],
}
PLAYBOOK = {
    "slug": "eng",
    "name": "Engineering",
    "include": [{"block": "basics", "version": 1}],
    "steps": [{"module": "welcome"}, {"block": "basics"}, {"module": "setup"}],
    "triggers": [{"name": "slow", "when": "skips >= 3", "then": [{"flag": "slow"}]}],
}
LIBRARY = {"security-101", "quiz", "help", "welcome", "setup"}


def _fetch(blocks: dict[tuple[str, int], dict]):
    def fetch(slug: str, number: int):
        if (slug, number) in blocks:
            return spec_from_document(blocks[slug, number], keys=BLOCK_KEYS)
        numbers = sorted(n for s, n in blocks if s == slug)
        if numbers:
            return Unavailable("version", f"block '{slug}' has no version {number}; its versions: {numbers}")
        return Unavailable("block", f"no block '{slug}'")

    return fetch


def _expand(playbook: dict, blocks: dict[tuple[str, int], dict]):
    return expand_includes(spec_from_document(playbook), _fetch(blocks))


def _errors(playbook: dict, blocks: dict[tuple[str, int], dict]) -> dict[str, str]:
    expansion = _expand(playbook, blocks)
    errors = expansion.errors or expansion.relabel(validate_spec(expansion.spec, library_modules=LIBRARY))
    return {error.path: error.message for error in errors}


def test_the_blocks_steps_take_the_placeholders_place_and_its_signal_and_trigger_join_the_playbooks():
    expansion = _expand(PLAYBOOK, {("basics", 1): BASICS})

    spec = expansion.spec
    assert [step.key for step in spec.steps] == ["welcome", "security-101", "quiz", "setup"]
    assert [step.origin for step in spec.steps] == [None, "basics", "basics", None]
    assert spec.steps[1].required
    assert [(s.name, s.origin) for s in spec.signals] == [("quiz_fails", "basics")]
    assert [(t.name, t.origin) for t in spec.triggers] == [("slow", None), ("quiz help", "basics")]
    assert expansion.errors == []
    assert validate_spec(spec, library_modules=LIBRARY) == []


def test_export_writes_the_include_and_the_placeholder_back_not_the_blocks_content():
    expansion = _expand(PLAYBOOK, {("basics", 1): BASICS})

    assert document_from_spec(expansion.spec) == PLAYBOOK
    assert yaml.safe_load(yaml.safe_dump(document_from_spec(expansion.spec))) == PLAYBOOK


def test_a_block_pinned_at_a_version_that_does_not_exist_is_named_with_the_versions_there_are():
    playbook = {**PLAYBOOK, "include": [{"block": "basics", "version": 7}]}

    errors = _errors(playbook, {("basics", 1): BASICS, ("basics", 2): BASICS})

    assert errors["include[0].version"] == "block 'basics' has no version 7; its versions: [1, 2]"


def test_an_include_without_a_version_is_refused_at_its_path():
    with pytest.raises(Exception) as raised:
        spec_from_document({**PLAYBOOK, "include": [{"block": "basics"}]})

    assert "include[0].version: pin the block's version" in str(raised.value)


def test_a_cycle_of_blocks_including_each_other_is_refused_with_the_loop_named():
    a = {"slug": "a", "name": "A", "include": [{"block": "b", "version": 1}], "steps": [{"block": "b"}]}
    b = {"slug": "b", "name": "B", "include": [{"block": "a", "version": 1}], "steps": [{"block": "a"}]}
    playbook = {"slug": "p", "name": "P", "include": [{"block": "a", "version": 1}], "steps": [{"block": "a"}]}

    errors = _errors(playbook, {("a", 1): a, ("b", 1): b})

    cycle = next(message for message in errors.values() if "cycle" in message)
    assert cycle == "a cycle of blocks including each other: a@1 → b@1 → a@1"


def test_a_placeholder_for_a_block_that_is_not_included_suggests_the_one_that_is():
    playbook = {**PLAYBOOK, "steps": [{"module": "welcome"}, {"block": "basic"}]}

    errors = _errors(playbook, {("basics", 1): BASICS})

    assert errors["steps[1].block"] == "block 'basic' is not included; did you mean 'basics'?"
    assert "place them with '- block: basics'" in errors["include[0]"]


def test_a_block_signal_named_like_one_of_the_playbooks_is_a_clash():
    playbook = {**PLAYBOOK, "signals": {"quiz_fails": {"event": "quiz_failed", "aggregate": "sum", "property": "x"}}}

    errors = _errors(playbook, {("basics", 1): BASICS})

    assert errors["include[0]"] == (
        "block 'basics' defines the signal 'quiz_fails', which signals.quiz_fails defines too: rename one"
    )


def test_two_blocks_including_the_same_third_bring_its_signal_once():
    shared = {"slug": "shared", "name": "S", "signals": {"views": {"event": "page_view", "aggregate": "count"}}}
    left = {"slug": "left", "name": "L", "include": [{"block": "shared", "version": 1}]}
    right = {"slug": "right", "name": "R", "include": [{"block": "shared", "version": 1}]}
    playbook = {
        "slug": "p",
        "name": "P",
        "include": [{"block": "left", "version": 1}, {"block": "right", "version": 1}],
        "steps": [{"module": "welcome"}],
    }

    expansion = _expand(playbook, {("shared", 1): shared, ("left", 1): left, ("right", 1): right})

    assert expansion.errors == []
    assert [(s.name, s.origin) for s in expansion.spec.signals] == [("views", "left")]


def test_an_error_inside_a_blocks_steps_names_the_place_in_both_files():
    block = {**BASICS, "steps": [{"module": "security-101"}, {"id": "quiz", "module": "quizz"}]}
    playbook = {**PLAYBOOK, "triggers": [{"name": "slow", "when": "skips >= 3", "then": [{"goto": "nowhere"}]}]}

    errors = _errors(playbook, {("basics", 1): block})

    assert errors["steps[1] → block 'basics' v1: steps[1].module"] == "unknown module 'quizz'; did you mean 'quiz'?"
    assert errors["triggers[0].then[0].goto"] == "unknown step 'nowhere'"
