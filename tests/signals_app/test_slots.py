"""Queue slots in the real Redis: a burst of requests queues a few evaluation tasks, not one per request."""

import time

import pytest
import redis
from django.conf import settings

from signals_app.services import slots
from signals_app.services.ingestion import enqueue_evaluation
from signals_app.services.slots import ALL_TAKEN, UNCOORDINATED, slot_release, slot_take


@pytest.fixture
def broker(settings) -> redis.Redis:
    settings.EVALUATION_QUEUED_TASKS = 3
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    client.delete(*slots._keys(), "events")
    yield client
    client.delete(*slots._keys(), "events")


def test_slots_are_taken_in_turn_until_none_is_free_and_a_released_one_is_free_again(broker):
    assert [slot_take() for _ in range(4)] == [1, 2, 3, ALL_TAKEN]
    slot_release(2)
    assert slot_take() == 2
    assert slot_take() == ALL_TAKEN


def test_a_slot_whose_task_was_lost_frees_itself(broker, monkeypatch):
    monkeypatch.setattr(slots, "SLOT_SECONDS", 0.2)
    assert [slot_take() for _ in range(4)] == [1, 2, 3, ALL_TAKEN]
    time.sleep(0.3)
    assert slot_take() == 1


def test_a_burst_of_requests_queues_one_task_per_slot_and_later_requests_none(broker):
    for learner_id in range(1, 21):
        enqueue_evaluation([learner_id])
    enqueue_evaluation(list(range(100, 300)))  # 200 learners: tasks of 50, but no slot is free

    assert broker.llen("events") == settings.EVALUATION_QUEUED_TASKS == 3


def test_a_large_request_takes_a_slot_per_task_of_50_learners(broker):
    enqueue_evaluation(list(range(1, 121)))  # three tasks of 50, 50 and 20

    assert broker.llen("events") == 3
    assert slot_take() == ALL_TAKEN


def test_without_redis_every_request_enqueues_its_task(settings):
    settings.CELERY_BROKER_URL = "filesystem://"

    assert slot_take() == UNCOORDINATED
