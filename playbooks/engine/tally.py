"""A learner's signals kept as running state: each event folded in once, in occurred_at order, so that an evaluation
costs the same whatever the length of the history (docs/evaluation.md, "Incremental evaluation").

``Tally.of(events)`` folds a whole history; ``fold(event)`` takes one more event, which must not come before the
last one folded (a late event needs a rebuild: sequences, sessions and streaks depend on the order). The state is
exact, never an approximation of the reference functions in signals.py, sequences.py and sessions.py:

- counts, streaks, last values, min and max, distinct values, active days: the running value itself;
- sums: the running float sum, added in the reference's order; means: the exact sum as a fraction (``fmean`` is the
  correctly rounded exact sum divided by the count), with the count;
- signals over a window: the matching events still inside the window of the latest event (a window only slides
  forward), their aggregate taken as the reference takes it; ``min_per_day``: a count per local day of the window;
- sequences: the runs under way; sessions: the open session and the sums of the ended ones; ``module.*``: the
  values of every module the learner has touched.

The state is a pure function of the events folded (nothing depends on when evaluations ran), so a rebuild from the
history gives the same state as folding the events one by one, which the tests check by hypothesis.
"""

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from fractions import Fraction
from statistics import fmean
from typing import Any
from zoneinfo import ZoneInfo

from playbooks.engine.sequences import CompiledSequence, sequence_step
from playbooks.engine.sessions import SESSION_ENDED, SESSION_GAP, Sessions
from playbooks.engine.signals import (
    COMPLETED,
    SESSION,
    SKIPPED,
    CompiledSignal,
    EventFact,
    idle_hours,
    module_values_add,
)

TALLY_FORMAT = 1  # bumped when the stored shape changes: an older state is then rebuilt, never misread
_WINDOW_TIMES_ONLY = frozenset({"count", "per_day", "days_active"})


