"""Reminders planned before the outbox existed get their message: still to send, sent (in-app ones keep their
dismissal) or failed (dead-lettered)."""

import secrets

from django.db import migrations


def move(apps, schema_editor):
    Reminder = apps.get_model("signals_app", "Reminder")
    Message = apps.get_model("delivery", "Message")
    for reminder in Reminder.objects.filter(status__in=["scheduled", "sent", "failed"], message__isnull=True).iterator():
        status = {"scheduled": "scheduled", "sent": "sent", "failed": "dead"}[reminder.status]
        channels = list(dict.fromkeys([reminder.channel, reminder.fallback or reminder.channel, "in_app"]))
        reminder.message = Message.objects.create(
            key=f"msg_{secrets.token_hex(13)}",
            kind="reminder",
            learner_id=reminder.learner_id,
            enrollment_id=reminder.enrollment_id,
            channels=channels,
            endpoint=reminder.endpoint,
            payload={"template": reminder.template, "module": reminder.attach_module},
            status=status,
            due_at=reminder.due_at,
            next_attempt_at=reminder.due_at,
            delivered_by=reminder.delivered_by,
            sent_at=reminder.sent_at,
            seen_at=reminder.seen_at,
        )
        reminder.status = "scheduled"
        reminder.save(update_fields=["message", "status"])


class Migration(migrations.Migration):
    dependencies = [("delivery", "0002_site_policy"), ("signals_app", "0006_reminder_message")]

    operations = [migrations.RunPython(move, migrations.RunPython.noop)]
