"""A learner whose evaluation fails is tried alone, then quarantined; the others of their task are evaluated."""

from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse

from identity.models import Learner, RoleAssignment
from identity.services import role_upsert
from playbooks.services import playbook_import
from signals_app.models import Event, Quarantine
from signals_app.selectors import learners_with_clock_conditions, learners_with_stale_events
from signals_app.services.isolation import learners_evaluate_pending_isolated
from tests.playbooks.engine.replay import SCENARIOS

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 2, 9, tzinfo=UTC)


def _learners_with_one_poisoned(count: int = 50) -> tuple[list[Learner], Learner]:
    """``count`` learners with a completion each; one of them (stored before validation at the door existed) carries
    a duration no integer column holds, so evaluating them fails every time."""
    playbook_import(text=(SCENARIOS / "support-specialist" / "playbook.yaml").read_text(), publish=True)
    role = role_upsert(slug="support_specialist", name="S")
    learners = Learner.objects.bulk_create(Learner(external_id=f"l{n}") for n in range(count))
    RoleAssignment.objects.bulk_create(RoleAssignment(learner=learner, role=role) for learner in learners)
    poisoned = learners[count // 3]
    Event.objects.bulk_create(
        Event(
            source="key:1",
            client_id=f"e{learner.pk}",
            learner=learner,
            type="module_completed",
            module="welcome",
            occurred_at=T0,
            received_at=T0,
            properties={"duration_seconds": 3_000_000_000 if learner == poisoned else 40},
        )
        for learner in learners
    )
    return learners, poisoned


def test_a_poisoned_learner_is_quarantined_and_the_other_49_are_evaluated():
    learners, poisoned = _learners_with_one_poisoned()

    result = learners_evaluate_pending_isolated(learner_ids=[learner.pk for learner in learners], now=T0)

    assert (result.processed, result.busy) == (49, [])
    assert set(Event.objects.filter(processed_at__isnull=True).values_list("learner_id", flat=True)) == {poisoned.pk}
    quarantine = Quarantine.objects.get()
    assert quarantine.learner == poisoned
    assert "out of range" in quarantine.error


def test_the_sweepers_leave_a_quarantined_learner_alone():
    learners, poisoned = _learners_with_one_poisoned(3)
    learners_evaluate_pending_isolated(learner_ids=[learner.pk for learner in learners], now=T0)

    assert learners_with_stale_events(older_than=T0 + timedelta(minutes=5), limit=100) == []
    assert poisoned.pk not in learners_with_clock_conditions()
    result = learners_evaluate_pending_isolated(learner_ids=[poisoned.pk], now=T0)
    assert (result.processed, result.busy) == (0, [])  # waits quietly: not handed back to the queue as busy


def test_an_admin_retries_a_quarantined_learner_once_the_data_is_fixed(
    admin_client, django_capture_on_commit_callbacks
):
    learners, poisoned = _learners_with_one_poisoned(3)
    learners_evaluate_pending_isolated(learner_ids=[learner.pk for learner in learners], now=T0)
    Event.objects.filter(learner=poisoned).update(properties={"duration_seconds": 40})  # what an operator mends
    page = admin_client.get(reverse("admin:signals_app_quarantine_changelist")).text
    assert "out of range" in page and poisoned.external_id in page

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = admin_client.post(
            reverse("admin:signals_app_quarantine_changelist"),
            {"action": "retry", "_selected_action": [Quarantine.objects.get().pk]},
            follow=True,
        )

    assert "1 learner(s) will be evaluated again shortly." in response.text
    assert not Quarantine.objects.exists() and len(callbacks) == 1  # the evaluation is enqueued once committed
    assert learners_evaluate_pending_isolated(learner_ids=[poisoned.pk], now=T0).processed == 1
