from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from identity.services import learner_create, role_upsert
from playbooks.services import playbook_import
from signals_app.models import Event, Flag
from signals_app.services import events_ingest, learner_evaluate_pending
from tests.playbooks.engine.replay import SCENARIOS

pytestmark = pytest.mark.django_db


def _send(external_id: str, *kinds: str, source: str = "key:1") -> None:
    now = timezone.now()
    events_ingest(
        body={
            "events": [
                {
                    "id": f"{external_id}-{n}",
                    "learner": external_id,
                    "type": kind,
                    "module": slug,
                    "occurred_at": (now - timedelta(minutes=10 - n)).isoformat(),
                }
                for n, (kind, slug) in enumerate(k.split(":") for k in kinds)
            ]
        },
        source=source,
    )


@pytest.fixture
def skipper():
    playbook_import(text=(SCENARIOS / "support-specialist" / "playbook.yaml").read_text(), publish=True)
    learner = learner_create(external_id="skipper", roles=[role_upsert(slug="support_specialist", name="S")])
    _send("skipper", "module_skipped:welcome", "module_skipped:crm-basics", "module_skipped:ticketing-101")
    learner_evaluate_pending(learner_id=learner.pk)
    return learner


def test_event_list_queries_do_not_grow_with_rows(admin_client, skipper, django_assert_max_num_queries):
    url = reverse("admin:signals_app_event_changelist")
    with django_assert_max_num_queries(30) as few:
        admin_client.get(url)
    for number in range(20):
        learner_create(external_id=f"l{number}")
        _send(f"l{number}", "page_view:", "click:")

    with django_assert_max_num_queries(len(few.captured_queries)):
        response = admin_client.get(url)

    assert response.status_code == 200


def test_events_filter_by_evaluation_state_and_search_by_learner(admin_client, skipper):
    learner_create(external_id="waiting")
    _send("waiting", "page_view:")
    url = reverse("admin:signals_app_event_changelist")

    waiting = admin_client.get(url, {"evaluated": "no"}).context["cl"].result_list
    by_learner = admin_client.get(url, {"q": "skipper"}).context["cl"].result_list

    assert [e.learner.external_id for e in waiting] == ["waiting"]
    assert {e.learner.external_id for e in by_learner} == {"skipper"} and len(by_learner) == 3


def test_decisions_are_listed_with_their_rule(admin_client, skipper):
    response = admin_client.get(reverse("admin:signals_app_decision_changelist"), {"kind": "trigger"})

    rules = [d.rule for d in response.context["cl"].result_list]
    assert rules == ["trigger 'skip streak review': skip_streak >= 3"]


def test_a_supervisor_acknowledges_a_flag(admin_client, admin_user, skipper):
    flag = Flag.objects.get()
    url = reverse("admin:signals_app_flag_changelist")
    assert [f.pk for f in admin_client.get(url, {"status": "open"}).context["cl"].result_list] == [flag.pk]

    admin_client.post(url, {"action": "acknowledge", "_selected_action": [flag.pk]})

    flag.refresh_from_db()
    assert flag.acknowledged_by == admin_user and flag.acknowledged_at is not None
    assert list(admin_client.get(url, {"status": "open"}).context["cl"].result_list) == []


def test_events_cannot_be_edited_or_deleted_in_the_admin(admin_client, skipper):
    event = Event.objects.first()

    assert (
        admin_client.post(reverse("admin:signals_app_event_delete", args=[event.pk]), {"post": "yes"}).status_code
        == 403
    )
    assert Event.objects.filter(pk=event.pk).exists()


def test_staff_without_permission_sees_no_events(client, staff_without_permission):
    client.force_login(staff_without_permission)

    assert client.get(reverse("admin:signals_app_event_changelist")).status_code == 403
