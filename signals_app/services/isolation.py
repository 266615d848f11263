"""A learner whose evaluation fails must not hold back the others of their task.

A task evaluates up to 50 learners in one transaction. If it fails for a reason a retry will not mend (bad data, a
defect), each learner is evaluated again alone; one that still fails is quarantined with the error, and its events
wait there until an admin retries them. Transient errors (the database restarting) are left to the task's retries.
"""

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import TypeVar

from django.db import InterfaceError, OperationalError, transaction

from signals_app import selectors
from signals_app.models import Quarantine
from signals_app.services.evaluation import PendingResult, learners_evaluate_clock, learners_evaluate_pending

logger = logging.getLogger(__name__)

TRANSIENT = (OperationalError, InterfaceError)
T = TypeVar("T")


def learners_evaluate_pending_isolated(
    *, learner_ids: list[int], now: datetime | None = None, fill_to: int = 0, drain_for: float = 0.0
) -> PendingResult:
    """``learners_evaluate_pending``, each learner retried alone (and quarantined) if the batch fails.

    With ``fill_to``, a batch smaller than that takes along the learners waiting longest (no other worker holding
    them), and while its batches come out full the task goes on with the next ones, for up to ``drain_for``
    seconds (``backlog`` says it stopped with learners still waiting). Under load the first tasks of a queue drain
    the backlog in full batches, each task's round trips shared by more events, and a task whose own learners were
    taken along, with nobody waiting, returns after two reads, with no transaction. If a batch fails, each of its
    learners and of those it could have taken along is tried alone. Only the task's own busy learners are handed
    back: those taken along that another worker holds are that worker's.
    """
    own = list(learner_ids)
    deadline = time.monotonic() + drain_for
    processed = decisions = quiet = 0
    busy: list[int] = []
    while True:
        room = max(0, fill_to - len(own))
        along = selectors.learners_waiting(limit=room * 4, exclude=own) if room else []
        if not along and not (own and selectors.learners_pending(learner_ids=own)):
            return PendingResult(processed, busy, decisions, quiet=quiet)
        results = _isolated(
            lambda ids: learners_evaluate_pending(learner_ids=ids, now=now),
            own + along,
            first=partial(learners_evaluate_pending, learner_ids=own, now=now, along=along, room=room),
        )
        processed += sum(r.processed for r in results)
        decisions += sum(r.decisions for r in results)
        quiet += sum(r.quiet for r in results)
        busy += sorted(pk for r in results for pk in r.busy if pk in own)
        full = fill_to > 0 and sum(r.taken for r in results) >= room
        if not full:
            return PendingResult(processed, busy, decisions, quiet=quiet)
        if time.monotonic() >= deadline:
            return PendingResult(processed, busy, decisions, quiet=quiet, backlog=True)
        own = []


def learners_evaluate_clock_isolated(*, learner_ids: list[int], now: datetime) -> int:
    """``learners_evaluate_clock``, each learner retried alone (and quarantined) if the batch fails."""
    return sum(_isolated(lambda ids: learners_evaluate_clock(learner_ids=ids, now=now), learner_ids))


def _isolated(
    evaluate: Callable[[list[int]], T], learner_ids: list[int], first: Callable[[], T] | None = None
) -> list[T]:
    """``first()`` (by default ``evaluate(learner_ids)``); if it fails, each learner alone."""
    try:
        return [first() if first else evaluate(learner_ids)]
    except TRANSIENT:
        raise
    except Exception as exc:
        if len(learner_ids) == 1:
            learner_quarantine(learner_id=learner_ids[0], error=exc)
            return []
        logger.warning("signals.evaluate.batch_failed", extra={"learners": learner_ids, "error": repr(exc)})
        return [result for pk in learner_ids for result in _isolated(evaluate, [pk])]


@transaction.atomic
def learner_quarantine(*, learner_id: int, error: BaseException) -> Quarantine:
    text = f"{error.__class__.__name__}: {error}"[:4000]
    logger.error("signals.evaluate.quarantined", exc_info=error, extra={"learner": learner_id, "error": text})
    quarantine, _created = Quarantine.objects.update_or_create(learner_id=learner_id, defaults={"error": text})
    return quarantine


@dataclass(frozen=True)
class Released:
    learners: list[int]


@transaction.atomic
def quarantines_release(*, quarantines: list[Quarantine]) -> Released:
    """Give quarantined learners another try (once what failed is fixed): their events are evaluated again."""
    from signals_app.services.ingestion import enqueue_evaluation

    learner_ids = sorted(q.learner_id for q in quarantines)
    Quarantine.objects.filter(learner_id__in=learner_ids).delete()
    transaction.on_commit(lambda: enqueue_evaluation(learner_ids))
    return Released(learner_ids)
