"""Due reminders swept from the outbox and delivered by e-mail, against bare ``send_mail`` calls to the same sink.

    bin/bench reminders [--reminders 100000] [--workers 0] [--profile]

Set-up: N learners with e-mail addresses and N reminder messages due now, put in the outbox by
``messages_enqueue`` (kind reminder, channels email then in_app, payload {template: drop_off, module:
short-intro}, as a playbook's ``remind`` action makes them). The SMTP sink is aiosmtpd in a process of its own (so
it does not share the sender's GIL) on a free loopback port; it counts connections, messages and their Message-IDs.

1. Baseline: N bare ``django.core.mail.send_mail(subject, body, from, [to])`` calls in a loop, each opening its
   own SMTP connection (as send_mail does), with the subject and body a reminder has: messages/s.
2. The outbox: ``messages_deliver_due()`` in this process (``--workers 0``, the default), or the
   ``delivery.deliver_due`` task on a Celery worker with that many processes (``--workers 2``: the production
   path), until every message is sent: messages/s. Each batch of 500 is claimed under a lease in one transaction,
   each message's lease renewed before its send and its outcome recorded in a transaction of its own, one SMTP
   connection per batch, the Message-ID the message's key.

Target: the outbox at least 0.5x the bare calls' messages/s. Nothing lost, nothing doubled: the sink must receive
exactly N messages in each phase, and in the outbox's exactly the N messages' keys as Message-IDs, each once, and
every message must be ``sent`` by e-mail. Below the target (or with ``--profile``), cProfile of the outbox
delivering 2,000 more messages in this process says where the time goes.
"""

import argparse
import cProfile
import io
import logging
import multiprocessing
import os
import pstats
import re
import time
from collections import Counter
from urllib.parse import urlsplit

from benchmarks._support import django_setup, free_port, start_worker, stop, wait_for

CHUNK = 5000
WARM_UP = 100
PROFILED = 2000
PAYLOAD = {"template": "drop_off", "module": "short-intro"}
_MESSAGE_ID = re.compile(rb"^message-id:[ \t]*(\S+)", re.IGNORECASE | re.MULTILINE)


def sink_main(port: int, conn) -> None:
    """The SMTP sink's process: aiosmtpd on 127.0.0.1:port, answering ``count``, ``take`` and ``stop`` on conn."""
    from aiosmtpd.controller import Controller

    class Handler:
        def __init__(self) -> None:
            self.ids: list[str] = []
            self.connections = 0

        async def handle_EHLO(self, server, session, envelope, hostname, responses):  # noqa: N802 - aiosmtpd's
            self.connections += 1
            session.host_name = hostname
            return responses

        async def handle_DATA(self, server, session, envelope):  # noqa: N802
            content = envelope.content
            headers = content[: content.find(b"\r\n\r\n")]
            match = _MESSAGE_ID.search(headers)
            self.ids.append(match.group(1).decode() if match else "")
            return "250 Message accepted for delivery"

    handler = Handler()
    # A fixed server name: otherwise aiosmtpd looks up the machine's FQDN for every connection.
    controller = Controller(handler, hostname="127.0.0.1", port=port, server_hostname="sink.localhost")
    controller.start()
    conn.send("ready")
    while True:
        command = conn.recv()
        if command == "count":
            conn.send(len(handler.ids))
        elif command == "take":  # everything received since the last take, and the connections opened
            ids, handler.ids = handler.ids, []
            connections, handler.connections = handler.connections, 0
            conn.send((ids, connections))
        else:
            controller.stop()
            conn.send("stopped")
            return


class Sink:
    def __init__(self) -> None:
        self.port = free_port()
        context = multiprocessing.get_context("spawn")
        self.conn, child = context.Pipe()
        self.process = context.Process(target=sink_main, args=(self.port, child), daemon=True)

    def __enter__(self) -> "Sink":
        self.process.start()
        if not self.conn.poll(30) or self.conn.recv() != "ready":
            raise SystemExit("the SMTP sink did not start")
        return self

    def __exit__(self, *exc) -> None:
        if self.process.is_alive():
            self.conn.send("stop")
            self.conn.poll(10)
            self.process.join(10)
        if self.process.is_alive():
            self.process.kill()

    def count(self) -> int:
        self.conn.send("count")
        return self.conn.recv()

    def take(self) -> tuple[list[str], int]:
        self.conn.send("take")
        return self.conn.recv()


