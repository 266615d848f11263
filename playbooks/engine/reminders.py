"""When a reminder goes out, under the delivery policy: the site's, which applies to every playbook, the
playbook's own, which can only tighten it, and the learner's own preferences (quiet hours, a snooze, channels they
opted out of). Quiet hours and a snooze defer it (never drop it) in the learner's time zone, a frequency cap
suppresses it, a ``critical`` reminder passes all three. Pure, so the worker and the simulator schedule reminders one
way."""

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from playbooks.engine.durations import parse_duration

SCHEDULED, SUPPRESSED = "scheduled", "suppressed"


@dataclass(frozen=True)
class QuietHours:
    start: str  # "21:00", in the learner's own time zone
    end: str
    source: str  # whose: "site" or "playbook"


@dataclass(frozen=True)
class Cap:
    """At most ``max`` reminders in any ``per``; ``recent`` are the due times already counted against it."""

    max: int
    per: str  # a duration as the admin wrote it: "24h"
    scope: str  # what it counts, for the note: "all playbooks", "the slack channel", "this playbook"
    recent: Sequence[datetime] = ()


@dataclass(frozen=True)
class LearnerPreferences:
    """What the learner chose on their page: quiet hours of their own, no reminders before a date, and channels
    never to use for them (the learner's own page, in_app, is always open)."""

    quiet_hours: tuple[str, str] | None = None
    snoozed_until: date | None = None  # reminders wait until the start of this day, in the learner's time zone
    opted_out: frozenset[str] = field(default_factory=frozenset)


NO_PREFERENCES = LearnerPreferences()
LEARNER_CHANNEL = "in_app"  # cannot be opted out of: it is the learner's own page


def reminder_channels(remind: dict[str, Any], preferences: LearnerPreferences = NO_PREFERENCES) -> list[str]:
    """The channels a reminder tries, in order: the playbook's, its fallback, then the learner's page; without the
    channels the learner opted out of."""
    wanted = [remind["channel"], remind.get("fallback") or remind["channel"], LEARNER_CHANNEL]
    return [c for c in dict.fromkeys(wanted) if c == LEARNER_CHANNEL or c not in preferences.opted_out]


def preference_windows(preferences: LearnerPreferences) -> list["QuietHours"]:
    return [QuietHours(*preferences.quiet_hours, "yours")] if preferences.quiet_hours else []


@dataclass(frozen=True)
class ReminderPlan:
    due_at: datetime
    status: str  # scheduled | suppressed
    note: str = ""  # why it was deferred or suppressed, for the decision log, the admin and the simulator
    rule: str = ""  # the part of the policy that deferred or suppressed it

    @property
    def deferred(self) -> bool:
        return self.status == SCHEDULED and bool(self.rule)


def plan_reminder(
    remind: dict[str, Any],
    *,
    decided_at: datetime,
    timezone: str,
    quiet_hours: Sequence[QuietHours] = (),
    caps: Sequence[Cap] = (),
    snoozed_until: date | None = None,
) -> ReminderPlan:
    """Schedule one ``remind`` action decided at ``decided_at``; ``quiet_hours`` include the learner's own and
    ``snoozed_until`` is the learner's snooze."""
    due = decided_at + (parse_duration(str(remind["delay"])) if remind.get("delay") else timedelta(0))
    if remind.get("critical"):
        return ReminderPlan(due, SCHEDULED, "critical: quiet hours, snoozes and frequency caps do not apply")
    zone = ZoneInfo(timezone)
    snoozed = False
    if snoozed_until is not None:
        wakes = datetime.combine(snoozed_until, time(0), tzinfo=zone).astimezone(due.tzinfo)
        due, snoozed = max(due, wakes), wakes > due
    deferred_by: list[QuietHours] = []
    for _ in range(len(quiet_hours) + 1):  # two overlapping windows may each push it into the other
        moved = False
        for window in quiet_hours:
            later = _after_quiet_hours(due, window.start, window.end, zone)
            if later != due:
                due, moved = later, True
                deferred_by.append(window)
        if not moved:
            break
    for cap in caps:
        window = parse_duration(cap.per)
        within = sum(1 for moment in cap.recent if due - window < moment <= due)
        if within >= cap.max:
            return ReminderPlan(
                due,
                SUPPRESSED,
                f"frequency cap: {within} reminder(s) already in {cap.per} (at most {cap.max}, {cap.scope})",
                f"frequency cap {cap.max} per {cap.per} ({cap.scope})",
            )
    if not deferred_by and not snoozed:
        return ReminderPlan(due, SCHEDULED)
    local = due.astimezone(zone)
    windows = ", ".join(dict.fromkeys(f"{w.start}-{w.end} ({w.source})" for w in deferred_by))
    because = [f"snoozed by the learner until {snoozed_until}"] if snoozed else []
    because += [f"quiet hours {windows}"] if deferred_by else []
    when = f"{local:%Y-%m-%d %H:%M}" if snoozed else f"{local:%H:%M}"
    return ReminderPlan(due, SCHEDULED, f"deferred to {when} {timezone}: {'; '.join(because)}", "; ".join(because))


def _after_quiet_hours(moment: datetime, start: str, end: str, zone: ZoneInfo) -> datetime:
    """``moment`` itself outside quiet hours, else the end of the quiet period it falls in (which may wrap
    midnight, e.g. 21:00-08:00)."""
    local = moment.astimezone(zone)
    begins, ends = time.fromisoformat(start), time.fromisoformat(end)
    now = local.time()
    wraps = begins > ends
    quiet = (now >= begins or now < ends) if wraps else begins <= now < ends
    if not quiet:
        return moment
    day = local.date() + timedelta(days=1) if wraps and now >= begins else local.date()
    return datetime.combine(day, ends, tzinfo=zone).astimezone(moment.tzinfo)