def tally_key(signals: Sequence[CompiledSignal], sequences: Sequence[CompiledSequence], zone: str) -> str:
    """What a tally was built for: the signals' and sequences' definitions and the learner's time zone. A stored
    tally with another key (a new version, a new time zone) is rebuilt from the history."""
    parts = [str(TALLY_FORMAT), zone]
    for s in signals:
        where = s.where.expression if s.where else ""
        parts.append(f"s|{s.name}|{s.event}|{s.aggregate}|{s.property}|{s.window}|{where}")
    for q in sequences:
        steps = ";".join(f"{kind}:{where.expression if where else ''}" for kind, where in q.steps)
        parts.append(f"q|{q.name}|{steps}|{q.within}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:24]


@dataclass
class Tally:
    signals: tuple[CompiledSignal, ...]
    sequences: tuple[CompiledSequence, ...]
    zone: ZoneInfo
    key: str
    folded: int = 0
    last_at: datetime | None = None
    skips: int = 0
    streak: int = 0
    completed: set[str] = field(default_factory=set)
    durations: Fraction = Fraction(0)
    durations_n: int = 0
    sessions: int = 0
    modules: dict[str, dict[str, Any]] = field(default_factory=dict)
    # sessions.py's walk: the ended sessions' summed length and count, the open one, interactions and active days
    session_total: float = 0
    session_ended: int = 0
    session_since: datetime | None = None
    interactions: int = 0
    active_days: int = 0
    last_day: date | None = None
    states: dict[str, Any] = field(default_factory=dict)  # per declared signal
    windowed: tuple[CompiledSignal, ...] = ()
    runs: dict[str, dict[str, Any]] = field(default_factory=dict)  # per sequence: {"latest": [...], "done": n}

    @classmethod
    def empty(cls, signals: Sequence[CompiledSignal], sequences: Sequence[CompiledSequence], zone: str) -> "Tally":
        tally = cls(tuple(signals), tuple(sequences), ZoneInfo(zone or "UTC"), tally_key(signals, sequences, zone))
        tally.windowed = tuple(signal for signal in signals if signal.window is not None)
        tally.states = {signal.name: _empty_state(signal) for signal in signals}
        tally.runs = {q.name: {"latest": [None] * len(q.steps), "done": 0} for q in sequences}
        return tally

    @classmethod
    def of(
        cls,
        signals: Sequence[CompiledSignal],
        sequences: Sequence[CompiledSequence],
        zone: str,
        events: Iterable[EventFact],
    ) -> "Tally":
        """The tally of a whole history (in occurred_at order): the rebuild."""
        tally = cls.empty(signals, sequences, zone)
        for event in events:
            tally.fold(event)
        return tally

    # --- folding ---------------------------------------------------------------------------------------------------
    def fold(self, event: EventFact) -> None:
        """Take one more event, not earlier than the last one folded."""
        if self.last_at is not None and event.occurred_at < self.last_at:
            raise ValueError(f"event at {event.occurred_at.isoformat()} is before {self.last_at.isoformat()}: rebuild")
        self._builtins(event)
        self._sessions(event)
        if event.module:
            self._module(event)
        context = None
        for signal in self.signals:
            if event.type != signal.event:
                continue
            context = context or {"event": event.as_context()}
            if signal.where is None or signal.where.evaluate(context)[0]:
                self._signal(signal, event)
        for signal in self.windowed:  # any event moves every window forward: what left it is never read again
            self._slide(signal, event.occurred_at)
        for sequence in self.sequences:
            self._sequence(sequence, event)
        self.folded += 1
        self.last_at = event.occurred_at

    def _builtins(self, event: EventFact) -> None:
        if event.type == SKIPPED:
            self.skips += 1
            self.streak += 1
        elif event.type == COMPLETED:
            self.streak = 0
            if event.module:
                self.completed.add(event.module)
            duration = _number(event.properties.get("duration_seconds"))
            if duration is not None:
                self.durations += Fraction(duration)
                self.durations_n += 1
        elif event.type == SESSION:
            self.sessions += 1

    def _sessions(self, event: EventFact) -> None:
        last, at = self.last_at, event.occurred_at
        gap = last is not None and at - last >= SESSION_GAP
        if self.session_since is not None and last is not None and (event.type == SESSION or gap):
            self._end_session((last - self.session_since).total_seconds())
        if event.type == SESSION:
            self.session_since = at
        elif event.type == SESSION_ENDED and self.session_since is not None:
            self._end_session((at - self.session_since).total_seconds())
        elif event.type != SESSION_ENDED:
            self.interactions += 1
            day = at.astimezone(self.zone).date()
            if day != self.last_day:  # local days only move forward in occurred_at order
                self.active_days += 1
                self.last_day = day

    def _end_session(self, seconds: float) -> None:
        self.session_total += seconds
        self.session_ended += 1
        self.session_since = None

    def _module(self, event: EventFact) -> None:
        module_values_add(self.modules.setdefault(event.module, {"seconds": 0, "completion_pct": 0, "views": 0}), event)

    def _signal(self, signal: CompiledSignal, event: EventFact) -> None:
        state, kind = self.states[signal.name], signal.aggregate
        if kind == "min_per_day":
            day = event.occurred_at.astimezone(self.zone).date().isoformat()
            state["days"][day] = state["days"].get(day, 0) + 1
            return
        if signal.window is not None:
            # [when] or, for the aggregates of a property's values, [when, value] when the event carries one
            present = kind not in _WINDOW_TIMES_ONLY and signal.property in event.properties
            state["items"].append(
                [event.occurred_at, event.properties[signal.property]] if present else [event.occurred_at]
            )
            return
        if kind == "count":
            state["n"] += 1
        elif kind == "days_active":
            state["days"].add(event.occurred_at.date().isoformat())
        elif signal.property in event.properties:
            _fold_value(state, kind, event.properties[signal.property])

    def _slide(self, signal: CompiledSignal, latest: datetime) -> None:
        """Drop what left the window of ``latest``: every later evaluation runs at ``latest`` or after it."""
        state = self.states[signal.name]
        if signal.aggregate == "min_per_day":
            first = (latest.astimezone(self.zone).date() - timedelta(days=_days(signal) - 1)).isoformat()
            if any(day < first for day in state["days"]):
                state["days"] = {day: n for day, n in state["days"].items() if day >= first}
            return
        since = latest - signal.window
        items = state["items"]
        keep = next((n for n, item in enumerate(items) if item[0] > since), len(items))
        if keep:
            del items[:keep]

    def _sequence(self, sequence: CompiledSequence, event: EventFact) -> None:
        run = self.runs[sequence.name]
        if sequence_step(sequence, run["latest"], event):
            run["done"] += 1
            run["latest"] = [None] * len(sequence.steps)

    # --- reading ---------------------------------------------------------------------------------------------------
    def builtins(self, *, now: datetime, enrolled_at: datetime) -> dict[str, float]:
        """signals.builtin_signals at ``now`` (not before the last event folded)."""
        return {
            "skips": self.skips,
            "skip_streak": self.streak,
            "completed_modules": len(self.completed),
            "avg_module_seconds": float(self.durations) / self.durations_n if self.durations_n else 0.0,
            "idle_hours": idle_hours(self.last_at or enrolled_at, now=now),
            "sessions": self.sessions,
        }

    def session_summary(self) -> Sessions:
        """sessions.sessions_of over the events folded."""
        per_day = self.interactions / self.active_days if self.active_days else 0.0
        return Sessions(self.session_total, self.session_ended, self.session_since, self.last_at, per_day)

    def declared(self, *, now: datetime) -> dict[str, Any]:
        """signals.declared_signals at ``now``."""
        return {signal.name: self._value(signal, now) for signal in self.signals}

    def sequence_counts(self) -> dict[str, int]:
        return {name: run["done"] for name, run in self.runs.items()}

    def module(self, slug: str | None) -> dict[str, Any]:
        """signals.module_values for ``slug``."""
        values = self.modules.get(slug or "") if slug else None
        return {"slug": slug, **(values or {"seconds": 0, "completion_pct": 0, "views": 0})}

    def _value(self, signal: CompiledSignal, now: datetime) -> Any:
        state, kind = self.states[signal.name], signal.aggregate
        if kind == "min_per_day":
            today = now.astimezone(self.zone).date()
            days = (today - timedelta(days=back) for back in range(_days(signal)))
            return min(state["days"].get(day.isoformat(), 0) for day in days)
        if signal.window is not None:
            since = now - signal.window
            return _windowed(signal, [item for item in state["items"] if item[0] > since])
        if kind == "count":
            return state["n"]
        if kind == "days_active":
            return len(state["days"])
        if kind == "last":
            return state["value"] if state["has"] else None
        if kind == "distinct":
            return len(state["seen"])
        if kind == "sum":
            return state["total"]
        if kind == "avg":
            return float(state["exact"]) / state["n"] if state["n"] else None
        return state["value"]  # min, max: None until a number arrives

    # --- storing ---------------------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """JSON for the enrolment row."""
        return {
            "format": TALLY_FORMAT,
            "key": self.key,
            "folded": self.folded,
            "last_at": _iso(self.last_at),
            "skips": self.skips,
            "streak": self.streak,
            "completed": sorted(self.completed),
            "durations": [self.durations.numerator, self.durations.denominator],
            "durations_n": self.durations_n,
            "sessions": self.sessions,
            "modules": self.modules,
            "session": [
                self.session_total,
                self.session_ended,
                _iso(self.session_since),
                self.interactions,
                self.active_days,
                self.last_day.isoformat() if self.last_day else None,
            ],
            "states": {name: _state_out(state) for name, state in self.states.items()},
            "runs": {
                name: {"latest": [_iso(t) for t in r["latest"]], "done": r["done"]} for name, r in self.runs.items()
            },
        }

    @classmethod
    def from_dict(
        cls, data: dict[str, Any], signals: Sequence[CompiledSignal], sequences: Sequence[CompiledSequence], zone: str
    ) -> "Tally | None":
        """The stored tally, or None when it was built for other definitions (or none is stored): rebuild then."""
        tally = cls.empty(signals, sequences, zone)
        if not data or data.get("format") != TALLY_FORMAT or data.get("key") != tally.key:
            return None
        tally.folded, tally.last_at = data["folded"], _time(data["last_at"])
        tally.skips, tally.streak, tally.completed = data["skips"], data["streak"], set(data["completed"])
        tally.durations, tally.durations_n = Fraction(*data["durations"]), data["durations_n"]
        tally.sessions, tally.modules = data["sessions"], data["modules"]
        total, ended, since, interactions, days, last_day = data["session"]
        tally.session_total, tally.session_ended, tally.session_since = total, ended, _time(since)
        tally.interactions, tally.active_days = interactions, days
        tally.last_day = date.fromisoformat(last_day) if last_day else None
        tally.states = {s.name: _state_in(s, data["states"][s.name]) for s in signals}
        tally.runs = {
            name: {"latest": [_time(t) for t in run["latest"]], "done": run["done"]}
            for name, run in data["runs"].items()
        }
        return tally


def _empty_state(signal: CompiledSignal) -> dict[str, Any]:
    kind = signal.aggregate
    if kind == "min_per_day":
        return {"days": {}}
    if signal.window is not None:
        return {"items": []}
    return {
        "count": {"n": 0},
        "days_active": {"days": set()},
        "last": {"has": False, "value": None},
        "distinct": {"seen": set()},
        "sum": {"total": 0},
        "avg": {"exact": Fraction(0), "n": 0},
    }.get(kind, {"value": None})


def _fold_value(state: dict[str, Any], kind: str, raw: Any) -> None:
    """One present property value into an unwindowed value aggregate, as signals.aggregate reduces the list."""
    if kind == "last":
        state["has"], state["value"] = True, raw
        return
    if kind == "distinct":
        state["seen"].add(repr(raw))
        return
    number = _number(raw)
    if number is None:
        return
    if kind == "sum":
        state["total"] += number
    elif kind == "avg":
        state["exact"] += Fraction(number)
        state["n"] += 1
    elif kind == "min" and (state["value"] is None or number < state["value"]):
        state["value"] = number  # strictly less: min() keeps the first of equal values
    elif kind == "max" and (state["value"] is None or number > state["value"]):
        state["value"] = number


def _windowed(signal: CompiledSignal, items: list[list[Any]]) -> Any:
    """signals.aggregate over the matching events still inside the window."""
    kind = signal.aggregate
    if kind == "count":
        return len(items)
    if kind == "per_day":
        return len(items) / (signal.window.total_seconds() / 86_400)
    if kind == "days_active":
        return len({item[0].date() for item in items})
    raw = [item[1] for item in items if len(item) == 2]
    if kind == "last":
        return raw[-1] if raw else None
    if kind == "distinct":
        return len({repr(value) for value in raw})
    numbers = [number for number in map(_number, raw) if number is not None]
    if kind == "sum":
        return sum(numbers)
    if not numbers:
        return None
    return {"avg": fmean, "min": min, "max": max}[kind](numbers)


def _state_out(state: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for name, value in state.items():
        if isinstance(value, set):
            value = sorted(value)
        elif isinstance(value, Fraction):
            value = [value.numerator, value.denominator]
        elif name == "items":
            value = [[item[0].isoformat(), *item[1:]] for item in value]
        out[name] = value
    return out


def _state_in(signal: CompiledSignal, stored: dict[str, Any]) -> dict[str, Any]:
    state = dict(stored)
    if "items" in state:
        state["items"] = [[datetime.fromisoformat(item[0]), *item[1:]] for item in state["items"]]
    if "exact" in state:
        state["exact"] = Fraction(*state["exact"])
    for name in ("seen",) + (("days",) if signal.aggregate == "days_active" and signal.window is None else ()):
        if name in state:
            state[name] = set(state[name])
    return state


def _days(signal: CompiledSignal) -> int:
    return max(signal.window.days, 1) if signal.window else 1


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _time(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return value
