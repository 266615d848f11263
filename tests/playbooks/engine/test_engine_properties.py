"""Properties of the engine over generated playbooks and event sequences (hypothesis)."""

from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from playbooks.engine.durations import parse_duration
from playbooks.engine.journey import CompiledPlaybook, LearnerFacts, evaluate, resolve, start
from playbooks.engine.signals import EventFact
from playbooks.engine.spec import ActionSpec, BranchOption, ModuleSpec, PlaybookSpec, StepSpec, TriggerSpec
from playbooks.engine.validation import check_playbook

MODULES = [f"m{i}" for i in range(8)]
CONDITIONS = [
    "skips >= {n}",
    "skip_streak >= {n}",
    "avg_module_seconds < {n}",
    "completed_modules >= {n}",
    'event.type == "module_completed"',
    "module.completion_pct >= {n}",
    "sessions >= {n}",
]
T0 = datetime(2026, 3, 2, 9, tzinfo=UTC)


@st.composite
def conditions(draw):
    return draw(st.sampled_from(CONDITIONS)).format(n=draw(st.integers(0, 4)) * draw(st.sampled_from([1, 25])))


@st.composite
def playbooks(draw):
    steps = []
    for index in range(draw(st.integers(1, 7))):
        if draw(st.booleans()):
            options = [
                BranchOption(when=draw(conditions()), module=draw(st.sampled_from(MODULES)))
                for _ in range(draw(st.integers(0, 3)))
            ]
            steps.append(
                StepSpec(id=f"b{index}", branch=(*options, BranchOption(None, draw(st.sampled_from(MODULES)))))
            )
        else:
            steps.append(StepSpec(id=f"s{index}", module=draw(st.sampled_from(MODULES))))
    triggers = []
    for index in range(draw(st.integers(0, 4))):
        kind = draw(st.sampled_from(["insert_module", "swap_module", "flag", "unlock_module"]))
        argument = "review" if kind == "flag" else draw(st.sampled_from(MODULES))
        limit = draw(st.none() | st.integers(1, 3))
        per = draw(st.sampled_from([None, "1h", "6h", "24h"])) if limit is not None else None
        cooldown = draw(st.sampled_from([None, None, "30m", "3h"]))
        triggers.append(
            TriggerSpec(f"t{index}", draw(conditions()), (ActionSpec(kind, argument),), limit, per, cooldown)
        )
    spec = PlaybookSpec(
        slug="generated",
        name="Generated",
        modules=tuple(ModuleSpec(m, m.upper()) for m in MODULES),
        steps=tuple(steps),
        triggers=tuple(triggers),
    )
    check_playbook(spec)
    return spec


@st.composite
def journeys(draw):
    events, at = [], T0
    for _ in range(draw(st.integers(0, 25))):
        at += timedelta(seconds=draw(st.integers(1, 7200)))
        kind = draw(
            st.sampled_from(
                ["module_completed", "module_skipped", "module_progress", "session_started", "ticket_submitted"]
            )
        )
        module = draw(st.sampled_from(MODULES)) if kind.startswith("module") else None
        properties = {"duration_seconds": draw(st.integers(0, 300)), "completion_pct": draw(st.integers(0, 100))}
        events.append(EventFact(kind, at, module, properties))
    return events


def _run(spec, events):
    playbook = CompiledPlaybook(spec)
    facts = LearnerFacts("p", ("r",), {}, "Europe/Berlin")
    outcome = start(playbook, facts, now=T0)
    steps = [outcome]
    for index, event in enumerate(events):
        outcome = evaluate(
            playbook, facts, outcome.state, events=events[: index + 1], event=event, now=event.occurred_at
        )
        steps.append(outcome)
    return playbook, steps


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=playbooks(), events=journeys())
def test_branch_choices_are_kept_once_made(spec, events):
    _playbook, outcomes = _run(spec, events)

    for earlier, later in zip(outcomes, outcomes[1:], strict=False):
        for step, choice in earlier.state.choices.items():
            assert later.state.choices[step] == choice


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=playbooks(), events=journeys())
def test_triggers_never_exceed_their_limits(spec, events):
    _playbook, outcomes = _run(spec, events)

    fired: dict[str, int] = {}
    for outcome in outcomes:
        for decision in outcome.decisions:
            if decision.kind == "trigger":
                name = decision.rule.split("'")[1]
                fired[name] = fired.get(name, 0) + 1
    for trigger in spec.triggers:
        if trigger.limit_per_learner is not None and trigger.limit_per is None:
            assert fired.get(trigger.name, 0) <= trigger.limit_per_learner
        assert outcomes[-1].state.triggers.get(trigger.name, None) is None or (
            outcomes[-1].state.triggers[trigger.name].fired == fired.get(trigger.name, 0)
        )


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=playbooks(), events=journeys())
def test_next_module_is_always_a_module_of_the_version(spec, events):
    playbook, outcomes = _run(spec, events)

    for outcome in outcomes:
        position = outcome.position
        assert position == resolve(playbook, outcome.state)
        if position.status == "active":
            assert position.module in spec.path_modules()
        else:
            assert position.status == "completed" and position.module is None


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=playbooks(), events=journeys())
def test_a_windowed_limit_is_never_exceeded_in_any_window_nor_a_cooldown_cut_short(spec, events):
    _playbook, outcomes = _run(spec, events)

    fired: dict[str, list[datetime]] = {}
    for outcome in outcomes:
        for decision in outcome.decisions:
            if decision.kind == "trigger":
                fired.setdefault(decision.rule.split("'")[1], []).append(outcome.at)
    for trigger in spec.triggers:
        moments = fired.get(trigger.name, [])
        if trigger.limit_per is not None:
            window = parse_duration(trigger.limit_per)
            # Every window (t - per, t] that ends on a firing holds the most firings any window of that length can.
            for end in moments:
                assert sum(1 for moment in moments if end - window < moment <= end) <= trigger.limit_per_learner
        if trigger.cooldown is not None:
            gap = parse_duration(trigger.cooldown)
            assert all(later - earlier >= gap for earlier, later in zip(moments, moments[1:], strict=False))
