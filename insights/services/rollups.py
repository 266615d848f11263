"""Keeping the rollups: a periodic fold of what changed, by differences, and an exact rebuild from the raw rows.

The fold reads only the rows changed since its last run and compares each with what it was last folded as (its
ledger entry, insights.models ``*Seen``): the difference is added to the rollups (``deltas``), so its cost follows
the changes, not the size of the days they fall on. Reading a row again changes nothing, which is what makes
looking back safe. It looks back ``fold_lag()`` before its last run: a row is stamped (``updated_at``) when it is
written but seen only when its transaction commits, and no transaction of a task outlives the task time limit.
Decisions, the one large table, never change once written: they are read by id, every id above the highest folded
plus the gaps below it (ids handed out to transactions not yet committed), each gap until the look-back has passed.

The rebuild recomputes every rollup whole (``partitions``, the reference) and writes the ledger from the same
snapshot; the test suite checks that folds over random streams of changes equal it.
"""

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Max, Q
from django.db.models.functions import TruncDate
from django.utils import timezone

from identity.models import Learner, RoleAssignment
from insights.models import (
    ActivityRollup,
    EnrollmentRollup,
    EnrollmentSeen,
    FoldState,
    HistogramRollup,
    ModuleRollup,
    ProgressSeen,
    ReminderSeen,
)
from insights.services import ledger
from insights.services.deltas import Deltas
from insights.services.ledger import EnrollmentFold, ProgressFold, ReminderFold, any_of
from insights.services.partitions import activity_refold, chunks, cohort_refold
from playbooks.models import Enrollment, ModuleProgress
from signals_app.models import Decision, Reminder

logger = logging.getLogger(__name__)
SEED_CHUNK = 5000  # enrolments whose ledger a rebuild writes at a time


def fold_lag() -> timedelta:
    """How far back each fold looks: longer than any task's transaction may stay open, plus room for clock skew
    between the machines that stamp the rows."""
    return timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT + 60)


@dataclass(frozen=True)
class FoldResult:
    enrollments: int  # rows read, changed or not
    progress: int
    decisions: int
    reminders: int
    rollup_rows: int  # rollup rows written


@transaction.atomic(durable=True)
def rollups_fold(*, lag: timedelta | None = None) -> FoldResult | None:
    """Fold what changed since the last fold into the rollups; None when another fold is running (it will).

    ``lag`` (default ``fold_lag()``) is how far before the last fold to look again; tests pass zero to check that
    nothing but the change detection keeps the rollups right. The first fold rebuilds."""
    _one_snapshot()
    state = _state(wait=False)
    if state is None:
        return None
    lag = fold_lag() if lag is None else lag
    now = timezone.now()
    if state.folded_until is None:
        return _rebuild(state, now)
    result = Fold(state, since=state.folded_until - lag).run()
    _advance_gaps(state, result_ids=result.decision_ids, now=now)
    state.folded_until = now
    state.save(update_fields=["folded_until", "decision_top", "decision_gaps", "updated_at"])
    logger.info("insights.rollups.folded", extra={"rollup_rows": result.result.rollup_rows})
    return result.result


@transaction.atomic(durable=True)
def rollups_rebuild() -> FoldResult:
    """Recompute every rollup from the raw rows (after a restore, a bug fix, a change the fold cannot see)."""
    _one_snapshot()
    return _rebuild(_state(wait=True), timezone.now())


def _one_snapshot() -> None:
    # Every read of a fold sees the same committed rows (a progress row never arrives without its enrolment). Inside
    # an enclosing transaction (the test suite's) the level is already set. SQLite's transactions are serializable
    # (one writer, a reader sees one state), so the embedded default has nothing to set.
    if connection.vendor == "postgresql" and not connection.savepoint_ids and connection.in_atomic_block:
        with connection.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")


def _state(*, wait: bool) -> FoldState | None:
    FoldState.objects.get_or_create(pk=1)
    # One fold at a time: a second one started while the first runs leaves (or, rebuilding, waits).
    return FoldState.objects.select_for_update(skip_locked=not wait).filter(pk=1).first()