def learners_create(count: int) -> list[int]:
    from identity.models import Learner

    for start in range(0, count, CHUNK):
        Learner.objects.bulk_create(
            Learner(external_id=f"bench-{n}", email=f"learner-{n}@example.com")
            for n in range(start, min(count, start + CHUNK))
        )
    return list(Learner.objects.filter(external_id__startswith="bench-").order_by("pk").values_list("pk", flat=True))


def reminders_enqueue(learner_ids: list[int]) -> list[str]:
    """Reminders due now, through the outbox's own service, a transaction per chunk; returns their keys."""
    from django.db import transaction
    from django.utils import timezone

    from delivery.models import MessageKind
    from delivery.services import Outgoing, messages_enqueue

    keys = []
    for start in range(0, len(learner_ids), CHUNK):
        now = timezone.now()
        with transaction.atomic():
            messages = messages_enqueue(
                outgoing=[
                    Outgoing(
                        kind=MessageKind.REMINDER,
                        channels=["email", "in_app"],
                        due_at=now,
                        learner_id=learner_id,
                        payload=PAYLOAD,
                    )
                    for learner_id in learner_ids[start : start + CHUNK]
                ]
            )
        keys.extend(message.key for message in messages)
    return keys


def reminder_text() -> tuple[str, str]:
    """The subject and body of a reminder, for the bare calls to send the same."""
    from delivery.content import reminder_body, reminder_subject
    from delivery.models import Message
    from identity.models import Learner

    message = Message(learner=Learner.objects.get(external_id="bench-0"), payload=PAYLOAD)
    return reminder_subject(message), reminder_body(message)


def bare_sends(count: int, subject: str, body: str) -> float:
    """Seconds for ``count`` bare send_mail calls."""
    from django.conf import settings
    from django.core.mail import send_mail

    began = time.perf_counter()
    for n in range(count):
        send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [f"learner-{n}@example.com"])
    return time.perf_counter() - began


def outbox_in_process() -> float:
    from delivery.services import messages_deliver_due

    began = time.perf_counter()
    messages_deliver_due()
    return time.perf_counter() - began


def outbox_workers(concurrency: int, total: int) -> float:
    from delivery.models import Message, MessageStatus
    from delivery.tasks import deliver_due
    from onboarding.tasks import ping

    def ready() -> bool:
        try:
            ping.delay().get(timeout=2)
        except Exception:  # noqa: BLE001 (not up yet, whatever the reason)
            return False
        return True

    worker = start_worker(concurrency=concurrency)
    try:
        wait_for(ready, timeout=60, what="a worker")
        began = time.perf_counter()
        for _ in range(concurrency):  # as beat's sweep and the enqueue's wake-ups do; the runs share the work
            deliver_due.delay()
        sent = Message.objects.filter(status=MessageStatus.SENT)
        wait_for(lambda: sent.count() >= total, timeout=3600, what="the outbox", interval=0.2)
        return time.perf_counter() - began
    finally:
        stop(worker)


def check(sink: Sink, *, expected: int, keys: list[str] | None = None) -> tuple[int, list[str]]:
    """The sink's messages since the last check: returns the connections, and what is wrong."""
    ids, connections = sink.take()
    problems = []
    counts = Counter(ids)
    if len(ids) != expected:
        problems.append(f"the sink received {len(ids):,} messages, not {expected:,}")
    if len(counts) != len(ids):
        problems.append(f"{len(ids) - len(counts):,} Message-IDs received more than once")
    if keys is not None:
        from django.conf import settings

        domain = urlsplit(settings.PUBLIC_BASE_URL).hostname or "localhost"  # as delivery/channels/email.py
        wanted = {f"<{key}@{domain}>" for key in keys}
        if missing := len(wanted - counts.keys()):
            problems.append(f"{missing:,} messages' keys never arrived as a Message-ID")
        if foreign := len(counts.keys() - wanted):
            problems.append(f"{foreign:,} Message-IDs are not the messages' keys")
    return connections, problems


def outbox_states() -> dict[tuple[str, str], int]:
    from django.db.models import Count

    from delivery.models import Message

    rows = Message.objects.values("status", "delivered_by").annotate(n=Count("pk"))
    return {(row["status"], row["delivered_by"]): row["n"] for row in rows}


