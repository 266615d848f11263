"""What each raw row adds to the rollups, read for a set of rows: the fold compares it with the row's ledger entry
(insights.models ``*Seen``) and adds only the difference (``deltas``).

Rows are read as plain tuples, never model instances: a fold reads a minute's changes, a rebuild every row.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime

from django.db import connection, models
from django.db.models import F, Min, OuterRef, Q, Subquery, Value
from django.db.models.functions import Coalesce

from identity.models import RoleAssignment
from insights.models import EnrollmentSeen, ProgressSeen, ReminderSeen
from insights.services.partitions import any_of, primary_roles, reminder_outcome, step_keys, utc_day
from insights.sketch import bucket_of
from playbooks.models import Enrollment, EnrollmentStatus, ModuleProgress, ProgressStatus
from signals_app.models import Decision, Reminder

CohortKey = tuple[date, int, int, str]  # day enrolled, playbook, version, role


@dataclass(frozen=True)
class EnrollmentFold:
    playbook: int
    version: int
    role: str
    status: str
    enrolled_at: datetime
    completed_at: datetime | None

    @property
    def key(self) -> CohortKey:
        return (utc_day(self.enrolled_at), self.playbook, self.version, self.role)

    def activity_key(self, day: date) -> tuple[date, int, int, str]:
        return (day, self.playbook, self.version, self.role)

    @property
    def completed(self) -> bool:
        return self.status == EnrollmentStatus.COMPLETED

    @property
    def ended(self) -> bool:
        return self.status == EnrollmentStatus.ENDED

    @property
    def ttc(self) -> int | None:
        """The time-to-competency bucket of a completed enrolment."""
        if self.completed and self.completed_at:
            return bucket_of((self.completed_at - self.enrolled_at).total_seconds())
        return None


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
        Enrollment.objects.filter(any_of(Enrollment, "id", pks)).values_list(
            "pk", "learner_id", "playbook_id", "version_id", "status", "enrolled_at", "completed_at"
        )
    )
    roles = primary_roles(row[1] for row in rows)
    return {
        pk: EnrollmentFold(playbook, version, roles.get(learner, ""), status, enrolled_at, completed_at)
        for pk, learner, playbook, version, status, enrolled_at, completed_at in rows
    }


def enrollments_seen(pks: Iterable[int]) -> dict[int, EnrollmentFold]:
    fields = ("playbook_id", "version_id", "role", "status", "enrolled_at", "completed_at")
    rows = EnrollmentSeen.objects.filter(any_of(EnrollmentSeen, "enrollment_id", pks)).values_list(
        "enrollment_id", *fields
    )
    return {pk: EnrollmentFold(*values) for pk, *values in rows}


def enrollments_changed(since) -> set[int]:
    """The enrolments stamped since ``since`` that differ from their ledger entry (or have none); a change of
    primary role is found from the learners' side."""
    sql = """
        SELECT e.id FROM playbooks_enrollment e LEFT JOIN insights_enrollmentseen s ON s.enrollment_id = e.id
        WHERE e.updated_at >= %s AND (
            s.enrollment_id IS NULL OR s.version_id <> e.version_id OR s.status <> e.status
            OR s.enrolled_at <> e.enrolled_at OR s.completed_at IS DISTINCT FROM e.completed_at)"""
    with connection.cursor() as cursor:
        cursor.execute(sql, [since])
        return {row[0] for row in cursor.fetchall()}


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
    rows = ProgressSeen.objects.filter(any_of(ProgressSeen, "progress_id", pks)).values_list("progress_id", *fields)
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
    rows = ReminderSeen.objects.filter(any_of(ReminderSeen, "reminder_id", pks)).values_list(
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
        pairs = Decision.objects.filter(any_of(Decision, "event_id", chunk)).values("event_id", "enrollment_id")
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
    return Reminder.objects.filter(any_of(Reminder, "enrollment_id", enrollment_pks))


def progress_of(enrollment_pks: Iterable[int]):
    return ModuleProgress.objects.filter(any_of(ModuleProgress, "enrollment_id", enrollment_pks))


def enrollments_role_changed(learner_ids: set[int]) -> set[int]:
    """Of the learners' enrolments, those whose ledger entry has another primary role than the learner has now (or
    that have no entry): a learner touched by an identity sync is re-read only if their primary role moved, so the
    folds after a nightly sync of many people do not each read all their enrolments again."""
    primary = (
        RoleAssignment.objects.filter(learner_id=OuterRef("learner_id"))
        .order_by("created_at", "pk")
        .values("role__slug")[:1]
    )
    seen = EnrollmentSeen.objects.filter(enrollment_id=OuterRef("pk")).values("role")[:1]
    enrollments = Enrollment.objects.filter(any_of(Enrollment, "learner_id", learner_ids)).annotate(
        role_now=Coalesce(Subquery(primary), Value("")), role_seen=Subquery(seen)
    )
    moved = enrollments.filter(Q(role_seen__isnull=True) | ~Q(role_seen=F("role_now")))
    return set(moved.values_list("pk", flat=True))


def progress_changed(since) -> dict[int, int]:
    """``progress id → enrolment id`` of the rows stamped since ``since`` whose figures differ from their ledger
    entry (or that have none): the look-back re-reads minutes of rows, most of them already folded as they are."""
    sql = """
        SELECT p.id, p.enrollment_id FROM playbooks_moduleprogress p
        LEFT JOIN insights_progressseen s ON s.progress_id = p.id
        WHERE p.updated_at >= %s AND (
            s.progress_id IS NULL OR s.completed <> (p.status = 'completed') OR s.skipped <> (p.status = 'skipped')
            OR s.seconds <> CASE WHEN p.status = 'completed' AND p.seconds > 0 THEN p.seconds ELSE 0 END)"""
    with connection.cursor() as cursor:
        cursor.execute(sql, [since])
        return dict(cursor.fetchall())


def ledger_save(model: type[models.Model], rows: list[models.Model]) -> None:
    """Upsert ledger entries: one array a column (``unnest``), not one parameter a value."""
    if not rows:
        return
    fields = model._meta.concrete_fields
    if connection.vendor != "postgresql":  # the embedded default (SQLite): no arrays, and little data
        updated = [f.name for f in fields if not f.primary_key]
        model.objects.bulk_create(
            rows, update_conflicts=True, unique_fields=[model._meta.pk.name], update_fields=updated
        )
        return
    key = model._meta.pk.column
    columns = ", ".join(f.column for f in fields)
    arrays = ", ".join(f"%s::{f.db_type(connection)}[]" for f in fields)
    updates = ", ".join(f"{f.column} = excluded.{f.column}" for f in fields if not f.primary_key)
    sql = (
        f"INSERT INTO {model._meta.db_table} ({columns}) SELECT * FROM unnest({arrays}) "  # noqa: S608
        f"ON CONFLICT ({key}) DO UPDATE SET {updates}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [[getattr(row, f.attname) for row in rows] for f in fields])
