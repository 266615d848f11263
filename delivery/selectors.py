"""Reads in the delivery app."""

from dataclasses import dataclass, field

from delivery.models import DeliveryPolicy, LearnerPreference, Message, MessageStatus
from identity.models import Learner
from playbooks.engine.reminders import LearnerPreferences

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


def preferences_of(*, learner_ids: list[int]) -> dict[int, LearnerPreferences]:
    """The learners' own delivery preferences as plain data (learners who set none are absent), in one query."""
    return {row.learner_id: _preferences(row) for row in LearnerPreference.objects.filter(learner_id__in=learner_ids)}


def preference_row(*, learner: Learner) -> LearnerPreference:
    """The learner's row, or an unsaved blank one (their page shows what they would set)."""
    return LearnerPreference.objects.filter(learner=learner).first() or LearnerPreference(learner=learner)


def _preferences(row: LearnerPreference) -> LearnerPreferences:
    quiet = (row.quiet_hours_start, row.quiet_hours_end) if row.quiet_hours_start else None
    return LearnerPreferences(quiet, row.snoozed_until, frozenset(row.opted_out))
