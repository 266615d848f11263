"""Urgent first: a learner who completes or skips a module is waiting for their next one, so a real worker serves
their evaluation ahead of the routine events (page views, tickets, progress) already queued before it."""

from datetime import UTC, datetime, timedelta

import pytest

from identity.services import learner_create, role_upsert
from playbooks.services import playbook_import
from signals_app.models import Decision, Event
from tests.factories import api_key
from tests.pipeline.conftest import ROOT, WorkerProcess, wait_until
from tests.pipeline.journeys import all_processed, post_events

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]

PLAYBOOK = ROOT / "tests" / "scenarios" / "support-specialist" / "playbook.yaml"
T0 = datetime(2026, 3, 2, 9, tzinfo=UTC)


def test_a_completion_is_evaluated_before_a_backlog_queued_ahead_of_it(client, settings):
    from onboarding.celery import app

    app.control.purge()  # tasks earlier tests left with no worker running are not this test's
    playbook_import(text=PLAYBOOK.read_text(), publish=True)
    role = role_upsert(slug="support_specialist", name="Support specialist")
    for number in range(41):
        learner_create(external_id=f"u{number}", roles=[role])
    key, _ = api_key("events:write")
    settings.EVALUATION_TASK_LEARNERS = 5  # the page views wait in 8 tasks

    at = (T0 + timedelta(minutes=5)).isoformat()
    views = [{"id": f"view-{n}", "learner": f"u{n}", "type": "page_view", "occurred_at": at} for n in range(40)]
    post_events(client, key, views)
    done = {"id": "done", "learner": "u40", "type": "module_completed", "module": "welcome", "occurred_at": at}
    done["properties"] = {"duration_seconds": 200}
    post_events(client, key, [done])  # queued last, with no worker running yet

    worker = WorkerProcess(concurrency=1).start()
    try:
        wait_until(all_processed, timeout=120, what="the worker to evaluate every event")
    finally:
        worker.stop()

    completion = Event.objects.get(client_id="done")
    first_view = Event.objects.exclude(pk=completion.pk).order_by("processed_at").first()
    assert completion.processed_at < first_view.processed_at
    assert Decision.objects.filter(event=completion, kind="next_module").exists()
