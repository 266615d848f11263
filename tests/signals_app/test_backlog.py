"""Tasks sized to the backlog: a task with room in its batch takes along learners waiting for their own task."""

import base64
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import pytest
import redis
from django.db import connection, transaction

from identity.models import Learner
from signals_app import tasks
from signals_app.models import Decision, Event, Quarantine
from signals_app.selectors import learners_waiting
from signals_app.services.isolation import learner_quarantine, learners_evaluate_pending_isolated
from tests.factories import api_key
from tests.pipeline.journeys import post_events
from tests.signals_app.test_isolation import _learners_with_one_poisoned

T0 = datetime(2026, 3, 2, 9, tzinfo=UTC)


def _pending(learners: list[Learner]) -> set[int]:
    waiting = Event.objects.filter(learner__in=learners, processed_at__isnull=True)
    return set(waiting.values_list("learner_id", flat=True))


@contextmanager
def held_by_another_worker(*learners: Learner) -> Iterator[None]:
    """The learners' row locks held from a second connection, as a worker evaluating them would, until the end."""
    locked, release = threading.Event(), threading.Event()

    def other_worker() -> None:
        try:
            with transaction.atomic():
                list(Learner.objects.select_for_update().filter(pk__in=[learner.pk for learner in learners]))
                locked.set()
                release.wait(timeout=30)
        finally:
            connection.close()

    thread = threading.Thread(target=other_worker)
    thread.start()
    try:
        assert locked.wait(timeout=30)
        yield
    finally:
        release.set()
        thread.join()


@pytest.mark.django_db
def test_a_task_with_room_evaluates_the_learners_waiting_longest_and_their_own_tasks_find_nothing(
    django_assert_max_num_queries,
):
    learners, poisoned = _learners_with_one_poisoned(6)
    learners.remove(poisoned)
    Event.objects.filter(learner=poisoned).delete()
    first, *others = learners
    Event.objects.filter(learner=others[-1]).update(received_at=datetime(2026, 3, 2, 10, tzinfo=UTC))

    result = learners_evaluate_pending_isolated(learner_ids=[first.pk], now=T0, fill_to=4)

    # The task's own learner and the three waiting longest: the last one received stays for its own task.
    assert result.processed == 4
    assert _pending(learners) == {others[-1].pk}
    assert set(Decision.objects.values_list("learner_id", flat=True)) == {first.pk, *(o.pk for o in others[:3])}
    later = learners_evaluate_pending_isolated(learner_ids=[others[0].pk], now=T0)
    assert (later.processed, later.decisions) == (0, 0)
    Event.objects.filter(learner=others[-1]).update(processed_at=T0)  # evaluated by another task meanwhile
    with django_assert_max_num_queries(2):  # nobody waiting, nothing of its own: two reads, no transaction
        left_behind = learners_evaluate_pending_isolated(learner_ids=[others[1].pk], now=T0, fill_to=50)
    assert (left_behind.processed, left_behind.busy) == (0, [])


@pytest.mark.django_db
def test_without_room_a_task_evaluates_only_its_own_learners():
    learners, poisoned = _learners_with_one_poisoned(3)
    own = [learner.pk for learner in learners if learner != poisoned]

    result = learners_evaluate_pending_isolated(learner_ids=own, now=T0, fill_to=2)

    assert result.processed == 2
    assert _pending(learners) == {poisoned.pk}
    assert not Quarantine.objects.exists()


@pytest.mark.django_db
def test_a_failing_learner_taken_along_is_quarantined_and_the_tasks_own_learner_is_evaluated():
    learners, poisoned = _learners_with_one_poisoned(3)
    own = next(learner for learner in learners if learner != poisoned)

    result = learners_evaluate_pending_isolated(learner_ids=[own.pk], now=T0, fill_to=3)

    assert (result.processed, result.busy) == (2, [])
    assert Quarantine.objects.get().learner == poisoned
    assert _pending(learners) == {poisoned.pk}


@pytest.mark.django_db
def test_quarantined_learners_are_not_taken_along():
    learners, poisoned = _learners_with_one_poisoned(3)
    learner_quarantine(learner_id=poisoned.pk, error=ValueError("bad data"))

    assert poisoned.pk not in learners_waiting(limit=10)
    assert set(learners_waiting(limit=10)) == {learner.pk for learner in learners if learner != poisoned}
    assert learners_waiting(limit=10, exclude=[learners[0].pk]) == [
        learner.pk for learner in learners if learner not in (poisoned, learners[0])
    ]


