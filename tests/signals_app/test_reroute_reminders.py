"""A reminder still waiting when its enrolment is ended by a re-route is cancelled when it falls due, never sent,
and says why; one whose enrolment came back before it fell due goes out."""

from datetime import UTC, datetime, timedelta

import pytest
from django.core import mail

from delivery.models import Message, MessageStatus
from delivery.services import messages_deliver_due
from identity.services import learner_create, role_assign, role_unassign, role_upsert
from playbooks.models import Enrollment
from playbooks.services import learners_reroute, playbook_import
from signals_app.services import events_ingest, learner_evaluate_pending

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 2, 9, tzinfo=UTC)  # 10:00 in Berlin: no quiet hours until the evening
PLAYBOOK = """
slug: nudges
name: Nudges
audience: {roles: [newcomer]}
modules: [{slug: intro, title: Intro}, {slug: next, title: Next}]
steps: [{module: intro}, {module: next}]
triggers:
  - name: skipped
    when: skips >= 1
    then: [{remind: {channel: email, template: drop_off, delay: 2h}}]
"""


@pytest.fixture
def reminded():
    """Ada skipped the intro at T0: an e-mail reminder waits for T0 + 2h."""
    playbook_import(text=PLAYBOOK, publish=True)
    newcomer = role_upsert(slug="newcomer", name="Newcomer")
    ada = learner_create(external_id="ada", email="ada@example.com", timezone="Europe/Berlin", roles=[newcomer])
    learners_reroute(learner_ids=[ada.pk], now=T0 - timedelta(hours=1))
    body = {"id": "s1", "learner": "ada", "type": "module_skipped", "module": "intro", "occurred_at": T0.isoformat()}
    events_ingest(body=body, source="key:1", now=T0)
    learner_evaluate_pending(learner_id=ada.pk, now=T0)
    message = Message.objects.get()
    assert (message.status, message.due_at) == (MessageStatus.SCHEDULED, T0 + timedelta(hours=2))
    return ada, newcomer, message


def test_a_waiting_reminder_of_an_ended_enrolment_is_cancelled_when_due(reminded):
    ada, newcomer, message = reminded
    role_unassign(learner=ada, role=newcomer)
    learners_reroute(learner_ids=[ada.pk], now=T0 + timedelta(hours=1))
    assert Enrollment.objects.get().status == "ended"

    report = messages_deliver_due(now=T0 + timedelta(hours=2))

    message.refresh_from_db()
    assert (report.sent, report.cancelled, mail.outbox) == (0, 1, [])
    assert (message.status, message.cancel_reason) == (MessageStatus.CANCELLED, "the learner left the playbook")


def test_a_reminder_of_an_enrolment_given_back_before_it_is_due_goes_out(reminded):
    ada, newcomer, message = reminded
    role_unassign(learner=ada, role=newcomer)
    learners_reroute(learner_ids=[ada.pk], now=T0 + timedelta(minutes=30))
    role_assign(learner=ada, role=newcomer)
    learners_reroute(learner_ids=[ada.pk], now=T0 + timedelta(hours=1))

    report = messages_deliver_due(now=T0 + timedelta(hours=2))

    assert (report.sent, [m.to for m in mail.outbox]) == (1, [["ada@example.com"]])