class Fold:
    """One fold's work: the changed rows, compared with the ledger, their differences added to the rollups."""

    def __init__(self, state: FoldState, *, since: datetime) -> None:
        self.state, self.since, self.deltas = state, since, Deltas()

    def run(self) -> "FoldOutcome":
        new = ledger.decisions_now(Decision.objects.filter(_unfolded(self.state), enrollment__isnull=False))
        progress = ledger.progress_changed(self.since)
        changed = Reminder.objects.filter(message__updated_at__gte=self.since)
        reminders = dict(changed.values_list("pk", "enrollment_id"))
        born = Reminder.objects.filter(any_of(Reminder, "decision_id", [d.pk for d in new]))
        reminders |= dict(born.values_list("pk", "enrollment_id"))
        touched = set(progress.values()) | set(reminders.values()) | {d.enrollment for d in new}
        changed = self._changed_enrollments()
        self.seen = ledger.enrollments_seen(touched | changed)
        # Enrolments only touched through their rows are as their ledger has them (their own change, if any, is in
        # ``changed``); one with no entry yet is read.
        changed |= touched - self.seen.keys()
        self.now = {pk: self.seen[pk] for pk in touched - changed} | ledger.enrollments_now(changed)
        touched |= changed
        moved = self._enrollments()
        self._moved_decisions(moved, exclude={d.pk for d in new})
        n_progress = self._progress(set(progress), moved)
        for fold in new:
            self.deltas.decision(self.now[fold.enrollment], fold, +1)
        n_reminders = self._reminders(set(reminders), moved)
        rows = self.deltas.flush()
        return FoldOutcome(FoldResult(len(touched), n_progress, len(new), n_reminders, rows), [d.pk for d in new])

    def _changed_enrollments(self) -> set[int]:
        # Separate statements: an OR across joins would read every enrolment.
        changed = ledger.enrollments_changed(self.since)
        learners = set(Learner.objects.filter(updated_at__gte=self.since).values_list("pk", flat=True))
        learners |= set(RoleAssignment.objects.filter(created_at__gte=self.since).values_list("learner_id", flat=True))
        if learners:
            changed |= ledger.enrollments_role_changed(learners)
        return changed

    def _enrollments(self) -> dict[int, EnrollmentFold]:
        """Fold the enrolments' own figures; returns those whose key changed (version, role, day), as they were."""
        moved, changed = {}, []
        for pk, now in self.now.items():
            before = self.seen.get(pk)
            if before == now:
                continue
            if before is not None:
                self.deltas.enrollment(before, -1)
                if before.key != now.key:
                    moved[pk] = before
            self.deltas.enrollment(now, +1)
            changed.append(_seen_row(pk, now))
        ledger.ledger_save(EnrollmentSeen, changed)
        return moved

    def _moved_decisions(self, moved: dict[int, EnrollmentFold], *, exclude: set[int]) -> None:
        """Decisions already folded under a moved enrolment's old version or role, moved to its new ones."""
        old = {pk: before for pk, before in moved.items() if before.key[1:] != self.now[pk].key[1:]}
        if not old:
            return
        for fold in ledger.decisions_now(
            Decision.objects.filter(any_of(Decision, "enrollment_id", old)).exclude(any_of(Decision, "id", exclude))
        ):
            self.deltas.decision(old[fold.enrollment], fold, -1)
            self.deltas.decision(self.now[fold.enrollment], fold, +1)

    def _progress(self, pks: set[int], moved: dict[int, EnrollmentFold]) -> int:
        pks |= set(ledger.progress_of(moved).values_list("pk", flat=True))
        now = ledger.progress_now(ModuleProgress.objects.filter(any_of(ModuleProgress, "id", pks)), self.now)
        seen = ledger.progress_seen(pks)
        changed = []
        for pk, fold in now.items():
            before, moving = seen.get(pk), fold.enrollment in moved
            if before == fold and not moving:
                continue
            if before is not None:
                self.deltas.progress(moved.get(fold.enrollment) or self.seen[fold.enrollment], before, -1)
            self.deltas.progress(self.now[fold.enrollment], fold, +1)
            changed.append(_progress_row(pk, fold))
        ledger.ledger_save(ProgressSeen, changed)
        return len(now)

    def _reminders(self, pks: set[int], moved: dict[int, EnrollmentFold]) -> int:
        pks |= set(ledger.reminders_of(moved).values_list("pk", flat=True))
        now = ledger.reminders_now(Reminder.objects.filter(any_of(Reminder, "id", pks)))
        seen = ledger.reminders_seen(pks)
        changed = []
        for pk, fold in now.items():
            before, moving = seen.get(pk), fold.enrollment in moved
            if before == fold and not moving:
                continue
            if before is not None:
                self.deltas.reminder(moved.get(fold.enrollment) or self.seen[fold.enrollment], before, -1)
            self.deltas.reminder(self.now[fold.enrollment], fold, +1)
            changed.append(_reminder_row(pk, fold))
        ledger.ledger_save(ReminderSeen, changed)
        return len(now)


@dataclass(frozen=True)
class FoldOutcome:
    result: FoldResult
    decision_ids: list[int]


def _unfolded(state: FoldState) -> Q:
    where = Q(pk__gt=state.decision_top)
    for low, high, _seen in state.decision_gaps:
        where |= Q(pk__range=(low, high))
    return where


