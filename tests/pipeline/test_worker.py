import os

from django_celery_beat.utils import is_database_scheduler

from onboarding.celery import CeleryQueue
from onboarding.celery import app as celery_app
from onboarding.tasks import ping


def test_a_task_sent_through_redis_runs_in_the_worker_process(celery_worker_process):
    answer = ping.delay().get(timeout=30)

    assert answer["pong"] == "ok"
    assert answer["pid"] not in (os.getpid(), celery_worker_process.pid)  # a prefork child of the real worker


def test_tasks_route_to_their_workload_queue():
    router = celery_app.amqp.router

    def queue_of(name: str) -> str:
        return router.route({}, name)["queue"].name

    assert queue_of("signals_app.evaluate_learner") == CeleryQueue.EVENTS
    assert queue_of("delivery.deliver_due") == CeleryQueue.REMINDERS
    assert queue_of("delivery.cancel_for_learner") == CeleryQueue.REMINDERS
    assert queue_of("identity.sync_source") == CeleryQueue.IDENTITY
    assert queue_of("onboarding.ping") == CeleryQueue.DEFAULT


def test_the_app_only_speaks_json_and_prefetches_one_task():
    conf = celery_app.conf

    assert (conf.task_serializer, conf.result_serializer, conf.accept_content) == ("json", "json", ["json"])
    assert conf.worker_prefetch_multiplier == 1
    assert conf.task_time_limit > conf.task_soft_time_limit > 0
    assert is_database_scheduler(conf.beat_scheduler)  # django-celery-beat's, made to ride out outages
