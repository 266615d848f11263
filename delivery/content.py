"""What a message says, the same on every channel: a reminder to the learner, or a notice to a manager about one of
their reports (a flag raised; ``payload`` holds who, which flag, which playbook)."""

from typing import Any

from django.conf import settings
from django.template.loader import render_to_string

from delivery.models import Message, MessageKind


def reminder_context(message: Message) -> dict[str, Any]:
    return {
        "learner": message.learner,
        "template": message.payload.get("template", ""),
        "module": message.payload.get("module", ""),
        "page_url": f"{settings.PUBLIC_BASE_URL.rstrip('/')}/learn/",
    }


def _folder(message: Message) -> str:
    return "notices" if message.kind == MessageKind.NOTICE else "reminders"


def _context(message: Message) -> dict[str, Any]:
    if message.kind != MessageKind.NOTICE:
        return reminder_context(message)
    base = settings.PUBLIC_BASE_URL.rstrip("/")
    return {**message.payload, "recipient": message.learner, "team_url": f"{base}/learn/team"}


def reminder_subject(message: Message) -> str:
    return render_to_string(f"{_folder(message)}/subject.txt", _context(message)).strip()


def reminder_body(message: Message) -> str:
    return render_to_string(f"{_folder(message)}/body.txt", _context(message))


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
