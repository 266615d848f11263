"""The running tally equals a full recomputation by the reference functions, after any stream of events.

Events arrive in any order: one earlier than the last folded (a late event) makes the worker rebuild the tally from
the history, as here; the others are folded one by one, and the stored JSON is read back between arrivals. At
every step every signal the conditions can read is compared, exactly, with signals.py, sessions.py and
sequences.py over the whole history sorted by occurred_at, at the moment of the evaluation and later.
"""

import json
from dataclasses import asdict, fields
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from playbooks.engine.conditions import EVENT_FILTER, compile_condition
from playbooks.engine.journey import JourneyState, TriggerMemory
from playbooks.engine.sequences import CompiledSequence, sequence_count
from playbooks.engine.sessions import sessions_of
from playbooks.engine.signals import CompiledSignal, EventFact, builtin_signals, declared_signals, module_values
from playbooks.engine.tally import Tally

T0 = datetime(2026, 3, 28, 20, tzinfo=UTC)  # the night Europe moves its clocks: local days of 23 hours
KINDS = ["module_completed", "module_skipped", "module_progress", "module_viewed", "session_started", "session_ended",
         "ticket_submitted", "page_view"]  # fmt: skip
MODULES = ["welcome", "crm", "tour"]
AGGREGATES = ["count", "sum", "avg", "min", "max", "distinct", "last", "days_active", "per_day", "min_per_day"]
WHERE = [None, 'event.properties.priority == "high"', 'event.module == "crm"']
ZONES = ["UTC", "Europe/Berlin", "America/St_Johns", "Pacific/Kiritimati"]
VALUES = st.one_of(
    st.integers(-5, 500),
    st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False),
    st.sampled_from([True, None, "high", "low", 0.1, 0.2, 1e16]),
)


@st.composite
def signals(draw):
    out = []
    for number in range(draw(st.integers(0, 6))):
        kind = draw(st.sampled_from(AGGREGATES))
        window = None
        if kind in ("per_day", "min_per_day") or draw(st.booleans()):
            window = (
                timedelta(days=draw(st.integers(1, 4)))
                if kind == "min_per_day"
                else draw(st.sampled_from([timedelta(minutes=30), timedelta(hours=6), timedelta(days=2)]))
            )
        where = draw(st.sampled_from(WHERE))
        out.append(
            CompiledSignal(
                f"s{number}",
                draw(st.sampled_from(KINDS)),
                kind,
                draw(st.sampled_from(["seconds", "duration_seconds", "priority", None])),
                window,
                compile_condition(where, EVENT_FILTER) if where else None,
            )
        )
    return out


@st.composite
def sequences(draw):
    out = []
    for number in range(draw(st.integers(0, 2))):
        wheres = [draw(st.sampled_from(WHERE)) for _ in range(draw(st.integers(1, 3)))]
        steps = tuple(
            (draw(st.sampled_from(KINDS)), compile_condition(where, EVENT_FILTER) if where else None)
            for where in wheres
        )
        within = draw(st.sampled_from([None, timedelta(minutes=20), timedelta(hours=3)]))
        out.append(CompiledSequence(f"q{number}", steps, within))
    return out


@st.composite
def arrivals(draw):
    """Events in the order they arrive; occurred_at mostly increasing, some late, some at the same second."""
    events, at = [], T0
    for _ in range(draw(st.integers(0, 40))):
        step = draw(st.sampled_from([0, 1, 60, 600, 1800, 3600, 6 * 3600, 30 * 3600, -900, -7200]))
        at += timedelta(seconds=step)
        kind = draw(st.sampled_from(KINDS))
        module = draw(st.sampled_from(MODULES)) if kind.startswith("module") or draw(st.booleans()) else None
        names = draw(st.lists(st.sampled_from(["seconds", "duration_seconds", "completion_pct", "priority"])))
        properties = {name: draw(VALUES) for name in names}
        events.append(EventFact(kind, at, module, properties))
    return events


def _reference(history, signal_list, sequence_list, zone, now):
    """Every value from the reference functions over the whole sorted history."""
    return {
        **builtin_signals(history, now=now, enrolled_at=T0),
        **sessions_of(history, ZoneInfo(zone)).values(now),
        **declared_signals(history, signal_list, now=now, zone=ZoneInfo(zone)),
        **{sequence.name: sequence_count(history, sequence) for sequence in sequence_list},
        **{f"module.{slug}": module_values(history, slug) for slug in [*MODULES, None]},
    }


