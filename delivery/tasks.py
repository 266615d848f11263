"""Celery tasks of the delivery app: thin wrappers over services, on the reminders queue."""

from celery import shared_task
from django.db import InterfaceError, OperationalError

RETRIED = {"autoretry_for": (OperationalError, InterfaceError), "retry_backoff": True, "max_retries": 8}


@shared_task(name="delivery.deliver_due", **RETRIED)
def deliver_due() -> int:
    """Send the messages that are due. Runs from beat every minute and whenever a message is due at once; several
    runs at a time share the work (claims skip each other's rows)."""
    from delivery.services import messages_deliver_due

    return messages_deliver_due().sent


@shared_task(name="delivery.cancel_for_learner", **RETRIED)
def cancel_for_learner(*, learner_id: int, reason: str) -> int:
    """Cancel a learner's reminders still to be sent (identity asks by name when a learner is deactivated)."""
    from delivery.models import Message, MessageKind, MessageStatus
    from delivery.services import messages_cancel

    waiting = Message.objects.filter(learner_id=learner_id, kind=MessageKind.REMINDER, status=MessageStatus.SCHEDULED)
    return len(messages_cancel(messages=list(waiting), reason=reason))
