import json

from delivery.channels.webhook import deliver, endpoint_for
from delivery.content import reminder_subject
from delivery.models import EndpointKind, Message


class SlackChannel:
    """A Slack incoming webhook: its URL is its secret, so nothing is signed."""

    def __init__(self) -> None:
        self.down: dict[str, str] = {}

    def send(self, message: Message) -> None:
        endpoint = endpoint_for(message, EndpointKind.SLACK)
        body = json.dumps({"text": reminder_subject(message)})
        deliver(endpoint, body, {"Content-Type": "application/json"}, self.down)

    def close(self) -> None:
        return None
