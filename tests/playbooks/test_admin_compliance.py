"""The compliance page: learners × a playbook's required steps with completion dates, and its CSV."""

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse

from identity.services import learner_create, role_upsert
from playbooks.models import Playbook
from playbooks.services import playbook_import
from signals_app.services import events_ingest, learner_evaluate_pending
from tests.signals_app.test_examples import EXAMPLES

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 2, 9, tzinfo=UTC)


@pytest.fixture
def playbook():
    playbook_import(text=(EXAMPLES / "required-compliance.yaml").read_text(), publish=True)
    return Playbook.objects.get(slug="required-compliance")


def _learner(external_id: str, *completed: str):
    learner = learner_create(external_id=external_id, roles=[role_upsert(slug="support_specialist", name="S")])
    events = [
        {
            "id": f"{external_id}-{minute}",
            "learner": external_id,
            "type": "module_completed",
            "module": module,
            "occurred_at": (T0 + timedelta(minutes=minute)).isoformat(),
        }
        for minute, module in enumerate(completed, start=1)
    ]
    if events:
        events_ingest(body={"events": events}, source="key:1", now=T0 + timedelta(days=1))
        learner_evaluate_pending(learner_id=learner.pk)
    return learner


def _url(playbook: Playbook, **query: str) -> str:
    url = reverse("admin:playbooks_playbook_compliance", args=[playbook.pk])
    return url + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


def test_the_page_shows_who_completed_the_required_step_and_when(admin_client, playbook):
    _learner("ada", "welcome", "tooling-tour", "data-privacy")
    _learner("bob", "welcome")

    page = admin_client.get(_url(playbook))

    assert page.status_code == 200
    rows = {row.enrollment.learner.external_id: row for row in page.context["report"].rows}
    assert [step.key for step in page.context["report"].steps] == ["data-privacy"]
    assert rows["ada"].done == (T0 + timedelta(minutes=3),) and rows["ada"].complete
    assert rows["bob"].done == (None,) and not rows["bob"].complete
    assert "2026-03-02 09:03" in page.text


def test_the_csv_has_a_row_per_learner_and_a_column_per_required_step(admin_client, playbook):
    _learner("ada", "welcome", "tooling-tour", "data-privacy")
    _learner("=cmd", "welcome")

    response = admin_client.get(_url(playbook, format="csv"))

    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert response["Content-Type"].startswith("text/csv")
    assert rows[0] == ["learner", "name", "enrolment", "all required done", "data-privacy"]
    assert ["ada", "", "active", "yes", (T0 + timedelta(minutes=3)).isoformat()] in rows
    assert ["'=cmd", "", "active", "no", ""] in rows  # not a formula in a spreadsheet


def test_the_page_takes_the_same_queries_for_two_learners_as_for_twenty(
    admin_client, playbook, django_assert_max_num_queries
):
    for number in range(2):
        _learner(f"l{number}", "welcome", "tooling-tour", "data-privacy")
    admin_client.get(_url(playbook, format="csv"))  # the session and permission caches warm
    with django_assert_max_num_queries(12) as few:
        admin_client.get(_url(playbook, format="csv"))
    for number in range(2, 20):
        _learner(f"l{number}", "welcome")

    with django_assert_max_num_queries(len(few.captured_queries)):
        response = admin_client.get(_url(playbook, format="csv"))

    assert len(response.content.decode().splitlines()) == 21


def test_staff_without_the_enrolment_permission_cannot_see_it(client, staff_without_permission, playbook):
    client.force_login(staff_without_permission)

    assert client.get(_url(playbook)).status_code == 403
