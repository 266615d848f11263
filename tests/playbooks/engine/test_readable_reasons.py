"""Readable reasons: a rule's ``explain:`` sentence with the values seen filled in, checked when the playbook is saved
and kept exactly by export; without one, a plain sentence written from the condition. Never the condition's text."""

import pytest

from playbooks.engine.conditions import BASE_VOCABULARY, compile_condition, vocabulary_for
from playbooks.engine.document import dump_yaml, load_yaml, spec_from_document
from playbooks.engine.journey import CompiledPlaybook
from playbooks.engine.readable import PHRASES, learner_reason, plain_reason
from playbooks.engine.spec import PlaybookInvalid
from playbooks.engine.validation import check_playbook
from tests.playbooks.engine.test_engine_actions import Journey

PLAYBOOK = """\
slug: p
name: P
modules:
- slug: basics
  title: Basics
  kind: article
  minutes: 5
- slug: advanced
  title: Advanced
  kind: article
  minutes: 5
- slug: standard
  title: Standard
  kind: article
  minutes: 5
- slug: demo
  title: Demo
  kind: article
  minutes: 5
signals:
  basics_minutes:
    event: module_completed
    aggregate: sum
    property: minutes
steps:
- module: basics
- id: track
  branch:
  - when: avg_module_seconds < 90
    module: advanced
    explain: You moved through the basics in {basics_minutes} minutes, so here is the advanced track.
  - otherwise: standard
    explain: Here is the standard track.
triggers:
- name: too fast
  when: event.type == "module_completed" and event.properties.duration_seconds < 30
  then:
  - insert_module: demo
  explain: 'You finished {event.module} in {event.properties.duration_seconds} seconds: a guided demo may help.'
"""


def test_explain_sentences_round_trip_exactly():
    spec = spec_from_document(load_yaml(PLAYBOOK))
    check_playbook(spec)

    assert dump_yaml(spec) == PLAYBOOK


@pytest.mark.parametrize(
    ("written", "path", "message", "caret_under"),
    [
        ("In {basics_minute} minutes", "steps[1].branch[0].explain", "unknown name 'basics_minute'", "{basics_minute}"),
        ("Took {module.secs} s", "steps[1].branch[0].explain", "unknown name 'module.secs'", "{module.secs}"),
        ("A lone } brace", "steps[1].branch[0].explain", "a lone '}'", "}"),
        ("", "steps[1].branch[0].explain", "an empty 'explain'", None),
    ],
)
def test_an_explain_naming_what_no_condition_may_use_is_refused_with_its_path_and_a_caret(
    written, path, message, caret_under
):
    text = PLAYBOOK.replace(
        "You moved through the basics in {basics_minutes} minutes, so here is the advanced track.", repr(written)
    )
    with pytest.raises(PlaybookInvalid) as raised:
        check_playbook(spec_from_document(load_yaml(text)))

    (error,) = raised.value.errors
    assert error.path == path and message in error.message
    if caret_under:
        line, caret = error.pointer.split("\n")
        assert line[caret.index("^") :].startswith(caret_under)


def test_a_branch_with_explain_gives_the_learner_its_sentence_with_the_values_seen():
    journey = Journey(_playbook(*_parts()))

    journey.send("module_completed", "basics", minutes=1, duration_seconds=40)

    (branch,) = [d for d in journey.decisions if d.kind == "branch"]
    assert branch.module == "advanced"
    assert branch.text == "You moved through the basics in 0 minutes, so here is the advanced track."
    assert "avg_module_seconds < 90" in branch.rule  # the admin still sees the rule
    assert journey.state.reasons["advanced"]["text"] == branch.text


def test_without_explain_the_sentence_is_written_from_the_condition():
    steps, triggers = _parts()
    steps[1]["branch"][0].pop("explain")
    triggers[0].pop("explain")
    journey = Journey(_playbook(steps, triggers))

    journey.send("module_completed", "basics", minutes=1, duration_seconds=4)

    texts = {d.kind: d.text for d in journey.decisions if d.kind in ("branch", "trigger")}
    assert texts["branch"] == "Chosen for you because your average time on a module was 4 seconds."
    assert (
        texts["trigger"]
        == "Suggested for you because you completed a module and your time on the module was 4 seconds."
    )
    assert all("<" not in text and "==" not in text for text in texts.values())


def test_a_trigger_with_explain_gives_its_sentence_to_what_it_inserts():
    journey = Journey(_playbook(*_parts()))

    journey.send("module_completed", "basics", minutes=1, duration_seconds=4)

    assert journey.next == "demo"
    assert journey.state.reasons["demo"]["text"] == "You finished basics in 4 seconds: a guided demo may help."


def test_plain_sentences_scale_units_and_name_unknown_values():
    condition = compile_condition("avg_module_seconds > 60 and idle_hours > 1", vocabulary_for())

    sentence = plain_reason(condition, {"avg_module_seconds": 150.0, "idle_hours": None})

    assert (
        sentence
        == "because your average time on a module was 2.5 minutes and the time since your last activity was unknown"
    )


def test_every_built_in_name_reads_as_words():
    names = [name for name, kind in BASE_VOCABULARY.items() if not getattr(kind, "attributes", None)]
    assert sorted(set(names) - set(PHRASES) - {"attributes", "event"}) == []


def test_a_reason_stored_before_sentences_existed_never_shows_its_condition():
    old = {"rule": "branch 'track': avg_module_seconds < 90", "explanation": "Chosen because avg_module_seconds < 90"}

    assert "avg_module_seconds" not in learner_reason(old)
    path = {"rule": "path", "explanation": "Step 2 of 5 of the playbook."}
    assert learner_reason(path) == "Step 2 of 5 of the playbook."
    policy = {"rule": "delivery policy: quiet hours 21:00-08:00 (site)", "explanation": "The reminder was deferred."}
    assert learner_reason(policy) == "The reminder was deferred."


def _parts():
    document = load_yaml(PLAYBOOK)
    return document["steps"], document["triggers"]


def _playbook(steps, triggers):
    document = {**load_yaml(PLAYBOOK), "steps": steps, "triggers": triggers}
    spec = spec_from_document(document)
    check_playbook(spec)
    return CompiledPlaybook(spec)


@pytest.mark.django_db
def test_explain_sentences_are_stored_on_the_rows_and_exported_exactly():
    from playbooks.models import BranchOption, Trigger
    from playbooks.selectors import version_spec
    from playbooks.services import playbook_import

    version = playbook_import(text=PLAYBOOK, publish=False).version

    assert BranchOption.objects.get(module__slug="advanced").explain.startswith("You moved through the basics in")
    assert Trigger.objects.get(name="too fast").explain.endswith("a guided demo may help.")
    assert dump_yaml(version_spec(version=version)) == PLAYBOOK
