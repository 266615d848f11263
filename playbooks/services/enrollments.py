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
    """Run the engine for one learner's enrolment and store where it leaves them. Returns the decisions made.

    The caller holds the learner's lock; ``events`` are the learner's events up to ``now`` in occurred_at order.
    """
    enrollment = Enrollment.objects.select_for_update().select_related("version", "learner").get(pk=enrollment.pk)
    if enrollment.status != EnrollmentStatus.ACTIVE:
        return []
    facts = selectors.learner_facts(learner=enrollment.learner)
    state = JourneyState.from_dict(enrollment.state)
    if enrollment.migrate_to_id and event is not None and event.type in (COMPLETED, SKIPPED):
        # A step boundary: the learner moves to the version the admin published, keeping shared progress.
        enrollment.version = enrollment.migrate_to
        enrollment.migrate_to = None
        state = migrate_state(state, selectors.compiled_version(version=enrollment.version))
    playbook = selectors.compiled_version(version=enrollment.version)
    outcome = evaluate(playbook, facts, state, events=events, event=event, now=now)
    _store(enrollment, playbook, outcome, now=now)
    if event is not None and event.module:
        _record_progress(enrollment, event)
    return outcome.decisions


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


def _record_progress(enrollment: Enrollment, event: EventFact) -> None:
    module = ContentModule.objects.filter(slug=event.module).first()
    if module is None:
        return
    row, _ = ModuleProgress.objects.get_or_create(
        enrollment=enrollment, module=module, defaults={"started_at": event.occurred_at}
    )
    properties = event.properties
    if event.type == PROGRESS:
        row.seconds = int(properties.get("seconds") or row.seconds)
        row.completion_pct = min(int(properties.get("completion_pct") or row.completion_pct), 100)
    elif event.type == COMPLETED:
        row.status, row.completion_pct, row.finished_at = ProgressStatus.COMPLETED, 100, event.occurred_at
        row.seconds = int(properties.get("duration_seconds") or row.seconds)
    elif event.type == SKIPPED and row.status != ProgressStatus.COMPLETED:
        row.status, row.finished_at = ProgressStatus.SKIPPED, event.occurred_at
    row.save()
