"""The outbox: each message sent once under a stable key, retried with backoff, moved to its next channel,
dead-lettered when nothing works, and never sent to a learner who no longer needs it."""

from datetime import UTC, datetime, timedelta

import pytest
from django.core import mail
from standardwebhooks.webhooks import Webhook

from delivery.models import EndpointKind, Message, MessageKind, MessageStatus, WebhookEndpoint
from delivery.services import Outgoing, messages_deliver_due, messages_enqueue, messages_send_again
from delivery.services.outbox import BATCH
from identity.services import learner_create, role_upsert
from playbooks.models import Enrollment, EnrollmentStatus
from playbooks.services import learner_enroll, playbook_import
from tests.receivers import SmtpSink, Tarpit, WebhookReceiver
from tests.utils import closed_port

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 2, 9, tzinfo=UTC)
LOOPBACK = ["127.0.0.1/32"]


@pytest.fixture
def learner():
    return learner_create(external_id="ada", email="ada@example.com", display_name="Ada")


def _reminder(learner, *, channels=("email", "in_app"), due=T0, **fields) -> Message:
    outgoing = Outgoing(
        kind=MessageKind.REMINDER,
        channels=list(channels),
        due_at=due,
        learner_id=learner.pk,
        payload={"template": "drop_off", "module": "short-intro"},
        **fields,
    )
    return messages_enqueue(outgoing=[outgoing])[0]


def _webhook(learner, endpoint="hr-system", due=T0) -> Message:
    payload = {"type": "onboarding.trigger.fired", "timestamp": due.isoformat(), "data": {"learner": "ada"}}
    outgoing = Outgoing(
        kind=MessageKind.WEBHOOK,
        channels=["webhook"],
        due_at=due,
        learner_id=learner.pk,
        endpoint=endpoint,
        payload=payload,
    )
    return messages_enqueue(outgoing=[outgoing])[0]


def _refresh(message: Message) -> Message:
    message.refresh_from_db()
    return message


def test_a_due_reminder_is_emailed_once_under_its_key(learner):
    message = _reminder(learner)

    report = messages_deliver_due(now=T0)

    assert report.sent == 1
    (email,) = mail.outbox
    assert email.to == ["ada@example.com"]
    assert email.subject == "Pick up where you left off: short-intro"
    assert email.extra_headers["Message-ID"] == f"<{message.key}@localhost>"
    assert "/learn/" in email.body
    assert (_refresh(message).status, message.delivered_by, message.sent_at) == ("sent", "email", T0)
    assert messages_deliver_due(now=T0 + timedelta(hours=1)).sent == 0  # already sent: not again
    assert len(mail.outbox) == 1


def test_a_message_not_yet_due_waits(learner):
    message = _reminder(learner, due=T0 + timedelta(hours=2))

    assert messages_deliver_due(now=T0 + timedelta(hours=1)).sent == 0

    assert _refresh(message).status == MessageStatus.SCHEDULED


def test_a_learner_without_an_address_gets_it_on_their_page_and_the_history_says_why():
    nobody = learner_create(external_id="bo")
    message = _reminder(nobody)

    messages_deliver_due(now=T0)

    assert not mail.outbox
    assert (_refresh(message).status, message.delivered_by) == ("sent", "in_app")
    assert message.last_error == "email: no e-mail address"


