"""Named parameters: ``parameters:`` in a playbook declares values with defaults that conditions read as
``params.<name>``, type-checked when saved, given back on export, and used by the engine."""

from datetime import timedelta

import yaml

from playbooks.engine.document import dump_yaml, load_yaml, spec_from_document
from playbooks.engine.journey import CompiledPlaybook, LearnerFacts, evaluate, start
from playbooks.engine.signals import EventFact
from playbooks.engine.validation import validate_spec
from tests.playbooks.engine.test_engine_properties import T0

TEXT = """
slug: tuned
name: Tuned
audience: {roles: [agent]}
modules:
  - {slug: intro, title: Intro, kind: article, minutes: 5}
  - {slug: fast-track, title: Fast track, kind: article, minutes: 5}
  - {slug: full-course, title: Full course, kind: article, minutes: 5}
signals:
  quiz_score: {event: quiz_answered, aggregate: avg, property: score}
parameters:
  fast_threshold: 80
  ratio: 0.5
  track_name: fast
  offer_fast_track: true
steps:
  - module: intro
  - id: track
    branch:
      - {when: 'params.offer_fast_track and quiz_score >= params.fast_threshold', module: fast-track}
      - {otherwise: full-course}
"""
FACTS = LearnerFacts("p", ("agent",))


def _spec(text: str = TEXT):
    return spec_from_document(load_yaml(text))


def test_parameters_round_trip_with_their_types():
    document = yaml.safe_load(TEXT)

    exported = yaml.safe_load(dump_yaml(_spec()))

    assert exported == document
    assert list(exported["parameters"].items()) == [
        ("fast_threshold", 80),
        ("ratio", 0.5),
        ("track_name", "fast"),
        ("offer_fast_track", True),
    ]
    assert validate_spec(_spec()) == []


def test_a_condition_comparing_a_parameter_with_the_wrong_type_is_refused_with_a_caret():
    text = TEXT.replace("quiz_score >= params.fast_threshold", "quiz_score >= params.track_name")

    errors = validate_spec(_spec(text))

    assert [e.path for e in errors] == ["steps[1].branch[0].when"]
    assert errors[0].pointer is not None and "^" in errors[0].pointer


def test_an_undeclared_parameter_is_named_with_the_declared_ones():
    errors = validate_spec(_spec(TEXT.replace("params.fast_threshold", "params.fast_treshold")))

    assert [e.path for e in errors] == ["steps[1].branch[0].when"]
    assert "fast_treshold" in errors[0].message and "^" in errors[0].pointer


def test_params_is_unknown_in_a_playbook_without_parameters():
    text = TEXT.replace("parameters:\n  fast_threshold: 80\n  ratio: 0.5\n  track_name: fast\n", "").replace(
        "  offer_fast_track: true\n", ""
    )

    errors = validate_spec(_spec(text))

    assert [e.path for e in errors] == ["steps[1].branch[0].when"]
    assert "params" in errors[0].message


def test_a_default_that_is_not_a_number_a_string_or_a_boolean_is_refused():
    text = TEXT.replace("ratio: 0.5", "ratio: [1, 2]").replace("track_name: fast", "Track-Name: fast")

    errors = validate_spec(_spec(text))

    assert {e.path for e in errors} == {"parameters.ratio", "parameters.Track-Name"}


def _branch_taken(text: str, score: int) -> str:
    playbook = CompiledPlaybook(_spec(text))
    state = start(playbook, FACTS, now=T0).state
    events = [
        EventFact("quiz_answered", T0 + timedelta(minutes=1), None, {"score": score}),
        EventFact("module_completed", T0 + timedelta(minutes=2), "intro"),
    ]
    outcome = evaluate(playbook, FACTS, state, events=events, event=events[-1], now=T0 + timedelta(minutes=2))
    return outcome.position.module


def test_the_engine_reads_the_parameters_default():
    assert _branch_taken(TEXT, 85) == "fast-track"
    assert _branch_taken(TEXT, 75) == "full-course"
    assert _branch_taken(TEXT.replace("fast_threshold: 80", "fast_threshold: 70"), 75) == "fast-track"
    assert _branch_taken(TEXT.replace("offer_fast_track: true", "offer_fast_track: false"), 85) == "full-course"
