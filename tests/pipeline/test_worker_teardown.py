"""A test may end while the module's worker still has work it set going; the database is emptied after each test
(TRUNCATE), which deadlocked with a task still writing and failed the test in its teardown. The worker now finishes
first (tests/pipeline/conftest.py): each test here leaves a thousand events to evaluate behind it."""

import pytest

from playbooks.services import playbook_import
from signals_app.models import Event
from tests.factories import api_key
from tests.pipeline.journeys import post_events
from tests.playbooks.engine.replay import SCENARIOS

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize("run", range(3))
def test_a_test_ending_with_the_worker_busy_leaves_an_empty_database_to_the_next(celery_worker_process, client, run):
    assert not Event.objects.exists()  # the previous run's events were flushed, evaluated or not
    playbook_import(text=(SCENARIOS / "support-specialist" / "playbook.yaml").read_text(), publish=True)
    key, _ = api_key("events:write", can_create_learners=True)
    events = [
        {"id": f"busy-{n}", "learner": f"busy-{n % 400}", "type": "page_view", "occurred_at": "2026-11-01T10:00:00Z"}
        for n in range(1000)
    ]
    post_events(client, key, events)