def _incremental(tally, now):
    return {
        **tally.builtins(now=now, enrolled_at=T0),
        **tally.session_summary().values(now),
        **tally.declared(now=now),
        **tally.sequence_counts(),
        **{f"module.{slug}": tally.module(slug) for slug in [*MODULES, None]},
    }


def _same(left, right):
    """Equal values of equal types (an int where the reference has a float would read the same but show
    differently in the decision log)."""
    assert left.keys() == right.keys()
    for name in left:
        assert left[name] == right[name] and type(left[name]) is type(right[name]), name


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(signal_list=signals(), sequence_list=sequences(), zone=st.sampled_from(ZONES), events=arrivals())
def test_the_tally_equals_a_full_recomputation_after_any_stream_late_events_included(
    signal_list, sequence_list, zone, events
):
    known: list[tuple[datetime, int, EventFact]] = []  # (occurred_at, arrival) orders the history, as (time, pk)
    tally = Tally.empty(signal_list, sequence_list, zone)
    rebuilds = 0
    for arrival, event in enumerate(events):
        known.append((event.occurred_at, arrival, event))
        known.sort(key=lambda item: item[:2])
        history = [item[2] for item in known]
        if tally.last_at is not None and event.occurred_at < tally.last_at:
            tally = Tally.of(signal_list, sequence_list, zone, history)  # a late event: rebuilt from the history
            rebuilds += 1
        else:
            tally.fold(event)
        stored = json.loads(json.dumps(tally.to_dict()))
        assert stored == json.loads(json.dumps(Tally.of(signal_list, sequence_list, zone, history).to_dict()))
        tally = Tally.from_dict(stored, signal_list, sequence_list, zone)
        clock = history[-1].occurred_at
        for later in (timedelta(0), timedelta(minutes=29), timedelta(hours=7), timedelta(days=3)):
            now = clock + later
            _same(_incremental(tally, now), _reference(history, signal_list, sequence_list, zone, now))


def test_a_tally_built_for_other_definitions_or_another_zone_is_not_read():
    signal = CompiledSignal("tickets", "ticket_submitted", "count", None, None, None)
    stored = Tally.of([signal], [], "UTC", [EventFact("ticket_submitted", T0)]).to_dict()

    assert Tally.from_dict(stored, [signal], [], "UTC").declared(now=T0) == {"tickets": 1}
    assert Tally.from_dict(stored, [signal], [], "Europe/Berlin") is None
    views = CompiledSignal("tickets", "page_view", "count", None, None, None)
    assert Tally.from_dict(stored, [views], [], "UTC") is None
    assert Tally.from_dict({}, [signal], [], "UTC") is None


def test_folding_an_event_before_the_last_one_is_refused():
    tally = Tally.of([], [], "UTC", [EventFact("page_view", T0)])

    try:
        tally.fold(EventFact("page_view", T0 - timedelta(seconds=1)))
    except ValueError as error:
        assert "rebuild" in str(error)
    else:
        raise AssertionError("a late event was folded")


def test_the_journey_state_is_stored_as_asdict_stores_it():
    state = JourneyState(
        enrolled_at=T0.isoformat(),
        done={"welcome": "completed"},
        choices={"track": "module:crm"},
        inserted=["tour"],
        swaps={"s1": "crm"},
        unlocked=["tour"],
        passed=["s2"],
        triggers={"busy": TriggerMemory(True, 2, [T0.isoformat()])},
        flags=["review"],
        reasons={"crm": {"rule": "r", "explanation": "e"}},
        waits=[{"trigger": "busy", "action": 0, "started": "", "until": "", "key": {"nested": [1]}}],
        ended=True,
        clock=T0.isoformat(),
        reached={"s1": T0.isoformat()},
        finished={"s1": T0.isoformat()},
        ready_at=T0.isoformat(),
        params={"fast_threshold": 5},
    )

    assert state.to_dict() == asdict(state)
    assert list(state.to_dict()) == [f.name for f in fields(JourneyState)]
