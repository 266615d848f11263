"""When a reminder goes out, under the delivery policy: the site's, which applies to every playbook, and the
playbook's own, which can only tighten it. Quiet hours defer it (never drop it) in the learner's time zone, a
frequency cap suppresses it, a ``critical`` reminder passes both. Pure, so the worker and the simulator schedule
reminders one way."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
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
) -> ReminderPlan:
    """Schedule one ``remind`` action decided at ``decided_at``."""
    due = decided_at + (parse_duration(str(remind["delay"])) if remind.get("delay") else timedelta(0))
    if remind.get("critical"):
        return ReminderPlan(due, SCHEDULED, "critical: quiet hours and frequency caps do not apply")
    zone = ZoneInfo(timezone)
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
    if not deferred_by:
        return ReminderPlan(due, SCHEDULED)
    local = due.astimezone(zone)
    windows = ", ".join(dict.fromkeys(f"{w.start}-{w.end} ({w.source})" for w in deferred_by))
    return ReminderPlan(
        due, SCHEDULED, f"deferred to {local:%H:%M} {timezone}: quiet hours {windows}", f"quiet hours {windows}"
    )


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
