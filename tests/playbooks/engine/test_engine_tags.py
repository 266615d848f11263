"""Steps that pick their module by tags, roles' default tags, and ``module.tags`` in conditions."""

from datetime import timedelta

import pytest
import yaml

from playbooks.engine.document import dump_yaml, load_yaml, spec_from_document
from playbooks.engine.journey import CompiledPlaybook, LearnerFacts, evaluate, progress, start
from playbooks.engine.signals import EventFact
from playbooks.engine.spec import PlaybookInvalid
from playbooks.engine.validation import validate_spec
from tests.playbooks.engine.test_engine_properties import T0
from tests.signals_app.test_examples import EXAMPLES

TEXT = (EXAMPLES / "content-by-tags.yaml").read_text()


def _after_welcome(roles: tuple[str, ...], withdrawn: frozenset[str] = frozenset()):
    playbook = CompiledPlaybook(spec_from_document(load_yaml(TEXT)), withdrawn=withdrawn)
    facts = LearnerFacts("p", roles)
    done = EventFact("module_completed", T0 + timedelta(minutes=1), "welcome")
    outcome = evaluate(
        playbook, facts, start(playbook, facts, now=T0).state, events=[done], event=done, now=done.occurred_at
    )
    return playbook, outcome


def test_the_pick_is_explained_and_a_withdrawn_module_is_passed_over():
    _playbook, support = _after_welcome(("support_specialist",))
    assert support.position.module == "sql-support-queries"
    assert support.decisions[0].explanation == (
        "Chosen as the first active module carrying sql, beginner not done yet, preferring the role tags support."
    )

    _playbook, withdrawn = _after_welcome(("support_specialist",), frozenset({"sql-support-queries"}))
    assert withdrawn.position.module == "sql-intro"


def test_nothing_left_to_pick_passes_the_step_and_says_so():
    playbook, outcome = _after_welcome(("analyst",), frozenset({"sql-intro", "sql-support-queries"}))

    assert outcome.position.status == "completed"
    assert "No active module carrying sql, beginner is left" in outcome.decisions[0].explanation
    assert progress(playbook, outcome.state) == (2, 2)


def test_tags_and_role_tags_round_trip_exactly():
    assert yaml.safe_load(dump_yaml(spec_from_document(load_yaml(TEXT)))) == yaml.safe_load(TEXT)


def test_tag_mistakes_are_named_by_path():
    with pytest.raises(PlaybookInvalid) as caught:
        spec_from_document(load_yaml(TEXT.replace("module: {tags: [sql, beginner]}", "module: {tag: [sql]}")))
    assert [str(e) for e in caught.value.errors] == [
        "steps[1].module.tag: unknown key 'tag'; did you mean 'tags'?",
        "steps[1].module.tags: a module picked by tags needs at least one tag: {tags: [sql]}",
    ]
    spec = spec_from_document(
        load_yaml(TEXT.replace("module: {tags: [sql, beginner]}", "module: {tags: [sql, expert]}"))
    )
    assert [str(e) for e in validate_spec(spec)] == [
        "steps[1].module.tags: no module under 'modules' carries all of sql, expert: a step by tags picks from them"
    ]


def test_a_condition_on_module_tags_is_type_checked_with_a_caret():
    spec = spec_from_document(load_yaml(TEXT.replace('"beginner" in module.tags', "module.tags > 3")))

    (error,) = validate_spec(spec)
    assert error.path == "triggers[0].when" and "^" in error.pointer
