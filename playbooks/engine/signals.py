"""Signal values from a learner's events: the built-ins of docs/conditions.md and a playbook's declared aggregates.

Pure functions over ``EventFact`` lists, so that production, the simulator and the tests compute them one way.
Events are taken in ``occurred_at`` order whatever order they arrived in, so late events count where they belong.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from statistics import fmean
from typing import Any

from playbooks.engine.conditions import Condition

COMPLETED, SKIPPED, PROGRESS, VIEWED, SESSION = (
    "module_completed",
    "module_skipped",
    "module_progress",
    "module_viewed",
    "session_started",
)


@dataclass(frozen=True)
class EventFact:
    type: str
    occurred_at: datetime
    module: str | None = None
    properties: dict[str, Any] = field(default_factory=dict)

    def as_context(self) -> dict[str, Any]:
        return {"type": self.type, "module": self.module, "properties": self.properties}


NO_EVENT: dict[str, Any] = {"type": None, "module": None, "properties": {}}


@dataclass(frozen=True)
class CompiledSignal:
    name: str
    event: str
    aggregate: str
    property: str | None
    window: timedelta | None
    where: Condition | None


def builtin_signals(events: Sequence[EventFact], *, now: datetime, enrolled_at: datetime) -> dict[str, float]:
    """``events`` sorted by occurred_at and none later than ``now``."""
    skips = streak = sessions = 0
    durations: list[float] = []
    completed: set[str] = set()
    for event in events:
        if event.type == SKIPPED:
            skips += 1
            streak += 1
        elif event.type == COMPLETED:
            streak = 0
            if event.module:
                completed.add(event.module)
            duration = _number(event.properties.get("duration_seconds"))
            if duration is not None:
                durations.append(duration)
        elif event.type == SESSION:
            sessions += 1
    last_seen = events[-1].occurred_at if events else enrolled_at
    return {
        "skips": skips,
        "skip_streak": streak,
        "completed_modules": len(completed),
        "avg_module_seconds": fmean(durations) if durations else 0.0,
        "idle_hours": idle_hours(last_seen, now=now),
        "sessions": sessions,
    }


def idle_hours(last_seen: datetime, *, now: datetime) -> float:
    """Hours since the learner's last event (or their enrolment)."""
    return max((now - last_seen).total_seconds(), 0.0) / 3600


def module_values(events: Iterable[EventFact], module: str | None) -> dict[str, Any]:
    """``module.*``: the last reported seconds and completion, 100 % and its duration once completed."""
    values: dict[str, Any] = {"slug": module, "seconds": 0, "completion_pct": 0, "views": 0}
    if module is None:
        return values
    for event in events:
        if event.module == module:
            module_values_add(values, event)
    return values


def module_values_add(values: dict[str, Any], event: EventFact) -> None:
    """Fold one event of the module into its ``module.*`` values (the running tally does the same, event by event)."""
    if event.type == VIEWED:
        values["views"] += 1
    elif event.type == PROGRESS:
        for name in ("seconds", "completion_pct"):
            reported = _number(event.properties.get(name))
            if reported is not None:
                values[name] = reported
    elif event.type == COMPLETED:
        values["completion_pct"] = 100
        duration = _number(event.properties.get("duration_seconds"))
        if duration is not None:
            values["seconds"] = duration


def declared_signals(
    events: Sequence[EventFact], signals: Iterable[CompiledSignal], *, now: datetime, zone: tzinfo = UTC
) -> dict[str, Any]:
    return {signal.name: aggregate(events, signal, now=now, zone=zone) for signal in signals}


def aggregate(events: Sequence[EventFact], signal: CompiledSignal, *, now: datetime, zone: tzinfo = UTC) -> Any:
    """``zone`` is the learner's: per-day rates count their local days."""
    if signal.aggregate == "min_per_day":
        return _quietest_day(events, signal, now=now, zone=zone)
    since = now - signal.window if signal.window else None
    matching = [
        event
        for event in events
        if event.type == signal.event and (since is None or event.occurred_at > since) and _where(signal, event)
    ]
    if signal.aggregate == "count":
        return len(matching)
    if signal.aggregate == "per_day" and signal.window:
        return len(matching) / (signal.window.total_seconds() / 86_400)
    if signal.aggregate == "days_active":
        return len({event.occurred_at.date() for event in matching})
    raw = [event.properties.get(signal.property) for event in matching if signal.property in event.properties]
    if signal.aggregate == "last":
        return raw[-1] if raw else None
    if signal.aggregate == "distinct":
        return len({repr(value) for value in raw})
    numbers = [number for number in map(_number, raw) if number is not None]
    if signal.aggregate == "sum":
        return sum(numbers)
    if not numbers:
        return None  # no value yet: conditions comparing it are false until one arrives
    return {"avg": fmean, "min": min, "max": max}[signal.aggregate](numbers)


def _quietest_day(events: Sequence[EventFact], signal: CompiledSignal, *, now: datetime, zone: tzinfo) -> int:
    """The fewest matching events on any of the window's local days, today (so far) included: ``>= 2`` holds once
    each of the last N days has had two."""
    today = now.astimezone(zone).date()
    days = max(signal.window.days, 1) if signal.window else 1
    counts = {today - timedelta(days=back): 0 for back in range(days)}
    for event in events:
        if event.type == signal.event and event.occurred_at <= now:
            day = event.occurred_at.astimezone(zone).date()
            if day in counts and _where(signal, event):
                counts[day] += 1
    return min(counts.values())


def _where(signal: CompiledSignal, event: EventFact) -> bool:
    return signal.where is None or signal.where.evaluate({"event": event.as_context()})[0]


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return value
