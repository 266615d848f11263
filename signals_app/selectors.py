"""Reads in signals_app."""

from collections.abc import Collection
from datetime import datetime

from django.db.models import Q, QuerySet

from identity.models import Learner
from playbooks.models import Enrollment, EnrollmentStatus, PlaybookVersion
from playbooks.selectors import compiled_version
from signals_app.models import Decision, Event, Flag, Quarantine, Reminder


def learners_with_stale_events(*, older_than: datetime, limit: int) -> list[int]:
    """Learners with events left unevaluated (a lost task); quarantined ones wait for an admin instead."""
    stale = Event.objects.filter(processed_at__isnull=True, received_at__lt=older_than).exclude(
        learner_id__in=Quarantine.objects.values("learner_id")
    )
    return sorted(set(stale.order_by("received_at").values_list("learner_id", flat=True)[:limit]))


def learners_pending(*, learner_ids: list[int]) -> set[int]:
    """Which of these learners have events stored and not yet evaluated."""
    pending = Event.objects.filter(learner_id__in=learner_ids, processed_at__isnull=True)
    return set(pending.values_list("learner_id", flat=True).distinct())


def learners_waiting(*, limit: int, exclude: Collection[int] = ()) -> list[int]:
    """Up to ``limit`` learners with events stored and not yet evaluated, those waiting longest first (quarantined
    learners and ``exclude`` left out): what a task with room in its batch takes along (tasks sized to the backlog,
    docs/evaluation.md)."""
    if limit <= 0:
        return []
    waiting = (
        Event.objects.filter(processed_at__isnull=True)
        .exclude(learner_id__in=Quarantine.objects.values("learner_id"))
        .order_by("received_at")
    )
    if exclude:
        waiting = waiting.exclude(learner_id__in=list(exclude))
    # A learner often has several events waiting: read a few rows more than the learners wanted.
    learners = dict.fromkeys(waiting.values_list("learner_id", flat=True)[: limit * 4])
    return list(learners)[:limit]


def learners_with_clock_conditions() -> list[int]:
    """Learners whose playbooks have time-based conditions, and learners with a wait pending (which times out)."""
    versions = PlaybookVersion.objects.filter(enrollments__status=EnrollmentStatus.ACTIVE).distinct()
    compiled = [(v.pk, compiled_version(version=v)) for v in versions]
    clocked = [pk for pk, playbook in compiled if playbook.clock_conditions]
    waiting = [pk for pk, playbook in compiled if playbook.uses_clock and not playbook.clock_conditions]
    active = Enrollment.objects.filter(
        status=EnrollmentStatus.ACTIVE, learner__is_active=True, learner__quarantine=None
    ).filter(Q(version_id__in=clocked) | Q(version_id__in=waiting, state__waits__0__isnull=False))
    return sorted(set(active.values_list("learner_id", flat=True)))


def decisions_for_learner(*, learner: Learner) -> QuerySet[Decision]:
    return _decisions().filter(learner=learner).order_by("-decided_at", "-pk")


def event_of_source(*, source: str, client_id: str) -> Event | None:
    """An event by the id its sender gave it; another sender's event is not found (ids are unique per sender)."""
    return Event.objects.select_related("learner").filter(source=source, client_id=client_id).first()


def decisions_for_event(*, event: Event) -> QuerySet[Decision]:
    return _decisions().filter(event=event).order_by("decided_at", "pk")


def _decisions() -> QuerySet[Decision]:
    # What the API shows with each decision: its playbook and the event behind it, in the same query.
    return Decision.objects.select_related("event", "enrollment__playbook")


def open_flags_of(*, learner_ids: list[int]) -> QuerySet[Flag]:
    """Flags not yet acknowledged, newest first, with the playbook they were raised in."""
    return (
        Flag.objects.filter(learner_id__in=learner_ids, acknowledged_at__isnull=True)
        .select_related("enrollment__playbook")
        .order_by("-raised_at", "-pk")
    )


def flags_for_learner(*, learner: Learner) -> QuerySet[Flag]:
    """Every flag raised for the learner, open or acknowledged, with its playbook and the decision behind it."""
    return Flag.objects.filter(learner=learner).select_related("enrollment__playbook", "decision")


def reminders_for_learner(*, learner: Learner) -> QuerySet[Reminder]:
    """The learner's reminders as planned under the delivery policy, with what became of each message."""
    return Reminder.objects.filter(learner=learner).select_related("enrollment__playbook", "message")
