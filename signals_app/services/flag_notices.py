"""Flags routed to managers: a flag whose name has a route is told to the flagged learner's manager through the
outbox (e-mail, then their own page), in the transaction that raised it, so a flag is noticed once or not at all."""

import logging

from delivery.models import Message, MessageKind
from delivery.services import Outgoing, messages_enqueue
from identity.managers import manager_of
from playbooks.engine.readable import learner_reason
from playbooks.models import Playbook
from signals_app.models import Flag, FlagRoute

logger = logging.getLogger(__name__)


def flags_notify_managers(*, flags: list[Flag]) -> list[Message]:
    """Enqueue a notice to the manager of each flagged learner whose flag is routed (one query when none is)."""
    if not flags:
        return []
    routes = set(
        FlagRoute.objects.filter(notify_manager=True, name__in={flag.name for flag in flags}).values_list(
            "name", "playbook_id"
        )
    )
    routed = [flag for flag in flags if routes & {(flag.name, None), (flag.name, flag.enrollment.playbook_id)}]
    if not routed:
        return []
    playbook_ids = {flag.enrollment.playbook_id for flag in routed}
    playbooks = dict(Playbook.objects.filter(pk__in=playbook_ids).values_list("pk", "name"))
    outgoing = []
    for flag in routed:
        learner = flag.learner
        manager = manager_of(learner=learner)
        if manager is None:
            logger.info("signals.flag.no_manager", extra={"learner": learner.external_id, "flag": flag.name})
            continue
        payload = {
            "report": learner.display_name or learner.external_id,
            "report_id": learner.external_id,
            "flag": flag.name,
            "flag_label": flag.name.replace("_", " "),
            "playbook": playbooks.get(flag.enrollment.playbook_id, ""),
            # In plain words: a manager is a learner too, and reads no condition.
            "explanation": learner_reason(
                {"rule": flag.decision.rule, "explanation": flag.decision.explanation, "text": flag.decision.text}
            ),
        }
        if manager.learner is not None:  # a colleague on the platform: e-mail, else their page
            channels, learner_id = ["email", "in_app"], manager.learner.pk
            item = Outgoing(MessageKind.NOTICE, channels, flag.raised_at, learner_id, payload=payload)
        else:
            item = Outgoing(MessageKind.NOTICE, ["email"], flag.raised_at, payload={**payload, "to": manager.email})
        outgoing.append(item)
    return messages_enqueue(outgoing=outgoing)
