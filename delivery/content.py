"""What a reminder says, the same on every channel."""

from typing import Any

from django.conf import settings
from django.template.loader import render_to_string

from delivery.models import Message


def reminder_context(message: Message) -> dict[str, Any]:
    return {
        "learner": message.learner,
        "template": message.payload.get("template", ""),
        "module": message.payload.get("module", ""),
        "page_url": f"{settings.PUBLIC_BASE_URL.rstrip('/')}/learn/",
    }


def reminder_subject(message: Message) -> str:
    return render_to_string("reminders/subject.txt", reminder_context(message)).strip()


def reminder_body(message: Message) -> str:
    return render_to_string("reminders/body.txt", reminder_context(message))


def reminder_data(message: Message) -> dict[str, Any]:
    """A reminder as JSON, for the webhook channel."""
    context = reminder_context(message)
    return {
        "learner": message.learner.external_id if message.learner else None,
        "template": context["template"],
        "module": context["module"] or None,
        "text": reminder_subject(message),
        "page_url": context["page_url"],
    }
