"""When a reminder goes out, under the playbook's policy (DESIGN.md §3): quiet hours defer it, the frequency cap
suppresses it, ``critical`` reminders pass both. Pure, so the worker and the simulator schedule them one way."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from playbooks.engine.durations import parse_duration
from playbooks.engine.spec import PolicySpec

SCHEDULED, SUPPRESSED = "scheduled", "suppressed"


@dataclass(frozen=True)
class ReminderPlan:
    due_at: datetime
    status: str  # scheduled | suppressed
    note: str = ""  # why it was deferred or suppressed, for the admin and the simulation's timeline


def plan_reminder(
    remind: dict[str, Any],
    *,
    decided_at: datetime,
    policy: PolicySpec,
    timezone: str,
    recent: Sequence[datetime],
) -> ReminderPlan:
    """Schedule one ``remind`` action decided at ``decided_at``.

    ``recent`` holds the due times of the learner's reminders already scheduled or sent (not suppressed ones).
    """
    due = decided_at + (parse_duration(str(remind["delay"])) if remind.get("delay") else timedelta(0))
    if remind.get("critical"):
        return ReminderPlan(due, SCHEDULED, "critical: quiet hours and the frequency cap do not apply")
    note = ""
    if policy.quiet_hours_start and policy.quiet_hours_end:
        deferred = _after_quiet_hours(due, policy.quiet_hours_start, policy.quiet_hours_end, ZoneInfo(timezone))
        if deferred != due:
            local = deferred.astimezone(ZoneInfo(timezone))
            note = (
                f"deferred to {local:%H:%M} {timezone}: quiet hours {policy.quiet_hours_start}-{policy.quiet_hours_end}"
            )
            due = deferred
    if policy.frequency_cap_max is not None and policy.frequency_cap_per:
        window = parse_duration(policy.frequency_cap_per)
        within = sum(1 for moment in recent if due - window < moment <= due)
        if within >= policy.frequency_cap_max:
            return ReminderPlan(
                due,
                SUPPRESSED,
                f"frequency cap: {within} reminder(s) already in {policy.frequency_cap_per} "
                f"(at most {policy.frequency_cap_max})",
            )
    return ReminderPlan(due, SCHEDULED, note)


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
