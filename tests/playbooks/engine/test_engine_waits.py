"""Waits: the awaited event in time runs 'then', none by the deadline runs 'else', each wait decided exactly once."""

from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from playbooks.engine.journey import CompiledPlaybook, LearnerFacts, evaluate, start
from playbooks.engine.signals import EventFact
from playbooks.engine.spec import ActionSpec, ModuleSpec, PlaybookSpec, StepSpec, TriggerSpec
from playbooks.engine.validation import check_playbook
from tests.playbooks.engine.test_engine_actions import FACTS, T0, Journey, _playbook

PATH = [{"module": "a"}, {"module": "b"}]
EXIT = 'event.type == "module_exited"'


def _exits(**wait):
    action = {"wait": {"event": "module_started", "within": "2m", "else": [{"flag": "nudge"}], **wait}}
    return Journey(_playbook(PATH, [{"name": "exit", "when": EXIT, "then": [action]}]))


def _kinds(journey) -> list[tuple[str, object]]:
    return [(d.kind, d.action) for d in journey.decisions if d.kind in ("wait", "action")]


def test_the_awaited_event_in_time_runs_then_and_the_wait_is_gone():
    journey = _exits(then=[{"insert_module": "bonus"}], key="module")
    journey.send("module_exited", "a", minutes=1)  # 09:01, waits until 09:03
    journey.send("module_started", "a", minutes=2)  # 09:03: in time

    (started, started_action), came, inserted = _kinds(journey)
    assert started == "action" and started_action["wait"]["until"] == (T0 + timedelta(minutes=3)).isoformat()
    assert came == ("wait", {"wait": "came"}) and inserted[1] == {"insert_module": "bonus"}
    assert journey.next == "bonus" and journey.state.waits == []
    wait = next(d for d in journey.decisions if d.kind == "wait")
    assert wait.explanation == (
        "module_started with module = 'a' came at 2026-03-02 09:03:00 UTC, within 2m of 2026-03-02 09:01:00 UTC: "
        "'then' runs."
    )


def test_an_event_a_minute_after_the_deadline_finds_the_wait_timed_out():
    journey = _exits(key="module")
    journey.send("module_exited", "a", minutes=1)
    journey.send("module_started", "a", minutes=3)  # 09:04: a minute late

    assert [d.action for d in journey.decisions if d.kind in ("wait", "action")][1:] == [
        {"wait": "timed_out"},
        {"flag": "nudge"},
    ]
    assert journey.state.flags == ["nudge"]
    wait = next(d for d in journey.decisions if d.kind == "wait")
    assert (
        wait.explanation
        == "No module_started with module = 'a' came within 2m of 2026-03-02 09:01:00 UTC: 'else' runs."
    )


def test_the_clock_times_a_wait_out_after_its_deadline_and_not_at_it():
    journey = _exits()
    journey.send("module_exited", "a", minutes=1)
    deadline = T0 + timedelta(minutes=3)

    at_deadline = evaluate(journey.playbook, FACTS, journey.state, events=journey.events, event=None, now=deadline)
    after = evaluate(
        journey.playbook,
        FACTS,
        at_deadline.state,
        events=journey.events,
        event=None,
        now=deadline + timedelta(minutes=2),
    )

    assert at_deadline.decisions == [] and len(at_deadline.state.waits) == 1
    assert [d.action for d in after.decisions] == [{"wait": "timed_out"}, {"flag": "nudge"}]
    assert after.state.waits == []


def test_a_keyed_wait_ignores_the_event_for_another_module_and_a_where_filters():
    journey = _exits(key="module", where="event.properties.resumed == true", then=[{"flag": "back"}])
    journey.send("module_exited", "a", minutes=1)
    journey.send("module_started", "b", minutes=0)  # another module
    journey.send("module_started", "a", minutes=0, resumed=False)  # the where says no
    assert journey.state.waits and not [d for d in journey.decisions if d.kind == "wait"]

    journey.send("module_started", "a", minutes=0, resumed=True)

    assert journey.state.flags == ["back"] and journey.state.waits == []


