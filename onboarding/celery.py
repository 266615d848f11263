"""The Celery app. Settings come from Django settings with the CELERY_ prefix (onboarding/settings/base.py)."""

import gc
import os
import sys
import time
from enum import StrEnum

from celery import Celery, signals
from django.core.exceptions import ImproperlyConfigured
from kombu import Queue

from signals_app.clock import CLOCK_SWEEP_EVERY, DELIVERY_EVERY

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "onboarding.settings.base")


class CeleryQueue(StrEnum):
    """One queue per workload, so that a burst of identity sync never delays event evaluation."""

    DEFAULT = "default"
    EVENTS = "events"
    REMINDERS = "reminders"
    IDENTITY = "identity"


def worker_argv(*, concurrency: int, loglevel: str = "INFO") -> list[str]:
    """The command line of a worker consuming every queue (tests and benchmarks start workers with it)."""
    queues = ",".join(queue.value for queue in CeleryQueue)
    return [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "onboarding",
        "worker",
        "--queues",
        queues,
        "--concurrency",
        str(concurrency),
        "--loglevel",
        loglevel,
        "--without-mingle",
        "--without-gossip",
    ]


# Tasks do not name their queue; routing by stable task name keeps the lower apps free of this module.
TASK_ROUTES = {
    "identity.*": {"queue": CeleryQueue.IDENTITY.value},
    "delivery.*": {"queue": CeleryQueue.REMINDERS.value},
    # Minutes of simulation: kept off the events queue, where it would hold up live evaluation.
    "signals_app.run_cohort": {"queue": CeleryQueue.DEFAULT.value},
    "signals_app.run_cohort_chunk": {"queue": CeleryQueue.DEFAULT.value},
    "signals_app.*": {"queue": CeleryQueue.EVENTS.value},
    "playbooks.*": {"queue": CeleryQueue.EVENTS.value},
    # Rollups: off the events queue, so that a long fold never holds up live evaluation.
    "insights.*": {"queue": CeleryQueue.DEFAULT.value},
}

# The broker hands a task that is not acknowledged within the visibility timeout (CELERY_VISIBILITY_TIMEOUT: the
# task time limit plus the longest retry countdown, see settings) to another worker. A cohort simulation may run up to
# an hour, so it is acknowledged on receipt instead of at the end: a worker lost mid-run leaves that run "running"
# (start it again from the admin) rather than a second and third copy started while the first still runs.
# The identity sync (up to 3 hours for 100,000 people) likewise, with a heartbeat and a sweeper (identity/tasks.py).
TASK_ANNOTATIONS = {"signals_app.run_cohort": {"acks_late": False}, "identity.sync_source": {"acks_late": False}}

# Periodic work, in one place; django-celery-beat's DatabaseScheduler copies these into its tables at start, where
# admins can see and pause them.
BEAT_SCHEDULE = {
    "sweep unprocessed events": {"task": "signals_app.sweep_unprocessed", "schedule": 60.0},
    "evaluate time-based conditions": {
        "task": "signals_app.sweep_clock",
        "schedule": CLOCK_SWEEP_EVERY.total_seconds(),
    },
    # The name stays as it was when reminders were delivered by signals_app: beat's database row keeps it.
    "deliver due reminders": {
        "task": "delivery.deliver_due",
        "schedule": DELIVERY_EVERY.total_seconds(),
    },
    "restart lost cohort runs": {"task": "signals_app.sweep_cohort_runs", "schedule": 300.0},
    # Each source's nightly sync is its own database entry, kept by identity/services/sources.py.
    "restart lost identity syncs": {"task": "identity.sweep_sync_runs", "schedule": 300.0},
    # What changed in the last minute (and a trailing window, insights/services/rollups.py) into the dashboards.
    "fold insights rollups": {"task": "insights.fold_rollups", "schedule": 60.0},
    # Running bandits' weights from their posteriors (insights/services/bandits.py); queue default, as insights.*.
    "allocate bandit arms": {"task": "insights.allocate_bandits", "schedule": 900.0},
}

app = Celery("onboarding")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.task_queues = [Queue(queue.value) for queue in CeleryQueue]
app.conf.task_default_queue = CeleryQueue.DEFAULT.value
app.conf.task_routes = TASK_ROUTES
app.conf.task_annotations = TASK_ANNOTATIONS
app.conf.beat_schedule = BEAT_SCHEDULE
app.autodiscover_tasks()


@signals.task_postrun.connect
def close_broken_database_connections(state: str | None = None, **kwargs) -> None:
    """After a task that did not succeed, drop database connections that no longer work, as Django does after each
    request. Workers keep their connections across tasks (CELERY_DB_REUSE_MAX), so without this a connection broken
    by a database restart could fail that process's later tasks until Celery recycles it."""
    if state == "SUCCESS":
        return
    from django.db import connections

    for connection in connections.all(initialized_only=True):
        connection.close_if_unusable_or_obsolete()


_running: dict[str, tuple[float, object]] = {}  # task id -> (start, log context token), in this pool process


@signals.task_prerun.connect
def bind_task_log_context(task_id: str | None = None, task=None, kwargs: dict | None = None, **_) -> None:
    """Each record a task logs names the task and the ids it was given (learner_ids, run_id, ...)."""
    from common.logging import bind_log_context

    ids = {key: value for key, value in (kwargs or {}).items() if key.endswith(("_id", "_ids"))}
    token = bind_log_context(task_id=task_id, task=getattr(task, "name", None), **ids)
    _running[task_id] = (time.perf_counter(), token)


@signals.task_postrun.connect
def time_task(task_id: str | None = None, task=None, state: str | None = None, **_) -> None:
    from common.logging import reset_log_context
    from common.metrics import TASK_SECONDS

    started, token = _running.pop(task_id, (None, None))
    if started is None:
        return
    reset_log_context(token)
    TASK_SECONDS.labels(getattr(task, "name", "unknown"), state or "UNKNOWN").observe(time.perf_counter() - started)


@signals.worker_process_init.connect
def freeze_startup_objects(**_) -> None:
    """A pool process inherits Django's start-up objects (about 140,000, alive until it exits): moved out of the
    garbage collector's reach, so that the full collections a task's allocations trigger do not scan them all again
    each time (docs/benchmarks.md)."""
    gc.freeze()


@signals.worker_init.connect
def serve_worker_metrics(**_) -> None:
    """With METRICS_WORKER_PORT, the worker's main process serves its pool's figures (PROMETHEUS_MULTIPROC_DIR)."""
    from django.conf import settings

    if not settings.METRICS_WORKER_PORT:
        return
    from prometheus_client import CollectorRegistry, start_http_server
    from prometheus_client.multiprocess import MultiProcessCollector

    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        raise ImproperlyConfigured("METRICS_WORKER_PORT needs PROMETHEUS_MULTIPROC_DIR (the pool's processes' files)")
    registry = CollectorRegistry()
    MultiProcessCollector(registry)
    start_http_server(settings.METRICS_WORKER_PORT, addr=settings.METRICS_WORKER_ADDRESS, registry=registry)
