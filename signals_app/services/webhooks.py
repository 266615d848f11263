"""``webhook`` actions: a JSON event per decision, put in the outbox for the endpoint the playbook names."""

from delivery.models import MessageKind
from delivery.services import Outgoing, messages_enqueue
from delivery.services.endpoints import endpoint_named
from signals_app.models import Decision

WEBHOOK_CHANNEL = "webhook"


def webhooks_enqueue(*, decisions: list[Decision]) -> int:
    """Put the ``webhook`` actions among freshly logged decisions in the outbox; returns how many."""
    calls = [row for row in decisions if row.action and "webhook" in row.action]
    messages_enqueue(
        outgoing=[
            Outgoing(
                kind=MessageKind.WEBHOOK,
                channels=[WEBHOOK_CHANNEL],
                due_at=row.decided_at,
                learner_id=row.learner_id,
                enrollment_id=row.enrollment_id,
                endpoint=endpoint_named("webhook", row.action["webhook"]) or "",
                payload=_payload(row),
            )
            for row in calls
        ]
    )
    return len(calls)


def _payload(row: Decision) -> dict:
    """The body, in the Standard Webhooks shape: ``type``, ``timestamp``, ``data``."""
    argument = row.action["webhook"]
    event_type = argument.get("event") if isinstance(argument, dict) else None
    enrollment = row.enrollment
    return {
        "type": event_type or "onboarding.trigger.fired",
        "timestamp": row.decided_at.isoformat(),
        "data": {
            "learner": row.learner.external_id,
            "playbook": enrollment.playbook.slug if enrollment.playbook_id else None,
            "version": enrollment.version.number,
            "rule": row.rule,
            "explanation": row.explanation,
            "values": row.values,
            "step": row.step or None,
            "module": row.module or None,
            "decision": row.dedupe_key,
        },
    }
