"""Sent means once, through a real worker, a real SMTP sink (aiosmtpd) and a real HTTP receiver on loopback.

A failing message never re-sends the others; a worker killed between claiming messages and sending them, or in the
middle of a send, loses nothing, and at most the message in flight at the kill goes out again, under the same key.
"""

import asyncio
import threading
import time
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from delivery.models import Message, MessageKind, MessageStatus, WebhookEndpoint
from delivery.services import Outgoing, messages_enqueue
from identity.services import learner_create, learner_deactivate
from onboarding.celery import app as celery_app
from tests.pipeline.conftest import wait_until
from tests.receivers import SmtpSink, Tarpit, WebhookReceiver

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]

LEARNERS = 10


def _reminders(count: int = LEARNERS, *, due=None) -> list[Message]:
    learners = [learner_create(external_id=f"l{n}", email=f"l{n}@example.com") for n in range(count)]
    outgoing = [
        Outgoing(
            kind=MessageKind.REMINDER,
            channels=["email", "in_app"],
            due_at=due or timezone.now(),
            learner_id=learner.pk,
            payload={"template": "drop_off", "module": "short-intro"},
        )
        for learner in learners
    ]
    return messages_enqueue(outgoing=outgoing)  # due now: a worker is woken as soon as this commits


def _keys(messages: list[Message]) -> list[str]:
    return sorted(f"<{m.key}@localhost>" for m in messages)


def _tick_until(predicate, *, what: str, timeout: float = 60) -> None:
    """Send the outbox sweep as beat would (every 0.3 s here instead of every minute) until ``predicate`` holds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        celery_app.send_task("delivery.deliver_due")
        time.sleep(0.3)


def _all(status: str):
    return lambda: not Message.objects.exclude(status=status).exists()


@pytest.fixture
def smtp_worker(monkeypatch, start_worker):
    """A worker whose mail goes to a fresh SMTP sink; returns (sink, start) to start (or restart) it."""
    with SmtpSink() as sink:
        monkeypatch.setenv("EMAIL_URL", sink.url)
        monkeypatch.setenv("EMAIL_TIMEOUT", "60")
        monkeypatch.setenv("DELIVERY_LEASE_SECONDS", "3")  # a killed worker's claims come back within the test
        monkeypatch.setenv("DELIVERY_RETRY_BASE_SECONDS", "0.2")
        yield sink, start_worker


def test_an_smtp_error_on_message_3_of_10_sends_the_other_9_exactly_once(smtp_worker):
    sink, start_worker = smtp_worker
    sink.refuse["l2@example.com"] = "451 4.3.0 Mailbox busy, try again later"
    worker = start_worker()

    messages = _reminders()
    wait_until(lambda: len(sink.received) == 9, what="nine mails", timeout=60)
    third = Message.objects.get(learner__external_id="l2")
    assert (third.status, third.last_error) == (MessageStatus.SCHEDULED, "email: recipient refused (451)")

    del sink.refuse["l2@example.com"]
    _tick_until(_all(MessageStatus.SENT), what="the retry of message 3")
    worker.stop()

    assert sorted(sink.message_ids()) == _keys(messages)  # every message once: none re-sent by the failure


def test_a_worker_killed_after_claiming_and_before_sending_loses_nothing(smtp_worker, monkeypatch):
    sink, start_worker = smtp_worker
    with Tarpit() as tarpit:
        monkeypatch.setenv("EMAIL_URL", f"smtp://127.0.0.1:{tarpit.port}")
        worker = start_worker()
        messages = _reminders()
        assert tarpit.connected.wait(30), "the worker never tried to send"
        claimed = Message.objects.filter(status=MessageStatus.SENDING).count()

        worker.kill()

    assert claimed == LEARNERS  # all claimed by the dead worker, none sent
    monkeypatch.setenv("EMAIL_URL", sink.url)
    replacement = start_worker()
    _tick_until(_all(MessageStatus.SENT), what="the dead worker's claims to expire and be sent")
    replacement.stop()

    assert sorted(sink.message_ids()) == _keys(messages)  # each exactly once


class _StallingSink(SmtpSink):
    """Takes in one recipient's mail, then holds its reply until released: the worker is killed mid-send."""

    def __init__(self, stall: str) -> None:
        super().__init__()
        self.stall, self.stalled, self.release = stall, threading.Event(), threading.Event()

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's names
        reply = await super().handle_DATA(server, session, envelope)
        if self.stall in envelope.rcpt_tos and not self.release.is_set():
            self.stalled.set()
            await asyncio.get_running_loop().run_in_executor(None, self.release.wait, 120)
        return reply


