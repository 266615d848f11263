"""The quiet path's promise: from a journey at rest, an event of a type ``decisive_kinds`` leaves out decides
nothing and changes nothing but the clock (the worker marks such events evaluated without running the engine, and
folds them into the tally later). Checked against ``evaluate`` itself over generated playbooks and journeys: were
the analysis wrong once, the worker would silently skip a decision."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from playbooks.engine.document import load_yaml, spec_from_document
from playbooks.engine.journey import CompiledPlaybook, LearnerFacts, evaluate, start
from playbooks.engine.quiet import decisive_kinds
from playbooks.engine.signals import EventFact
from playbooks.engine.spec import (
    ActionSpec,
    BranchOption,
    DueSpec,
    ModuleSpec,
    PlaybookSpec,
    SignalSpec,
    StepSpec,
    TriggerSpec,
)
from playbooks.engine.validation import check_playbook

MODULES = [f"m{i}" for i in range(5)]
KINDS = [
    "module_completed",
    "module_skipped",
    "module_started",
    "module_progress",
    "page_view",
    "session_started",
    "ticket_submitted",
]
CONDITIONS = [
    "skips >= {n}",
    "skip_streak >= {n}",
    "avg_module_seconds < 1{n}",
    "completed_modules >= {n}",
    "sessions >= {n}",
    "tickets >= {n}",
    "tickets_2h >= {n}",
    "idle_hours >= {n}",
    "module.completion_pct >= 3{n}",
    "session_seconds >= {n}",
    'attributes.team == "a" and skips >= {n}',
    'event.type == "module_completed" and event.properties.duration_seconds < 1{n}',
    'event.type == "ticket_submitted" and tickets >= {n}',
    '"page_view" == event.type',
    'event.type == "page_view" or skips >= {n}',
    'not (event.type == "module_progress")',
    "event.properties.completion_pct >= {n}",
    "skips >= {n} and tickets < 3",
    # Naming the event type makes the clock, the facts and the module irrelevant at events of other types.
    'event.type == "page_view" and idle_hours >= {n}',
    'event.type == "ticket_submitted" and tickets_2h >= {n}',
    'event.type == "module_progress" and attributes.team == "a" and module.completion_pct >= 3{n}',
    'event.type == "session_started" and session_seconds >= {n}',
]
T0 = datetime(2026, 3, 2, 9, tzinfo=UTC)


@st.composite
def playbooks(draw):
    steps = []
    for index in range(draw(st.integers(1, 5))):
        due = DueSpec(draw(st.sampled_from(["30m", "2h"]))) if draw(st.integers(0, 4)) == 0 else None
        if draw(st.booleans()):
            options = [
                BranchOption(when=draw(st.sampled_from(CONDITIONS)).format(n=draw(st.integers(0, 3))), module=m)
                for m in draw(st.lists(st.sampled_from(MODULES), max_size=2))
            ]
            steps.append(
                StepSpec(id=f"b{index}", branch=(*options, BranchOption(None, draw(st.sampled_from(MODULES)))))
            )
        else:
            steps.append(StepSpec(id=f"s{index}", module=draw(st.sampled_from(MODULES)), due=due))
    triggers = []
    for index in range(draw(st.integers(0, 3))):
        when = draw(st.sampled_from(CONDITIONS)).format(n=draw(st.integers(0, 3)))
        kind = draw(st.sampled_from(["insert_module", "flag", "wait"]))
        if kind == "wait":
            argument = {"event": draw(st.sampled_from(KINDS)), "within": "30m", "then": [{"flag": "came"}]}
        else:
            argument = "review" if kind == "flag" else draw(st.sampled_from(MODULES))
        triggers.append(TriggerSpec(f"t{index}", when, (ActionSpec(kind, argument),), draw(st.none() | st.just(2))))
    spec = PlaybookSpec(
        slug="quiet",
        name="Quiet",
        modules=tuple(ModuleSpec(m, m.upper()) for m in MODULES),
        signals=(
            SignalSpec("tickets", "ticket_submitted", "count", None, None, None),
            SignalSpec("tickets_2h", "ticket_submitted", "count", None, "2h", None),
        ),
        steps=tuple(steps),
        triggers=tuple(triggers),
    )
    check_playbook(spec)
    return spec


@st.composite
def journeys(draw):
    """Events in time order, with clock sweeps between them (None), some of them ahead of the next event's time,
    as when an app's events arrive late but still after every event evaluated, and changes of the learner's team."""
    steps, at = [], T0
    for _ in range(draw(st.integers(1, 30))):
        at += timedelta(seconds=draw(st.sampled_from([5, 60, 900, 4000])))
        if draw(st.integers(0, 5)) == 0:
            steps.append((None, at + timedelta(seconds=draw(st.sampled_from([-3, 2, 7200])))))
        if draw(st.integers(0, 7)) == 0:  # an identity sync moves the learner to another team
            steps.append(("team", draw(st.sampled_from(["a", "b"]))))
        kind = draw(st.sampled_from(KINDS))
        module = draw(st.sampled_from(MODULES)) if kind.startswith("module") else None
        properties = {"duration_seconds": draw(st.integers(0, 60)), "completion_pct": draw(st.integers(0, 100))}
        steps.append((EventFact(kind, at, module, properties), at))
    return steps


def _resting(outcome_state) -> dict:
    return {key: value for key, value in outcome_state.to_dict().items() if key != "clock"}


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=playbooks(), events=journeys())
def test_an_event_of_a_type_left_out_changes_nothing_but_the_clock(spec, events):
    playbook = CompiledPlaybook(spec)
    facts = LearnerFacts("p", ("r",), {"team": "a"}, "Europe/Berlin")
    state = start(playbook, facts, now=T0).state
    seen: list[EventFact] = []
    for event, moment in events:
        if event == "team":
            facts = LearnerFacts("p", ("r",), {"team": moment}, "Europe/Berlin")
            continue
        if event is None:  # a clock sweep
            state = evaluate(playbook, facts, state, events=seen, event=None, now=moment).state
            continue
        seen.append(event)
        decisive = decisive_kinds(playbook, state)
        outcome = evaluate(playbook, facts, state, events=seen, event=event, now=moment)
        if decisive is not None and event.type not in decisive:
            assert outcome.decisions == [], (event, decisive)
            assert _resting(outcome.state) == _resting(state), (event, decisive)
        state = outcome.state


def _support_specialist() -> CompiledPlaybook:
    path = Path(__file__).resolve().parents[3] / "playbooks" / "demo" / "support-specialist.yaml"
    return CompiledPlaybook(spec_from_document(load_yaml(path.read_text())))


def test_in_the_support_playbook_only_completions_and_skips_decide_but_right_after_a_trigger_held():
    playbook = _support_specialist()
    facts = LearnerFacts("p", ("support_specialist",), {"api_access": True}, "UTC")
    state = start(playbook, facts, now=T0).state
    assert decisive_kinds(playbook, state) == {"module_completed", "module_skipped"}

    view = EventFact("page_view", T0 + timedelta(minutes=1), None, {})
    state = evaluate(playbook, facts, state, events=[view], event=view, now=view.occurred_at).state
    assert decisive_kinds(playbook, state) == {"module_completed", "module_skipped"}

    # A rushed completion fires the remedial demo: its condition now holds, and the next event, whatever it is,
    # turns it false again (the edge memory the trigger's next firing depends on).
    rushed = EventFact("module_completed", T0 + timedelta(minutes=2), "welcome", {"duration_seconds": 10})
    state = evaluate(playbook, facts, state, events=[view, rushed], event=rushed, now=rushed.occurred_at).state
    assert decisive_kinds(playbook, state) is None


def test_a_pending_wait_or_a_trigger_on_the_clock_makes_every_event_decisive():
    def compiled(when: str, action: ActionSpec) -> CompiledPlaybook:
        spec = PlaybookSpec(
            slug="w",
            name="W",
            modules=(ModuleSpec("a", "A"), ModuleSpec("b", "B")),
            steps=(StepSpec(module="a"), StepSpec(module="b")),
            triggers=(TriggerSpec("t", when, (action,)),),
        )
        check_playbook(spec)
        return CompiledPlaybook(spec)

    facts = LearnerFacts("p")
    clocked = compiled("idle_hours >= 2", ActionSpec("flag", "idle"))
    state = start(clocked, facts, now=T0).state
    view = EventFact("page_view", T0 + timedelta(minutes=1), None, {})
    state = evaluate(clocked, facts, state, events=[view], event=view, now=view.occurred_at).state
    assert decisive_kinds(clocked, state) is None

    wait = {"event": "module_started", "within": "30m", "then": [{"flag": "came"}]}
    waiting = compiled('event.type == "module_skipped"', ActionSpec("wait", wait))
    state = start(waiting, facts, now=T0).state
    skip = EventFact("module_skipped", T0 + timedelta(minutes=1), "a", {})
    state = evaluate(waiting, facts, state, events=[skip], event=skip, now=skip.occurred_at).state
    assert state.waits and decisive_kinds(waiting, state) is None


def test_a_conditions_root_names_leave_out_strings_attributes_and_keywords_but_not_builtins():
    from playbooks.engine.conditions import root_names

    expression = "event.type == \"skips and idle_hours\" and attributes.team == 'a' and $now > 3 and not true"
    assert root_names(expression) == {"event", "attributes", "now"}  # "$now" is the clock: never missed
