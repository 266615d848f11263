"""Enrolment under the learner's lock: the identity task and a first event enrolling one learner at once."""

import threading
from datetime import UTC, datetime

import pytest
from django.db import connection, transaction

from identity.models import Learner
from identity.services import learner_create, role_upsert
from playbooks.models import Enrollment
from playbooks.services import playbook_import
from playbooks.tasks import enroll_learner
from signals_app.services import events_ingest, learner_evaluate_pending
from tests.playbooks.engine.replay import SCENARIOS

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_enrolment_task_waits_for_an_evaluation_enrolling_the_same_learner(settings):
    settings.CELERY_TASK_ALWAYS_EAGER = False
    playbook_import(text=(SCENARIOS / "support-specialist" / "playbook.yaml").read_text(), publish=True)
    learner = learner_create(external_id="new-hire", roles=[role_upsert(slug="support_specialist", name="S")])
    moment = datetime(2026, 3, 2, 9, tzinfo=UTC)
    event = {"id": "e1", "learner": "new-hire", "type": "module_started", "module": "welcome"}
    events_ingest(body={**event, "occurred_at": moment.isoformat()}, source="key:1", now=moment)
    evaluation_holds_the_lock, outcome = threading.Event(), {}

    def task() -> None:
        evaluation_holds_the_lock.wait(10)
        try:
            outcome["enrolled"] = enroll_learner.apply(kwargs={"learner_id": learner.pk}, throw=True).get()
        except Exception as exc:  # the race this test is about: reported, not raised in a thread
            outcome["error"] = exc
        finally:
            connection.close()

    racer = threading.Thread(target=task)
    racer.start()
    with transaction.atomic():
        Learner.objects.select_for_update().get(pk=learner.pk)  # the worker's lock, as evaluation takes it
        evaluation_holds_the_lock.set()
        racer.join(0.5)
        assert racer.is_alive(), "the enrolment task did not wait for the learner's lock"
        learner_evaluate_pending(learner_id=learner.pk, now=moment)
    racer.join(10)

    assert outcome == {"enrolled": 0}
    assert Enrollment.objects.filter(learner=learner).count() == 1
