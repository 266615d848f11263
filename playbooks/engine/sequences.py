"""Sequence signals: how many times the learner's events went through the steps in order (A, then B, then C), each
step an event type with its own ``where``, a whole run lasting at most ``within`` from its first step to its last.

Other events may come between two steps; a step that comes before the one it follows does not count (out of order
is no sequence). Runs do not overlap: the event that completes one starts nothing.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from playbooks.engine.conditions import Condition
from playbooks.engine.signals import EventFact


@dataclass(frozen=True)
class CompiledSequence:
    name: str
    steps: tuple[tuple[str, Condition | None], ...]  # (event type, where)
    within: timedelta | None


def sequence_count(events: Sequence[EventFact], sequence: CompiledSequence) -> int:
    """``events`` in occurred_at order."""
    steps = sequence.steps
    # latest[i]: when the latest run that has done steps 0..i began. The latest is kept because it leaves the most
    # of ``within`` for the steps still to come, so no other run can finish where it cannot.
    latest: list[datetime | None] = [None] * len(steps)
    done = 0
    for event in events:
        if sequence_step(sequence, latest, event):
            done += 1
            latest = [None] * len(steps)
    return done


def sequence_step(sequence: CompiledSequence, latest: list[datetime | None], event: EventFact) -> bool:
    """Move the runs in ``latest`` on by ``event`` (in place); True when it completes a run (the caller then starts
    afresh). Shared by the count over a history and the running tally."""
    steps, within = sequence.steps, sequence.within
    context = None
    for index in range(len(steps) - 1, -1, -1):  # last step first, so that one event moves a run one step
        kind, where = steps[index]
        if event.type != kind:
            continue
        context = context or {"event": event.as_context()}
        if where is not None and not where.evaluate(context)[0]:
            continue
        began = event.occurred_at if index == 0 else latest[index - 1]
        if began is None or (within is not None and event.occurred_at - began > within):
            continue
        if index == len(steps) - 1:
            return True
        latest[index] = began if latest[index] is None else max(latest[index], began)
    return False
