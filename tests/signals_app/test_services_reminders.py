"""Reminders planned under the delivery policy: the site's caps and quiet hours over every playbook, the
playbook's own on top, every deferral, suppression and cancellation in the decision log."""

from datetime import UTC, datetime, timedelta

import pytest

from delivery.models import ChannelCap, DeliveryPolicy, Message, MessageStatus
from delivery.tasks import cancel_for_learner
from identity.services import learner_create, learner_deactivate, role_upsert
from playbooks.services import playbook_import
from signals_app.models import Decision, Reminder
from signals_app.services import events_ingest, learner_evaluate_clock, learner_evaluate_pending
from signals_app.services.ingestion import events_record

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 2, 9, tzinfo=UTC)  # a Monday, 10:00 in Berlin
PLAYBOOK = """
slug: SLUG
name: Nudges
audience: {roles: [newcomer]}
modules:
  - {slug: intro, title: Intro}
  - {slug: short-intro, title: Short intro}
  - {slug: next, title: Next}
steps:
  - module: intro
  - module: next
triggers:
  - name: paused
    when: 'idle_hours >= 2 and module.completion_pct < 75'
    then: [{remind: {channel: CHANNEL, fallback: in_app, template: drop_off, attach_module: short-intro}}]
POLICY
"""
TWO_A_DAY = "policy: {frequency_cap: {max: 2, per: 24h}, quiet_hours: {start: '21:00', end: '08:00'}}"


def _import(slug="nudges", channel="email", policy=TWO_A_DAY):
    text = PLAYBOOK.replace("SLUG", slug).replace("CHANNEL", channel).replace("POLICY", policy)
    playbook_import(text=text, publish=True)


def _learner(email="ada@example.com"):
    return learner_create(
        external_id="ada", email=email, timezone="Europe/Berlin", roles=[role_upsert(slug="newcomer", name="N")]
    )


def _event(learner, at: datetime, kind="module_progress", pct=40):
    body = {
        "id": f"{kind}-{at.isoformat()}",
        "learner": learner.external_id,
        "type": kind,
        "module": "intro",
        "occurred_at": at.isoformat(),
        "properties": {"completion_pct": pct},
    }
    events_ingest(body=body, source="key:1", now=at)
    learner_evaluate_pending(learner_id=learner.pk, now=at)


def _pause(learner, at: datetime):
    """A progress report at ``at``, then the clock two hours later: the 'paused' trigger fires."""
    _event(learner, at)
    learner_evaluate_clock(learner_id=learner.pk, now=at + timedelta(hours=2))


def test_a_fired_remind_action_schedules_a_reminder_and_its_message():
    _import()
    learner = _learner()

    _pause(learner, T0)

    reminder = Reminder.objects.select_related("message").get()
    assert (reminder.channel, reminder.template, reminder.attach_module, reminder.module) == (
        "email",
        "drop_off",
        "short-intro",
        "intro",
    )
    assert (reminder.status, reminder.due_at, reminder.note) == ("scheduled", T0 + timedelta(hours=2), "")
    message = reminder.message
    assert (message.status, message.channels, message.next_attempt_at) == (
        MessageStatus.SCHEDULED,
        ["email", "in_app"],
        T0 + timedelta(hours=2),
    )
    assert message.key.startswith("msg_") and message.about_module == "intro"


def test_a_reminder_decided_in_quiet_hours_waits_and_the_decision_log_says_why(client):
    _import()
    learner = _learner()

    _pause(learner, datetime(2026, 3, 2, 19, 30, tzinfo=UTC))  # fires 21:30 UTC = 22:30 Berlin

    reminder = Reminder.objects.get()
    assert reminder.due_at == datetime(2026, 3, 3, 7, 0, tzinfo=UTC)  # 08:00 Berlin
    deferred = Decision.objects.get(kind="deferred")
    assert deferred.rule == "delivery policy: quiet hours 21:00-08:00 (site)"
    assert deferred.explanation == (
        "The email reminder 'drop_off' was deferred to 08:00 Europe/Berlin: quiet hours 21:00-08:00 (site)."
    )


def test_the_playbooks_own_cap_suppresses_and_the_decision_log_says_why():
    _import()
    learner = _learner()

    for hours in (0, 3, 6):
        _pause(learner, T0 + timedelta(hours=hours))

    assert list(Reminder.objects.values_list("status", flat=True)) == ["scheduled", "scheduled", "suppressed"]
    suppressed = Decision.objects.get(kind="suppressed")
    assert suppressed.rule == "delivery policy: frequency cap 2 per 24h (this playbook)"
    assert suppressed.explanation == (
        "The email reminder 'drop_off' was not scheduled: "
        "frequency cap: 2 reminder(s) already in 24h (at most 2, this playbook)."
    )
    assert not Message.objects.filter(reminder__status="suppressed").exists()


def test_a_playbook_without_a_policy_is_still_held_to_the_sites():
    _import(policy="")
    learner = _learner()

    for hours in (0, 3, 6, 9):
        _pause(learner, T0 + timedelta(hours=hours))

    assert list(Reminder.objects.values_list("status", flat=True)) == ["scheduled"] * 3 + ["suppressed"]
    assert Decision.objects.get(kind="suppressed").rule == "delivery policy: frequency cap 3 per 24h (all playbooks)"


