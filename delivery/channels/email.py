import contextlib
import smtplib
from urllib.parse import urlsplit

from django.conf import settings
from django.core.mail import EmailMessage, get_connection

from delivery.channels import PermanentFailure, TemporaryFailure
from delivery.content import reminder_body, reminder_subject
from delivery.models import Message


class EmailChannel:
    """Django's mail backend, one connection for the whole batch; the Message-ID is the outbox key."""

    def __init__(self) -> None:
        self.connection = None
        self.down: str | None = None  # the mail server failed this batch: the rest of it waits for a retry

    def send(self, message: Message) -> None:
        # A notice to a manager outside the platform carries their address; everything else goes to its learner.
        address = message.learner.email if message.learner else message.payload.get("to", "")
        if not address:
            raise PermanentFailure("no e-mail address")
        if self.down:
            # A hung or unreachable server would cost every message of the batch its timeout.
            raise TemporaryFailure(f"{self.down}; not tried again in this batch")
        email = EmailMessage(
            subject=reminder_subject(message),
            body=reminder_body(message),
            to=[address],
            headers={"Message-ID": f"<{message.key}@{_domain()}>"},
        )
        try:
            if self.connection is None:
                self.connection = get_connection(fail_silently=False)
                self.connection.open()
            self.connection.send_messages([email])
        except smtplib.SMTPRecipientsRefused as exc:
            self._drop()
            codes = [code for code, _text in exc.recipients.values()]
            failure = TemporaryFailure if all(400 <= code < 500 for code in codes) else PermanentFailure
            raise failure(f"recipient refused ({', '.join(map(str, codes))})") from exc
        except smtplib.SMTPResponseException as exc:
            self._drop()
            failure = TemporaryFailure if 400 <= exc.smtp_code < 500 else PermanentFailure
            raise failure(f"SMTP {exc.smtp_code}: {_text(exc.smtp_error)}") from exc
        except (smtplib.SMTPException, OSError) as exc:  # disconnected, refused, timed out
            self._drop()
            self.down = f"mail server unreachable ({exc.__class__.__name__}: {exc})"
            raise TemporaryFailure(self.down) from exc

    def close(self) -> None:
        self._drop()

    def _drop(self) -> None:
        # After an error the SMTP session is in an unknown state: the next message opens a new one.
        if self.connection is not None:
            with contextlib.suppress(smtplib.SMTPException, OSError):
                self.connection.close()
            self.connection = None


def _domain() -> str:
    return urlsplit(settings.PUBLIC_BASE_URL).hostname or "localhost"


def _text(error: bytes | str) -> str:
    return error.decode(errors="replace") if isinstance(error, bytes) else str(error)
