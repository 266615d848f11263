"""Enrolments: learners join matching playbooks, and the engine's decisions move them along."""

import logging
from collections.abc import Sequence
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from identity.models import Learner
from playbooks import selectors
from playbooks.engine.journey import (
    CompiledPlaybook,
    Decision,
    JourneyState,
    LearnerFacts,
    Outcome,
    evaluate,
    matches_audience,
    migrate_state,
    progress,
    start,
)
from playbooks.engine.signals import COMPLETED, PROGRESS, SKIPPED, EventFact
from playbooks.models import ContentModule, Enrollment, EnrollmentStatus, ModuleProgress, ProgressStatus

logger = logging.getLogger(__name__)


@transaction.atomic
def learner_enroll(*, learner: Learner, now: datetime | None = None) -> list[Enrollment]:
    """Enrol the learner in every published playbook whose audience they match; returns the new enrolments.

    Idempotent: a playbook the learner is already enrolled in is left as it is.
    """
    now = now or timezone.now()
    facts = selectors.learner_facts(learner=learner)
    enrolled = set(Enrollment.objects.filter(learner=learner).values_list("playbook_id", flat=True))
    created = []
    for version in selectors.versions_published():
        if version.playbook_id in enrolled:
            continue
        playbook = selectors.compiled_version(version=version)
        if not matches_audience(playbook, facts, now=now):
            continue
        outcome = start(playbook, facts, now=now)
        enrollment = Enrollment(learner=learner, playbook_id=version.playbook_id, version=version, enrolled_at=now)
        _store(enrollment, playbook, outcome, now=now)
        created.append(enrollment)
        logger.info("playbooks.enrollment.created", extra={"learner": learner.pk, "version": version.pk})
    return created


@transaction.atomic
def enrollment_evaluate(
    *, enrollment: Enrollment, events: Sequence[EventFact], event: EventFact | None, now: datetime
) -> list[Decision]:
    """Take one event (or, with ``event=None``, the clock at ``now``) into the enrolment; returns the decisions.

    ``events`` are the learner's events up to ``now`` in occurred_at order, ``event`` included.
    """
    pending = [(len(events) - 1, event)] if event is not None else []
    results = enrollment_advance(enrollment=enrollment, history=events, pending=pending, now=now)
    return [decision for _position, _at, decision in results]


@transaction.atomic
def enrollment_advance(
    *,
    enrollment: Enrollment,
    history: Sequence[EventFact],
    pending: Sequence[tuple[int, EventFact]],
    now: datetime,
    facts: LearnerFacts | None = None,
) -> list[tuple[int | None, datetime, Decision]]:
    """Take several events into the enrolment at once, in order, storing the result once.

    ``history`` is all the learner's events in occurred_at order; ``pending`` lists ``(index in history, event)``
    to evaluate, each seeing the history up to itself. With no pending events the clock is evaluated at ``now``.
    Returns ``(history index or None for the clock, moment, decision)`` for every decision. The caller holds the
    learner's lock.
    """
    enrollment = Enrollment.objects.select_for_update().select_related("version", "learner").get(pk=enrollment.pk)
    if enrollment.status != EnrollmentStatus.ACTIVE:
        return []
    facts = facts or selectors.learner_facts(learner=enrollment.learner)
    state = JourneyState.from_dict(enrollment.state)
    playbook = selectors.compiled_version(version=enrollment.version)
    results: list[tuple[int | None, datetime, Decision]] = []
    for index, event in pending or [(None, None)]:
        if enrollment.migrate_to_id and event is not None and event.type in (COMPLETED, SKIPPED):
            # A step boundary: the learner moves to the version the admin published, keeping shared progress.
            enrollment.version, enrollment.migrate_to = enrollment.migrate_to, None
            playbook = selectors.compiled_version(version=enrollment.version)
            state = migrate_state(state, playbook)
        moment = event.occurred_at if event is not None else now
        seen = history[: index + 1] if index is not None else history
        outcome = evaluate(playbook, facts, state, events=seen, event=event, now=moment)
        state = outcome.state
        results.extend((index, moment, decision) for decision in outcome.decisions)
    _store(enrollment, playbook, outcome, now=moment)  # the loop runs at least once
    _record_progress(enrollment, [event for _index, event in pending if event.module])
    return results


def _store(enrollment: Enrollment, playbook: CompiledPlaybook, outcome: Outcome, *, now: datetime) -> None:
    position = outcome.position
    enrollment.state = outcome.state.to_dict()
    enrollment.current_step = position.step or ""
    enrollment.current_module = ContentModule.objects.filter(slug=position.module).first() if position.module else None
    enrollment.current_reason = (
        {"rule": position.reason.rule, "explanation": position.reason.explanation} if position.reason else {}
    )
    enrollment.steps_done, enrollment.steps_total = progress(playbook, outcome.state)
    if position.status == "completed" and enrollment.status == EnrollmentStatus.ACTIVE:
        enrollment.status = EnrollmentStatus.COMPLETED
        enrollment.completed_at = now
    enrollment.save()


def _record_progress(enrollment: Enrollment, events: Sequence[EventFact]) -> None:
    """Fold module events into the enrolment's ModuleProgress rows, one write per module touched."""
    if not events:
        return
    modules = {m.slug: m for m in ContentModule.objects.filter(slug__in={e.module for e in events})}
    rows = {
        row.module_id: row for row in ModuleProgress.objects.filter(enrollment=enrollment, module__in=modules.values())
    }
    touched = {}
    for event in events:
        module = modules.get(event.module)
        if module is None:
            continue  # events may name content outside the library
        row = rows.setdefault(
            module.pk, ModuleProgress(enrollment=enrollment, module=module, started_at=event.occurred_at)
        )
        _fold(row, event)
        touched[module.pk] = row
    for row in touched.values():
        row.save()


def _fold(row: ModuleProgress, event: EventFact) -> None:
    properties = event.properties
    if event.type == PROGRESS:
        row.seconds = int(_number(properties.get("seconds"), row.seconds))
        row.completion_pct = min(int(_number(properties.get("completion_pct"), row.completion_pct)), 100)
    elif event.type == COMPLETED:
        row.status, row.completion_pct, row.finished_at = ProgressStatus.COMPLETED, 100, event.occurred_at
        row.seconds = int(_number(properties.get("duration_seconds"), row.seconds))
    elif event.type == SKIPPED and row.status != ProgressStatus.COMPLETED:
        row.status, row.finished_at = ProgressStatus.SKIPPED, event.occurred_at


def _number(value, default: float) -> float:
    return value if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0 else default
