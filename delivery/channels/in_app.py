from delivery.models import Message


class InAppChannel:
    """The learner's own page lists it until dismissed: always reachable, the last resort of every reminder."""

    def send(self, message: Message) -> None:
        return None

    def close(self) -> None:
        return None