def test_an_smtp_refusal_of_one_message_sends_the_others_once_and_retries_that_one(learner, settings):
    with SmtpSink() as sink:
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", sink.port
        learners = [learner_create(external_id=f"l{n}", email=f"l{n}@example.com") for n in range(10)]
        messages = [_reminder(each) for each in learners]
        sink.refuse["l2@example.com"] = "451 4.3.0 Mailbox busy, try again later"

        first = messages_deliver_due(now=T0)

        assert (first.sent, first.retried) == (9, 1)
        assert sorted(sink.message_ids()) == sorted(f"<{m.key}@localhost>" for m in messages if m is not messages[2])
        third = _refresh(messages[2])
        assert (third.status, third.attempts) == (MessageStatus.SCHEDULED, 1)
        assert third.last_error == "email: recipient refused (451)"
        assert T0 + timedelta(seconds=15) <= third.next_attempt_at <= T0 + timedelta(seconds=30)

        del sink.refuse["l2@example.com"]
        assert messages_deliver_due(now=T0 + timedelta(minutes=1)).sent == 1

        assert sorted(sink.message_ids()) == sorted(f"<{m.key}@localhost>" for m in messages)  # each exactly once


def test_a_permanent_smtp_refusal_moves_to_the_next_channel_at_once(learner, settings):
    with SmtpSink() as sink:
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", sink.port
        sink.refuse["ada@example.com"] = "550 5.1.1 No such user"
        message = _reminder(learner)

        messages_deliver_due(now=T0)

    assert (_refresh(message).status, message.delivered_by) == ("sent", "in_app")
    assert message.last_error == "email: recipient refused (550)"


