"""Delivery channels: one module per channel, one interface (copy one to add another).

A channel's ``send`` returns when the message is out, raises ``TemporaryFailure`` when the same channel may work
later (a timeout, a 5xx, an SMTP 4xx) and ``PermanentFailure`` when it cannot reach this learner (no e-mail
address, no endpoint configured, an SMTP 5xx): the outbox then tries the message's next channel. A channel object
lives for one delivery batch, so it can keep a connection open across the batch.
"""

from typing import Protocol

from delivery.models import Message


class TemporaryFailure(Exception):
    """Try this channel again later."""


class PermanentFailure(Exception):
    """This channel cannot deliver this message: try the next one."""


class Channel(Protocol):
    def send(self, message: Message) -> None: ...

    def close(self) -> None: ...


def open_channels() -> dict[str, Channel]:
    from delivery.channels.email import EmailChannel
    from delivery.channels.in_app import InAppChannel
    from delivery.channels.slack import SlackChannel
    from delivery.channels.webhook import WebhookChannel

    return {"email": EmailChannel(), "slack": SlackChannel(), "webhook": WebhookChannel(), "in_app": InAppChannel()}
