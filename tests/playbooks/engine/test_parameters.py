"""Named parameters: ``parameters:`` in a playbook declares values with defaults that conditions read as
``params.<name>``, type-checked when saved, given back on export, and used by the engine."""

import json
from dataclasses import replace
from datetime import timedelta

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from playbooks.engine.document import dump_yaml, load_yaml, spec_from_document
from playbooks.engine.journey import CompiledPlaybook, JourneyState, LearnerFacts, evaluate, migrate_state, start
from playbooks.engine.journeys import JourneyInvalid, parse_journey
from playbooks.engine.parameters import override_errors
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


# --- A learner's own values (an experiment arm's) over the defaults ------------------------------------------------


def _journey(text: str, score: int, params: dict | None):
    playbook = CompiledPlaybook(_spec(text))
    state = start(playbook, FACTS, now=T0, params=params).state
    events = [
        EventFact("quiz_answered", T0 + timedelta(minutes=1), None, {"score": score}),
        EventFact("module_completed", T0 + timedelta(minutes=2), "intro"),
    ]
    return evaluate(playbook, FACTS, state, events=events, event=events[-1], now=T0 + timedelta(minutes=2))


def test_a_learners_values_take_them_down_the_other_branch_and_stay_in_their_state():
    outcome = _journey(TEXT, 75, {"fast_threshold": 70})

    assert outcome.position.module == "fast-track"
    assert outcome.state.params == {"fast_threshold": 70}
    branch = next(d for d in outcome.decisions if d.kind == "branch")
    assert branch.values["params.fast_threshold"] == 70  # the decision log shows the value the learner was under
    assert _journey(TEXT, 75, {"offer_fast_track": False, "fast_threshold": 10}).position.module == "full-course"
    assert _journey(TEXT, 75, None).position.module == "full-course"  # the default, 80


def test_a_state_with_values_round_trips_and_an_old_state_without_them_loads():
    state = _journey(TEXT, 75, {"fast_threshold": 70, "track_name": "quick"}).state

    stored = json.loads(json.dumps(state.to_dict()))
    assert JourneyState.from_dict(stored) == state
    assert state.copy() == state and state.copy().params is not state.params
    old = {key: value for key, value in stored.items() if key != "params"}
    assert JourneyState.from_dict(old).params == {}
    assert "params" not in _journey(TEXT, 75, None).state.to_dict()  # the defaults' learners store nothing more


def test_a_migration_keeps_the_values_the_other_version_declares_with_the_same_type():
    state = _journey(TEXT, 75, {"fast_threshold": 70, "track_name": "quick", "ratio": 0.7}).state
    other = TEXT.replace("track_name: fast", "track_name: 3").replace("  ratio: 0.5\n", "")
    migrated = migrate_state(state, CompiledPlaybook(_spec(other)))

    assert migrated.params == {"fast_threshold": 70}


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"fast_threshold": 70, "ratio": 1, "track_name": "x", "offer_fast_track": False}, []),
        ({"ratio": 0.25}, []),
        ({"fast_treshold": 70}, ["parameters.fast_treshold: 'tuned' declares no parameter 'fast_treshold'; "
                                 "did you mean 'fast_threshold'?"]),
        ({"fast_threshold": "70"}, ["parameters.fast_threshold: expected a number, like its default 80; got text"]),
        ({"fast_threshold": True}, ["parameters.fast_threshold: expected a number, like its default 80; "
                                    "got true/false"]),
        ({"offer_fast_track": 1}, ["parameters.offer_fast_track: expected true/false, like its default true; got int"]),
        ({"track_name": None}, ["parameters.track_name: expected text, like its default 'fast'; got nothing"]),
        ({"ratio": float("nan")}, ["parameters.ratio: nan is not a number that can be stored"]),
        ([70], ["parameters: expected a mapping of parameter name to value, got a list"]),
    ],
)  # fmt: skip
def test_values_are_checked_against_the_declared_parameters(values, expected):
    errors = override_errors(_spec(), values)

    assert [str(error).split(" (declared")[0] for error in errors] == expected


def test_a_journey_runs_under_params_checked_the_same_way():
    spec = _spec()
    document = {"playbook": "tuned", "learner": {"external_id": "sim"}, "start": "2026-03-02T09:00:00Z", "events": []}

    assert parse_journey({**document, "params": {"fast_threshold": 5}}, playbooks={"tuned": spec}).params == {
        "fast_threshold": 5
    }
    with pytest.raises(JourneyInvalid) as refused:
        parse_journey({**document, "params": {"fast_threshold": "high", "speed": 1}}, playbooks={"tuned": spec})
    assert [error.path for error in refused.value.errors] == ["params.fast_threshold", "params.speed"]


OVERRIDES = st.fixed_dictionaries(
    {},
    optional={
        "fast_threshold": st.integers(0, 100) | st.floats(0, 100, allow_nan=False),
        "offer_fast_track": st.booleans(),
        "track_name": st.text(alphabet="abc", max_size=3),
    },
)


@settings(max_examples=200, deadline=None)
@given(values=OVERRIDES, scores=st.lists(st.integers(0, 100), min_size=1, max_size=4))
def test_a_journey_under_values_is_the_journey_of_a_version_with_them_as_defaults(values, scores):
    """What promoting an arm relies on: its learners' journeys are those of a version whose defaults are its values
    (the state stored as JSON between evaluations, as the enrolment row holds it)."""
    spec = _spec()
    promoted = replace(
        spec, parameters=tuple(replace(p, default=values.get(p.name, p.default)) for p in spec.parameters)
    )
    assert override_errors(spec, values) == []
    events = [
        EventFact("quiz_answered", T0 + timedelta(minutes=n + 1), None, {"score": s}) for n, s in enumerate(scores)
    ]
    events.append(EventFact("module_completed", T0 + timedelta(minutes=10), "intro"))

    def run(playbook: CompiledPlaybook, params: dict):
        state = start(playbook, FACTS, now=T0, params=params).state
        for index, event in enumerate(events):
            state = JourneyState.from_dict(json.loads(json.dumps(state.to_dict())))
            outcome = evaluate(playbook, FACTS, state, events=events[: index + 1], event=event, now=event.occurred_at)
            state = outcome.state
        return outcome.position.module, [d.values for d in outcome.decisions if d.kind == "branch"]

    assert run(CompiledPlaybook(spec), values) == run(CompiledPlaybook(promoted), {})
