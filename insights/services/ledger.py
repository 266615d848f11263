"""What each raw row adds to the rollups, read for a set of rows: the fold compares it with the row's ledger entry
(insights.models ``*Seen``) and adds only the difference (``deltas``).

Rows are read as plain tuples, never model instances: a fold reads a minute's changes, a rebuild every row.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from django.db.models import Min

from insights.models import EnrollmentSeen, ProgressSeen, ReminderSeen
from insights.services.partitions import primary_roles, reminder_outcome, step_keys, utc_day
from insights.sketch import bucket_of
from playbooks.models import Enrollment, EnrollmentStatus, ModuleProgress, ProgressStatus
from signals_app.models import Decision, Reminder

CohortKey = tuple[date, int, int, str]  # day enrolled, playbook, version, role


@dataclass(frozen=True)
class EnrollmentFold:
    playbook: int
    day: date
    version: int
    role: str
    completed: bool
    ended: bool
    ttc: int | None  # the time-to-competency bucket of a completed enrolment

    @property
    def key(self) -> CohortKey:
        return (self.day, self.playbook, self.version, self.role)

    def activity_key(self, day: date) -> tuple[date, int, int, str]:
        return (day, self.playbook, self.version, self.role)


@dataclass(frozen=True)
class ProgressFold:
    enrollment: int
    step: str
    module: str
    completed: bool
    skipped: bool
    seconds: int  # counted (and "timed") only for a completed module with a time reported


@dataclass(frozen=True)
class ReminderFold:
    enrollment: int
    day: date
    metric: str
    via: str


@dataclass(frozen=True)
class DecisionFold:
    pk: int
    enrollment: int
    day: date
    kind: str
    rule: str
    latency_ms: float | None  # set on the first decision of an (event, enrolment) pair with a processed event


def enrollments_now(pks: Iterable[int]) -> dict[int, EnrollmentFold]:
    rows = list(
        Enrollment.objects.filter(pk__in=list(pks)).values_list(
            "pk", "learner_id", "playbook_id", "version_id", "status", "enrolled_at", "completed_at"
        )
    )
    roles = primary_roles(row[1] for row in rows)
    folds = {}
    for pk, learner, playbook, version, status, enrolled_at, completed_at in rows:
        completed = status == EnrollmentStatus.COMPLETED
        ttc = bucket_of((completed_at - enrolled_at).total_seconds()) if completed and completed_at else None
        ended = status == EnrollmentStatus.ENDED
        folds[pk] = EnrollmentFold(
            playbook, utc_day(enrolled_at), version, roles.get(learner, ""), completed, ended, ttc
        )
    return folds


def enrollments_seen(pks: Iterable[int]) -> dict[int, EnrollmentFold]:
    fields = ("playbook_id", "day", "version_id", "role", "completed", "ended", "ttc_bucket")
    rows = EnrollmentSeen.objects.filter(enrollment_id__in=list(pks)).values_list("enrollment_id", *fields)
    return {pk: EnrollmentFold(*values) for pk, *values in rows}


def progress_now(progress, enrollments: dict[int, EnrollmentFold]) -> dict[int, ProgressFold]:
    """``progress``: a ModuleProgress queryset whose enrolments are all in ``enrollments`` (for their version)."""
    rows = list(progress.values_list("pk", "enrollment_id", "module__slug", "status", "seconds"))
    steps = step_keys({enrollments[row[1]].version for row in rows})
    folds = {}
    for pk, enrollment, module, status, seconds in rows:
        completed = status == ProgressStatus.COMPLETED
        step = steps.get((enrollments[enrollment].version, module), "")
        timed = seconds if completed and seconds > 0 else 0
        folds[pk] = ProgressFold(enrollment, step, module, completed, status == ProgressStatus.SKIPPED, timed)
    return folds


def progress_seen(pks: Iterable[int]) -> dict[int, ProgressFold]:
    fields = ("enrollment_id", "step", "module", "completed", "skipped", "seconds")
    rows = ProgressSeen.objects.filter(progress_id__in=list(pks)).values_list("progress_id", *fields)
    return {pk: ProgressFold(*values) for pk, *values in rows}


def reminders_now(reminders) -> dict[int, ReminderFold]:
    rows = reminders.filter(enrollment__isnull=False).values_list(
        "pk", "enrollment_id", "decision__decided_at", "channel", "status", "message__status", "message__delivered_by"
    )
    return {
        pk: ReminderFold(enrollment, utc_day(decided_at), *reminder_outcome(channel, status, message, by))
        for pk, enrollment, decided_at, channel, status, message, by in rows
    }


def reminders_seen(pks: Iterable[int]) -> dict[int, ReminderFold]:
    rows = ReminderSeen.objects.filter(reminder_id__in=list(pks)).values_list(
        "reminder_id", "enrollment_id", "day", "metric", "via"
    )
    return {pk: ReminderFold(*values) for pk, *values in rows}


def decisions_now(decisions) -> list[DecisionFold]:
    """The decisions' contributions; an event's latency counts once per enrolment, on its first decision there
    (an event's decisions are written in one transaction, so a fold sees all of them or none)."""
    rows = list(
        decisions.filter(enrollment__isnull=False).values_list(
            "pk", "enrollment_id", "decided_at", "kind", "rule", "event_id", "event__received_at", "event__processed_at"
        )
    )
    events = {row[5] for row in rows if row[5] is not None and row[7] is not None}
    firsts = set()
    for start in range(0, len(events), 5000):
        chunk = list(events)[start : start + 5000]
        pairs = Decision.objects.filter(event_id__in=chunk).values("event_id", "enrollment_id")
        firsts |= {row["first"] for row in pairs.annotate(first=Min("pk")).values("first")}
    return [
        DecisionFold(
            pk,
            enrollment,
            utc_day(decided_at),
            kind,
            rule,
            (processed - received).total_seconds() * 1000 if pk in firsts else None,
        )
        for pk, enrollment, decided_at, kind, rule, _event, received, processed in rows
    ]


def reminders_of(enrollment_pks: Iterable[int]):
    return Reminder.objects.filter(enrollment_id__in=list(enrollment_pks))


def progress_of(enrollment_pks: Iterable[int]):
    return ModuleProgress.objects.filter(enrollment_id__in=list(enrollment_pks))
