"""The learner's reminder settings hold at the moment of sending too, through a real worker and a real SMTP sink: a
reminder planned before the learner opted out of e-mail reaches their page instead, and one planned before they
snoozed waits for the snooze to end."""

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from delivery.models import Message, MessageStatus
from delivery.services import preferences_update
from tests.pipeline.test_delivery_faults import (
    _reminders,
    _tick_until,
    smtp_worker,  # noqa: F401  (a fixture used by name)
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]


def test_a_reminder_planned_before_an_e_mail_opt_out_goes_to_the_learners_page(smtp_worker):  # noqa: F811
    sink, start_worker = smtp_worker
    (message,) = _reminders(1, due=timezone.now() + timedelta(seconds=1))  # channels: email, then in_app
    preferences_update(learner=message.learner, opted_out=["email"])
    worker = start_worker()

    _tick_until(lambda: Message.objects.get(pk=message.pk).status == MessageStatus.SENT, what="the delivery")
    worker.stop()

    sent = Message.objects.get(pk=message.pk)
    assert sent.delivered_by == "in_app" and not sink.received
    assert "email: the learner opted out of it" in sent.history[-1]["error"]


def test_a_reminder_planned_before_a_snooze_waits_until_the_snooze_ends(smtp_worker):  # noqa: F811
    sink, start_worker = smtp_worker
    (message,) = _reminders(1, due=timezone.now() + timedelta(seconds=1))
    until = date.today() + timedelta(days=3)
    preferences_update(learner=message.learner, snoozed_until=until)
    worker = start_worker()
    wakes = datetime.combine(until, time(0), tzinfo=ZoneInfo(message.learner.timezone or "UTC"))

    _tick_until(lambda: Message.objects.get(pk=message.pk).next_attempt_at == wakes, what="the snooze to hold it")
    worker.stop()

    held = Message.objects.get(pk=message.pk)
    assert held.status == MessageStatus.SCHEDULED and held.attempts == 0 and held.sent_at is None
    assert not sink.received
