"""Writes in the delivery app: the outbox, webhook endpoints."""

from delivery.services.outbox import (
    DeliveryReport,
    Outgoing,
    message_dismiss,
    messages_cancel,
    messages_deliver_due,
    messages_enqueue,
    messages_send_again,
)
from delivery.services.preferences import preferences_update

__all__ = [
    "DeliveryReport",
    "Outgoing",
    "message_dismiss",
    "messages_cancel",
    "messages_deliver_due",
    "messages_enqueue",
    "messages_send_again",
    "preferences_update",
]
