"""Learners spread over the support-specialist playbook, for the map's tests: each sends its events through
ingestion and is evaluated, so the enrolments, progress and decision log are the live platform's."""

from datetime import UTC, datetime, timedelta

from identity.services import learner_create, role_upsert
from playbooks.services import learner_enroll
from signals_app.services import events_ingest, learner_evaluate_pending

T0 = datetime(2026, 3, 2, 9, tzinfo=UTC)
FOUR = ("welcome", "crm-basics", "ticketing-101", "product-tour")

# external id -> (attributes, [(minute, type, module, duration_seconds)])
JOURNEYS = {
    "new-1": ({}, []),
    "new-2": ({}, []),
    # Completes the first module in 20 s: the 'remedial demo' trigger inserts a module ahead of the path.
    "hasty": ({}, [(1, "module_completed", "welcome", 20)]),
    # Skips three in a row: flagged for review, then the fast track at the branch point.
    "skipper": (
        {"api_access": True},
        [(1, "module_completed", "welcome", 50)] + [(n, "module_skipped", m, None) for n, m in enumerate(FOUR[1:], 2)],
    ),
    # Two who take their time over all four: the compliance option, then on to the escalation branch point.
    **{
        f"careful-{n}": ({}, [(m, "module_completed", module, 150) for m, module in enumerate(FOUR, 1)]) for n in (1, 2)
    },
    # Completes the first two at a middling pace.
    "steady": ({}, [(m, "module_completed", module, 100) for m, module in enumerate(FOUR[:2], 1)]),
}


def learners_along_the_map(*, suffix: str = "") -> None:
    """One learner per journey above (``suffix`` added to their ids: the same journeys again)."""
    role = role_upsert(slug="support_specialist", name="Support specialist")
    for name, (attributes, events) in JOURNEYS.items():
        external_id = name + suffix
        learner = learner_create(external_id=external_id, roles=[role], attributes=attributes)
        learner_enroll(learner=learner, now=T0)
        body = {
            "events": [
                {
                    "id": f"{external_id}-{minute}",
                    "learner": external_id,
                    "type": kind,
                    "module": module,
                    "occurred_at": (T0 + timedelta(minutes=minute)).isoformat(),
                    "properties": {"duration_seconds": seconds} if seconds else {},
                }
                for minute, kind, module, seconds in events
            ]
        }
        if events:
            events_ingest(body=body, source="key:1", now=T0 + timedelta(hours=1))
        learner_evaluate_pending(learner_id=learner.pk, now=T0 + timedelta(hours=1))
