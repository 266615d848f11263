"""Evaluation: a learner's new events (or the clock) through their enrolments, under the learner's row lock.

One transaction per learner holds everything it decides: enrolment state, module progress, the decision log,
flags, and the events marked processed. A redelivered task finds nothing pending and does nothing; two workers
given the same learner queue on the lock and the second finds nothing pending either.
"""

import logging
from collections import defaultdict
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from identity.models import Learner
from playbooks.engine.journey import Decision as EngineDecision
from playbooks.engine.signals import EventFact
from playbooks.models import Enrollment, EnrollmentStatus
from playbooks.selectors import compiled_version, learner_facts
from playbooks.services import enrollment_advance, learner_enroll
from signals_app.models import Decision, Event, Flag

logger = logging.getLogger(__name__)


@transaction.atomic
def learner_evaluate_pending(*, learner_id: int, now: datetime | None = None) -> int:
    """Evaluate the learner's unprocessed events in occurred_at order; returns how many were processed."""
    now = now or timezone.now()
    learner = Learner.objects.select_for_update().filter(pk=learner_id).first()
    if learner is None:
        return 0
    history = list(Event.objects.filter(learner_id=learner_id).order_by("occurred_at", "pk"))
    pending = [(index, event) for index, event in enumerate(history) if event.processed_at is None]
    if not pending:
        return 0
    if learner.is_active:
        learner_enroll(learner=learner, now=pending[0][1].occurred_at)
        facts = [_fact(event) for event in history]
        _evaluate(learner, facts, [(index, facts[index]) for index, _ in pending], {i: e for i, e in pending}, now)
    Event.objects.filter(pk__in=[event.pk for _, event in pending]).update(processed_at=now)
    return len(pending)


@transaction.atomic
def learner_evaluate_clock(*, learner_id: int, now: datetime) -> int:
    """Let time-based conditions (idle_hours, days_enrolled, now.*) fire for the learner at ``now``."""
    learner = Learner.objects.select_for_update().filter(pk=learner_id, is_active=True).first()
    if learner is None:
        return 0
    history = [
        _fact(e)
        for e in Event.objects.filter(learner_id=learner_id, occurred_at__lte=now).order_by("occurred_at", "pk")
    ]
    return _evaluate(learner, history, [], {}, now)


def _evaluate(
    learner: Learner,
    history: list[EventFact],
    pending: list[tuple[int, EventFact]],
    rows: dict[int, Event],
    now: datetime,
) -> int:
    facts = learner_facts(learner=learner)
    decisions: list[Decision] = []
    flags: list[tuple[Decision, str]] = []
    for enrollment in Enrollment.objects.filter(learner=learner, status=EnrollmentStatus.ACTIVE).select_related(
        "version"
    ):
        if not pending and not compiled_version(version=enrollment.version).uses_clock:
            continue
        sequence: dict[object, int] = defaultdict(int)
        for index, moment, decision in enrollment_advance(
            enrollment=enrollment, history=history, pending=pending, now=now, facts=facts
        ):
            event = rows.get(index) if index is not None else None
            anchor = f"e{event.pk}" if event is not None else f"clock:{moment.isoformat()}"
            sequence[anchor] += 1
            row = _decision_row(
                learner, enrollment, event, decision, moment, f"{enrollment.pk}:{anchor}:{sequence[anchor]}"
            )
            decisions.append(row)
            if decision.action and "flag" in decision.action:
                flags.append((row, decision.action["flag"]))
    Decision.objects.bulk_create(decisions)
    Flag.objects.bulk_create(
        Flag(learner=learner, enrollment_id=row.enrollment_id, decision=row, name=name, raised_at=row.decided_at)
        for row, name in flags
    )
    if flags:
        logger.info("signals.flag.raised", extra={"learner": learner.pk, "flags": [name for _, name in flags]})
    return len(decisions)


def _decision_row(
    learner: Learner, enrollment: Enrollment, event: Event | None, decision: EngineDecision, moment: datetime, key: str
) -> Decision:
    return Decision(
        learner=learner,
        enrollment=enrollment,
        event=event,
        dedupe_key=key,
        kind=decision.kind,
        rule=decision.rule,
        explanation=decision.explanation,
        values=decision.values,
        step=decision.step or "",
        module=decision.module or "",
        action=decision.action,
        decided_at=moment,
    )


def _fact(event: Event) -> EventFact:
    return EventFact(event.type, event.occurred_at, event.module or None, event.properties)
