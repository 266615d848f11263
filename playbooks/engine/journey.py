"""The engine: from a playbook, a learner's facts, their events and their journey so far, decide what comes next.

Pure Python over plain data. ``evaluate`` takes the state and returns a new one with the decisions that led to it,
each with the rule and the values it saw; ``resolve`` reads the next module off a state without deciding anything.
"""

import re
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from playbooks.engine.conditions import EVENT_FILTER, Condition, compile_condition
from playbooks.engine.durations import format_duration, parse_duration, utc_text
from playbooks.engine.limits import held_back, remembered
from playbooks.engine.readable import choice_text, trigger_text
from playbooks.engine.sequences import CompiledSequence, sequence_count
from playbooks.engine.sessions import SESSION_CLOCK_NAMES, SESSION_NAMES, sessions_of
from playbooks.engine.signals import (
    COMPLETED,
    NO_EVENT,
    SKIPPED,
    CompiledSignal,
    EventFact,
    aggregate,
    builtin_signals,
    declared_signals,
    idle_hours,
    module_values,
)
from playbooks.engine.spec import (
    PARAMETER_TYPES,
    SEQUENCE,
    ActionSpec,
    BranchOption,
    PlaybookSpec,
    StepSpec,
    TriggerSpec,
)
from playbooks.engine.tally import Tally
from playbooks.engine.validation import vocabulary_of
from playbooks.engine.waits import CAME, TIMED_OUT, CompiledWait, came, compile_wait, key_value, keyed

ACTIVE, COMPLETED_STATUS = "active", "completed"
Known = Sequence[EventFact] | Tally  # what an evaluation knows of the learner's events
_ROOT_NAME = re.compile(r"(?<![\w.\"'])([A-Za-z_][A-Za-z0-9_]*)")


@dataclass(frozen=True)
class LearnerFacts:
    external_id: str
    roles: tuple[str, ...] = ()
    attributes: dict[str, Any] = field(default_factory=dict)
    timezone: str = "UTC"


@dataclass
class TriggerMemory:
    last: bool = False  # the condition's value at the previous evaluation: triggers fire on false → true
    fired: int = 0
    recent: list[str] = field(default_factory=list)  # ISO 8601 firings that a windowed limit or cooldown counts


