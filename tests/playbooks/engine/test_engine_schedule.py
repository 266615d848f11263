"""Steps due a while after they are reached or after enrolment, ``overdue`` and ``on_schedule``, and the readiness
milestone."""

from datetime import timedelta

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from playbooks.engine.document import dump_yaml, load_yaml, spec_from_document
from playbooks.engine.journey import CompiledPlaybook, LearnerFacts, clock_wakeup, evaluate, migrate_state, start
from playbooks.engine.signals import EventFact
from playbooks.engine.spec import PlaybookInvalid
from playbooks.engine.validation import validate_spec
from tests.playbooks.engine.test_engine_properties import T0
from tests.signals_app.test_examples import EXAMPLES

TEXT = (EXAMPLES / "schedule-readiness.yaml").read_text()
FACTS = LearnerFacts("p", ("support_specialist",))


def _run(playbook: CompiledPlaybook, completions: list[tuple[str, timedelta]], *, until: timedelta):
    """The learner completes modules at the given offsets, then the clock alone runs to ``until``."""
    state = start(playbook, FACTS, now=T0).state
    events: list[EventFact] = []
    decisions = []
    for module, offset in completions:
        events.append(EventFact("module_completed", T0 + offset, module))
        outcome = evaluate(playbook, FACTS, state, events=events, event=events[-1], now=T0 + offset)
        state, decisions = outcome.state, decisions + outcome.decisions
    outcome = evaluate(playbook, FACTS, state, events=events, event=None, now=T0 + until)
    return outcome, decisions + outcome.decisions


def test_schedule_and_readiness_round_trip_exactly():
    document = yaml.safe_load(TEXT)
    assert yaml.safe_load(dump_yaml(spec_from_document(load_yaml(TEXT)))) == document
    assert "from" not in document["steps"][0]["due"]  # left out stays left out


def test_overdue_turns_true_only_after_the_due_time_and_on_schedule_remembers_a_late_step():
    playbook = CompiledPlaybook(spec_from_document(load_yaml(TEXT)))
    welcome = [("welcome", timedelta(hours=1))]

    in_time, _ = _run(playbook, welcome, until=timedelta(days=3, hours=1))  # crm-basics due 3d after 1h: exactly
    assert not in_time.state.triggers["overdue reminder"].last

    late, decisions = _run(playbook, welcome, until=timedelta(days=3, hours=1, seconds=1))
    fired = next(d for d in decisions if d.kind == "trigger" and "overdue reminder" in d.rule)
    assert fired.values == {"overdue": True}

    done_late, decisions = _run(
        playbook, [*welcome, ("crm-basics", timedelta(days=4))], until=timedelta(days=4, hours=1)
    )
    assert done_late.state.triggers["behind schedule"].last  # the current step is on time; the last one was not
    assert not done_late.state.triggers["overdue reminder"].last


def test_a_step_due_from_enrolment_counts_from_enrolment_not_from_when_it_is_reached():
    playbook = CompiledPlaybook(spec_from_document(load_yaml(TEXT)))
    steps = [("welcome", timedelta(hours=1)), ("crm-basics", timedelta(days=2))]

    outcome, _ = _run(playbook, steps, until=timedelta(days=10, minutes=1))  # first-ticket: 10d after enrolment

    assert outcome.position.module == "first-ticket"
    assert outcome.state.triggers["overdue reminder"].last


def test_the_clock_probe_wakes_at_the_first_tick_after_the_due_time():
    playbook = CompiledPlaybook(spec_from_document(load_yaml(TEXT)))
    outcome, _ = _run(playbook, [("welcome", timedelta(hours=1, minutes=2))], until=timedelta(hours=2))
    events = [EventFact("module_completed", T0 + timedelta(hours=1, minutes=2), "welcome")]
    ticks = (T0 + timedelta(minutes=5 * n) for n in range(25, 2000))

    wakeup = clock_wakeup(playbook, FACTS, outcome.state, events=events, ticks=ticks)

    assert wakeup == T0 + timedelta(days=3, hours=1, minutes=5)


def test_completing_the_readiness_step_records_the_time_from_enrolment_and_explains_it():
    playbook = CompiledPlaybook(spec_from_document(load_yaml(TEXT)))
    steps = [("welcome", timedelta(hours=2)), ("crm-basics", timedelta(days=2)), ("first-ticket", timedelta(days=4))]

    outcome, decisions = _run(playbook, steps, until=timedelta(days=5))

    assert outcome.state.ready_at == (T0 + timedelta(days=4)).isoformat()
    (ready,) = [d for d in decisions if d.kind == "ready"]
    assert ready.step == "first-ticket" and ready.values["days"] == 4
    assert ready.explanation == (
        "Readiness milestone: step 'first-ticket' completed 4d after enrolment "
        "(2026-03-02 09:00:00 UTC to 2026-03-06 09:00:00 UTC): recorded as the learner's time to readiness."
    )
    assert migrate_state(outcome.state, playbook).ready_at == outcome.state.ready_at