def test_an_unreachable_mail_server_is_retried_then_the_next_channel_takes_over(learner, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", closed_port(), 2
    settings.DELIVERY_MAX_ATTEMPTS = 3
    message = _reminder(learner)

    moment = T0
    for _attempt in range(3):
        messages_deliver_due(now=moment)
        moment = _refresh(message).next_attempt_at
    messages_deliver_due(now=moment)

    assert (_refresh(message).status, message.delivered_by) == ("sent", "in_app")
    outcomes = [(entry["channel"], entry["outcome"]) for entry in message.history]
    assert outcomes == [("email", "retry"), ("email", "retry"), ("email", "retry"), ("in_app", "sent")]


@pytest.fixture
def receiver(settings):
    settings.WEBHOOK_ALLOWED_NETWORKS = LOOPBACK
    with WebhookReceiver() as running:
        yield running


def _endpoint(receiver, name="hr-system", kind=EndpointKind.WEBHOOK, for_reminders=False) -> WebhookEndpoint:
    return WebhookEndpoint.objects.create(name=name, kind=kind, url=receiver.url, for_reminders=for_reminders)


def test_a_webhook_is_signed_with_its_endpoints_secret_and_carries_its_key(learner, receiver):
    endpoint = _endpoint(receiver)
    message = _webhook(learner)

    messages_deliver_due(now=T0)

    (post,) = receiver.received
    assert post.path == "/hooks/onboarding"
    assert post.headers["webhook-id"] == message.key
    assert post.json == message.payload
    verified = Webhook(endpoint.secret).verify(post.body, post.headers)  # what a receiver's library does
    assert verified == message.payload
    assert _refresh(message).status == MessageStatus.SENT


def test_a_receiver_that_fails_twice_gets_one_accepted_delivery_under_one_key(learner, receiver):
    _endpoint(receiver)
    receiver.statuses = [500, 503]
    message = _webhook(learner)

    moment = T0
    for _attempt in range(3):
        messages_deliver_due(now=moment)
        moment = _refresh(message).next_attempt_at

    assert [post.status for post in receiver.received] == [500, 503, 200]
    assert {post.headers["webhook-id"] for post in receiver.received} == {message.key}
    assert len(receiver.accepted()) == 1
    assert (message.status, message.attempts) == (MessageStatus.SENT, 3)


def test_backoff_grows_between_attempts(learner, receiver, settings):
    settings.DELIVERY_RETRY_BASE_SECONDS, settings.DELIVERY_RETRY_MAX_SECONDS = 30, 100
    _endpoint(receiver)
    receiver.default = 500
    message = _webhook(learner)

    delays, moment = [], T0
    for _attempt in range(4):
        messages_deliver_due(now=moment)
        delays.append((_refresh(message).next_attempt_at - moment).total_seconds())
        moment = message.next_attempt_at

    assert 15 <= delays[0] <= 30 and 30 <= delays[1] <= 60 and 50 <= delays[2] <= 100 and 50 <= delays[3] <= 100


def test_a_receiver_that_always_fails_ends_dead_lettered_and_can_be_sent_again(learner, receiver, settings):
    settings.DELIVERY_MAX_ATTEMPTS = 3
    _endpoint(receiver)
    receiver.default = 500
    message = _webhook(learner)

    moment = T0
    for _attempt in range(5):
        messages_deliver_due(now=moment)
        moment = max(moment, _refresh(message).next_attempt_at) + timedelta(seconds=1)

    assert len(receiver.received) == 3
    assert (message.status, message.last_error) == (MessageStatus.DEAD, "webhook: hr-system answered HTTP 500")

    receiver.default = 200
    assert messages_send_again(messages=[message]) == 1
    messages_deliver_due()

    assert _refresh(message).status == MessageStatus.SENT
    assert receiver.received[-1].headers["webhook-id"] == message.key


def test_a_receiver_refusing_the_message_is_not_retried(learner, receiver):
    _endpoint(receiver)
    receiver.default = 422
    message = _webhook(learner)

    messages_deliver_due(now=T0)

    assert (_refresh(message).status, len(receiver.received)) == (MessageStatus.DEAD, 1)


def test_an_unknown_endpoint_dead_letters_the_webhook(learner):
    message = _webhook(learner, endpoint="nowhere")

    messages_deliver_due(now=T0)

    assert (_refresh(message).status, message.last_error) == ("dead", "webhook: no active webhook endpoint 'nowhere'")


def test_an_endpoint_that_now_leads_inside_is_refused_at_send_time(learner, receiver, settings):
    _endpoint(receiver)  # saved while loopback was allowed
    settings.WEBHOOK_ALLOWED_NETWORKS = []
    message = _webhook(learner)

    messages_deliver_due(now=T0)

    assert not receiver.received
    assert _refresh(message).status == MessageStatus.DEAD
    assert "resolves to 127.0.0.1, an internal address" in message.last_error


def test_a_slack_reminder_posts_its_text_and_a_failing_hook_falls_back(learner, receiver):
    _endpoint(receiver, name="team-slack", kind=EndpointKind.SLACK, for_reminders=True)
    posted, failing = _reminder(learner, channels=["slack", "email", "in_app"]), None

    messages_deliver_due(now=T0)
    receiver.default = 404
    failing = _reminder(learner, channels=["slack", "email", "in_app"])
    messages_deliver_due(now=T0)

    assert receiver.received[0].json == {"text": "Pick up where you left off: short-intro"}
    assert (_refresh(posted).delivered_by, _refresh(failing).delivered_by) == ("slack", "email")
    assert failing.last_error == "slack: team-slack answered HTTP 404"


def test_a_webhook_reminder_without_an_endpoint_for_reminders_falls_back(learner):
    message = _reminder(learner, channels=["webhook", "in_app"])

    messages_deliver_due(now=T0)

    assert (_refresh(message).delivered_by, message.last_error) == (
        "in_app",
        "webhook: no active webhook endpoint for reminders",
    )


@pytest.fixture
def enrolled():
    playbook_import(
        text="""
slug: p
name: P
audience: {roles: [r]}
modules: [{slug: intro, title: Intro}, {slug: next, title: Next}]
steps: [{module: intro}, {module: next}]
""",
        publish=True,
    )
    learner = learner_create(external_id="cy", email="cy@example.com", roles=[role_upsert(slug="r", name="R")])
    return learner_enroll(learner=learner, now=T0)[0]


def test_a_reminder_for_a_learner_deactivated_meanwhile_is_cancelled_not_sent(enrolled):
    message = _reminder(enrolled.learner, enrollment_id=enrolled.pk, about_module="intro")
    type(enrolled.learner).objects.filter(pk=enrolled.learner_id).update(is_active=False)  # its task was lost

    report = messages_deliver_due(now=T0)

    assert (report.sent, report.cancelled, mail.outbox) == (0, 1, [])
    assert (_refresh(message).status, message.cancel_reason) == ("cancelled", "the learner was deactivated")


def test_a_reminder_of_a_finished_playbook_is_cancelled_not_sent(enrolled):
    message = _reminder(enrolled.learner, enrollment_id=enrolled.pk, about_module="intro")
    Enrollment.objects.filter(pk=enrolled.pk).update(status=EnrollmentStatus.COMPLETED)

    messages_deliver_due(now=T0)

    assert (_refresh(message).status, message.cancel_reason) == ("cancelled", "the learner completed the playbook")
    assert not mail.outbox


def test_an_in_app_reminder_shows_on_the_learners_page_until_dismissed(client):
    from tests.factories import UserFactory

    ada = learner_create(external_id="ada-page", user=UserFactory(username="ada"))
    message = _reminder(ada, channels=["in_app"])
    messages_deliver_due(now=T0)
    client.force_login(ada.user)

    assert "Pick up where you left off: try short-intro." in client.get("/learn/").content.decode()

    client.post(f"/learn/reminders/{message.pk}/dismiss")
    assert "Pick up where you left off" not in client.get("/learn/").content.decode()


def test_another_learner_cannot_dismiss_my_reminder(client):
    from tests.factories import UserFactory

    ada = learner_create(external_id="ada-page", user=UserFactory(username="ada"))
    bob = learner_create(external_id="bob-page", user=UserFactory(username="bob"))
    message = _reminder(ada, channels=["in_app"])
    messages_deliver_due(now=T0)
    client.force_login(bob.user)

    client.post(f"/learn/reminders/{message.pk}/dismiss")

    assert _refresh(message).seen_at is None


def test_a_hung_mail_server_costs_one_timeout_per_batch_not_one_per_message(settings):
    with Tarpit() as tarpit:
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", tarpit.port, 1
        messages = [_reminder(learner_create(external_id=f"l{n}", email=f"l{n}@example.com")) for n in range(5)]

        report = messages_deliver_due(now=T0)

        assert (report.sent, report.retried, len(tarpit.clients)) == (0, 5, 1)
    errors = [_refresh(message).last_error for message in messages]
    assert errors[0].startswith("email: mail server unreachable (")
    assert all(error.endswith("; not tried again in this batch") for error in errors[1:])


def test_a_hung_webhook_receiver_costs_one_timeout_per_batch(learner, settings):
    settings.WEBHOOK_ALLOWED_NETWORKS, settings.WEBHOOK_TIMEOUT_SECONDS = LOOPBACK, 1
    with Tarpit() as tarpit:
        WebhookEndpoint.objects.create(name="hr-system", url=f"http://127.0.0.1:{tarpit.port}/hook")
        messages = [_webhook(learner) for _ in range(3)]

        report = messages_deliver_due(now=T0)

        assert (report.retried, len(tarpit.clients)) == (3, 1)
    assert [_refresh(m).last_error for m in messages] == [
        "webhook: hr-system: ReadTimeoutError",
        "webhook: hr-system: ReadTimeoutError; not tried again in this batch",
        "webhook: hr-system: ReadTimeoutError; not tried again in this batch",
    ]


def test_a_cancelled_reminder_in_a_full_batch_does_not_end_the_sweep():
    learners = [learner_create(external_id=f"l{n}", email=f"l{n}@example.com") for n in range(BATCH + 100)]
    messages = [_reminder(each) for each in learners]
    type(learners[3]).objects.filter(pk=learners[3].pk).update(is_active=False)

    report = messages_deliver_due(now=T0)

    assert (report.sent, report.cancelled) == (BATCH + 99, 1)
    assert not Message.objects.filter(pk__in=[m.pk for m in messages], status=MessageStatus.SCHEDULED).exists()
