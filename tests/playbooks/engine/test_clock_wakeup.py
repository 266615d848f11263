"""The simulator's clock probe: it must find exactly the first tick at which a clock-only evaluation changes the
journey, or the simulator would skip a reminder or fire it at the wrong time. Checked against ``evaluate`` itself."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from playbooks.engine.journey import CompiledPlaybook, LearnerFacts, clock_wakeup, evaluate, start
from playbooks.engine.signals import EventFact
from playbooks.engine.spec import ActionSpec, ModuleSpec, PlaybookSpec, SignalSpec, StepSpec, TriggerSpec
from playbooks.engine.validation import check_playbook

T0 = datetime(2026, 3, 2, 9, tzinfo=UTC)
CLOCK_CONDITIONS = [
    "idle_hours >= {n}",
    "idle_hours < {n}",
    "days_enrolled >= {n}",
    "now.hour >= {n} and now.hour < 20",
    "tickets_2h >= {n}",
    "tickets_2h < {n} and skips >= 1",
    "idle_hours >= {n} and module.completion_pct < 75",
    "skips >= {n}",
    'event.type == "module_skipped"',
    "tickets_quietest_day >= {n}",
    "tickets_per_day >= {n} and tickets_quietest_day < 1",
    "session_seconds >= {n} * 100",
    "avg_session_seconds >= {n} * 1000 and skips >= 1",
]
FIVE_MINUTES = timedelta(minutes=5)
KINDS = ("module_skipped", "module_progress")


def _playbook(conditions: list[str]) -> CompiledPlaybook:
    spec = PlaybookSpec(
        slug="clocked",
        name="Clocked",
        modules=(ModuleSpec("a", "A"), ModuleSpec("b", "B")),
        signals=(
            SignalSpec("tickets_2h", "ticket_submitted", "count", None, "2h", None),
            SignalSpec("tickets_quietest_day", "ticket_submitted", "min_per_day", None, "2d", None),
            SignalSpec("tickets_per_day", "ticket_submitted", "per_day", None, "1d", None),
        ),
        steps=(StepSpec(module="a"), StepSpec(module="b")),
        triggers=tuple(
            TriggerSpec(f"t{i}", when, (ActionSpec("remind", {"channel": "email", "template": "nudge"}),), None)
            for i, when in enumerate(conditions)
        ),
    )
    check_playbook(spec)
    return CompiledPlaybook(spec)


@st.composite
def scenarios(draw):
    conditions = [
        draw(st.sampled_from(CLOCK_CONDITIONS)).format(n=draw(st.integers(0, 6)))
        for _ in range(draw(st.integers(1, 3)))
    ]
    events, at = [], T0
    for _ in range(draw(st.integers(0, 8))):
        at += timedelta(minutes=draw(st.integers(1, 300)))  # gaps across the session timeout and local midnights
        kind = draw(st.sampled_from([*KINDS, "ticket_submitted", "session_started", "session_ended"]))
        events.append(EventFact(kind, at, "a" if kind in KINDS else None, {"completion_pct": 50}))
    return conditions, events, draw(st.sampled_from(["UTC", "Europe/Berlin", "Asia/Kolkata"]))


def _ticks(after: datetime, hours: int):
    tick = T0
    while tick <= after:
        tick += FIVE_MINUTES
    for _ in range(hours * 12):
        yield tick
        tick += FIVE_MINUTES


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_the_probe_wakes_at_the_first_tick_where_evaluate_changes_something(scenario):
    conditions, events, zone = scenario
    playbook = _playbook(conditions)
    facts = LearnerFacts("p", ("r",), {}, zone)
    state = start(playbook, facts, now=T0).state
    for index, event in enumerate(events):
        state = evaluate(playbook, facts, state, events=events[: index + 1], event=event, now=event.occurred_at).state
    last = events[-1].occurred_at if events else T0
    ticks = list(_ticks(last, 30))

    expected = None
    # Production's clock sweep visits only playbooks with time-based conditions; so does the probe.
    for tick in ticks if playbook.uses_clock else []:
        outcome = evaluate(playbook, facts, state, events=events, event=None, now=tick)
        if outcome.decisions or replace(outcome.state, clock=state.clock) != state:  # the clock itself always moves
            expected = tick
            break

    assert clock_wakeup(playbook, facts, state, events=events, ticks=ticks) == expected


def test_an_idle_reminder_wakes_the_first_sweep_after_24_hours():
    playbook = _playbook(["idle_hours >= 24"])
    facts = LearnerFacts("p")
    event = EventFact("module_progress", T0 + timedelta(minutes=7), "a", {})
    begun = start(playbook, facts, now=T0).state
    state = evaluate(playbook, facts, begun, events=[event], event=event, now=event.occurred_at).state

    wakeup = clock_wakeup(playbook, facts, state, events=[event], ticks=_ticks(event.occurred_at, 72))

    assert wakeup == T0 + timedelta(hours=24, minutes=10)  # 24 h after 09:07 is 09:07; the sweep runs at 09:10


def test_a_playbook_without_time_conditions_never_wakes():
    playbook = _playbook(["skips >= 1"])
    facts = LearnerFacts("p")
    state = start(playbook, facts, now=T0).state

    assert clock_wakeup(playbook, facts, state, events=[], ticks=_ticks(T0, 72)) is None
