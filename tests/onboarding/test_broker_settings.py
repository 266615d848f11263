"""The broker settings fit the tasks: a task a killed worker took comes back within minutes, and never while a live
worker still has it (tests/pipeline/test_frozen_redis.py shows the socket timeouts at work)."""

from django.conf import settings

from onboarding.celery import app as celery_app


def _our_tasks() -> list:
    celery_app.loader.import_default_modules()
    return [task for name, task in sorted(celery_app.tasks.items()) if not name.startswith("celery.")]


def _longest_retry_countdown(task) -> float:
    """Celery's exponential backoff: 2**retries seconds before the next try, capped at retry_backoff_max."""
    if not getattr(task, "autoretry_for", None) or not getattr(task, "retry_backoff", False):
        return 0.0
    cap = getattr(task, "retry_backoff_max", None) or 600  # Celery's default cap
    return min(cap, int(task.retry_backoff) * 2 ** (task.max_retries - 1))


def _longest_unacknowledged(task) -> float:
    """A message stays unacknowledged while its countdown runs, and with acks_late until the task ends."""
    time_limit = task.time_limit or celery_app.conf.task_time_limit
    return _longest_retry_countdown(task) + (time_limit if task.acks_late else 0)


def test_no_task_is_redelivered_while_a_worker_still_holds_it():
    visibility_timeout = settings.REDIS_TRANSPORT_OPTIONS["visibility_timeout"]

    held_too_long = {
        task.name: _longest_unacknowledged(task)
        for task in _our_tasks()
        if _longest_unacknowledged(task) >= visibility_timeout
    }

    assert held_too_long == {}, f"visibility timeout {visibility_timeout}s"


def test_a_killed_workers_tasks_come_back_within_minutes_not_an_hour():
    assert settings.REDIS_TRANSPORT_OPTIONS["visibility_timeout"] <= 10 * 60
    assert celery_app.tasks["signals_app.run_cohort"].acks_late is False  # it may run an hour: acked on receipt


def test_every_redis_call_is_bounded_and_a_publish_is_tried_once():
    options = settings.REDIS_TRANSPORT_OPTIONS

    assert 0 < options["socket_timeout"] <= 2 and 0 < options["socket_connect_timeout"] <= 2
    assert celery_app.conf.broker_transport_options == options  # the test settings run on Redis like production
    assert celery_app.conf.task_publish_retry_policy["max_retries"] == 0
