"""The analytics API: the dashboard's figures as JSON for a key holding ``analytics:read``, under the same filters
and equal to the admin's numbers; anyone else is refused, and a bad filter is named."""

from datetime import date

import pytest

from identity.services import learner_token_create
from insights.selectors import FIGURES, Filters
from tests.factories import LearnerFactory, api_key
from tests.insights.test_admin_dashboard import cohort  # noqa: F401  (the fixture)

pytestmark = pytest.mark.django_db

BASE = "/api/v1/analytics/playbooks"


def _get(client, key: str, path: str):
    return client.get(f"{BASE}/{path}", HTTP_AUTHORIZATION=f"Api-Key {key}")


def test_every_figure_equals_the_dashboards_under_the_same_filters(client, world, cohort):  # noqa: F811
    key, _ = api_key("analytics:read")
    filters = Filters(playbook=world.playbook, role="agent", start=date(2026, 3, 2), end=date(2026, 3, 2))

    body = _get(client, key, f"{world.playbook.slug}?role=agent&start=2026-03-02&end=2026-03-02").json()

    assert body["playbook"] == world.playbook.slug
    assert body["filters"] == {"role": "agent", "start": "2026-03-02", "end": "2026-03-02"}
    assert [figure["slug"] for figure in body["figures"]] == list(FIGURES)
    for figure in body["figures"]:
        expected = FIGURES[figure["slug"]](filters)
        assert figure["columns"] == expected.columns
        assert figure["rows"] == [[cell.value for cell in row] for row in expected.rows]


def test_one_figure_with_its_numbers(client, world, cohort):  # noqa: F811
    key, _ = api_key("analytics:read")

    completion = _get(client, key, f"{world.playbook.slug}/completion?role=agent").json()

    assert completion["rows"][-1][:3] == ["all", 3, 2]  # the three agents: two completed
    assert completion["rows"][-1][-1] == pytest.approx(2 / 3, abs=1e-4)


def test_keys_without_the_scope_learners_and_strangers_are_refused(client, world):
    writer, _ = api_key("events:write", "learners:read")
    token = learner_token_create(learner=LearnerFactory(), name="t").key

    assert _get(client, writer, world.playbook.slug).status_code == 403
    assert "analytics:read" in _get(client, writer, world.playbook.slug).json()["message"]
    assert client.get(f"{BASE}/{world.playbook.slug}", HTTP_AUTHORIZATION=f"Token {token}").status_code == 401
    assert client.get(f"{BASE}/{world.playbook.slug}").status_code == 401


@pytest.mark.parametrize(
    ("query", "status", "field", "words"),
    [
        ("?version=99", 404, "version", "has no version 99"),
        ("?role=nobody", 400, "role", "No role 'nobody'"),
        ("?start=2026-03-05&end=2026-03-01", 400, "start", "start day comes after the end day"),
        ("?start=yesterday", 400, "start", "Date has wrong format"),
        ("/nope", 404, None, "No figure 'nope'"),
    ],
)
def test_a_bad_filter_or_figure_is_named(client, world, query, status, field, words):
    key, _ = api_key("analytics:read")

    response = _get(client, key, f"{world.playbook.slug}{query}")

    assert response.status_code == status
    body = response.json()
    assert words in body["message"] and body["field"] == field


def test_an_unknown_playbook_is_a_404(client, world):
    key, _ = api_key("analytics:read")
    assert _get(client, key, "nope").status_code == 404