@dataclass
class JourneyState:
    """Where a learner is in one playbook version. Serialises to JSON for the Enrollment row."""

    enrolled_at: str = ""  # ISO 8601
    done: dict[str, str] = field(default_factory=dict)  # module slug → "completed" | "skipped"
    choices: dict[str, str] = field(default_factory=dict)  # branch step key → "module:<slug>" | "goto:<step>"
    inserted: list[str] = field(default_factory=list)  # modules delivered ahead of the path, first is next
    swaps: dict[str, str] = field(default_factory=dict)  # step key → module that replaces the step's own
    unlocked: list[str] = field(default_factory=list)
    passed: list[str] = field(default_factory=list)  # step keys jumped over by a goto
    triggers: dict[str, TriggerMemory] = field(default_factory=dict)
    flags: list[str] = field(default_factory=list)
    reasons: dict[str, dict[str, str]] = field(default_factory=dict)  # module → why it was given
    # Pending waits: {trigger, action (its index in the trigger's then), started, until (ISO 8601), key (the value)}
    waits: list[dict[str, Any]] = field(default_factory=list)
    ended: bool = False  # a 'complete' action ended the journey before the path did
    clock: str = ""  # ISO 8601: the latest moment evaluated; an evaluation never runs before it
    # Steps with a ``due``: when the path reached each one and when it was done (ISO 8601), for overdue/on_schedule.
    reached: dict[str, str] = field(default_factory=dict)
    finished: dict[str, str] = field(default_factory=dict)
    ready_at: str = ""  # ISO 8601: when the readiness step was completed
    # Parameter values of this learner's own (an experiment arm's), over the version's defaults: kept for the whole
    # journey, through migrations to other versions.
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def clock_time(self) -> datetime | None:
        return datetime.fromisoformat(self.clock) if self.clock else None

    def to_dict(self) -> dict[str, Any]:
        """``dataclasses.asdict``, field by field (asdict's deep copies were a tenth of a worker's batch)."""
        return {
            "enrolled_at": self.enrolled_at,
            "done": dict(self.done),
            "choices": dict(self.choices),
            "inserted": list(self.inserted),
            "swaps": dict(self.swaps),
            "unlocked": list(self.unlocked),
            "passed": list(self.passed),
            "triggers": {
                name: {"last": m.last, "fired": m.fired, "recent": list(m.recent)} for name, m in self.triggers.items()
            },
            "flags": list(self.flags),
            "reasons": {module: dict(reason) for module, reason in self.reasons.items()},
            "waits": [dict(wait) for wait in self.waits],
            "ended": self.ended,
            "clock": self.clock,
            "reached": dict(self.reached),
            "finished": dict(self.finished),
            "ready_at": self.ready_at,
            # Only when set: the rows of the many learners on the defaults stay as they were.
            **({"params": dict(self.params)} if self.params else {}),
        }

    def copy(self) -> "JourneyState":
        """A copy the engine can change freely (field by field: deepcopy was a tenth of a worker's time)."""
        return JourneyState(
            enrolled_at=self.enrolled_at,
            done=dict(self.done),
            choices=dict(self.choices),
            inserted=list(self.inserted),
            swaps=dict(self.swaps),
            unlocked=list(self.unlocked),
            passed=list(self.passed),
            triggers={name: TriggerMemory(m.last, m.fired, list(m.recent)) for name, m in self.triggers.items()},
            flags=list(self.flags),
            reasons={module: dict(reason) for module, reason in self.reasons.items()},
            waits=[dict(wait) for wait in self.waits],
            ended=self.ended,
            clock=self.clock,
            reached=dict(self.reached),
            finished=dict(self.finished),
            ready_at=self.ready_at,
            params=dict(self.params),
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "JourneyState":
        data = dict(data)
        data["triggers"] = {name: TriggerMemory(**memory) for name, memory in data.get("triggers", {}).items()}
        return cls(**data)


@dataclass(frozen=True)
class Reason:
    rule: str
    explanation: str
    text: str = ""  # what the learner reads (no condition text); "" on reasons saved before it existed


@dataclass(frozen=True)
class Position:
    status: str  # "active" | "completed"
    module: str | None = None
    step: str | None = None
    reason: Reason | None = None
    pending_branch: bool = False
    step_index: int | None = None


@dataclass(frozen=True)
class Decision:
    """One thing the engine decided, with the rule and the values it saw: a row of the decision log."""

    kind: str  # branch | trigger | suppressed | action | next_module | completed
    rule: str
    explanation: str
    values: dict[str, Any] = field(default_factory=dict)
    step: str | None = None
    module: str | None = None
    action: dict[str, Any] | None = None
    text: str = ""  # the reason as the learner reads it (engine/readable.py); "" where it is not about them


@dataclass(frozen=True)
class Outcome:
    state: JourneyState
    decisions: list[Decision]
    position: Position
    at: datetime | None = None  # the moment the evaluation ran at (``now``, or the learner's clock if later)


class CompiledPlaybook:
    """A version's conditions compiled once (cached by the caller per published version)."""

    def __init__(self, spec: PlaybookSpec, *, withdrawn: frozenset[str] = frozenset()) -> None:
        """``withdrawn``: library modules made inactive, which a step picking by tags passes over."""
        vocabulary = vocabulary_of(spec)
        self.parameters = {parameter.name: parameter.default for parameter in spec.parameters}
        self.spec = spec
        self.withdrawn = withdrawn
        self.module_tags = {module.slug: list(module.tags) for module in spec.modules}
        self.role_tags = dict(spec.audience.role_tags)
        self.audience_when = compile_condition(spec.audience.when, vocabulary) if spec.audience.when else None
        self.options: dict[tuple[int, int], Condition] = {
            (index, number): compile_condition(option.when, vocabulary)
            for index, step in enumerate(spec.steps)
            for number, option in enumerate(step.branch or ())
            if not option.is_otherwise
        }
        self.triggers: list[tuple[TriggerSpec, Condition]] = [
            (trigger, compile_condition(trigger.when, vocabulary)) for trigger in spec.triggers
        ]
        self.trigger_named = {trigger.name: trigger for trigger in spec.triggers}
        self.waits: dict[tuple[str, int], CompiledWait] = {
            (trigger.name, number): compile_wait(action.argument)
            for trigger in spec.triggers
            for number, action in enumerate(trigger.then)
            if action.kind == "wait"
        }
        self.signals = [
            CompiledSignal(
                name=s.name,
                event=s.event,
                aggregate=s.aggregate,
                property=s.property,
                window=parse_duration(s.window) if s.window else None,
                where=compile_condition(s.where, EVENT_FILTER) if s.where else None,
            )
            for s in spec.signals
            if s.aggregate != SEQUENCE
        ]
        self.sequences = [
            CompiledSequence(
                s.name,
                tuple(
                    (step.event, compile_condition(step.where, EVENT_FILTER) if step.where else None)
                    for step in s.sequence
                ),
                parse_duration(s.within) if s.within else None,
            )
            for s in spec.signals
            if s.aggregate == SEQUENCE
        ]
        self.step_keys = [step.key for step in spec.steps]
        self.due = {step.key: (parse_duration(step.due.after), step.due.anchor) for step in spec.steps if step.due}
        self.readiness = next((step for step in spec.steps if step.readiness), None)
        expressions = [c.expression for c in self.options.values()] + [c.expression for _, c in self.triggers]
        audience = [self.audience_when.expression] if self.audience_when else []
        names = {name for expression in [*expressions, *audience] for name in _ROOT_NAME.findall(expression)}
        # Sessions are summed up only for playbooks that read them: the other evaluations skip the walk.
        self.reads_sessions = bool(names & set(SESSION_NAMES))
        # Whether evaluating at a later moment with no new event can change anything (the clock sweep skips others):
        # the clock's own names, open sessions, and signals over a window, which shrink as time passes.
        clock_names = {"idle_hours", "days_enrolled", "now", "overdue", "on_schedule", *SESSION_CLOCK_NAMES} | {
            s.name for s in spec.signals if s.window
        }
        self.clock_conditions = any(set(_ROOT_NAME.findall(expression)) & clock_names for expression in expressions)
        # A wait times out on the clock: its learners are swept too (while one is pending).
        self.uses_clock = self.clock_conditions or bool(self.waits)
        # The triggers whose value can change while no event arrives (the others are constant between events).
        self.clock_triggers = [
            (trigger, condition)
            for trigger, condition in self.triggers
            if set(_ROOT_NAME.findall(condition.expression)) & clock_names
        ]


def matches_audience(playbook: CompiledPlaybook, facts: LearnerFacts, *, now: datetime) -> bool:
    audience = playbook.spec.audience
    if audience.roles and not set(audience.roles) & set(facts.roles):
        return False
    if playbook.audience_when is None:
        return True
    state = JourneyState(enrolled_at=now.isoformat())
    return playbook.audience_when.evaluate(_context(playbook, facts, state, [], None, now, None))[0]


def start(
    playbook: CompiledPlaybook, facts: LearnerFacts, *, now: datetime, params: dict[str, Any] | None = None
) -> Outcome:
    """Enrol: the first step is reached now (a first step that is a branch is decided now). ``params`` are the
    learner's own parameter values (checked by the caller with ``parameters.override_errors``), kept in the state.

    The learner's clock does not start here: enrolment sees none of their behaviour, so events from before it (a
    backfill, a connector's clock a second behind) are evaluated at their own time, not as late events.
    """
    state = JourneyState(enrolled_at=now.isoformat(), params=dict(params or {}))
    outcome = evaluate(playbook, facts, state, events=[], event=None, now=now)
    outcome.state.clock = ""
    return outcome


def evaluate(
    playbook: CompiledPlaybook,
    facts: LearnerFacts,
    state: JourneyState,
    *,
    events: Known,
    event: EventFact | None,
    now: datetime,
) -> Outcome:
    """Take ``event`` (None when the clock drives the evaluation) into the journey, at ``now``.

    Time never goes backwards: the evaluation runs at ``now`` or at the learner's clock (``state.clock``, the latest
    moment evaluated), whichever is later. So a late event (one that happened before events already evaluated) is
    evaluated at the clock, and an edge trigger's memory is never rewound to an earlier moment; a clock-driven
    evaluation at or before the clock has nothing new to see and changes nothing. ``events`` are every event known
    up to this evaluation (``known_history``), ``event`` included, in occurred_at order, or their running
    ``Tally`` (``event`` folded in): the same values at a cost that does not grow with the history.
    """
    clock = state.clock_time
    if event is None and clock is not None and now <= clock:
        return Outcome(state, [], resolve(playbook, state), clock)
    moment = max(now, clock) if clock is not None else now
    state = state.copy()
    state.clock = moment.isoformat()
    before = resolve(playbook, state)
    decisions: list[Decision] = []
    if event is not None:
        _take_event(state, event)
    _keep_schedule(playbook, state, moment, decisions)  # before the context: a step done now is not overdue
    base = _context(playbook, facts, state, events, event, moment, None)
    _resolve_waits(playbook, state, event, moment, decisions)
    _advance(playbook, state, base, events, decisions)
    _fire_triggers(playbook, state, base, events, decisions, moment)
    _advance(playbook, state, base, events, decisions)
    _keep_schedule(playbook, state, moment, decisions)
    after = resolve(playbook, state)
    if after.status == COMPLETED_STATUS and before.status != COMPLETED_STATUS:
        decisions.append(Decision("completed", "path complete", "Every step of the playbook is done."))
    elif after.module != before.module and after.module is not None:
        reason = after.reason or Reason("path", "next step")
        decisions.append(
            Decision(
                "next_module", reason.rule, reason.explanation, step=after.step, module=after.module, text=reason.text
            )
        )
    if event is not None and event.occurred_at < moment:
        decisions = [_noted_late(decision, event, moment) for decision in decisions]
    return Outcome(state, decisions, after, moment)


def known_history(history: Sequence[EventFact], index: int, *, pending: Sequence[int]) -> Sequence[EventFact]:
    """What the evaluation of ``history[index]`` sees: every event already evaluated, however late it arrived, and
    the pending events up to this one, in occurred_at order (never a history cut at the event's own timestamp).

    ``history`` is all the learner's events in occurred_at order; ``pending`` the ascending indexes of those not yet
    evaluated (``index`` among them), which are evaluated in that order.
    """
    if not pending or pending[0] >= len(history) - len(pending):
        return history[: index + 1]  # the pending events are the newest: the usual case
    waiting = set(pending)
    return [event for number, event in enumerate(history) if number <= index or number not in waiting]


def _noted_late(decision: Decision, event: EventFact, moment: datetime) -> Decision:
    note = (
        f" (Late event: this {event.type} happened at {utc_text(event.occurred_at)}, before events already evaluated; "
        f"it was evaluated at {utc_text(moment)} with everything known then.)"
    )
    return replace(decision, explanation=decision.explanation + note)


def clock_wakeup(
    playbook: CompiledPlaybook,
    facts: LearnerFacts,
    state: JourneyState,
    *,
    events: Sequence[EventFact],
    ticks: Iterable[datetime],
) -> datetime | None:
    """The first of ``ticks`` at which an evaluation driven by the clock alone would change anything, else None.

    ``state`` is settled (the outcome of an evaluation) and ``events`` are all the learner's events, none later than
    the first tick. With no new event, only a trigger condition turning (true or false) can change the journey, and
    only the clock's names move: so the probe updates those in the context and asks the triggers' compiled
    conditions, at a small fraction of an ``evaluate`` per tick. The simulator uses it to skip the clock sweeps
    that would decide nothing; what is decided still comes from ``evaluate``.
    """
    clock = state.clock_time
    ticks = iter(ticks) if clock is None else (tick for tick in ticks if tick > clock)  # earlier ones change nothing
    first = next(ticks, None)
    if first is None or not playbook.uses_clock or not playbook.triggers:
        return None
    enrolled_at = datetime.fromisoformat(state.enrolled_at) if state.enrolled_at else first
    last_seen = events[-1].occurred_at if events else enrolled_at
    current = resolve(playbook, state).module
    context = _context(playbook, facts, state, events, None, first, current)
    windowed = [signal for signal in playbook.signals if signal.window]
    # Windowed signals change only when one of their events leaves the window: recount at those moments only.
    expiries = sorted(
        event.occurred_at + signal.window
        for signal in windowed
        for event in events[bisect_right([e.occurred_at for e in events], first - signal.window) :]
        if event.type == signal.event
    )
    expired = bisect_right(expiries, first)
    zone = ZoneInfo(facts.timezone or "UTC")
    deadline = min((datetime.fromisoformat(wait["until"]) for wait in state.waits), default=None)
    # The quietest day's count changes when the learner's day does; sessions with every tick (summed up once).
    daily = [signal for signal in windowed if signal.aggregate == "min_per_day"]
    today = first.astimezone(zone).date()
    sessions = sessions_of(events, zone) if playbook.reads_sessions else None
    # At the first tick every trigger is asked (one that held on the last event may not hold on the clock alone);
    # after it, only those that read the clock can change.
    triggers = playbook.triggers
    for tick in (first, *ticks) if playbook.clock_triggers or deadline else (first,):
        if deadline is not None and tick > deadline:
            return tick  # a wait times out
        context.update(_clock_values(tick, enrolled_at, zone), idle_hours=idle_hours(last_seen, now=tick))
        context.update(_schedule_values(playbook, state, tick))
        if expired < len(expiries) and expiries[expired] <= tick:
            expired = bisect_right(expiries, tick)
            context.update({signal.name: aggregate(events, signal, now=tick, zone=zone) for signal in windowed})
        if daily and tick.astimezone(zone).date() != today:
            today = tick.astimezone(zone).date()
            context.update({signal.name: aggregate(events, signal, now=tick, zone=zone) for signal in daily})
        if sessions is not None:
            context.update(sessions.values(tick))
        for trigger, condition in triggers:
            memory = state.triggers.get(trigger.name)
            if condition.evaluate(context)[0] != (memory.last if memory else False):
                return tick
        triggers = playbook.clock_triggers
    return None


def resolve(playbook: CompiledPlaybook, state: JourneyState) -> Position:
    """The learner's next module: inserted modules first, then the first step of the path not done."""
    if state.ended:
        # A 'complete' takes effect once every required step is done; until then those steps are served in order.
        held = next(((i, step) for i, step in enumerate(playbook.spec.steps) if _required_undone(step, state)), None)
        if held is None:
            return Position(COMPLETED_STATUS, reason=Reason("complete", "A trigger completed this journey."))
        index, step = held
        reason = Reason("required", f"Step '{step.key}' is required: the journey completes once it is done.")
        return Position(ACTIVE, step.module, step.key, reason, step_index=index)
    for module in state.inserted:
        if module not in state.done:
            return Position(ACTIVE, module, None, _reason(state, module, "inserted", "Inserted ahead of the path."))
    for index, step in enumerate(playbook.spec.steps):
        if step.required:
            if not _required_undone(step, state):
                continue
        elif step.key in state.passed:
            continue
        module = _module_of(step, state)
        if module is None and step.key not in state.choices:
            return Position(ACTIVE, None, step.key, pending_branch=True, step_index=index)
        if not step.required and (module is None or module in state.done or step.module in state.done):
            continue
        reason = _reason(state, module, "path", f"Step {index + 1} of {len(playbook.spec.steps)} of the playbook.")
        return Position(ACTIVE, module, step.key, reason, step_index=index)
    return Position(COMPLETED_STATUS, reason=Reason("path complete", "Every step of the playbook is done."))


def _required_undone(step: StepSpec, state: JourneyState) -> bool:
    """A required step is done only when its own module is completed: a skip, a goto or a swap does not do it."""
    return step.required and state.done.get(step.module or "") != "completed"


def _module_of(step: StepSpec, state: JourneyState) -> str | None:
    if step.key in state.swaps and not step.required:
        return state.swaps[step.key]
    if not step.is_branch and not step.by_tags:
        return step.module
    kind, _, target = state.choices.get(step.key, ":").partition(":")
    return target if kind == "module" else None


def _reason(state: JourneyState, module: str, rule: str, explanation: str) -> Reason:
    saved = state.reasons.get(module)
    return Reason(**saved) if saved else Reason(rule, explanation, explanation)


def _take_event(state: JourneyState, event: EventFact) -> None:
    if event.type in (COMPLETED, SKIPPED) and event.module:
        outcome = "completed" if event.type == COMPLETED else "skipped"
        if state.done.get(event.module) != "completed":  # a completion after a skip upgrades it, never the reverse
            state.done[event.module] = outcome


def _context(
    playbook: CompiledPlaybook,
    facts: LearnerFacts,
    state: JourneyState,
    events: Known,
    event: EventFact | None,
    now: datetime,
    module: str | None,
) -> dict[str, Any]:
    enrolled_at = datetime.fromisoformat(state.enrolled_at) if state.enrolled_at else now
    zone = ZoneInfo(facts.timezone or "UTC")
    return {
        "roles": list(facts.roles),
        "role": facts.roles[0] if facts.roles else None,
        "attributes": facts.attributes,
        **_clock_values(now, enrolled_at, zone),
        **_schedule_values(playbook, state, now),
        **_signal_values(playbook, events, now, enrolled_at, zone),
        "module": _module_context(playbook, events, module),
        "event": event.as_context() if event else NO_EVENT,
        "params": {**playbook.parameters, **state.params} if state.params else playbook.parameters,
    }


def _signal_values(
    playbook: CompiledPlaybook, events: Known, now: datetime, enrolled_at: datetime, zone: ZoneInfo
) -> dict[str, Any]:
    """The built-in, session, declared and sequence signals: from the running tally, or from the events."""
    if isinstance(events, Tally):
        return {
            **events.builtins(now=now, enrolled_at=enrolled_at),
            **(events.session_summary().values(now) if playbook.reads_sessions else _NO_SESSIONS),
            **events.declared(now=now),
            **events.sequence_counts(),
        }
    return {
        **builtin_signals(events, now=now, enrolled_at=enrolled_at),
        **(sessions_of(events, zone).values(now) if playbook.reads_sessions else _NO_SESSIONS),
        **declared_signals(events, playbook.signals, now=now, zone=zone),
        **{sequence.name: sequence_count(events, sequence) for sequence in playbook.sequences},
    }


def _module_context(playbook: CompiledPlaybook, events: Known, module: str | None) -> dict[str, Any]:
    values = events.module(module) if isinstance(events, Tally) else module_values(events, module)
    return {**values, "tags": playbook.module_tags.get(module or "", [])}


_NO_SESSIONS = dict.fromkeys(SESSION_NAMES, 0.0)  # the vocabulary's names, for playbooks that never read them


def _clock_values(now: datetime, enrolled_at: datetime, zone: ZoneInfo) -> dict[str, Any]:
    """The names that move with the clock alone (``idle_hours`` comes with the built-in signals)."""
    local = now.astimezone(zone)
    return {
        "days_enrolled": max((now - enrolled_at).total_seconds(), 0) / 86_400,
        "now": {"hour": local.hour, "weekday": local.isoweekday()},
    }


def _keep_schedule(
    playbook: CompiledPlaybook, state: JourneyState, moment: datetime, decisions: list[Decision]
) -> None:
    """Note when steps with a ``due`` are done and when the path reaches one, and the readiness milestone."""
    if not playbook.due and playbook.readiness is None:
        return
    stamp = moment.isoformat()
    for step in playbook.spec.steps:
        if step.key in playbook.due and step.key not in state.finished and _step_done(step, state):
            state.finished[step.key] = stamp
    path = _path_step(playbook, state)
    if path is not None and path.key in playbook.due:
        state.reached.setdefault(path.key, stamp)
    ready = playbook.readiness
    if ready is not None and not state.ready_at and _step_done(ready, state, completed=True):
        state.ready_at = stamp
        decisions.append(_ready(ready, state, moment))


def _ready(step: StepSpec, state: JourneyState, moment: datetime) -> Decision:
    enrolled_at = datetime.fromisoformat(state.enrolled_at) if state.enrolled_at else moment
    span = max(moment - enrolled_at, timedelta(0))
    explanation = (
        f"Readiness milestone: step '{step.key}' completed {format_duration(span)} after enrolment "
        f"({utc_text(enrolled_at)} to {utc_text(moment)}): recorded as the learner's time to readiness."
    )
    values = {"enrolled_at": enrolled_at.isoformat(), "ready_at": moment.isoformat(), "days": span / timedelta(days=1)}
    return Decision("ready", f"readiness: step '{step.key}'", explanation, values, step=step.key)


def _step_done(step: StepSpec, state: JourneyState, *, completed: bool = False) -> bool:
    """Whether the step's module (its swap or choice) is done: completed, or with ``completed=False`` also skipped."""
    if step.required:
        return not _required_undone(step, state)
    outcomes = {"completed"} if completed else {"completed", "skipped"}
    module = _module_of(step, state)
    return any(state.done.get(slug or "") in outcomes for slug in (module, step.module) if slug)


def _path_step(playbook: CompiledPlaybook, state: JourneyState) -> StepSpec | None:
    """The step the path is at, under any module inserted ahead of it (the schedule counts the path's steps)."""
    position = resolve(playbook, replace(state, inserted=[]) if state.inserted else state)
    return playbook.spec.steps[position.step_index] if position.step_index is not None else None


def _due_at(playbook: CompiledPlaybook, state: JourneyState, key: str) -> datetime | None:
    """When step ``key`` is due; None while a step due from when it is reached has not been reached."""
    after, anchor = playbook.due[key]
    start = state.enrolled_at if anchor == "enrolment" else state.reached.get(key)
    return datetime.fromisoformat(start) + after if start else None


def _schedule_values(playbook: CompiledPlaybook, state: JourneyState, now: datetime) -> dict[str, bool]:
    """``overdue``: the path's step is past its due time; ``on_schedule``: no due step was done late, none overdue."""
    if not playbook.due:
        return _ON_SCHEDULE
    late = any(
        (due := _due_at(playbook, state, key)) is not None and datetime.fromisoformat(done) > due
        for key, done in state.finished.items()
        if key in playbook.due
    )
    step = _path_step(playbook, state)
    due = _due_at(playbook, state, step.key) if step is not None and step.key in playbook.due else None
    overdue = due is not None and step.key not in state.finished and now > due
    return {"overdue": overdue, "on_schedule": not late and not overdue}


_ON_SCHEDULE = {"overdue": False, "on_schedule": True}


def _advance(
    playbook: CompiledPlaybook,
    state: JourneyState,
    context: dict[str, Any],
    events: Known,
    decisions: list[Decision],
) -> None:
    """Decide every branch point the learner has reached (gotos only jump forward, so this ends)."""
    while (position := resolve(playbook, state)).pending_branch:
        index = position.step_index
        step = playbook.spec.steps[index]
        if step.by_tags:
            decisions.append(_pick_by_tags(playbook, state, step, context["roles"]))
            continue
        option, condition = _first_match(playbook, index, step, context)
        rule = f"branch '{step.key}': {option.when if condition else 'otherwise'}"
        values = (
            referenced_values(condition.expression, context) if condition else _branch_values(playbook, index, context)
        )
        explanation = _explain_choice(option.when, values, matched_by_rule=condition is not None)
        text = choice_text(option.explain, condition, context)
        if option.module:
            state.choices[step.key] = f"module:{option.module}"
            state.reasons[option.module] = {"rule": rule, "explanation": explanation, "text": text}
        else:
            state.choices[step.key] = f"goto:{option.goto}"
            _jump(playbook, state, from_index=index + 1, to_key=option.goto)
        decisions.append(
            Decision(
                "branch",
                rule,
                explanation,
                values,
                step=step.key,
                module=option.module,
                action=None if option.module else {"goto": option.goto},
                text=text,
            )
        )


def _pick_by_tags(playbook: CompiledPlaybook, state: JourneyState, step: StepSpec, roles: list[str]) -> Decision:
    """The first declared module (file order) carrying every tag of the step that is active and not done by the
    learner; among those, modules also carrying a tag of the learner's roles (``audience.role_tags``) come first."""
    preferred = {tag for role in roles for tag in playbook.role_tags.get(role, ())}
    candidates = [
        m.slug
        for m in playbook.spec.tag_candidates(step.tags)
        if m.slug not in playbook.withdrawn and m.slug not in state.done
    ]
    candidates.sort(key=lambda slug: not preferred & set(playbook.module_tags[slug]))  # stable: file order kept
    tags = ", ".join(step.tags)
    rule = f"step '{step.key}': tags {tags}"
    values = {"tags": list(step.tags), "role_tags": sorted(preferred)}
    if not candidates:
        state.choices[step.key] = "none:"
        explanation = f"No active module carrying {tags} is left that the learner has not done: the step is passed."
        return Decision("branch", rule, explanation, values, step=step.key)
    module = candidates[0]
    by_role = f", preferring the role tags {', '.join(sorted(preferred))}" if preferred else ""
    explanation = f"Chosen as the first active module carrying {tags} not done yet{by_role}."
    text = f"Picked for you as the next module on {tags}."
    state.choices[step.key] = f"module:{module}"
    state.reasons[module] = {"rule": rule, "explanation": explanation, "text": text}
    return Decision("branch", rule, explanation, values, step=step.key, module=module, text=text)


def _first_match(
    playbook: CompiledPlaybook, index: int, step: StepSpec, context: dict[str, Any]
) -> tuple[BranchOption, Condition | None]:
    """The first option whose condition holds, else the final 'otherwise' (whose condition is None)."""
    for number, option in enumerate(step.branch or ()):
        condition = playbook.options.get((index, number))
        if condition is None or condition.evaluate(context)[0]:
            return option, condition
    raise AssertionError(f"branch '{step.key}' has no 'otherwise': validation should have refused it")


def trigger_rule(trigger: TriggerSpec) -> str:
    """How the decision log names a trigger's decisions: its name and its condition."""
    return f"trigger '{trigger.name}': {trigger.when}"


def _fire_triggers(
    playbook: CompiledPlaybook,
    state: JourneyState,
    base: dict[str, Any],
    events: Known,
    decisions: list[Decision],
    moment: datetime,
) -> None:
    current = resolve(playbook, state).module
    context = {**base, "module": _module_context(playbook, events, current)}
    for trigger, condition in playbook.triggers:
        memory = state.triggers.setdefault(trigger.name, TriggerMemory())
        now_true, note = condition.evaluate(context)
        was_true, memory.last = memory.last, now_true
        if not now_true or was_true:
            continue  # fire on the edge only
        values = referenced_values(condition.expression, context)
        rule = trigger_rule(trigger)
        why_not = held_back(trigger, fired=memory.fired, recent=memory.recent, moment=moment)
        if why_not is not None:
            decisions.append(Decision("suppressed", rule, f"Not fired: {why_not} ({_describe(values)}).", values))
            continue
        memory.fired += 1
        memory.recent = remembered(trigger, memory.recent, moment)
        text = trigger_text(trigger.explain, condition, context)
        decisions.append(Decision("trigger", rule, f"Fired because {_describe(values)}.", values, text=text))
        for number, action in enumerate(trigger.then):
            if action.kind == "wait":
                decisions.append(_start_wait(playbook, state, trigger, number, context, moment, values, text))
            else:
                decisions.append(_apply(playbook, state, trigger, action, rule, values, text=text))


def _start_wait(
    playbook: CompiledPlaybook,
    state: JourneyState,
    trigger: TriggerSpec,
    number: int,
    context: dict[str, Any],
    moment: datetime,
    values: dict[str, Any],
    text: str,
) -> Decision:
    wait = playbook.waits[(trigger.name, number)]
    until = moment + wait.within
    key = key_value(wait.key, context["event"], context["module"]["slug"])
    state.waits.append(
        {
            "trigger": trigger.name,
            "action": number,
            "started": moment.isoformat(),
            "until": until.isoformat(),
            "key": key,
            "text": text,  # the learner's reason for what the wait's then or else gives them
        }
    )
    where = f" where {wait.where.expression}" if wait.where else ""
    explanation = (
        f"Trigger '{trigger.name}' fired because {_describe(values)}; waiting up to {format_duration(wait.within)} "
        f"(until {utc_text(until)}) for {wait.event}{where}{keyed(wait, key)}."
    )
    action = {"wait": {"event": wait.event, "key": key, "until": until.isoformat()}}
    return Decision("action", trigger_rule(trigger), explanation, values, action=action, text=text)


def _resolve_waits(
    playbook: CompiledPlaybook,
    state: JourneyState,
    event: EventFact | None,
    moment: datetime,
    decisions: list[Decision],
) -> None:
    """Each pending wait that ``event`` satisfies, or whose deadline has passed, is decided and leaves the state."""
    for pending in list(state.waits):
        wait = playbook.waits.get((pending["trigger"], pending["action"]))
        arrived = wait is not None and event is not None and came(wait, pending, event)
        if wait is not None and not arrived and moment <= datetime.fromisoformat(pending["until"]):
            continue
        state.waits.remove(pending)
        if wait is None:
            continue  # the version changed under it (migrate_state keeps only waits that still exist)
        trigger = playbook.trigger_named[pending["trigger"]]
        rule, started = trigger_rule(trigger), utc_text(datetime.fromisoformat(pending["started"]))
        what = f"{wait.event}{keyed(wait, pending['key'])}"
        span = format_duration(wait.within)
        if arrived:
            explanation = f"{what} came at {utc_text(event.occurred_at)}, within {span} of {started}: 'then' runs."
        else:
            explanation = f"No {what} came within {span} of {started}: 'else' runs."
        values = {"waited_for": wait.event, "key": pending["key"], "until": pending["until"]}
        if arrived:
            values["came_at"] = event.occurred_at.isoformat()
        decisions.append(Decision("wait", rule, explanation, values, action={"wait": CAME if arrived else TIMED_OUT}))
        for action in wait.then if arrived else wait.otherwise:
            text = pending.get("text", "")
            decisions.append(_apply(playbook, state, trigger, action, rule, values, because=explanation, text=text))


def _apply(
    playbook: CompiledPlaybook,
    state: JourneyState,
    trigger: TriggerSpec,
    action: ActionSpec,
    rule: str,
    values: dict[str, Any],
    *,
    because: str | None = None,
    text: str = "",
) -> Decision:
    explanation = because or f"Trigger '{trigger.name}' fired because {_describe(values)}."
    reason = {"rule": rule, "explanation": explanation, "text": text}
    position = resolve(playbook, state)
    kind, argument = action.kind, action.argument
    if kind == "insert_module":
        if argument in state.inserted:
            state.inserted.remove(argument)
        state.inserted.insert(0, argument)
        state.done.pop(argument, None)  # inserting again means doing it again
        state.reasons[argument] = reason
    elif kind == "swap_module" and _on_required_step(playbook, position):
        explanation = f"{reason['explanation']} Held: step '{position.step}' is required, so its module stays."
        return Decision("held", rule, explanation, values, position.step, position.module, {kind: argument}, text)
    elif kind == "swap_module" and position.module is not None:
        if position.step is None:  # the current module is an inserted one
            state.inserted[state.inserted.index(position.module)] = argument
        else:
            state.swaps[position.step] = argument
        state.reasons[argument] = reason
    elif kind == "unlock_module" and argument not in state.unlocked:
        state.unlocked.append(argument)
    elif kind == "goto":
        _jump(playbook, state, from_index=position.step_index or 0, to_key=argument)
        reason["explanation"] += _still_required(playbook, state, before=playbook.step_keys.index(argument))
    elif kind == "flag" and argument not in state.flags:
        state.flags.append(argument)
    elif kind == "complete":
        state.ended = True
        reason["explanation"] += _still_required(playbook, state, before=len(playbook.step_keys))
    # remind and webhook are recorded here and delivered by the signals_app from the decision log.
    return Decision(
        "action",
        rule,
        reason["explanation"],
        values,
        step=position.step,
        module=position.module,
        action={kind: argument if argument is not None else True},
        text=text,
    )


def _on_required_step(playbook: CompiledPlaybook, position: Position) -> bool:
    return position.step_index is not None and playbook.spec.steps[position.step_index].required


def _still_required(playbook: CompiledPlaybook, state: JourneyState, *, before: int) -> str:
    """What a goto or a complete is held by: the required steps before ``before`` not done yet (served first)."""
    held = [step.key for step in playbook.spec.steps[:before] if _required_undone(step, state)]
    if not held:
        return ""
    steps = f"steps {', '.join(held)} are" if len(held) > 1 else f"step {held[0]} is"
    return f" Held until the required {steps} done (served first)."


def _jump(playbook: CompiledPlaybook, state: JourneyState, *, from_index: int, to_key: str) -> None:
    """Move the path's cursor to step ``to_key``: forward passes over the steps between (a required step is never
    passed: it stays on the path until done), backward re-opens them."""
    target = playbook.step_keys.index(to_key)
    if target >= from_index:
        steps = playbook.spec.steps[from_index:target]
        state.passed.extend(step.key for step in steps if step.key not in state.passed and not step.required)
        return
    for step in playbook.spec.steps[target:]:
        if step.key in state.passed:
            state.passed.remove(step.key)
        state.choices.pop(step.key, None)
        state.swaps.pop(step.key, None)
        for module in {step.module, *(o.module for o in step.branch or ())} - {None}:
            state.done.pop(module, None)


_DOTTED_NAME = re.compile(r"(?<![\w.\"'])[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")
_LITERALS = frozenset({"and", "or", "not", "in", "true", "false", "null", "if", "else", "for"})


def referenced_values(expression: str, context: dict[str, Any]) -> dict[str, Any]:
    """The values a condition looked at, by the name it used: ``{"skips": 3, "event.type": "module_skipped"}``."""
    masked = re.sub(r"\"(?:\\.|[^\"\\])*\"|'(?:\\.|[^'\\])*'", lambda m: " " * len(m.group()), expression)
    values: dict[str, Any] = {}
    for name in _DOTTED_NAME.findall(masked):
        if name in _LITERALS or name in values:
            continue
        value: Any = context
        for part in name.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        values[name] = value
    return values


def _branch_values(playbook: CompiledPlaybook, index: int, context: dict[str, Any]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for (step_index, _number), condition in playbook.options.items():
        if step_index == index:
            values.update(referenced_values(condition.expression, context))
    return values


def _explain_choice(when: str | None, values: dict[str, Any], *, matched_by_rule: bool) -> str:
    if matched_by_rule:
        return f"Chosen because {when} held ({_describe(values)})."
    return f"No condition matched ({_describe(values)}), so the 'otherwise' option was taken."


def _describe(values: dict[str, Any]) -> str:
    return ", ".join(f"{name} = {_show(value)}" for name, value in values.items()) or "no values"


def _show(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "null" if value is None else repr(value) if isinstance(value, str) else str(value)


def progress(playbook: CompiledPlaybook, state: JourneyState) -> tuple[int, int]:
    """``(steps done, steps in the path)``; a step passed over by a goto counts as done."""
    done = 0
    for step in playbook.spec.steps:
        module = _module_of(step, state)
        if step.required:
            done += not _required_undone(step, state)
        else:
            given = module is not None and (module in state.done or step.module in state.done)
            # A step by tags that found nothing left to give ("none:") is passed, like a goto's.
            done += step.key in state.passed or given or state.choices.get(step.key) == "none:"
    return done, len(playbook.spec.steps)


def migrate_state(state: JourneyState, playbook: CompiledPlaybook) -> JourneyState:
    """Carry a journey onto another version: progress on shared modules and choices still possible are kept."""
    spec = playbook.spec
    modules = spec.path_modules()
    branches = {step.key: step for step in spec.steps if step.is_branch}
    keys = set(playbook.step_keys)
    choices = {
        key: choice
        for key, choice in state.choices.items()
        if key in branches and choice.partition(":")[2] in {o.module or o.goto for o in branches[key].branch or ()}
    }
    by_tags = {step.key: {m.slug for m in spec.tag_candidates(step.tags)} for step in spec.steps if step.by_tags}
    choices.update(
        {key: choice for key, choice in state.choices.items() if choice.partition(":")[2] in by_tags.get(key, ())}
    )
    names = {trigger.name for trigger in spec.triggers}
    keys -= set(spec.required_keys())  # a step the new version requires is neither passed nor swapped
    return JourneyState(
        enrolled_at=state.enrolled_at,
        done=dict(state.done),
        choices=choices,
        inserted=[module for module in state.inserted if module in modules],
        swaps={key: module for key, module in state.swaps.items() if key in keys and module in modules},
        unlocked=[module for module in state.unlocked if module in modules],
        passed=[key for key in state.passed if key in keys],
        triggers={
            name: TriggerMemory(m.last, m.fired, list(m.recent)) for name, m in state.triggers.items() if name in names
        },
        flags=list(state.flags),
        reasons={module: reason for module, reason in state.reasons.items() if module in modules},
        waits=[dict(wait) for wait in state.waits if (wait["trigger"], wait["action"]) in playbook.waits],
        ended=False,
        clock=state.clock,
        reached={key: at for key, at in state.reached.items() if key in playbook.due},
        finished={key: at for key, at in state.finished.items() if key in playbook.due},
        ready_at=state.ready_at,
        params=_params_kept(state.params, playbook),
    )


def _params_kept(params: dict[str, Any], playbook: CompiledPlaybook) -> dict[str, Any]:
    """The learner's parameter values the other version still declares with the same type (the others would not
    type-check against its conditions): an experiment arm's values outlive a migration to a version that has them."""
    kinds = {parameter.name: parameter.kind for parameter in playbook.spec.parameters}
    return {
        name: value
        for name, value in params.items()
        if name in kinds and PARAMETER_TYPES.get(type(value)) == kinds[name]
    }
