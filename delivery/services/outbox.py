"""The outbox: claim due messages in a short transaction (a lease), send them after it commits, record each outcome
in a transaction of its own.

What can go wrong, and what happens then:
- A channel fails for one message: that message alone is retried later (exponential backoff with jitter) or moved
  to its next channel; the others of the batch are sent once, their outcomes already recorded.
- The worker dies between the claim and the sends, or during a send: the claimed messages stay ``sending`` until
  their lease expires, then any worker claims them again. Only the message in flight can have reached its receiver
  already, and it goes again under the same key (Message-ID, webhook-id) for the receiver to drop.
- A batch is slow: each message's lease is renewed just before it is sent, and a message whose lease another worker
  has taken in the meantime is skipped, so no message is sent by two workers.
- A receiver never answers: sends have timeouts; after ``DELIVERY_MAX_ATTEMPTS`` attempts on its last channel a
  message is dead-lettered, visible in the admin, where "send again" retries it under the same key.
"""

import logging
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from common.metrics import OUTBOX_ATTEMPTS
from delivery.channels import Channel, PermanentFailure, TemporaryFailure, open_channels
from delivery.models import IN_APP, Message, MessageKind, MessageStatus
from delivery.services.preferences import opted_out_of, reminders_snoozed
from playbooks.models import EnrollmentStatus, ModuleProgress, ProgressStatus

logger = logging.getLogger(__name__)

BATCH = 500
HISTORY = 20  # attempts kept on a message


@dataclass(frozen=True)
class Outgoing:
    """A message to put in the outbox."""

    kind: str
    channels: list[str]
    due_at: datetime
    learner_id: int | None = None
    enrollment_id: int | None = None
    about_module: str = ""
    endpoint: str = ""
    payload: dict[str, Any] = field(default_factory=dict)


def messages_enqueue(*, outgoing: list[Outgoing]) -> list[Message]:
    """Add messages to the outbox in the caller's transaction; those already due are sent soon after it commits
    (or by the next sweep, if the broker is down then)."""
    messages = Message.objects.bulk_create(
        Message(
            kind=item.kind,
            channels=item.channels,
            due_at=item.due_at,
            next_attempt_at=item.due_at,
            learner_id=item.learner_id,
            enrollment_id=item.enrollment_id,
            about_module=item.about_module,
            endpoint=item.endpoint,
            payload=item.payload,
        )
        for item in outgoing
    )
    if any(item.due_at <= timezone.now() for item in outgoing):
        transaction.on_commit(_wake_sender)
    return messages


def _wake_sender() -> None:
    from delivery.tasks import deliver_due

    try:
        deliver_due.delay()
    except Exception as exc:  # kombu raises many types: the beat sweep sends them within a minute anyway
        logger.warning("delivery.wake_failed", extra={"error": repr(exc)})


@dataclass
class DeliveryReport:
    sent: int = 0
    retried: int = 0
    dead: int = 0
    cancelled: int = 0


def messages_deliver_due(*, now: datetime | None = None) -> DeliveryReport:
    """Send every message due by ``now`` (default: the time of each batch). Safe to run in several workers at once:
    they claim disjoint batches. Never call it inside a transaction: sends must follow the claim's commit."""
    report = DeliveryReport()
    while True:
        count, claimed = _claim(now or timezone.now(), report)
        if not count:
            return report
        channels = open_channels()
        try:
            for message in claimed:
                _deliver(message, channels, report, now=now)
        finally:
            for channel in channels.values():
                channel.close()
        if count < BATCH:  # the claim's size, not what is left once the stale reminders are cancelled
            return report


