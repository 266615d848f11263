"""Reminders: scheduled from the decision log under the playbook's policy, delivered by a worker when due.

Delivery walks the channel, the action's ``fallback``, then in-app (always reachable: the learner's page shows it),
so a learner without an e-mail address or a failing Slack hook still gets the nudge; the note says what happened.
"""

import logging
import smtplib
from collections import defaultdict
from datetime import datetime, timedelta

import requests
from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.template.loader import render_to_string

from playbooks.engine.durations import parse_duration
from playbooks.engine.reminders import SUPPRESSED, plan_reminder
from playbooks.selectors import compiled_version
from signals_app.models import Decision, Reminder, ReminderStatus

logger = logging.getLogger(__name__)

IN_APP = "in_app"
DELIVERY_BATCH = 500


def reminders_schedule(*, decisions: list[Decision]) -> list[Reminder]:
    """Schedule the ``remind`` actions among freshly logged decisions (their learners' locks held by the caller)."""
    reminding = [row for row in decisions if row.action and "remind" in row.action]
    if not reminding:
        return []
    recent = _recent_due_times(reminding)
    reminders = []
    for row in sorted(reminding, key=lambda r: (r.decided_at, r.pk or 0)):
        remind = row.action["remind"]
        policy = compiled_version(version=row.enrollment.version).spec.policy
        plan = plan_reminder(
            remind,
            decided_at=row.decided_at,
            policy=policy,
            timezone=row.learner.timezone,
            recent=recent[row.learner_id],
        )
        if plan.status != SUPPRESSED:
            recent[row.learner_id].append(plan.due_at)
        reminders.append(
            Reminder(
                learner_id=row.learner_id,
                enrollment_id=row.enrollment_id,
                decision=row,
                channel=remind["channel"],
                fallback=remind.get("fallback", ""),
                template=remind.get("template", ""),
                attach_module=remind.get("attach_module", ""),
                due_at=plan.due_at,
                status=plan.status,
                note=plan.note,
            )
        )
    return Reminder.objects.bulk_create(reminders)


def _recent_due_times(reminding: list[Decision]) -> dict[int, list[datetime]]:
    windows = [
        parse_duration(compiled_version(version=row.enrollment.version).spec.policy.frequency_cap_per or "0s")
        for row in reminding
    ]
    since = min(row.decided_at for row in reminding) - max(windows) - timedelta(days=1)  # a day's slack for delays
    recent: dict[int, list[datetime]] = defaultdict(list)
    rows = Reminder.objects.filter(
        learner_id__in={row.learner_id for row in reminding},
        due_at__gte=since,
        status__in=[ReminderStatus.SCHEDULED, ReminderStatus.SENT],
    ).values_list("learner_id", "due_at")
    for learner_id, due_at in rows:
        recent[learner_id].append(due_at)
    return recent


def reminders_deliver_due(*, now: datetime) -> int:
    """Deliver the reminders due by ``now``; returns how many were sent. Safe to run in several workers at once."""
    sent = 0
    while True:
        with transaction.atomic():
            due = list(
                Reminder.objects.select_for_update(skip_locked=True, of=("self",))
                .select_related("learner")
                .filter(status=ReminderStatus.SCHEDULED, due_at__lte=now)
                .order_by("due_at", "pk")[:DELIVERY_BATCH]
            )
            for reminder in due:
                _deliver(reminder, now=now)
                reminder.save(update_fields=["status", "delivered_by", "sent_at", "note"])
                sent += reminder.status == ReminderStatus.SENT
        if len(due) < DELIVERY_BATCH:
            return sent


def _deliver(reminder: Reminder, *, now: datetime) -> None:
    tried = []
    for channel in dict.fromkeys([reminder.channel, reminder.fallback or reminder.channel, IN_APP]):
        problem = CHANNELS[channel](reminder)
        if problem is None:
            reminder.status, reminder.delivered_by, reminder.sent_at = ReminderStatus.SENT, channel, now
            if tried:
                reminder.note = "; ".join(filter(None, [reminder.note, *tried, f"sent by {channel}"]))
            return
        tried.append(f"{channel}: {problem}")
    reminder.status, reminder.note = ReminderStatus.FAILED, "; ".join(tried)  # unreachable while in-app exists


def _context(reminder: Reminder) -> dict:
    return {
        "learner": reminder.learner,
        "template": reminder.template,
        "module": reminder.attach_module,
        "page_url": f"{settings.PUBLIC_BASE_URL.rstrip('/')}/learn/",
    }


def _by_email(reminder: Reminder) -> str | None:
    if not reminder.learner.email:
        return "no e-mail address"
    context = _context(reminder)
    subject = render_to_string("reminders/subject.txt", context).strip()
    try:
        send_mail(subject, render_to_string("reminders/body.txt", context), None, [reminder.learner.email])
    except (smtplib.SMTPException, OSError) as exc:
        # One unreachable mail server must not hold up the batch (and re-send its other mails): fall back.
        logger.warning("signals.reminder.email_failed", extra={"error": repr(exc)})
        return f"delivery failed ({exc.__class__.__name__})"
    return None


def _by_post(url_setting: str):
    def send(reminder: Reminder) -> str | None:
        url = getattr(settings, url_setting)
        if not url:
            return f"{url_setting} is not configured"
        payload = {
            "learner": reminder.learner.external_id,
            "template": reminder.template,
            "module": reminder.attach_module or None,
            "text": render_to_string("reminders/subject.txt", _context(reminder)).strip(),
        }
        try:
            requests.post(url, json=payload, timeout=10).raise_for_status()
        except requests.RequestException as exc:
            logger.warning("signals.reminder.post_failed", extra={"setting": url_setting, "error": repr(exc)})
            return f"delivery failed ({exc.__class__.__name__})"
        return None

    return send


def _in_app(reminder: Reminder) -> str | None:
    return None  # stored: the learner's page lists unseen in-app reminders


CHANNELS = {
    "email": _by_email,
    "slack": _by_post("REMINDER_SLACK_WEBHOOK_URL"),
    "webhook": _by_post("REMINDER_WEBHOOK_URL"),
    IN_APP: _in_app,
}


def reminder_dismiss(*, learner, reminder_id: int, now: datetime) -> bool:
    """The learner dismisses an in-app reminder of theirs; another learner's id changes nothing."""
    return bool(Reminder.objects.filter(pk=reminder_id, learner=learner, seen_at__isnull=True).update(seen_at=now))