@pytest.mark.django_db(transaction=True)
def test_a_learner_taken_along_that_another_worker_holds_is_not_handed_back_as_the_tasks_own():
    learners, poisoned = _learners_with_one_poisoned(3)
    Event.objects.filter(learner=poisoned).delete()
    own, held = [learner for learner in learners if learner != poisoned]

    with held_by_another_worker(held):
        result = learners_evaluate_pending_isolated(learner_ids=[own.pk], now=T0, fill_to=50)
        mine = learners_evaluate_pending_isolated(learner_ids=[held.pk], now=T0, fill_to=50)

    assert (result.processed, result.busy) == (1, [])  # not requeued by this task: it was not given ``held``
    assert (mine.processed, mine.busy) == (0, [held.pk])  # its own task hands it back, to come again shortly
    assert _pending(learners) == {held.pk}


@pytest.mark.django_db
def test_a_draining_task_goes_on_while_its_batches_come_out_full_and_stops_on_time_otherwise():
    learners, poisoned = _learners_with_one_poisoned(7)
    Event.objects.filter(learner=poisoned).delete()

    stopped = learners_evaluate_pending_isolated(learner_ids=[], now=T0, fill_to=2)  # no time to drain
    assert (stopped.processed, stopped.backlog) == (2, True)
    assert len(_pending(learners)) == 4

    drained = learners_evaluate_pending_isolated(learner_ids=[], now=T0, fill_to=2, drain_for=60)
    assert (drained.processed, drained.backlog) == (4, False)  # batches of 2, 2, then an empty one: done
    assert _pending(learners) == set()


@pytest.mark.django_db(transaction=True)
def test_two_workers_draining_the_same_backlog_take_different_learners():
    learners, poisoned = _learners_with_one_poisoned(6)
    Event.objects.filter(learner=poisoned).delete()
    first, second, *rest = [learner for learner in learners if learner != poisoned]

    with held_by_another_worker(first, second):  # the two waiting longest, as a worker draining before this one
        result = learners_evaluate_pending_isolated(learner_ids=[], now=T0, fill_to=2)

    # Not the two held (found locked, and nothing done): the next two waiting.
    assert (result.processed, result.busy) == (2, [])
    assert _pending(learners) == {first.pk, second.pk, rest[-1].pk}


@pytest.mark.django_db
def test_a_task_out_of_drain_time_hands_the_rest_of_the_backlog_on_to_a_fresh_task(monkeypatch, settings):
    learners, poisoned = _learners_with_one_poisoned(121)
    Event.objects.filter(learner=poisoned).delete()
    monkeypatch.setattr(tasks, "DRAIN_SECONDS", 0)  # one batch, then the time is up
    _events_queue_taken(settings)

    processed = tasks.evaluate_learners.run(learner_ids=[])

    assert processed == 50 and len(_pending(learners)) == 70
    # The rest is not left to the sweeper: a task with no learners of its own, to drain from where this one stopped.
    assert _events_queue_taken(settings) == [("signals_app.evaluate_learners", {"learner_ids": []})]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("learners", "most", "sizes"),
    [(135, 100, [68, 67]), (100, 100, [100]), (1, 100, [1]), (201, 100, [67, 67, 67]), (135, 50, [45, 45, 45])],
)
def test_a_requests_learners_go_to_the_fewest_tasks_evenly_sized(
    client, settings, django_capture_on_commit_callbacks, learners, most, sizes
):
    """Not 50, 50 and 35 with the third waiting for a free worker process: two tasks side by side."""
    settings.EVALUATION_TASK_LEARNERS = most
    _events_queue_taken(settings)
    key, _ = api_key("events:write", can_create_learners=True)
    events = [
        {"id": f"request-{n}", "learner": f"request-{n}", "type": "page_view", "occurred_at": T0.isoformat()}
        for n in range(learners)
    ]

    with django_capture_on_commit_callbacks(execute=True):
        post_events(client, key, events)

    queued = _events_queue_taken(settings)
    given = [kwargs["learner_ids"] for task, kwargs in queued if task == "signals_app.evaluate_learners"]
    assert sorted(map(len, given), reverse=True) == sizes
    assert sorted(pk for ids in given for pk in ids) == sorted(Learner.objects.values_list("pk", flat=True))


def _events_queue_taken(settings) -> list[tuple[str, dict]]:
    """The tasks waiting in Redis's ``events`` queue (each task's name and keyword arguments), taken off it."""
    queue = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    messages = [json.loads(message) for message in queue.lrange("events", 0, -1)]
    queue.delete("events")
    queue.close()
    return [(m["headers"]["task"], json.loads(base64.b64decode(m["body"]))[1]) for m in messages]