def test_a_worker_killed_during_a_send_repeats_at_most_that_message_under_the_same_key(monkeypatch, start_worker):
    with _StallingSink("l4@example.com") as sink:
        monkeypatch.setenv("EMAIL_URL", sink.url)
        monkeypatch.setenv("EMAIL_TIMEOUT", "60")
        monkeypatch.setenv("DELIVERY_LEASE_SECONDS", "3")
        worker = start_worker()
        messages = _reminders()
        assert sink.stalled.wait(30), "the worker never reached message 5"

        worker.kill()
        sink.release.set()

        replacement = start_worker()
        _tick_until(_all(MessageStatus.SENT), what="delivery after the kill")
        replacement.stop()

    received = sink.message_ids()
    in_flight = f"<{Message.objects.get(learner__external_id='l4').key}@localhost>"
    assert sorted(set(received)) == _keys(messages)  # every reminder delivered
    repeated = {key for key in received if received.count(key) > 1}
    assert repeated <= {in_flight}  # only the message in flight at the kill went twice, with its own key
    assert len(received) <= LEARNERS + 1


@pytest.fixture
def webhook_worker(monkeypatch, start_worker):
    monkeypatch.setenv("WEBHOOK_ALLOWED_NETWORKS", "127.0.0.1/32")
    monkeypatch.setenv("DELIVERY_RETRY_BASE_SECONDS", "0.2")
    monkeypatch.setenv("DELIVERY_MAX_ATTEMPTS", "3")
    with WebhookReceiver() as receiver:
        WebhookEndpoint.objects.create(name="hr-system", url=receiver.url)
        worker = start_worker()
        yield receiver
        worker.stop()


def _webhook() -> Message:
    learner = learner_create(external_id="ada")
    payload = {"type": "onboarding.trigger.fired", "timestamp": timezone.now().isoformat(), "data": {"learner": "ada"}}
    outgoing = Outgoing(
        kind=MessageKind.WEBHOOK,
        channels=["webhook"],
        due_at=timezone.now(),
        learner_id=learner.pk,
        endpoint="hr-system",
        payload=payload,
    )
    return messages_enqueue(outgoing=[outgoing])[0]


def test_a_receiver_that_fails_twice_then_succeeds_gets_one_accepted_delivery(webhook_worker):
    receiver = webhook_worker
    receiver.statuses = [500, 502]

    message = _webhook()
    _tick_until(_all(MessageStatus.SENT), what="the third attempt")

    assert [post.status for post in receiver.received] == [500, 502, 200]
    assert [post.headers["webhook-id"] for post in receiver.accepted()] == [message.key]


def test_a_receiver_that_always_fails_ends_dead_lettered_visible_in_the_admin(webhook_worker, admin_client):
    receiver = webhook_worker
    receiver.default = 503

    message = _webhook()
    _tick_until(_all(MessageStatus.DEAD), what="the dead letter")
    time.sleep(1)  # more sweeps: a dead letter is not retried

    assert len(receiver.received) == 3
    page = admin_client.get(reverse("admin:delivery_message_changelist"), {"status__exact": "dead"}).text
    assert "hr-system answered HTTP 503" in page
    detail = admin_client.get(reverse("admin:delivery_message_change", args=[message.pk])).text
    assert message.key in detail and detail.count("retry") + detail.count("dead") >= 3


def test_deactivating_a_learner_cancels_their_waiting_reminders_through_the_worker(smtp_worker):
    sink, start_worker = smtp_worker
    worker = start_worker()
    (message,) = _reminders(1, due=timezone.now() + timedelta(hours=1))

    learner_deactivate(learner=message.learner)  # identity asks delivery by task name

    wait_until(lambda: Message.objects.get(pk=message.pk).status == MessageStatus.CANCELLED, what="the cancellation")
    worker.stop()
    assert Message.objects.get(pk=message.pk).cancel_reason == "the learner was deactivated"
    assert not sink.received