def test_a_late_event_that_happened_in_time_still_satisfies_a_pending_wait():
    journey = _exits(then=[{"flag": "back"}])
    journey.send("module_exited", "a", minutes=1)  # 09:01
    journey.send("module_progress", "a", minutes=5)  # 09:06: the clock moves past the deadline, the wait times out
    late = EventFact("module_started", T0 + timedelta(minutes=2), "a", {})

    outcome = evaluate(
        journey.playbook, FACTS, journey.state, events=[*journey.events, late], event=late, now=late.occurred_at
    )

    assert journey.state.flags == ["nudge"] and outcome.state.flags == ["nudge"]  # decided already: it stands


MODULES = [f"m{i}" for i in range(4)]


@st.composite
def waiting_playbooks(draw):
    triggers = []
    for index in range(draw(st.integers(1, 3))):
        wait = {
            "event": draw(st.sampled_from(["module_started", "module_completed"])),
            "within": draw(st.sampled_from(["2m", "30m", "2h"])),
            "then": [{"flag": f"came_{index}"}],
            "else": [{"flag": f"missed_{index}"}],
        }
        if draw(st.booleans()):
            wait["key"] = "module"
        when = draw(st.sampled_from([EXIT, 'event.type == "module_skipped"', "skips >= 1", "idle_hours >= 1"]))
        triggers.append(TriggerSpec(f"t{index}", when, (ActionSpec("wait", wait),)))
    spec = PlaybookSpec(
        slug="waits",
        name="Waits",
        modules=tuple(ModuleSpec(m, m.upper()) for m in MODULES),
        steps=tuple(StepSpec(module=m) for m in MODULES),
        triggers=tuple(triggers),
    )
    check_playbook(spec)
    return spec


@st.composite
def moments(draw):
    """Events and clock sweeps in time order: ``(minutes after T0, event or None for a sweep)``."""
    steps, at = [], 0
    for _ in range(draw(st.integers(0, 20))):
        at += draw(st.integers(1, 90))
        if draw(st.integers(0, 3)) == 0:
            steps.append((at, None))
            continue
        kind = draw(st.sampled_from(["module_exited", "module_started", "module_completed", "module_skipped"]))
        steps.append((at, EventFact(kind, T0 + timedelta(minutes=at), draw(st.sampled_from(MODULES)), {})))
    return steps


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=waiting_playbooks(), steps=moments())
def test_every_wait_is_decided_exactly_once_and_by_its_deadline_rule(spec, steps):
    playbook = CompiledPlaybook(spec)
    facts = LearnerFacts("p")
    outcome = start(playbook, facts, now=T0)
    state, events, decided = outcome.state, [], []
    last = steps[-1][0] if steps else 0
    # Two last sweeps, each later than any wait's deadline: the first may start a wait (idle), the second ends it.
    for at, event in [*steps, (last + 200, None), (last + 400, None)]:
        events += [event] if event else []
        outcome = evaluate(playbook, facts, state, events=list(events), event=event, now=T0 + timedelta(minutes=at))
        state = outcome.state
        decided += [(d, outcome.at, event) for d in outcome.decisions if d.kind in ("action", "wait")]

    started = [d.action["wait"]["until"] for d, _at, _e in decided if d.kind == "action" and "wait" in d.action]
    resolved = [(d, at, event) for d, at, event in decided if d.kind == "wait"]
    assert sorted(d.values["until"] for d, _at, _e in resolved) == sorted(started)  # each one, exactly once
    assert state.waits == []
    for decision, at, event in resolved:
        until = decision.values["until"]
        if decision.action == {"wait": "came"}:
            assert event is not None and event.occurred_at.isoformat() <= until
        else:
            assert at.isoformat() > until  # timed out only once its deadline has passed
