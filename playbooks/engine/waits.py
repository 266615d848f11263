"""Waits: an action that waits up to ``within`` for an event (of a type, with a ``where``, keyed to the module or a
property of the event that fired the trigger) and then runs its ``then`` actions if it came, its ``else`` actions if
it did not.

A wait is resolved exactly once, at the first evaluation that can decide it: the awaited event's own (when it
happened between the wait's start and its deadline, however late it arrives), or else the first evaluation after
the deadline, an event's or a clock sweep's. Pure: the engine keeps the pending waits in the journey state.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from playbooks.engine.conditions import EVENT_FILTER, Condition, compile_condition
from playbooks.engine.durations import parse_duration
from playbooks.engine.signals import EventFact
from playbooks.engine.spec import ActionSpec

WAIT_KEYS = ("event", "where", "key", "within", "then", "else")
CAME, TIMED_OUT = "came", "timed_out"


@dataclass(frozen=True)
class CompiledWait:
    event: str
    where: Condition | None
    key: str | None  # "module" or "properties.<name>"
    within: timedelta
    then: tuple[ActionSpec, ...]
    otherwise: tuple[ActionSpec, ...]


def compile_wait(argument: dict[str, Any]) -> CompiledWait:
    """A validated wait action's argument."""
    where = argument.get("where")
    return CompiledWait(
        event=argument["event"],
        where=compile_condition(where, EVENT_FILTER) if where else None,
        key=argument.get("key"),
        within=parse_duration(argument["within"]),
        then=nested_actions(argument.get("then")),
        otherwise=nested_actions(argument.get("else")),
    )


def nested_actions(actions: list[Any] | None) -> tuple[ActionSpec, ...]:
    """A wait's action list as the file writes it: ``complete`` bare or ``{kind: argument}``."""
    specs = []
    for action in actions or ():
        if isinstance(action, str):
            specs.append(ActionSpec(action))
            continue
        ((kind, argument),) = action.items()
        specs.append(ActionSpec(kind, None if kind == "complete" and argument is True else argument))
    return tuple(specs)


def key_value(key: str | None, event: dict[str, Any], module: str | None) -> Any:
    """The value a wait is keyed to, in an event context (``{"type", "module", "properties"}``); a wait started by
    the clock (no event) is keyed to the learner's current module."""
    if key is None:
        return None
    if key == "module":
        return event.get("module") if event.get("type") is not None else module
    return (event.get("properties") or {}).get(key.removeprefix("properties."))


def came(wait: CompiledWait, pending: dict[str, Any], event: EventFact) -> bool:
    """Whether ``event`` is the one ``pending`` waits for: its type, in time, its key and its ``where``."""
    if event.type != wait.event:
        return False
    if not datetime.fromisoformat(pending["started"]) <= event.occurred_at <= datetime.fromisoformat(pending["until"]):
        return False
    context = event.as_context()
    if wait.key is not None and key_value(wait.key, context, None) != pending["key"]:
        return False
    return wait.where is None or wait.where.evaluate({"event": context})[0]


def keyed(wait: CompiledWait, value: Any) -> str:
    """`` with module = 'api-lab'`` for the decision log."""
    return f" with {wait.key} = {value!r}" if wait.key is not None else ""
