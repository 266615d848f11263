"""Keeping the rollups: a periodic fold of what changed, and an exact rebuild from the raw rows.

The fold finds the (playbook, day) partitions that rows changed since its last run touched, and recomputes them
whole (``partitions``). It looks back ``fold_lag()`` before its last run: a row is stamped (``updated_at``, an id) when
it is written but seen only when its transaction commits, and no transaction of a task outlives the task time limit.
Decisions, the one large table read, are found by id (its primary key index) rather than by an unindexed
timestamp: ids are handed out in order, so every decision with an id above the highest one seen by a fold that
started ``fold_lag()`` ago was either seen since or committed since.
"""

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Max, Q
from django.db.models.functions import TruncDate
from django.utils import timezone

from insights.models import ActivityRollup, EnrollmentRollup, EnrollmentSeen, FoldState, HistogramRollup, ModuleRollup
from insights.services.partitions import Partition, activity_refold, chunks, cohort_refold, primary_roles
from playbooks.models import Enrollment, ModuleProgress
from signals_app.models import Decision

logger = logging.getLogger(__name__)


def fold_lag() -> timedelta:
    """How far back each fold looks: longer than any task's transaction may stay open, plus room for clock skew
    between the machines that stamp the rows."""
    return timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT + 60)


@dataclass(frozen=True)
class FoldResult:
    cohort_partitions: int
    activity_partitions: int


@transaction.atomic(durable=True)
def rollups_fold(*, lag: timedelta | None = None) -> FoldResult | None:
    """Fold what changed since the last fold into the rollups; None when another fold is running (it will).

    ``lag`` (default ``fold_lag()``) is how far before the last fold to look again; tests pass zero to check that
    nothing but the change detection keeps the rollups right."""
    state = _state(wait=False)
    if state is None:
        return None
    lag = fold_lag() if lag is None else lag
    now, decision_mark = timezone.now(), _decision_mark()
    if state.folded_until is None:
        cohort, activity = _all_partitions()
    else:
        since = state.folded_until - lag
        cohort, activity = _changed_partitions(since=since, after_id=_low_mark(state, now - lag))
    result = _refold(cohort, activity)
    _advance(state, now, decision_mark, lag)
    logger.info(
        "insights.rollups.folded", extra={"cohort": result.cohort_partitions, "activity": result.activity_partitions}
    )
    return result


@transaction.atomic(durable=True)
def rollups_rebuild() -> FoldResult:
    """Recompute every rollup from the raw rows (after a restore, a bug fix, a change the fold cannot see)."""
    state = _state(wait=True)
    now, decision_mark = timezone.now(), _decision_mark()
    for model in (EnrollmentRollup, ModuleRollup, ActivityRollup, HistogramRollup, EnrollmentSeen):
        model.objects.all().delete()
    result = _refold(*_all_partitions())
    state.marks = []
    _advance(state, now, decision_mark, fold_lag())
    logger.info(
        "insights.rollups.rebuilt", extra={"cohort": result.cohort_partitions, "activity": result.activity_partitions}
    )
    return result


def _state(*, wait: bool) -> FoldState | None:
    FoldState.objects.get_or_create(pk=1)
    # One fold at a time: a second one started while the first runs leaves (or, rebuilding, waits).
    return FoldState.objects.select_for_update(skip_locked=not wait).filter(pk=1).first()


def _decision_mark() -> int:
    return Decision.objects.aggregate(top=Max("pk"))["top"] or 0


def _low_mark(state: FoldState, cut: datetime) -> int:
    """The highest decision id seen by a fold that started by ``cut`` (a lag ago): all below it are committed."""
    old = [mark for at, mark in state.marks if datetime.fromisoformat(at) <= cut]
    return max(old, default=0)


def _advance(state: FoldState, now: datetime, decision_mark: int, lag: timedelta) -> None:
    # Keep the marks still inside the lag and the newest one outside it (the next low mark).
    marks = sorted([*state.marks, [now.isoformat(), decision_mark]])
    cut = now - lag
    older = [m for m in marks if datetime.fromisoformat(m[0]) <= cut]
    state.marks = older[-1:] + [m for m in marks if datetime.fromisoformat(m[0]) > cut]
    state.folded_until = now
    state.save(update_fields=["folded_until", "marks", "updated_at"])


def _refold(cohort: set[Partition], activity: set[Partition]) -> FoldResult:
    for playbook_id, days in chunks(cohort):
        cohort_refold(playbook_id=playbook_id, days=days)
    for playbook_id, days in chunks(activity):
        activity_refold(playbook_id=playbook_id, days=days)
    return FoldResult(len(cohort), len(activity))


def _days(queryset, playbook: str, moment: str) -> set[Partition]:
    rows = queryset.annotate(insights_day=TruncDate(moment, tzinfo=UTC)).values_list(playbook, "insights_day")
    return set(rows.distinct())


def _all_partitions() -> tuple[set[Partition], set[Partition]]:
    return (
        _days(Enrollment.objects.all(), "playbook_id", "enrolled_at"),
        _days(Decision.objects.all(), "enrollment__playbook_id", "decided_at"),
    )


def _changed_partitions(*, since: datetime, after_id: int) -> tuple[set[Partition], set[Partition]]:
    changed = Enrollment.objects.filter(
        Q(updated_at__gte=since)
        | Q(learner__updated_at__gte=since)
        | Q(learner__role_assignments__created_at__gte=since)
    )
    cohort = _days(changed, "playbook_id", "enrolled_at")
    cohort |= _days(
        ModuleProgress.objects.filter(updated_at__gte=since), "enrollment__playbook_id", "enrollment__enrolled_at"
    )
    decisions = Decision.objects.filter(
        Q(pk__gt=after_id)
        | Q(reminder__message__updated_at__gte=since)
        | Q(enrollment_id__in=_moved(changed.distinct()))
    )
    return cohort, _days(decisions, "enrollment__playbook_id", "decided_at")


def _moved(changed) -> list[int]:
    """Enrolments whose decisions were folded under another version or role than they have now."""
    rows = list(changed.values_list("pk", "learner_id", "version_id"))
    roles = primary_roles(learner for _pk, learner, _version in rows)
    seen = {
        pk: (version, role)
        for pk, version, role in EnrollmentSeen.objects.filter(enrollment_id__in=[r[0] for r in rows]).values_list(
            "pk", "version_id", "role"
        )
    }
    return [pk for pk, learner, version in rows if pk in seen and seen[pk] != (version, roles.get(learner, ""))]
