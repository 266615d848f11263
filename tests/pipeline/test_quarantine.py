"""A poisoned learner in a task of 50, through a real worker: the 49 others are evaluated, it is quarantined."""

import pytest

from signals_app.models import Event, Quarantine
from signals_app.selectors import learners_with_stale_events
from signals_app.services.ingestion import enqueue_evaluation
from tests.pipeline.conftest import wait_until
from tests.signals_app.test_isolation import T0, _learners_with_one_poisoned

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]


def test_one_learner_that_cannot_be_evaluated_never_holds_back_the_others(start_worker):
    learners, poisoned = _learners_with_one_poisoned(50)
    worker = start_worker()

    enqueue_evaluation([learner.pk for learner in learners])  # one task of 50 learners

    wait_until(Quarantine.objects.exists, what="the quarantine")
    wait_until(lambda: Event.objects.filter(processed_at__isnull=True).count() == 1, what="the 49 others")
    worker.stop()
    assert Quarantine.objects.get().learner == poisoned
    assert Event.objects.get(processed_at__isnull=True).learner == poisoned
    assert learners_with_stale_events(older_than=T0.replace(year=2100), limit=100) == []  # the sweeper leaves it
