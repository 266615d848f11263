"""Reminders: scheduled from the decision log under the playbook's policy, delivered by channel with fallbacks."""

import json
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from django.core import mail

from identity.services import learner_create, role_upsert
from playbooks.services import playbook_import
from signals_app.models import Reminder, ReminderStatus
from signals_app.services import events_ingest, learner_evaluate_clock, learner_evaluate_pending
from signals_app.services.reminders import reminders_deliver_due
from tests.factories import UserFactory
from tests.utils import closed_port

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 2, 9, tzinfo=UTC)  # a Monday, 10:00 in Berlin
PLAYBOOK = """
slug: nudges
name: Nudges
audience: {roles: [newcomer]}
modules:
  - {slug: intro, title: Intro}
  - {slug: short-intro, title: Short intro}
steps:
  - module: intro
triggers:
  - name: paused
    when: 'idle_hours >= 2 and module.completion_pct < 75'
    then: [{remind: {channel: CHANNEL, fallback: FALLBACK, template: drop_off, attach_module: short-intro}}]
policy: {frequency_cap: {max: 2, per: 24h}, quiet_hours: {start: '21:00', end: '08:00'}}
"""


def _setup(channel="email", fallback="in_app", email="ada@example.com"):
    playbook_import(text=PLAYBOOK.replace("CHANNEL", channel).replace("FALLBACK", fallback), publish=True)
    return learner_create(
        external_id="ada", email=email, timezone="Europe/Berlin", roles=[role_upsert(slug="newcomer", name="N")]
    )


def _progress(learner, at: datetime, pct: int = 40):
    body = {
        "id": f"p-{at.isoformat()}",
        "learner": learner.external_id,
        "type": "module_progress",
        "module": "intro",
        "occurred_at": at.isoformat(),
        "properties": {"completion_pct": pct},
    }
    events_ingest(body=body, source="key:1", now=at)
    learner_evaluate_pending(learner_id=learner.pk, now=at)


def _pause(learner, at: datetime):
    """A progress report at ``at``, then the clock two hours later: the 'paused' trigger fires."""
    _progress(learner, at)
    learner_evaluate_clock(learner_id=learner.pk, now=at + timedelta(hours=2))


def test_a_fired_remind_action_schedules_a_reminder_due_at_once():
    learner = _setup()

    _pause(learner, T0)

    reminder = Reminder.objects.get()
    assert (reminder.channel, reminder.template, reminder.attach_module) == ("email", "drop_off", "short-intro")
    assert (reminder.status, reminder.due_at, reminder.note) == ("scheduled", T0 + timedelta(hours=2), "")


def test_a_reminder_decided_in_quiet_hours_waits_for_the_morning_in_the_learners_zone():
    learner = _setup()

    _pause(learner, datetime(2026, 3, 2, 19, 30, tzinfo=UTC))  # fires 21:30 UTC = 22:30 Berlin

    reminder = Reminder.objects.get()
    assert reminder.due_at == datetime(2026, 3, 3, 7, 0, tzinfo=UTC)  # 08:00 Berlin
    assert reminder.note == "deferred to 08:00 Europe/Berlin: quiet hours 21:00-08:00"


def test_the_third_reminder_in_a_day_is_suppressed_and_says_why():
    learner = _setup()

    for hours in (0, 3, 6):
        _pause(learner, T0 + timedelta(hours=hours))

    statuses = list(Reminder.objects.values_list("status", "note"))
    assert [status for status, _note in statuses] == ["scheduled", "scheduled", "suppressed"]
    assert statuses[2][1] == "frequency cap: 2 reminder(s) already in 24h (at most 2)"


def test_due_reminders_are_emailed_once_and_later_ones_wait():
    learner = _setup()
    _pause(learner, T0)
    _pause(learner, T0 + timedelta(hours=5))

    sent = reminders_deliver_due(now=T0 + timedelta(hours=3))

    assert sent == 1
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["ada@example.com"]
    assert message.subject == "Pick up where you left off: short-intro"
    assert "/learn/" in message.body
    assert reminders_deliver_due(now=T0 + timedelta(hours=3)) == 0  # already sent: not again
    assert list(Reminder.objects.values_list("status", "delivered_by")) == [("sent", "email"), ("scheduled", "")]


def test_a_learner_without_email_gets_the_reminder_in_app_and_the_note_says_so():
    learner = _setup(email="")
    _pause(learner, T0)

    reminders_deliver_due(now=T0 + timedelta(days=1))

    reminder = Reminder.objects.get()
    assert not mail.outbox
    assert (reminder.status, reminder.delivered_by) == ("sent", "in_app")
    assert reminder.note == "email: no e-mail address; sent by in_app"


def test_an_unreachable_mail_server_falls_back_to_in_app(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", closed_port(), 2
    learner = _setup()
    _pause(learner, T0)

    assert reminders_deliver_due(now=T0 + timedelta(days=1)) == 1

    reminder = Reminder.objects.get(learner=learner)
    assert (reminder.status, reminder.delivered_by) == ("sent", "in_app")
    assert reminder.note == "email: delivery failed (ConnectionRefusedError); sent by in_app"


class _Hook(BaseHTTPRequestHandler):
    received: list = []
    status = 200

    def do_POST(self):  # noqa: N802 - http.server's naming
        length = int(self.headers["Content-Length"])
        type(self).received.append(json.loads(self.rfile.read(length)))
        self.send_response(type(self).status)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def slack_hook(settings):
    _Hook.received, _Hook.status = [], 200
    server = HTTPServer(("127.0.0.1", 0), _Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    settings.REMINDER_SLACK_WEBHOOK_URL = f"http://127.0.0.1:{server.server_port}/hook"
    yield _Hook
    server.shutdown()


def test_a_slack_reminder_posts_to_the_configured_hook(slack_hook):
    learner = _setup(channel="slack", fallback="email")
    _pause(learner, T0)

    reminders_deliver_due(now=T0 + timedelta(days=1))

    assert slack_hook.received == [
        {
            "learner": "ada",
            "template": "drop_off",
            "module": "short-intro",
            "text": "Pick up where you left off: short-intro",
        }
    ]
    assert Reminder.objects.get().delivered_by == "slack"
    assert not mail.outbox


def test_a_failing_slack_hook_falls_back_to_email(slack_hook):
    slack_hook.status = 500
    learner = _setup(channel="slack", fallback="email")
    _pause(learner, T0)

    reminders_deliver_due(now=T0 + timedelta(days=1))

    reminder = Reminder.objects.get()
    assert (reminder.status, reminder.delivered_by) == (ReminderStatus.SENT, "email")
    assert reminder.note == "slack: delivery failed (HTTPError); sent by email"
    assert len(mail.outbox) == 1


def test_an_in_app_reminder_shows_on_the_learners_page_until_dismissed(client):
    learner = _setup(email="")
    learner.user = UserFactory(username="ada")
    learner.save()
    _pause(learner, T0)
    reminders_deliver_due(now=T0 + timedelta(days=1))
    client.force_login(learner.user)

    page = client.get("/learn/").content.decode()
    assert "Pick up where you left off: try short-intro." in page

    reminder = Reminder.objects.get()
    client.post(f"/learn/reminders/{reminder.pk}/dismiss")
    assert "Pick up where you left off" not in client.get("/learn/").content.decode()
