"""Prometheus counters and histograms that the processes themselves count (prometheus-client).

Gunicorn and Celery fork worker processes, each with its own memory: with ``PROMETHEUS_MULTIPROC_DIR`` set (before
any process starts; see docs/operations.md) each process writes its values to files in that folder and ``/metrics``
sums them over every process of the machine. Without it (``runserver``, a test) the values live in the process.
Figures read from the database at each scrape (outbox depth, evaluation lag, sync runs) are in onboarding/metrics.py.

Counters count what was committed: callers increment them on commit, so that a rolled-back transaction (the
simulator's, a failed batch) counts nothing.
"""

from collections.abc import Iterable

from django.db import transaction
from prometheus_client import Counter, Histogram

EVENTS_ACCEPTED = Counter("onboarding_events_accepted", "Events stored (new ids), by sender kind.", ["sender"])
EVENTS_DUPLICATES = Counter(
    "onboarding_events_duplicates", "Events received again under an id already stored (retries).", ["sender"]
)
EVENTS_CONFLICTS = Counter(
    "onboarding_events_conflicts", "Retried ids whose body differed from the stored event (the first is kept).", []
)
EVENTS_EVALUATED = Counter("onboarding_events_evaluated", "Events evaluated by the workers.", [])
EVENTS_QUIET = Counter(
    "onboarding_events_quiet", "Of the events evaluated, those marked on the quiet path, without the engine.", []
)
DECISIONS = Counter("onboarding_decisions", "Decisions logged, by kind (next_module, branch, trigger, ...).", ["kind"])
OUTBOX_ATTEMPTS = Counter(
    "onboarding_outbox_attempts",
    "Outbox delivery attempts, by channel and outcome (sent, retry, dead).",
    ["channel", "outcome"],
)
REQUEST_SECONDS = Histogram(
    "onboarding_http_request_duration_seconds",
    "Time from request to response in the web process, by method, URL pattern and status.",
    ["method", "route", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
TASK_SECONDS = Histogram(
    "onboarding_task_duration_seconds",
    "Time a Celery task ran, by task name and final state.",
    ["task", "state"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0),
)


def sender_kind(source: str) -> str:
    """``key:12`` (an API key) or ``web:7`` (the learner page): the kind only, so that labels stay few."""
    return source.split(":", 1)[0] or "other"


def count_events_on_commit(*, source: str, accepted: int, duplicates: int, conflicts: int) -> None:
    def count() -> None:
        sender = sender_kind(source)
        EVENTS_ACCEPTED.labels(sender).inc(accepted)
        EVENTS_DUPLICATES.labels(sender).inc(duplicates)
        EVENTS_CONFLICTS.inc(conflicts)

    transaction.on_commit(count)


def count_decisions_on_commit(kinds: Iterable[str]) -> None:
    kinds = list(kinds)
    if not kinds:
        return

    def count() -> None:
        for kind in kinds:
            DECISIONS.labels(kind).inc()

    transaction.on_commit(count)
