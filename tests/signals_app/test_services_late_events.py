"""Late events and stale clocks through the worker's services on the test database (docs/evaluation.md)."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings

from identity.services import learner_create, role_upsert
from playbooks.engine.signals import EventFact
from playbooks.models import Enrollment, PlaybookVersion
from playbooks.selectors import compiled_version, next_module_for_learner
from playbooks.services import learner_enroll, playbook_import
from signals_app.models import Decision, Flag
from signals_app.services import events_ingest, learner_evaluate_clock, learner_evaluate_pending
from signals_app.services.ingestion import events_record
from tests.playbooks.engine.replay import SCENARIOS
from tests.playbooks.engine.test_engine_late_events import deliver, deliveries

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 2, 9, tzinfo=UTC)
FAST_SKIPPER = [
    (0, "module_started", "welcome", {}),
    (1, "module_completed", "welcome", {"duration_seconds": 50}),
    (2, "module_skipped", "crm-basics", {}),
    (3, "module_skipped", "ticketing-101", {}),
    (4, "module_skipped", "product-tour", {}),
]
SKIPPER = """
slug: skipper
name: Skipper
audience: {roles: [newcomer]}
modules: [{slug: a, title: A}, {slug: b, title: B}, {slug: c, title: C}, {slug: d, title: D}]
steps: [{module: a}, {module: b}, {module: c}, {module: d}]
triggers:
  - {name: review, when: 'skips >= 2', then: [{flag: review}]}
  - {name: each skip, when: 'event.type == "module_skipped"', then: [{flag: skipped}], limit: {per_learner: 2}}
  - {name: streak, when: 'skip_streak >= 2', then: [{flag: streak}]}
  - {name: nudge, when: 'idle_hours >= 24', then: [{flag: idle}]}