def _advance_gaps(state: FoldState, *, result_ids: list[int], now: datetime) -> None:
    """The new top, and the ids below it not seen: the old gaps less what was found, and the holes above the old
    top. A gap older than the look-back is given up: its transaction rolled back, or the id was never used. (Always
    the full look-back: a gap is how late decisions are found, whatever look-back a test asks of the rest.)"""
    found = set(result_ids)
    top = max([state.decision_top, *found])
    gaps = [*state.decision_gaps, [state.decision_top + 1, top, now.isoformat()]]
    cut = now - fold_lag()
    kept = []
    for low, high, seen in gaps:
        if high < low or datetime.fromisoformat(seen) < cut:
            continue
        kept.extend([a, b, seen] for a, b in _holes(low, high, found))
    state.decision_top, state.decision_gaps = top, kept


def _holes(low: int, high: int, found: set[int]) -> list[tuple[int, int]]:
    """The ranges of ids in low..high not in ``found``."""
    inside = sorted(pk for pk in found if low <= pk <= high) if len(found) < high - low + 1 else None
    if inside is None:
        inside = [pk for pk in range(low, high + 1) if pk in found]
    holes, start = [], low
    for pk in inside:
        if pk > start:
            holes.append((start, pk - 1))
        start = pk + 1
    if start <= high:
        holes.append((start, high))
    return holes


def _rebuild(state: FoldState, now: datetime) -> FoldResult:
    for model in (EnrollmentRollup, ModuleRollup, ActivityRollup, HistogramRollup):
        model.objects.all().delete()
    for model in (EnrollmentSeen, ProgressSeen, ReminderSeen):
        model.objects.all().delete()
    for playbook_id, days in chunks(_days(Enrollment.objects.all(), "playbook_id", "enrolled_at")):
        cohort_refold(playbook_id=playbook_id, days=days)
    decisions = Decision.objects.filter(enrollment__isnull=False)
    for playbook_id, days in chunks(_days(decisions, "enrollment__playbook_id", "decided_at")):
        activity_refold(playbook_id=playbook_id, days=days)
    counts = _seed_ledger()
    top = Decision.objects.aggregate(top=Max("pk"))["top"] or 0
    # Ids under the top that a transaction still open holds are among the recent ones: gaps, as a fold leaves them.
    recent = list(Decision.objects.filter(created_at__gte=now - 2 * fold_lag()).values_list("pk", flat=True))
    state.decision_top = top
    state.decision_gaps = [[a, b, now.isoformat()] for a, b in _holes(min(recent), top, set(recent))] if recent else []
    state.folded_until = now
    state.save(update_fields=["folded_until", "decision_top", "decision_gaps", "updated_at"])
    enrollments, progress, reminders = counts
    result = FoldResult(enrollments, progress, decisions.count(), reminders, _rollup_rows())
    logger.info("insights.rollups.rebuilt", extra={"enrollments": result.enrollments})
    return result


def _days(queryset, playbook: str, moment: str) -> set[tuple]:
    rows = queryset.annotate(insights_day=TruncDate(moment, tzinfo=UTC)).values_list(playbook, "insights_day")
    return set(rows.distinct())


def _rollup_rows() -> int:
    return sum(m.objects.count() for m in (EnrollmentRollup, ModuleRollup, ActivityRollup, HistogramRollup))


def _seed_ledger() -> tuple[int, int, int]:
    """Write every row's ledger entry, as the rebuild has just counted it."""
    pks = list(Enrollment.objects.order_by("pk").values_list("pk", flat=True))
    progress = reminders = 0
    for start in range(0, len(pks), SEED_CHUNK):
        chunk = pks[start : start + SEED_CHUNK]
        now = ledger.enrollments_now(chunk)
        ledger.ledger_save(EnrollmentSeen, [_seen_row(pk, fold) for pk, fold in now.items()])
        rows = ledger.progress_now(ledger.progress_of(chunk), now)
        ledger.ledger_save(ProgressSeen, [_progress_row(pk, fold) for pk, fold in rows.items()])
        folds = ledger.reminders_now(ledger.reminders_of(chunk))
        ledger.ledger_save(ReminderSeen, [_reminder_row(pk, fold) for pk, fold in folds.items()])
        progress, reminders = progress + len(rows), reminders + len(folds)
    return len(pks), progress, reminders


def _seen_row(pk: int, fold: EnrollmentFold) -> EnrollmentSeen:
    return EnrollmentSeen(
        enrollment_id=pk,
        playbook_id=fold.playbook,
        version_id=fold.version,
        role=fold.role,
        status=fold.status,
        enrolled_at=fold.enrolled_at,
        completed_at=fold.completed_at,
    )


def _progress_row(pk: int, fold: ProgressFold) -> ProgressSeen:
    return ProgressSeen(
        progress_id=pk,
        enrollment_id=fold.enrollment,
        step=fold.step,
        module=fold.module,
        completed=fold.completed,
        skipped=fold.skipped,
        seconds=fold.seconds,
    )


def _reminder_row(pk: int, fold: ReminderFold) -> ReminderSeen:
    return ReminderSeen(reminder_id=pk, enrollment_id=fold.enrollment, day=fold.day, metric=fold.metric, via=fold.via)