def _claim(now: datetime, report: DeliveryReport) -> tuple[int, list[Message]]:
    """Claim a batch; returns how many were claimed, and those to send (the others were cancelled)."""
    with transaction.atomic():
        # Two reads, each walking its own partial index in order (an OR of the two would sort every due row).
        locked = Message.objects.select_for_update(skip_locked=True)
        lapsed = locked.filter(status=MessageStatus.SENDING, lease_expires_at__lte=now)  # its worker died
        ids = list(lapsed.order_by("lease_expires_at").values_list("pk", flat=True)[:BATCH])
        due = locked.filter(status=MessageStatus.SCHEDULED, next_attempt_at__lte=now).order_by("next_attempt_at")
        ids += due.values_list("pk", flat=True)[: BATCH - len(ids)]
        if not ids:
            return 0, []
        Message.objects.filter(pk__in=ids).update(
            status=MessageStatus.SENDING,
            lease_expires_at=now + _lease(),
            claims=F("claims") + 1,
            attempts=F("attempts") + 1,
            updated_at=now,
        )
        messages = list(
            Message.objects.filter(pk__in=ids).select_related("learner", "enrollment").order_by("next_attempt_at", "pk")
        )
        stale = _stale_reminders(messages)
        for reason, group in stale.items():
            _cancel(group, reason)
        report.cancelled += sum(len(group) for group in stale.values())
        cancelled = {message.pk for group in stale.values() for message in group}
        snoozed = reminders_snoozed([m for m in messages if m.pk not in cancelled], now)
        for pk, wakes in snoozed.items():  # back to the queue, due when the learner's snooze ends; not an attempt
            Message.objects.filter(pk=pk).update(
                status=MessageStatus.SCHEDULED, next_attempt_at=wakes, lease_expires_at=None, attempts=F("attempts") - 1
            )
        opted_out = opted_out_of(messages)
    for message in messages:
        message.opted_out = opted_out.get(message.learner_id, frozenset())
    return len(ids), [message for message in messages if message.pk not in cancelled and message.pk not in snoozed]


def _stale_reminders(messages: list[Message]) -> dict[str, list[Message]]:
    """Reminders that must not go out any more, by reason: checked again just before sending, whatever cancelled
    them (or failed to) upstream."""
    reminders = [m for m in messages if m.kind == MessageKind.REMINDER]
    about = [(m.enrollment_id, m.about_module) for m in reminders if m.enrollment_id and m.about_module]
    done = {}
    if about:
        rows = ModuleProgress.objects.filter(
            enrollment_id__in={e for e, _ in about},
            module__slug__in={s for _, s in about},
            status__in=[ProgressStatus.COMPLETED, ProgressStatus.SKIPPED],
        ).values_list("enrollment_id", "module__slug", "status")
        done = {(enrollment, slug): status for enrollment, slug, status in rows}
    stale: dict[str, list[Message]] = {}
    for message in reminders:
        reason = None
        if message.learner is not None and not message.learner.is_active:
            reason = "the learner was deactivated"
        elif message.enrollment is not None and message.enrollment.status == EnrollmentStatus.COMPLETED:
            reason = "the learner completed the playbook"
        elif message.enrollment is not None and message.enrollment.status != EnrollmentStatus.ACTIVE:
            reason = "the learner left the playbook"
        elif (status := done.get((message.enrollment_id, message.about_module))) is not None:
            reason = f"the learner {status} {message.about_module}"
        if reason:
            stale.setdefault(reason, []).append(message)
    return stale


@dataclass(frozen=True)
class _Outcome:
    kind: str  # sent | retry | dead
    position: int
    notes: list[str]


def _deliver(message: Message, channels: dict[str, Channel], report: DeliveryReport, *, now: datetime | None) -> None:
    moment = now or timezone.now()
    # Renew the lease: if it lapsed while the batch's earlier messages went out, another worker may own this one now.
    renewed = Message.objects.filter(pk=message.pk, claims=message.claims, status=MessageStatus.SENDING).update(
        lease_expires_at=moment + _lease()
    )
    if not renewed:
        return
    outcome = _attempt(message, channels)
    _record(message, outcome, now=now or timezone.now(), report=report)


def _attempt(message: Message, channels: dict[str, Channel]) -> _Outcome:
    notes: list[str] = []
    position = message.position
    while True:
        name = message.channels[position]
        if name in getattr(message, "opted_out", ()) and name != IN_APP and position + 1 < len(message.channels):
            notes.append(f"{name}: the learner opted out of it")
            position += 1
            continue
        try:
            channels[name].send(message)
            return _Outcome("sent", position, notes)
        except PermanentFailure as exc:
            notes.append(f"{name}: {exc}")
            if position + 1 == len(message.channels):
                return _Outcome("dead", position, notes)
            position += 1
        except TemporaryFailure as exc:
            notes.append(f"{name}: {exc}")
            return _Outcome("retry", position, notes)
        except Exception as exc:  # a defect in a channel: this message waits, the batch goes on
            logger.exception("delivery.channel_error", extra={"key": message.key, "channel": name})
            notes.append(f"{name}: {exc.__class__.__name__}: {exc}")
            return _Outcome("retry", position, notes)


