"""Reads in the delivery app."""

from dataclasses import dataclass, field

from delivery.models import DeliveryPolicy, Message, MessageStatus
from identity.models import Learner

IN_APP_SHOWN = 5


@dataclass(frozen=True)
class SitePolicy:
    """The site's delivery policy as plain data (the one row, or none: then nothing is capped site-wide)."""

    max_messages: int | None = None
    per: str = ""
    quiet_hours: tuple[str, str] | None = None
    channel_caps: dict[str, tuple[int, str]] = field(default_factory=dict)  # channel → (max, per)


def site_policy() -> SitePolicy:
    policy = DeliveryPolicy.objects.prefetch_related("channel_caps").order_by("pk").first()
    if policy is None:
        return SitePolicy()
    return SitePolicy(
        max_messages=policy.max_messages if policy.per else None,
        per=policy.per,
        quiet_hours=(policy.quiet_hours_start, policy.quiet_hours_end) if policy.quiet_hours_start else None,
        channel_caps={cap.channel: (cap.max_messages, cap.per) for cap in policy.channel_caps.all()},
    )


def messages_in_app(*, learner: Learner) -> list[Message]:
    """Reminders delivered to the learner's own page and not yet dismissed, newest first."""
    return list(
        Message.objects.filter(
            learner=learner, status=MessageStatus.SENT, delivered_by="in_app", seen_at__isnull=True
        ).order_by("-sent_at", "-pk")[:IN_APP_SHOWN]
    )