def profile(learner_ids: list[int], sink: Sink, top: int = 25) -> str:
    from delivery.services import messages_deliver_due

    keys = reminders_enqueue(learner_ids)
    profiler = cProfile.Profile()
    began = time.perf_counter()
    profiler.enable()
    messages_deliver_due()
    profiler.disable()
    elapsed = time.perf_counter() - began
    _connections, problems = check(sink, expected=len(keys), keys=keys)
    buffer = io.StringIO()
    stats = pstats.Stats(profiler, stream=buffer)
    stats.sort_stats("cumulative").print_stats(top)
    stats.sort_stats("tottime").print_stats(top)
    head = f"{len(keys):,} messages in {elapsed:.2f} s under cProfile ({len(keys) / elapsed:,.0f}/s)"
    return head + (f"; PROBLEMS: {problems}" if problems else "") + "\n" + buffer.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reminders", type=int, default=100_000)
    parser.add_argument(
        "--workers", type=int, default=0, help="0: the outbox runs in this process; N: a worker with N processes"
    )
    parser.add_argument("--profile", action="store_true", help="profile the outbox even if the target is met")
    args = parser.parse_args()
    total = args.reminders
    with Sink() as sink:
        os.environ["EMAIL_URL"] = f"smtp://127.0.0.1:{sink.port}"  # read by the settings, here and in workers
        django_setup()
        logging.disable(logging.INFO)  # this process only
        from django.db import connection

        from onboarding.celery import app as celery_app

        began = time.perf_counter()
        learner_ids = learners_create(max(total, PROFILED))
        created = time.perf_counter() - began
        subject, body = reminder_text()

        # Warm-up: connections, templates, imports, on both paths.
        bare_sends(WARM_UP, subject, body)
        warm_problems = check(sink, expected=WARM_UP)[1]
        warm_keys = reminders_enqueue(learner_ids[:WARM_UP])
        outbox_in_process()
        warm_problems += check(sink, expected=WARM_UP, keys=warm_keys)[1]
        if warm_problems:
            raise SystemExit(f"warm-up: {warm_problems}")

        began = time.perf_counter()
        keys = reminders_enqueue(learner_ids[:total])
        enqueued = time.perf_counter() - began
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE delivery_message")
        celery_app.control.purge()  # the enqueue's wake-up tasks: the timed phase starts the sending itself

        bare = bare_sends(total, subject, body)
        bare_connections, bare_problems = check(sink, expected=total)
        outbox = outbox_workers(args.workers, total + WARM_UP) if args.workers else outbox_in_process()
        outbox_connections, outbox_problems = check(sink, expected=total, keys=keys)
        states = outbox_states()
        if states.get(("sent", "email"), 0) != total + WARM_UP or len(states) != 1:
            outbox_problems.append(f"outbox states (status, channel): {states}")

        bare_rate, outbox_rate = total / bare, total / outbox
        ratio = outbox_rate / bare_rate
        path = f"{args.workers} worker processes" if args.workers else "in this process"
        print(f"set-up: {total:,} learners in {created:.1f} s, {total:,} reminders enqueued in {enqueued:.1f} s")
        print(
            f"bare send_mail:  {bare_rate:>8,.0f} messages/s ({total:,} in {bare:.1f} s, "
            f"{bare_connections:,} SMTP connections)"
        )
        print(
            f"outbox ({path}): {outbox_rate:>8,.0f} messages/s ({total:,} in {outbox:.1f} s, "
            f"{outbox_connections:,} SMTP connections)"
        )
        print(f"ratio outbox / bare: {ratio:.2f}x (target >= 0.5x: {'met' if ratio >= 0.5 else 'not met'})")
        problems = [f"bare: {p}" for p in bare_problems] + [f"outbox: {p}" for p in outbox_problems]
        if not problems:
            print(
                f"nothing lost, nothing doubled: the sink received {total:,} messages in each phase, in the outbox's "
                f"exactly the {total:,} keys once each; every message sent by e-mail"
            )
        if ratio < 0.5 or args.profile:
            print(f"\ncProfile of the outbox in this process: {profile(learner_ids[:PROFILED], sink)}")
        if problems:
            raise SystemExit("LOST OR DOUBLED:\n  " + "\n  ".join(problems))


if __name__ == "__main__":
    main()