def test_the_sites_cap_counts_a_learners_reminders_across_playbooks():
    _import("nudges-a", policy="")
    _import("nudges-b", policy="")
    learner = _learner()

    _pause(learner, T0)  # both playbooks remind: 2
    _pause(learner, T0 + timedelta(hours=3))  # 2 more: the 4th is one too many

    statuses = list(Reminder.objects.order_by("due_at", "pk").values_list("enrollment__playbook__slug", "status"))
    assert [status for _slug, status in statuses] == ["scheduled", "scheduled", "scheduled", "suppressed"]
    assert {slug for slug, _status in statuses} == {"nudges-a", "nudges-b"}


def test_a_channel_cap_holds_across_playbooks():
    _import("nudges-a", channel="slack", policy="")
    _import("nudges-b", channel="slack", policy="")
    learner = _learner()

    _pause(learner, T0)

    assert sorted(Reminder.objects.values_list("status", flat=True)) == ["scheduled", "suppressed"]
    assert Decision.objects.get(kind="suppressed").rule == (
        "delivery policy: frequency cap 1 per 1h (the slack channel)"
    )


def test_the_site_policy_is_the_admins_to_change():
    policy = DeliveryPolicy.objects.get()
    policy.max_messages, policy.quiet_hours_start, policy.quiet_hours_end = None, "", ""
    policy.save()
    ChannelCap.objects.all().delete()
    _import(policy="")
    learner = _learner()

    for hours in (0, 3, 6, 9, 12):
        _pause(learner, T0 + timedelta(hours=hours))

    assert set(Reminder.objects.values_list("status", flat=True)) == {"scheduled"}


def test_a_critical_reminder_passes_the_caps_and_quiet_hours():
    _import(policy="")
    text = PLAYBOOK.replace("SLUG", "urgent").replace("CHANNEL", "email").replace("POLICY", "")
    playbook_import(text=text.replace("template: drop_off", "template: drop_off, critical: true"), publish=True)
    learner = _learner()

    for hours in (0, 3, 6, 9):
        _pause(learner, T0 + timedelta(hours=hours))

    urgent = Reminder.objects.filter(enrollment__playbook__slug="urgent")
    assert set(urgent.values_list("status", flat=True)) == {"scheduled"}


def _waiting_reminder(learner):
    _import()
    _pause(learner, datetime(2026, 3, 2, 19, 30, tzinfo=UTC))  # deferred to the morning
    reminder = Reminder.objects.select_related("message").get()
    assert reminder.message.status == MessageStatus.SCHEDULED
    return reminder


def test_completing_the_module_a_reminder_is_about_cancels_it_and_says_so():
    learner = _learner()
    reminder = _waiting_reminder(learner)

    _event(learner, datetime(2026, 3, 2, 22, 0, tzinfo=UTC), kind="module_completed")

    reminder.message.refresh_from_db()
    assert (reminder.message.status, reminder.message.cancel_reason) == ("cancelled", "the learner completed intro")
    cancelled = Decision.objects.get(kind="cancelled")
    assert cancelled.explanation == (
        "The email reminder 'drop_off' due 2026-03-03 07:00 UTC was cancelled: the learner completed intro."
    )
    assert cancelled.event.type == "module_completed"


def test_skipping_another_module_leaves_the_reminder_alone():
    learner = _learner()
    reminder = _waiting_reminder(learner)
    body = {"id": "skip-next", "learner": "ada", "type": "module_skipped", "module": "next",
            "occurred_at": "2026-03-02T22:00:00+00:00"}  # fmt: skip
    events_record(body=body, source="key:1", now=datetime(2026, 3, 2, 22, tzinfo=UTC))
    learner_evaluate_pending(learner_id=learner.pk)

    reminder.message.refresh_from_db()
    assert reminder.message.status == MessageStatus.SCHEDULED


def test_finishing_the_playbook_cancels_its_reminders():
    learner = _learner()
    reminder = _waiting_reminder(learner)
    for module in ("intro", "next"):
        body = {"id": f"done-{module}", "learner": "ada", "type": "module_skipped", "module": module,
                "occurred_at": "2026-03-02T22:00:00+00:00"}  # fmt: skip
        events_record(body=body, source="key:1", now=datetime(2026, 3, 2, 22, tzinfo=UTC))
    learner_evaluate_pending(learner_id=learner.pk)

    reminder.message.refresh_from_db()
    assert reminder.message.status == MessageStatus.CANCELLED
    assert reminder.message.cancel_reason == "the learner skipped intro"
    assert Decision.objects.filter(kind="cancelled").count() == 1


def test_the_task_deactivation_enqueues_cancels_the_learners_reminders():
    learner = _learner()
    reminder = _waiting_reminder(learner)
    learner_deactivate(learner=learner)  # enqueues delivery.cancel_for_learner by name (tests/pipeline runs it live)

    cancel_for_learner.apply(kwargs={"learner_id": learner.pk, "reason": "the learner was deactivated"}, throw=True)

    reminder.message.refresh_from_db()
    assert (reminder.message.status, reminder.message.cancel_reason) == ("cancelled", "the learner was deactivated")


def test_a_service_reads_why_a_learner_was_not_reminded(client):
    from tests.factories import api_key

    _import()
    learner = _learner()
    for hours in (0, 3, 6):
        _pause(learner, T0 + timedelta(hours=hours))
    key, _ = api_key("learners:read")

    body = client.get("/api/v1/learners/ada/decisions", HTTP_AUTHORIZATION=f"Api-Key {key}").json()

    suppressed = next(d for d in body["results"] if d["kind"] == "suppressed")
    assert suppressed["playbook"] == "nudges"
    assert suppressed["rule"] == "delivery policy: frequency cap 2 per 24h (this playbook)"
