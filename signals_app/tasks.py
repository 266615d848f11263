"""Celery tasks of signals_app: thin wrappers over services, idempotent, so late acks are safe."""

import logging
from datetime import datetime, timedelta

from celery import shared_task
from django.db import InterfaceError, OperationalError
from django.utils import timezone

from common.metrics import EVENTS_EVALUATED, EVENTS_QUIET
from signals_app import selectors

logger = logging.getLogger(__name__)

# An event still unprocessed this long after it was stored missed its task (broker down, worker lost).
SWEEP_AFTER = timedelta(seconds=60)
SWEEP_BATCH = 10_000
BUSY_RETRY_SECONDS = 0.2
# How long a task goes on draining a backlog in full batches before it hands on to a fresh task: long enough to
# spare the queue's round trips, short enough that a deploy's warm shutdown does not wait on it.
DRAIN_SECONDS = 2.0

RETRIED = {
    "autoretry_for": (OperationalError, InterfaceError),
    "retry_backoff": True,
    "retry_backoff_max": 60,
    "max_retries": 8,
}


@shared_task(name="signals_app.evaluate_learners", acks_late=True, reject_on_worker_lost=True, **RETRIED)
def evaluate_learners(*, learner_ids: list[int]) -> int:
    """Evaluate each learner's pending events, taking along the learners waiting longest, and drain the backlog
    for up to DRAIN_SECONDS. Idempotent: a redelivery finds them processed."""
    from signals_app.services.ingestion import LEARNERS_PER_TASK
    from signals_app.services.isolation import learners_evaluate_pending_isolated

    result = learners_evaluate_pending_isolated(
        learner_ids=learner_ids, fill_to=LEARNERS_PER_TASK, drain_for=DRAIN_SECONDS
    )
    EVENTS_EVALUATED.inc(result.processed)
    EVENTS_QUIET.inc(result.quiet)
    if result.busy:
        # Another worker holds these learners now; come back to them shortly rather than wait on their locks.
        evaluate_learners.apply_async(kwargs={"learner_ids": result.busy}, countdown=BUSY_RETRY_SECONDS)
    if result.backlog:
        # A fresh task, with no learners of its own, goes on draining behind the others in the queue. If the broker
        # refuses it, the work done stands and the next request's task (or the sweeper) takes the rest.
        evaluate_learners.delay(learner_ids=[])
    return result.processed


@shared_task(name="signals_app.evaluate_clock", acks_late=True, reject_on_worker_lost=True, **RETRIED)
def evaluate_clock(*, learner_ids: list[int], at: str) -> int:
    """Time-based conditions at ``at`` (ISO 8601). Idempotent: decisions are keyed by that moment."""
    from signals_app.services.isolation import learners_evaluate_clock_isolated

    return learners_evaluate_clock_isolated(learner_ids=learner_ids, now=datetime.fromisoformat(at))


@shared_task(name="signals_app.sweep_unprocessed")
def sweep_unprocessed() -> int:
    """Re-enqueue learners whose events were stored but never evaluated."""
    from signals_app.services.ingestion import events_requeue_stale

    return events_requeue_stale(older_than=timezone.now() - SWEEP_AFTER, limit=SWEEP_BATCH)


@shared_task(name="signals_app.sweep_clock")
def sweep_clock() -> int:
    """Enqueue a clock evaluation for learners whose playbooks have time-based conditions."""
    learner_ids = selectors.learners_with_clock_conditions()
    at = timezone.now().replace(microsecond=0).isoformat()
    for start in range(0, len(learner_ids), 200):
        evaluate_clock.delay(learner_ids=learner_ids[start : start + 200], at=at)
    return len(learner_ids)


@shared_task(
    name="signals_app.run_cohort", acks_late=True, reject_on_worker_lost=True, time_limit=3600, soft_time_limit=3540
)
def run_cohort(*, run_id: int) -> None:
    """A cohort simulation started from the admin: cut into chunks for the workers (``run_cohort_chunk``)."""
    from signals_app.services.cohorts import cohort_run_execute

    cohort_run_execute(run_id=run_id)


@shared_task(name="signals_app.run_cohort_chunk", acks_late=True, reject_on_worker_lost=True)
def run_cohort_chunk(*, run_id: int, chunk: int) -> None:
    """One chunk of a cohort run's learners; redelivered, it runs again unless its tallies were kept."""
    from signals_app.services.cohorts import cohort_chunk_execute

    cohort_chunk_execute(run_id=run_id, chunk=chunk)


@shared_task(name="signals_app.sweep_cohort_runs")
def sweep_cohort_runs() -> int:
    """Start again the cohort runs whose worker was lost (the run task is acknowledged on receipt)."""
    from signals_app.services.cohorts import cohort_runs_requeue_stale

    return len(cohort_runs_requeue_stale(now=timezone.now()))
