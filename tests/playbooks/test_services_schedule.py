"""Schedule and readiness through the database: stored on the steps, read back by version_spec, and the readiness
milestone recorded on the enrolment by the live service."""

from datetime import UTC, datetime, timedelta

import pytest
import yaml

from identity.services import learner_create, role_upsert
from playbooks.engine.document import document_from_spec
from playbooks.engine.signals import EventFact
from playbooks.models import Enrollment, Step
from playbooks.selectors import version_spec
from playbooks.services import enrollment_evaluate, learner_enroll, playbook_import
from tests.signals_app.test_examples import EXAMPLES

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 2, 9, tzinfo=UTC)
TEXT = (EXAMPLES / "schedule-readiness.yaml").read_text()


def test_due_and_readiness_are_stored_on_the_steps_and_read_back_as_written():
    version = playbook_import(text=TEXT, publish=True).version

    rows = list(Step.objects.filter(version=version).values_list("due_after", "due_from", "readiness"))
    assert rows == [("1d", "", False), ("3d", "reached", False), ("10d", "enrolment", True)]
    assert document_from_spec(version_spec(version=version)) == yaml.safe_load(TEXT)


def test_completing_the_readiness_step_sets_ready_at_on_the_enrolment():
    playbook_import(text=TEXT, publish=True)
    learner = learner_create(external_id="ada", roles=[role_upsert(slug="support_specialist", name="Support")])
    learner_enroll(learner=learner, now=T0)
    events: list[EventFact] = []
    for module, offset in [("welcome", timedelta(hours=2)), ("crm-basics", timedelta(days=2))]:
        events.append(EventFact("module_completed", T0 + offset, module))
        enrollment_evaluate(
            enrollment=Enrollment.objects.get(learner=learner), events=events, event=events[-1], now=T0 + offset
        )
    assert Enrollment.objects.get(learner=learner).ready_at is None

    events.append(EventFact("module_completed", T0 + timedelta(days=4, hours=3), "first-ticket"))
    decisions = enrollment_evaluate(
        enrollment=Enrollment.objects.get(learner=learner), events=events, event=events[-1], now=events[-1].occurred_at
    )

    enrollment = Enrollment.objects.get(learner=learner)
    assert enrollment.ready_at == T0 + timedelta(days=4, hours=3)
    assert enrollment.ready_at - enrollment.enrolled_at == timedelta(days=4, hours=3)
    assert [d.step for d in decisions if d.kind == "ready"] == ["first-ticket"]