def _record(message: Message, outcome: _Outcome, *, now: datetime, report: DeliveryReport) -> None:
    """The outcome of one message, in a transaction of its own (autocommit), only if its lease is still ours."""
    channel = message.channels[outcome.position]
    attempts = message.attempts if outcome.position == message.position else 1
    fields: dict[str, Any] = {
        "position": outcome.position,
        "attempts": attempts,
        "lease_expires_at": None,
        "last_error": "; ".join(outcome.notes),
        "history": [*message.history, {"at": now.isoformat(), "channel": channel, "outcome": outcome.kind}][-HISTORY:],
        "updated_at": now,
    }
    if outcome.notes:
        fields["history"][-1]["error"] = fields["last_error"]
    if outcome.kind == "sent":
        fields.update(status=MessageStatus.SENT, sent_at=now, delivered_by=channel)
        report.sent += 1
    elif outcome.kind == "retry" and attempts < settings.DELIVERY_MAX_ATTEMPTS:
        fields.update(status=MessageStatus.SCHEDULED, next_attempt_at=now + _backoff(attempts))
        report.retried += 1
    elif outcome.kind == "retry" and outcome.position + 1 < len(message.channels):
        # Out of attempts on this channel: the next one, at once.
        fields.update(status=MessageStatus.SCHEDULED, next_attempt_at=now, position=outcome.position + 1, attempts=0)
        report.retried += 1
    else:
        fields["status"] = MessageStatus.DEAD
        report.dead += 1
        logger.warning("delivery.dead_lettered", extra={"key": message.key, "error": fields["last_error"]})
    mine = Message.objects.filter(pk=message.pk, claims=message.claims, status=MessageStatus.SENDING)
    if mine.update(**fields):  # autocommit: written is committed
        OUTBOX_ATTEMPTS.labels(channel, "dead" if fields.get("status") == MessageStatus.DEAD else outcome.kind).inc()


def _lease() -> timedelta:
    return timedelta(seconds=settings.DELIVERY_LEASE_SECONDS)


def _backoff(attempts: int) -> timedelta:
    """Exponential, capped, with jitter, so receivers that failed together are not retried together."""
    delay = min(settings.DELIVERY_RETRY_MAX_SECONDS, settings.DELIVERY_RETRY_BASE_SECONDS * 2 ** (attempts - 1))
    return timedelta(seconds=delay * random.uniform(0.5, 1.0))  # noqa: S311 - jitter, not a secret


def messages_cancel(*, messages: list[Message], reason: str) -> list[Message]:
    """Cancel those of ``messages`` still waiting to be sent (one already sending goes out); returns them."""
    waiting = [m for m in messages if m.status == MessageStatus.SCHEDULED]
    return _cancel(waiting, reason)


def _cancel(messages: list[Message], reason: str) -> list[Message]:
    ids = [m.pk for m in messages]
    cancelled = set(
        Message.objects.filter(pk__in=ids, status__in=[MessageStatus.SCHEDULED, MessageStatus.SENDING]).values_list(
            "pk", flat=True
        )
    )
    Message.objects.filter(pk__in=cancelled).update(
        status=MessageStatus.CANCELLED, cancel_reason=reason, lease_expires_at=None, updated_at=timezone.now()
    )
    return [m for m in messages if m.pk in cancelled]


@transaction.atomic
def messages_send_again(*, messages: list[Message], by: str = "an admin") -> int:
    """Put dead-lettered, cancelled or sent messages back in the outbox, from their first channel, under the same
    key; returns how many. A message still scheduled or sending is left alone."""
    now = timezone.now()
    again = 0
    for message in Message.objects.select_for_update().filter(
        pk__in=[m.pk for m in messages],
        status__in=[MessageStatus.DEAD, MessageStatus.CANCELLED, MessageStatus.SENT],
    ):
        message.history = [*message.history, {"at": now.isoformat(), "outcome": f"sent again by {by}"}][-HISTORY:]
        message.status, message.position, message.attempts = MessageStatus.SCHEDULED, 0, 0
        message.next_attempt_at, message.cancel_reason = now, ""
        message.save(
            update_fields=[
                "history",
                "status",
                "position",
                "attempts",
                "next_attempt_at",
                "cancel_reason",
                "updated_at",
            ]
        )
        again += 1
    if again:
        transaction.on_commit(_wake_sender)
    return again


def message_dismiss(*, learner, message_id: int, now: datetime) -> bool:
    """The learner dismisses an in-app reminder of theirs; another learner's id changes nothing."""
    mine = Message.objects.filter(pk=message_id, learner=learner, delivered_by="in_app", seen_at__isnull=True)
    return bool(mine.update(seen_at=now))
