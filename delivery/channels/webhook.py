import json
from datetime import UTC, datetime

import urllib3
from django.conf import settings
from standardwebhooks.webhooks import Webhook

from delivery.channels import PermanentFailure, TemporaryFailure
from delivery.content import reminder_data
from delivery.destinations import DestinationRefused, post
from delivery.models import EndpointKind, Message, MessageKind, WebhookEndpoint

# Worth retrying: the receiver is overloaded, rate-limits us, or timed out. Other 4xx mean it refuses this message.
RETRIED_STATUSES = frozenset({408, 409, 425, 429})


class WebhookChannel:
    """JSON signed with the endpoint's secret, Standard Webhooks style: ``webhook-id`` (the outbox key, the same
    on every attempt), ``webhook-timestamp`` and ``webhook-signature`` headers."""

    kind = EndpointKind.WEBHOOK

    def __init__(self) -> None:
        self.down: dict[str, str] = {}  # endpoints unreachable this batch: their other messages wait for a retry

    def send(self, message: Message) -> None:
        endpoint = endpoint_for(message, self.kind)
        body = json.dumps(self.body(message), separators=(",", ":"), default=str)
        deliver(endpoint, body, self.headers(endpoint, message, body), self.down)

    def body(self, message: Message) -> dict:
        if message.kind == MessageKind.WEBHOOK:
            return message.payload
        return {"type": "onboarding.reminder", "timestamp": message.due_at.isoformat(), "data": reminder_data(message)}

    def headers(self, endpoint: WebhookEndpoint, message: Message, body: str) -> dict[str, str]:
        sent_at = datetime.now(UTC)
        signature = Webhook(endpoint.secret).sign(message.key, sent_at, body)
        return {
            "Content-Type": "application/json",
            "webhook-id": message.key,
            "webhook-timestamp": str(int(sent_at.timestamp())),
            "webhook-signature": signature,
        }

    def close(self) -> None:
        return None


def endpoint_for(message: Message, kind: str) -> WebhookEndpoint:
    """The endpoint the message names (for a reminder, if it is of this channel's kind), else the one for
    reminders of this kind."""
    endpoints = WebhookEndpoint.objects.filter(kind=kind, is_active=True)
    endpoint = endpoints.filter(name=message.endpoint).first() if message.endpoint else None
    if endpoint is None and message.kind == MessageKind.REMINDER:
        endpoint = endpoints.filter(for_reminders=True).first()
    if endpoint is None:
        label = "Slack" if kind == EndpointKind.SLACK else "webhook"
        named = f"'{message.endpoint}'" if message.endpoint else "for reminders"
        raise PermanentFailure(f"no active {label} endpoint {named}")
    return endpoint


def deliver(endpoint: WebhookEndpoint, body: str, headers: dict[str, str], down: dict[str, str]) -> None:
    """POST to the endpoint; ``down`` remembers, for the batch, endpoints that did not answer at all, so that a hung
    receiver costs one timeout per batch, not one per message."""
    if endpoint.name in down:
        raise TemporaryFailure(f"{down[endpoint.name]}; not tried again in this batch")
    try:
        status = post(endpoint.url, body.encode(), headers, timeout=settings.WEBHOOK_TIMEOUT_SECONDS)
    except DestinationRefused as exc:
        raise PermanentFailure(f"{endpoint.name}: {exc}") from exc
    except urllib3.exceptions.HTTPError as exc:  # refused, reset, timed out
        down[endpoint.name] = f"{endpoint.name}: {exc.__class__.__name__}"
        raise TemporaryFailure(down[endpoint.name]) from exc
    if 200 <= status < 300:
        return
    failure = TemporaryFailure if status >= 500 or status in RETRIED_STATUSES else PermanentFailure
    raise failure(f"{endpoint.name} answered HTTP {status}")
