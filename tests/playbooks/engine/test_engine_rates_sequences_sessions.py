"""Sustained rates, ordered sequences and sessions, as the conditions that read them see them."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from playbooks.engine.conditions import EVENT_FILTER, compile_condition
from playbooks.engine.sequences import CompiledSequence, sequence_count
from playbooks.engine.sessions import sessions_of
from playbooks.engine.signals import CompiledSignal, EventFact, aggregate

T0 = datetime(2026, 3, 2, 9, tzinfo=UTC)  # a Monday, 10:00 in Berlin
BERLIN = ZoneInfo("Europe/Berlin")


def _at(minutes: float, kind: str = "ticket_submitted", **properties) -> EventFact:
    return EventFact(kind, T0 + timedelta(minutes=minutes), None, properties)


def _daily(kind: str, window: str = "3d") -> CompiledSignal:
    days = int(window[:-1])
    return CompiledSignal("s", "ticket_submitted", kind, None, timedelta(days=days), None)


def test_the_quietest_day_counts_the_learners_own_days_today_included():
    day = 24 * 60
    # 23:30 in Berlin on Monday is 22:30 UTC: a Monday ticket there, though 22:30 UTC + 1h is Tuesday in Berlin.
    events = [_at(0), _at(13 * 60 + 30), _at(day), _at(day + 60), _at(2 * day), _at(2 * day + 60)]
    now = T0 + timedelta(days=2, hours=2)

    assert aggregate(events, _daily("min_per_day"), now=now, zone=BERLIN) == 2
    assert aggregate(events[:-1], _daily("min_per_day"), now=now, zone=BERLIN) == 1  # one day short of two
    assert aggregate(events, _daily("min_per_day"), now=now + timedelta(days=1), zone=BERLIN) == 0  # a new day


def test_per_day_is_the_windows_events_per_day():
    events = [_at(minutes) for minutes in range(0, 60, 10)]  # six tickets in an hour

    assert aggregate(events, _daily("per_day"), now=T0 + timedelta(hours=1), zone=UTC) == 2.0
    later = T0 + timedelta(days=3, minutes=25)  # the first three have left the window
    assert aggregate(events, _daily("per_day"), now=later, zone=UTC) == 1.0


def _funnel(within: timedelta | None = timedelta(minutes=30)) -> CompiledSequence:
    pages = ("overview", "auth", "request")
    steps = tuple(("page_view", compile_condition(f'event.properties.page == "{p}"', EVENT_FILTER)) for p in pages)
    return CompiledSequence("funnel", steps, within)


def _views(*pages_at: tuple[str, int]) -> list[EventFact]:
    return [_at(minutes, "page_view", page=page) for page, minutes in pages_at]


def test_a_sequence_counts_steps_in_order_with_other_events_between():
    events = _views(("overview", 0), ("pricing", 1), ("auth", 2), ("overview", 3), ("request", 4))

    assert sequence_count(events, _funnel()) == 1


def test_a_sequence_out_of_order_does_not_count():
    events = _views(("request", 0), ("auth", 1), ("overview", 2), ("request", 3))

    assert sequence_count(events, _funnel()) == 0


def test_a_sequence_must_fit_within_its_span_and_a_later_start_may_still_make_it():
    slow = _views(("overview", 0), ("auth", 20), ("request", 31))
    restarted = _views(("overview", 0), ("overview", 15), ("auth", 20), ("request", 44))

    assert sequence_count(slow, _funnel()) == 0
    assert sequence_count(restarted, _funnel()) == 1  # 15 → 44 is 29 minutes


def test_sequences_are_counted_each_time_they_complete_without_overlapping():
    events = _views(*[(page, minute) for minute, page in enumerate(["overview", "auth", "request"] * 2)])

    assert sequence_count(events, _funnel(None)) == 2


def test_a_session_lasts_until_its_end_event():
    events = [_at(0, "session_started"), _at(5, "module_viewed"), _at(12, "session_ended")]

    values = sessions_of(events, UTC).values(T0 + timedelta(minutes=13))

    assert values == {"session_seconds": 0.0, "avg_session_seconds": 720.0, "interactions_per_active_day": 1.0}


def test_a_session_without_an_end_is_open_then_ends_at_its_last_event_after_the_gap():
    events = [_at(0, "session_started"), _at(4, "module_viewed"), _at(10, "module_progress")]
    sessions = sessions_of(events, UTC)

    assert sessions.values(T0 + timedelta(minutes=15))["session_seconds"] == 900.0
    assert sessions.values(T0 + timedelta(minutes=15))["avg_session_seconds"] == 0.0
    later = sessions.values(T0 + timedelta(minutes=40))  # 30 minutes after its last event
    assert (later["session_seconds"], later["avg_session_seconds"]) == (0.0, 600.0)


def test_a_new_start_ends_the_session_before_it_and_velocity_counts_active_days():
    events = [
        _at(0, "session_started"),
        _at(6, "module_viewed"),
        _at(20, "session_started"),
        _at(24, "module_viewed"),
        _at(26, "module_completed"),
        _at(24 * 60 + 5, "module_viewed"),
    ]

    values = sessions_of(events, UTC).values(T0 + timedelta(days=1, minutes=6))

    assert values["avg_session_seconds"] == (360 + 360) / 2  # the second ended at 09:26 when no end came
    assert values["interactions_per_active_day"] == 2.0  # three interactions on Monday, one on Tuesday
