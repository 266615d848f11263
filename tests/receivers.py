"""Real receivers on loopback for what the platform sends: an SMTP sink (aiosmtpd) and an HTTP webhook receiver.

Both can be told to fail (an SMTP 4xx for one recipient, HTTP 500 for the first N posts) and record everything that
reached them, with the idempotency key each message carried (Message-ID, webhook-id).
"""

import email
import json
import socket
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Mail:
    to: list[str]
    message_id: str
    subject: str
    body: str


class SmtpSink:
    """An SMTP server on loopback. ``refuse`` maps a recipient to an SMTP reply for RCPT (e.g. a 451 for one)."""

    def __init__(self) -> None:
        self.received: list[Mail] = []
        self.refuse: dict[str, str] = {}
        self.port = free_port()
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)

    def __enter__(self) -> "SmtpSink":
        self.controller.start()
        return self

    def __exit__(self, *exc) -> None:
        self.controller.stop()

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802 - aiosmtpd's names
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        parsed = email.message_from_bytes(envelope.content)
        self.received.append(
            Mail(list(envelope.rcpt_tos), parsed["Message-ID"], parsed["Subject"], parsed.get_payload())
        )
        return "250 Message accepted for delivery"

    def message_ids(self) -> list[str]:
        return [mail.message_id for mail in self.received]


@dataclass
class Post:
    path: str
    headers: dict[str, str]
    body: bytes
    status: int  # what the receiver answered

    @property
    def json(self) -> dict:
        return json.loads(self.body)


@dataclass
class WebhookReceiver:
    """An HTTP server on loopback answering each POST with the next of ``statuses``, then ``default``."""

    statuses: list[int] = field(default_factory=list)
    default: int = 200
    received: list[Post] = field(default_factory=list)

    def __enter__(self) -> "WebhookReceiver":
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status = receiver.statuses.pop(0) if receiver.statuses else receiver.default
                headers = {k.lower(): v for k, v in self.headers.items()}
                receiver.received.append(Post(self.path, headers, body, status))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/hooks/onboarding"

    def accepted(self) -> list[Post]:
        return [post for post in self.received if 200 <= post.status < 300]


class Tarpit:
    """A server that accepts connections and never answers (a hung mail server or webhook receiver)."""

    def __enter__(self) -> "Tarpit":
        self.socket = socket.socket()
        self.socket.bind(("127.0.0.1", 0))
        self.socket.listen(16)
        self.port = self.socket.getsockname()[1]
        self.connected = threading.Event()
        self.clients: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.socket.accept()
            except OSError:
                return
            self.clients.append(client)
            self.connected.set()

    def __exit__(self, *exc) -> None:
        for client in self.clients:
            client.close()
        self.socket.close()
