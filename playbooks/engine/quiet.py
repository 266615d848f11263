"""Which events could change a journey from where it stands: the worker's quiet path (docs/evaluation.md).

Most events a learner's apps send decide nothing: a page view, a progress report, a ticket below every threshold.
From a journey at rest an event can change something only in a few ways: a completion or a skip moves the path; a
pending wait is satisfied or times out; a trigger's condition turns (its edge memory records every turn, to true or
to false). ``decisive_kinds`` names the event types that could do any of that from a given state. An event of any
other type, later than every event evaluated, then leaves the journey exactly as it is but for the clock and the
running tally, so the worker may mark it evaluated and leave it to the next evaluation to fold into the tally, as it
does for the evaluations it leaves unwritten.

It answers None (any event may matter) whenever it cannot be sure for every type: a pending wait, a trigger that
reads the clock (every event moves the clock), the learner's roles or attributes (which change between events), a
module's values or session figures (which any event moves), or a trigger whose memory is not recorded yet. A
trigger that names the event type it fires on (``event.type == "x" and ...``) is the exception: whatever else it
reads, only an event of that type can make it hold.
"""

from datetime import UTC, datetime
from functools import lru_cache

from rule_engine import ast

from playbooks.engine.conditions import Condition, root_names
from playbooks.engine.journey import CompiledPlaybook, JourneyState, _keep_schedule, resolve
from playbooks.engine.sessions import SESSION_NAMES
from playbooks.engine.signals import COMPLETED, SESSION, SKIPPED

ANY = None  # an analysis result: every event type may matter
MOVES = frozenset({COMPLETED, SKIPPED})  # the path's own events: always decisive
_BUILTIN_KINDS = {
    "skips": MOVES,
    "skip_streak": MOVES,
    "completed_modules": frozenset({COMPLETED}),
    "avg_module_seconds": frozenset({COMPLETED}),
    "sessions": frozenset({SESSION}),
}
_CONSTANT = frozenset({"params"})  # the version's and the learner's parameter values: fixed for the journey
# Read from the learner's facts, which an identity sync changes between events: the next event would see the change.
_FACTS = frozenset({"roles", "role", "attributes"})


def decisive_kinds(playbook: CompiledPlaybook, state: JourneyState) -> frozenset[str] | None:
    """The event types whose evaluation, from ``state`` and later than every event evaluated, could decide or change
    anything but the clock and the tally; None: any type could."""
    if state.waits or resolve(playbook, state).pending_branch:
        return ANY
    kinds = set(MOVES)
    for name, (when_true, when_false) in _trigger_kinds(playbook).items():
        memory = state.triggers.get(name)
        if memory is None:
            return ANY  # the first evaluation records the condition's value
        affected = when_true if memory.last else when_false
        if affected is ANY:
            return ANY
        kinds |= affected
    if playbook.due or playbook.readiness is not None:
        probe = state.copy()
        _keep_schedule(playbook, probe, _any_moment(state), [])
        if probe.to_dict() != state.to_dict():
            return ANY  # the schedule has a stamp to record at the next evaluation
    return frozenset(kinds)


def _any_moment(state: JourneyState) -> datetime:
    # The schedule's stamps carry the moment, but whether it has one to record does not depend on it.
    return state.clock_time or datetime(2000, 1, 1, tzinfo=UTC)


Kinds = frozenset[str] | None


@lru_cache(maxsize=256)
def _trigger_kinds(playbook: CompiledPlaybook) -> dict[str, tuple[Kinds, Kinds]]:
    """Per trigger, the event types that could turn its condition while it holds, and while it does not."""
    clocked = {trigger.name for trigger, _condition in playbook.clock_triggers}
    counted = {signal.name: frozenset({signal.event}) for signal in playbook.signals}
    anything = {*SESSION_NAMES, "module", *(sequence.name for sequence in playbook.sequences)}
    return {
        trigger.name: _turns(condition, trigger.name in clocked, counted, anything)
        for trigger, condition in playbook.triggers
    }


def _turns(
    condition: Condition, clocked: bool, counted: dict[str, frozenset[str]], anything: set[str]
) -> tuple[Kinds, Kinds]:
    """(while it holds, while it does not): the event types that could turn the condition; None: any."""
    required = _required_event_type(condition.tree())
    if required is not None:
        # It can hold only at an event of the type it names, whatever the time or the learner's facts; while it
        # holds, an event of any other type turns it false (a change of its memory).
        return ANY, frozenset({required})
    names = root_names(condition.expression)
    if clocked or "event" in names or names & _FACTS or names & anything:
        return ANY, ANY  # every event moves the clock, the event and what any event moves; facts move between
    kinds: set[str] = set()
    for name in names - _CONSTANT:
        known = _BUILTIN_KINDS[name] if name in _BUILTIN_KINDS else counted.get(name)
        if known is None:
            return ANY, ANY  # a name this analysis does not know: assume the worst
        kinds |= known
    return frozenset(kinds), frozenset(kinds)


def _required_event_type(node: ast.ExpressionBase) -> str | None:
    """The event type a condition requires (``event.type == "x"`` as a term of its top-level ``and``), if any."""
    if isinstance(node, ast.LogicExpression) and node.type == "and":
        return _required_event_type(node.left) or _required_event_type(node.right)
    if isinstance(node, ast.ComparisonExpression) and node.type == "eq":
        for side, other in ((node.left, node.right), (node.right, node.left)):
            if _is_event_type(side) and isinstance(other, ast.StringExpression):
                return other.value
    return None


def _is_event_type(node: ast.ExpressionBase) -> bool:
    return (
        isinstance(node, ast.GetAttributeExpression)
        and node.name == "type"
        and isinstance(node.object, ast.SymbolExpression)
        and node.object.name == "event"
    )