"""


def _send(learner, *events, batch: str = ""):
    body = {
        "events": [
            {
                "id": f"e{minute}",
                "learner": learner.external_id,
                "type": kind,
                "module": module,
                "occurred_at": (T0 + timedelta(minutes=minute)).isoformat(),
                "properties": properties,
            }
            for minute, kind, module, properties in events
        ]
    }
    events_record(body=body, source=f"key:{learner.pk}", now=T0 + timedelta(minutes=10))
    learner_evaluate_pending(learner_id=learner.pk, now=T0 + timedelta(minutes=10))


@pytest.fixture
def specialist():
    playbook_import(text=(SCENARIOS / "support-specialist" / "playbook.yaml").read_text(), publish=True)
    return learner_create(
        external_id="sim", roles=[role_upsert(slug="support_specialist", name="S")], attributes={"api_access": True}
    )


@pytest.fixture
def skipper():
    playbook_import(text=SKIPPER, publish=True)
    return learner_create(external_id="skipper", roles=[role_upsert(slug="newcomer", name="N")])


def test_a_completion_held_back_behind_three_skips_still_leads_to_the_advanced_track(specialist):
    started, completed, *skips = FAST_SKIPPER
    _send(specialist, started, *skips)  # a connector that batches per source sends the completion last
    assert next_module_for_learner(learner=specialist).module.slug == "welcome"

    _send(specialist, completed)

    assert next_module_for_learner(learner=specialist).module.slug == "advanced-debugging"
    branch = Decision.objects.get(kind="branch", step="specialist-track")
    assert branch.values == {"avg_module_seconds": 50, "skips": 3}
    assert branch.event.client_id == "e1" and branch.decided_at == T0 + timedelta(minutes=4)
    assert "Late event: this module_completed happened at 2026-03-02 09:01:00 UTC" in branch.explanation


def test_a_late_event_does_not_raise_an_edge_triggers_flag_again(skipper):
    _send(skipper, (2, "module_skipped", "a", {}))
    _send(skipper, (3, "module_skipped", "b", {}))
    assert Flag.objects.filter(name="review").count() == 1

    _send(skipper, (1, "module_progress", "c", {"completion_pct": 10}))  # happened before the skips
    _send(skipper, (5, "module_progress", "c", {"completion_pct": 20}))

    assert Flag.objects.filter(name="review").count() == 1


def test_a_clock_sweep_older_than_the_learners_last_evaluation_changes_nothing(skipper):
    _send(skipper, (2, "module_skipped", "a", {}), (3, "module_skipped", "b", {}))
    state = Enrollment.objects.get(learner=skipper).state

    assert learner_evaluate_clock(learner_id=skipper.pk, now=T0 + timedelta(minutes=2, seconds=30)) == 0
    assert Enrollment.objects.get(learner=skipper).state == state  # not even the trigger memories moved
    _send(skipper, (5, "module_progress", "c", {"completion_pct": 20}))

    assert Flag.objects.filter(name="review").count() == 1


def test_a_clock_sweep_evaluates_events_still_waiting_for_their_task_first(skipper):
    body = {
        "events": [
            {"id": f"s{m}", "learner": "skipper", "type": "module_skipped", "module": slug,
             "occurred_at": (T0 + timedelta(minutes=m)).isoformat()}
            for m, slug in ((1, "a"), (2, "b"))
        ]
    }  # fmt: skip
    events_ingest(body=body, source="key:1", now=T0 + timedelta(minutes=3))  # the task is still on its way

    learner_evaluate_clock(learner_id=skipper.pk, now=T0 + timedelta(hours=25))

    review = Decision.objects.get(kind="trigger", rule__startswith="trigger 'review'")
    assert review.event.client_id == "s2" and review.decided_at == T0 + timedelta(minutes=2)
    idle = Decision.objects.get(kind="trigger", rule__startswith="trigger 'nudge'")
    assert idle.event is None and idle.decided_at == T0 + timedelta(hours=25)


EVENTS = [
    (1, "module_progress", "a", {"completion_pct": 10}),
    (2, "module_skipped", "a", {}),
    (3, "module_completed", "b", {"duration_seconds": 30}),
    (4, "module_skipped", "c", {}),
    (5, "module_skipped", "d", {}),
    (6, "module_progress", "c", {"completion_pct": 50}),
]


def _log(learner) -> list[tuple]:
    rows = Decision.objects.filter(learner=learner).order_by("decided_at", "pk")
    return [(r.decided_at, r.kind, r.rule, r.module or None, r.step or None, str(r.action)) for r in rows]


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(batches=deliveries(len(EVENTS)))
def test_the_worker_applies_the_engines_rule_in_any_arrival_order(skipper, batches):
    playbook = compiled_version(version=PlaybookVersion.objects.get(playbook__slug="skipper"))
    facts = [EventFact(kind, T0 + timedelta(minutes=m), module, props) for m, kind, module, props in EVENTS]
    expected = [
        (e.outcome.at, d.kind, d.rule, d.module, d.step, str(d.action))
        for e in deliver(playbook, facts, batches)
        for d in e.outcome.decisions
    ]
    with transaction.atomic():
        learner = learner_create(external_id="arrivals", roles=[role_upsert(slug="newcomer", name="N")])
        learner_enroll(learner=learner, now=T0)  # as the harness starts it
        for batch in batches:
            _send(learner, *[EVENTS[i] for i in batch])

        assert _log(learner) == expected
        assert Flag.objects.filter(learner=learner, name="review").count() == 1
        assert Flag.objects.filter(learner=learner, name="skipped").count() <= 2
        transaction.set_rollback(True)


def test_events_in_order_give_the_same_decisions_one_by_one_or_in_one_batch(specialist):
    batched = learner_create(
        external_id="batched", roles=[role_upsert(slug="support_specialist", name="S")], attributes={"api_access": True}
    )
    for event in FAST_SKIPPER:
        _send(specialist, event)
    _send(batched, *FAST_SKIPPER)

    assert _log(specialist) == _log(batched)
    assert [(kind, rule.split(":")[0]) for _at, kind, rule, *_ in _log(batched)] == [
        ("next_module", "path"),
        ("next_module", "path"),
        ("next_module", "path"),
        ("branch", "branch 'specialist-track'"),
        ("trigger", "trigger 'skip streak review'"),
        ("action", "trigger 'skip streak review'"),
        ("next_module", "branch 'specialist-track'"),
    ]