def test_a_skipped_readiness_step_is_not_readiness():
    playbook = CompiledPlaybook(spec_from_document(load_yaml(TEXT)))
    state = start(playbook, FACTS, now=T0).state
    events = [
        EventFact("module_completed", T0 + timedelta(hours=1), "welcome"),
        EventFact("module_completed", T0 + timedelta(hours=2), "crm-basics"),
        EventFact("module_skipped", T0 + timedelta(hours=3), "first-ticket"),
    ]
    for number, event in enumerate(events):
        state = evaluate(playbook, FACTS, state, events=events[: number + 1], event=event, now=event.occurred_at).state

    assert state.ready_at == ""


def _errors(text: str) -> list[str]:
    try:
        return [str(e) for e in validate_spec(spec_from_document(load_yaml(text)))]
    except PlaybookInvalid as invalid:
        return [str(e) for e in invalid.errors]


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "due: {after: 1d}",
            "due: {afer: 1d}",
            ["steps[0].due.afer: unknown key 'afer'; did you mean 'after'?", "steps[0].due.after: required"],
        ),
        (
            "due: {after: 1d}",
            "due: {after: 1 day}",
            [
                "steps[0].due.after: '1 day' is not a duration; write a number and a unit (s, m, h, d, w), "
                "e.g. 90s, 24h, 1d2h"
            ],
        ),
        ("due: {after: 1d}", "due: {after: 0s}", ["steps[0].due.after: a duration must be longer than zero"]),
        (
            "from: reached}",
            "from: reachd}",
            ["steps[1].due.from: unknown 'from' 'reachd'; did you mean 'reached'?"],
        ),
        ("due: {after: 1d}", "due: 1d", ["steps[0].due: expected a mapping of after, from, got text"]),
        (
            "due: {after: 1d}",
            "due: {after: 1d}\n    readiness: yes please",
            ["steps[0].readiness: expected true or false, got text"],
        ),
        (
            "due: {after: 1d}",
            "due: {after: 1d}\n    readiness: true",
            ["steps[2].readiness: only one step can be the readiness milestone (also steps[0])"],
        ),
        ("when: overdue\n", "when: overdue > 3\n", None),
    ],
)
def test_schedule_mistakes_are_refused_with_the_path(old, new, expected):
    text = TEXT.replace(old, new, 1)
    assert text != TEXT
    errors = _errors(text)
    if expected is None:  # a type error in a condition: the condition checker's caret
        spec = spec_from_document(load_yaml(text))
        (error,) = validate_spec(spec)
        assert error.path == "triggers[0].when" and "^" in error.pointer
    else:
        assert errors == expected


STEPS = ("welcome", "crm-basics", "first-ticket")


@settings(max_examples=200, deadline=None)
@given(
    gaps=st.lists(st.integers(1, 6 * 24 * 60), max_size=3),
    wait=st.integers(0, 12 * 24 * 60),
)
def test_overdue_on_schedule_and_readiness_match_the_due_times_computed_by_hand(gaps, wait):
    """Steps completed in order after random gaps (minutes), then the clock alone: at the end, ``overdue`` and
    ``on_schedule`` are what the due times say (welcome 1d after reached, crm-basics 3d after reached, first-ticket
    10d after enrolment), and readiness is recorded exactly when the milestone step was completed."""
    playbook = CompiledPlaybook(spec_from_document(load_yaml(TEXT)))
    offsets = [timedelta(minutes=sum(gaps[: n + 1])) for n in range(len(gaps))]
    until = (offsets[-1] if offsets else timedelta(0)) + timedelta(minutes=wait)

    outcome, _ = _run(playbook, list(zip(STEPS, offsets, strict=False)), until=until)

    reached = [timedelta(0), *offsets]  # step n is reached when step n-1 is completed
    due = [reached[0] + timedelta(days=1), reached[1] + timedelta(days=3) if len(reached) > 1 else None]
    due.append(timedelta(days=10))
    done_late = any(offsets[n] > due[n] for n in range(len(offsets)))
    current = len(offsets)
    overdue = current < len(STEPS) and until > due[current]
    assert outcome.state.triggers["overdue reminder"].last == overdue
    assert outcome.state.triggers["behind schedule"].last == (done_late or overdue)
    assert outcome.state.ready_at == ((T0 + offsets[2]).isoformat() if current == len(STEPS) else "")
