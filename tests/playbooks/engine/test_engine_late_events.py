"""Monotonic evaluation: the same events delivered in any order, late ones included.

The harness delivers events the way the worker evaluates them (``playbooks.services.enrollments._run``): each batch
joins the events already known, and its events are evaluated in occurred_at order, each against
``known_history``. tests/signals_app/test_services_late_events.py checks the worker itself against the same rules.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from playbooks.engine.journey import CompiledPlaybook, LearnerFacts, Outcome, evaluate, known_history, start
from playbooks.engine.signals import EventFact
from playbooks.engine.spec import ActionSpec, ModuleSpec, PlaybookSpec, StepSpec, TriggerSpec
from playbooks.engine.validation import check_playbook
from tests.playbooks.engine.test_engine_properties import journeys, playbooks

T0 = datetime(2026, 3, 2, 9, tzinfo=UTC)
FACTS = LearnerFacts("p", ("r",), {}, "Europe/Berlin")
# Conditions that only ever go from false to true as events are added, whatever their order.
MONOTONE = ("skips >= ", "completed_modules >= ", "sessions >= ")


@dataclass
class Evaluation:
    outcome: Outcome
    event: EventFact


def deliver(playbook: CompiledPlaybook, events: list[EventFact], batches: list[list[int]]) -> list[Evaluation]:
    """Deliver ``events`` (in occurred_at order) in ``batches`` of their indexes, as the worker would."""
    state = start(playbook, FACTS, now=T0).state
    known: set[int] = set()
    evaluations = []
    for batch in batches:
        known |= set(batch)
        order = sorted(known)  # the history: every known event, in occurred_at order
        history = [events[i] for i in order]
        pending = sorted(order.index(i) for i in batch)
        for position, index in enumerate(pending):
            seen = known_history(history, index, pending=pending[position:])
            event = history[index]
            outcome = evaluate(playbook, FACTS, state, events=seen, event=event, now=event.occurred_at)
            state = outcome.state
            evaluations.append(Evaluation(outcome, event))
    return evaluations


@st.composite
def deliveries(draw, count: int) -> list[list[int]]:
    """Any arrival order of ``count`` events, cut into batches."""
    order = draw(st.permutations(range(count)))
    batches, current = [], []
    for index in order:
        current.append(index)
        if draw(st.integers(0, 2)) == 0:
            batches.append(current)
            current = []
    return [*batches, current] if current else batches


def _decisions(evaluations: list[Evaluation]) -> list[tuple]:
    return [
        (e.outcome.at, d.kind, d.rule, d.module, d.step, str(d.action))
        for e in evaluations
        for d in e.outcome.decisions
    ]


def _fired(evaluations: list[Evaluation], name: str) -> list[int]:
    """The positions of the evaluations at which trigger ``name`` fired."""
    return [
        number
        for number, e in enumerate(evaluations)
        for d in e.outcome.decisions
        if d.kind == "trigger" and d.rule.startswith(f"trigger '{name}'")
    ]


SETTINGS = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(data=st.data(), spec=playbooks(), events=journeys())
def test_in_any_arrival_order_a_trigger_fires_only_after_it_was_observed_false(data, spec, events):
    playbook = CompiledPlaybook(spec)
    evaluations = deliver(playbook, events, data.draw(deliveries(len(events))))

    moments = [e.outcome.at for e in evaluations]
    assert moments == sorted(moments), "the learner's clock went backwards"
    for trigger in spec.triggers:
        fired = _fired(evaluations, trigger.name)
        if trigger.limit_per_learner is not None and trigger.limit_per is None:
            assert len(fired) <= trigger.limit_per_learner
        if trigger.when.startswith(MONOTONE):
            assert len(fired) <= 1, f"{trigger.when} fired twice though it can never turn false again"
        for earlier, later in zip(fired, fired[1:], strict=False):
            observed = [evaluations[n].outcome.state.triggers[trigger.name].last for n in range(earlier, later)]
            assert False in observed, f"'{trigger.name}' fired twice with no false observed in between"


@SETTINGS
@given(spec=playbooks(), events=journeys())
def test_in_order_one_by_one_or_in_one_batch_the_decisions_are_the_same_as_a_plain_replay(spec, events):
    playbook = CompiledPlaybook(spec)
    state = start(playbook, FACTS, now=T0).state
    replayed = []
    for index, event in enumerate(events):  # the engine fed each event with the history up to it
        outcome = evaluate(playbook, FACTS, state, events=events[: index + 1], event=event, now=event.occurred_at)
        state = outcome.state
        replayed.append(Evaluation(outcome, event))

    one_by_one = deliver(playbook, events, [[index] for index in range(len(events))])
    one_batch = deliver(playbook, events, [list(range(len(events)))] if events else [])

    assert _decisions(one_by_one) == _decisions(replayed)
    assert _decisions(one_batch) == _decisions(replayed)


def _skipper() -> CompiledPlaybook:
    spec = PlaybookSpec(
        slug="skipper",
        name="Skipper",
        modules=tuple(ModuleSpec(m, m) for m in ("a", "b", "c", "d")),
        steps=tuple(StepSpec(module=m) for m in ("a", "b", "c", "d")),
        triggers=(TriggerSpec("review", "skips >= 2", (ActionSpec("flag", "review"),)),),
    )
    check_playbook(spec)
    return CompiledPlaybook(spec)


def test_a_late_event_does_not_rearm_an_edge_trigger():
    playbook = _skipper()
    events = [
        EventFact("module_progress", T0 + timedelta(minutes=1), "a", {"completion_pct": 10}),
        EventFact("module_skipped", T0 + timedelta(minutes=2), "a"),
        EventFact("module_skipped", T0 + timedelta(minutes=3), "b"),
        EventFact("module_progress", T0 + timedelta(minutes=4), "c", {"completion_pct": 10}),
    ]

    # The skips raise the flag; the progress report from before them arrives late, then another event.
    evaluations = deliver(playbook, events, [[1], [2], [0], [3]])

    assert len(_fired(evaluations, "review")) == 1
    late = evaluations[2]
    assert late.outcome.at == T0 + timedelta(minutes=3)  # evaluated at the learner's clock, not at 09:01
    assert late.outcome.state.triggers["review"].last is True


def test_a_clock_evaluation_older_than_the_learners_clock_changes_nothing():
    playbook = _skipper()
    skips = [EventFact("module_skipped", T0 + timedelta(minutes=m), slug) for m, slug in ((2, "a"), (3, "b"))]
    state = deliver(playbook, skips, [[0, 1]])[-1].outcome.state

    stale = evaluate(playbook, FACTS, state, events=skips[:1], event=None, now=T0 + timedelta(minutes=2, seconds=30))

    assert (stale.state, stale.decisions, stale.at) == (state, [], T0 + timedelta(minutes=3))


def test_the_decision_log_names_a_late_event():
    playbook = _skipper()
    events = [
        EventFact("module_skipped", T0 + timedelta(minutes=1), "a"),
        EventFact("module_skipped", T0 + timedelta(minutes=5), "b"),
    ]

    evaluations = deliver(playbook, events, [[1], [0]])

    fired = [d for d in evaluations[1].outcome.decisions if d.kind == "trigger"]
    assert len(fired) == 1
    assert fired[0].explanation == (
        "Fired because skips = 2. (Late event: this module_skipped happened at 2026-03-02 09:01:00 UTC, before "
        "events already evaluated; it was evaluated at 2026-03-02 09:05:00 UTC with everything known then.)"
    )
