"""Evaluation of stored events: order, idempotence, the decision log and flags (services, no worker)."""

from datetime import UTC, datetime, timedelta

import pytest

from identity.services import learner_create, role_upsert
from playbooks.models import Enrollment
from playbooks.selectors import next_module_for_learner
from playbooks.services import playbook_import
from signals_app.models import Decision, Event, Flag
from signals_app.services import events_ingest, learner_evaluate_clock, learner_evaluate_pending
from tests.playbooks.engine.replay import SCENARIOS

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 2, 9, tzinfo=UTC)


@pytest.fixture
def specialist():
    playbook_import(text=(SCENARIOS / "support-specialist" / "playbook.yaml").read_text(), publish=True)
    return learner_create(
        external_id="sim", roles=[role_upsert(slug="support_specialist", name="S")], attributes={"api_access": True}
    )


def _send(*events, source="key:1"):
    body = {
        "events": [
            {
                "id": f"e{minute}-{kind}-{module}",
                "learner": "sim",
                "type": kind,
                "module": module,
                "occurred_at": (T0 + timedelta(minutes=minute)).isoformat(),
                "properties": properties,
            }
            for minute, kind, module, properties in events
        ]
    }
    return events_ingest(body=body, source=source, now=T0 + timedelta(days=1))


def test_events_arriving_out_of_order_are_evaluated_in_occurred_at_order(specialist):
    _send((3, "module_skipped", "product-tour", {}), (1, "module_completed", "welcome", {"duration_seconds": 50}))
    _send((2, "module_skipped", "crm-basics", {}), (2, "module_skipped", "ticketing-101", {}))

    processed = learner_evaluate_pending(learner_id=specialist.pk)

    assert processed == 4
    assert next_module_for_learner(learner=specialist).module.slug == "advanced-debugging"
    assert not Event.objects.filter(processed_at__isnull=True).exists()


def test_evaluating_again_changes_nothing(specialist):
    _send((1, "module_completed", "welcome", {"duration_seconds": 20}))
    learner_evaluate_pending(learner_id=specialist.pk)
    decisions, state = Decision.objects.count(), Enrollment.objects.get().state

    assert learner_evaluate_pending(learner_id=specialist.pk) == 0
    assert (Decision.objects.count(), Enrollment.objects.get().state) == (decisions, state)


def test_the_decision_log_keeps_rule_values_and_event(specialist):
    _send((1, "module_completed", "welcome", {"duration_seconds": 20}))

    learner_evaluate_pending(learner_id=specialist.pk)

    fired = Decision.objects.get(kind="trigger")
    assert fired.rule.startswith("trigger 'remedial demo'")
    assert fired.values == {"event.type": "module_completed", "event.properties.duration_seconds": 20}
    assert fired.event.client_id == "e1-module_completed-welcome" and fired.decided_at == T0 + timedelta(minutes=1)
    action = Decision.objects.get(kind="action")
    assert action.action == {"insert_module": "remedial-demo"}
    assert next_module_for_learner(learner=specialist).module.slug == "remedial-demo"


def test_a_skip_streak_raises_one_flag_for_a_supervisor(specialist):
    _send(
        *[
            (m, "module_skipped", slug, {})
            for m, slug in enumerate(["welcome", "crm-basics", "ticketing-101", "product-tour"], start=1)
        ]
    )

    learner_evaluate_pending(learner_id=specialist.pk)

    flag = Flag.objects.get()
    assert (flag.name, flag.learner, flag.acknowledged_at) == ("supervisor_review", specialist, None)
    assert flag.decision.rule == "trigger 'skip streak review': skip_streak >= 3"


def test_a_late_event_counts_in_the_window_it_belongs_to(specialist):
    _send(
        *[
            (m, "module_completed", s, {"duration_seconds": 100})
            for m, s in [(1, "welcome"), (2, "crm-basics"), (3, "ticketing-101")]
        ]
    )
    learner_evaluate_pending(learner_id=specialist.pk)
    _send((5, "module_completed", "product-tour", {"duration_seconds": 100}))
    _send((4, "ticket_submitted", "", {}))  # arrives after, happened before

    learner_evaluate_pending(learner_id=specialist.pk)

    branch = Decision.objects.get(kind="branch", step="specialist-track")
    assert branch.module == "standard-api-troubleshooting"


def test_the_clock_fires_idle_triggers_once(db):
    playbook_import(
        text="""
slug: idle
name: Idle
audience: {roles: [r]}
modules: [{slug: a, title: A}, {slug: b, title: B}]
steps: [{module: a}, {module: b}]
triggers:
  - {name: nudge, when: 'idle_hours >= 24', then: [{remind: {channel: email, template: drop_off}}]}
""",
        publish=True,
    )
    learner = learner_create(external_id="sim", roles=[role_upsert(slug="r", name="R")])
    _send((0, "module_completed", "a", {}))
    learner_evaluate_pending(learner_id=learner.pk)

    learner_evaluate_clock(learner_id=learner.pk, now=T0 + timedelta(hours=12))
    assert not Decision.objects.filter(kind="trigger").exists()
    for hours in (25, 26):
        learner_evaluate_clock(learner_id=learner.pk, now=T0 + timedelta(hours=hours))

    reminder = Decision.objects.get(kind="action")
    assert reminder.action == {"remind": {"channel": "email", "template": "drop_off"}}
    assert reminder.decided_at == T0 + timedelta(hours=25) and reminder.event is None
