"""The Celery app. Settings come from Django settings with the CELERY_ prefix (onboarding/settings/base.py)."""

import os
import sys
from enum import StrEnum

from celery import Celery
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
    "signals_app.*": {"queue": CeleryQueue.EVENTS.value},
    "playbooks.*": {"queue": CeleryQueue.EVENTS.value},
}

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
}

app = Celery("onboarding")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.task_queues = [Queue(queue.value) for queue in CeleryQueue]
app.conf.task_default_queue = CeleryQueue.DEFAULT.value
app.conf.task_routes = TASK_ROUTES
app.conf.beat_schedule = BEAT_SCHEDULE
app.autodiscover_tasks()
