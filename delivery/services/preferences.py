"""The learner's own delivery preferences: one row per learner, written whole (a form or a PUT)."""

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from django.db import transaction

from delivery.models import OPTIONAL_CHANNELS, LearnerPreference, Message, MessageKind
from delivery.selectors import preferences_of
from identity.models import Learner
from playbooks.engine.reminders import NO_PREFERENCES


@transaction.atomic  # not durable: the simulator writes a synthetic learner's inside its throwaway transaction
def preferences_update(
    *,
    learner: Learner,
    quiet_hours_start: str = "",
    quiet_hours_end: str = "",
    snoozed_until: date | None = None,
    opted_out: list[str] | tuple[str, ...] = (),
) -> LearnerPreference:
    """Replace the learner's preferences; raises ValidationError (by field) and writes nothing when one is wrong.
    Saving the same values again changes nothing."""
    row = LearnerPreference.objects.select_for_update().filter(learner=learner).first()
    row = row or LearnerPreference(learner=learner)
    row.quiet_hours_start, row.quiet_hours_end = quiet_hours_start.strip(), quiet_hours_end.strip()
    row.snoozed_until = snoozed_until
    # In one order whatever the input's, so saving the same choice twice is no change; unknown ones are kept for
    # full_clean to name.
    row.opted_out = [c for c in OPTIONAL_CHANNELS if c in opted_out] + [
        c for c in opted_out if c not in OPTIONAL_CHANNELS
    ]
    row.full_clean()
    row.save()
    return row


def reminders_snoozed(messages: list[Message], now: datetime) -> dict[int, datetime]:
    """Claimed reminders whose learner has snoozed since they were planned: message id → when the snooze ends (the
    start of its day in the learner's time zone). A critical reminder is never held, as when it was planned."""
    reminders = [m for m in messages if m.kind == MessageKind.REMINDER and m.learner_id is not None]
    preferences = preferences_of(learner_ids=[m.learner_id for m in reminders]) if reminders else {}
    held = {}
    for message in reminders:
        until = preferences.get(message.learner_id, NO_PREFERENCES).snoozed_until
        if until is None or message.payload.get("critical"):
            continue
        wakes = datetime.combine(until, time(0), tzinfo=ZoneInfo(message.learner.timezone or "UTC"))
        if wakes > now:
            held[message.pk] = wakes
    return held


def opted_out_of(messages: list[Message]) -> dict[int, frozenset[str]]:
    """learner id → the channels they opted out of now (a reminder planned before they did skips them too)."""
    ids = [m.learner_id for m in messages if m.kind == MessageKind.REMINDER and m.learner_id is not None]
    return {learner: p.opted_out for learner, p in preferences_of(learner_ids=ids).items()} if ids else {}
