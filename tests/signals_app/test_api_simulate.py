"""POST /api/v1/playbooks/{slug}/simulate: for service keys with playbooks:simulate; same answer as the command."""

import pytest
import yaml

from playbooks.services import draft_create, playbook_import
from signals_app.models import Decision, Event
from tests.factories import api_key
from tests.playbooks.engine.replay import SCENARIOS

pytestmark = pytest.mark.django_db

URL = "/api/v1/playbooks/support-specialist/simulate"
FAST_SKIPPER = SCENARIOS / "support-specialist" / "journeys" / "fast-skipper.yaml"


@pytest.fixture(autouse=True)
def published():
    return playbook_import(text=(SCENARIOS / "support-specialist" / "playbook.yaml").read_text(), publish=True).version


def _journey() -> dict:
    return yaml.safe_load(FAST_SKIPPER.read_text())


def _post(client, body, *, scopes=("playbooks:simulate",), url=URL):
    key, _ = api_key(*scopes)
    return client.post(url, body, content_type="application/json", HTTP_AUTHORIZATION=f"Api-Key {key}")


def test_a_service_simulates_a_journey_and_gets_the_timeline_and_results(client):
    response = _post(client, _journey())

    body = response.json()
    assert response.status_code == 200
    assert body["passed"] is True
    assert [e["message"].split(":")[0] for e in body["expectations"]] == [
        "next module at 30s",
        "next module at 1m30s",
        "next module at 5m",
        "flags by the end",
    ]
    assert body["final"]["next_module"] == "advanced-debugging"
    assert not Event.objects.exists() and not Decision.objects.exists()  # nothing kept


def test_the_playbook_comes_from_the_url_when_the_journey_omits_it(client):
    journey = _journey()
    del journey["playbook"]

    assert _post(client, journey).json()["playbook"] == "support-specialist"


def test_failing_expectations_are_a_200_with_the_reason(client):
    journey = _journey()
    journey["expect"] = [{"at": "5m", "next_module": "welcome"}]

    body = _post(client, journey).json()

    assert body["passed"] is False
    (result,) = body["expectations"]
    assert result["actual"] == "advanced-debugging"
    assert any(entry["kind"] == "branch" for entry in result["decisions"])


def test_a_bad_journey_is_a_400_listing_every_problem_by_path(client):
    journey = _journey()
    journey["events"][1]["at"] = "soon"
    journey["expect"].append({"at": "1m", "next_modul": "welcome"})

    response = _post(client, journey)

    assert response.status_code == 400
    body = response.json()
    assert body["field"] == "events[1].at"
    assert [e["field"] for e in body["errors"]] == ["events[1].at", "expect[4]"]


def test_a_draft_is_simulated_with_its_version_number(client, published):
    draft = draft_create(playbook=published.playbook)

    body = _post(client, _journey(), url=f"{URL}?version={draft.number}").json()

    assert (body["version"], body["version_status"]) == (2, "draft")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("/api/v1/playbooks/nope/simulate", "No playbook 'nope'."),
        (f"{URL}?version=7", "No playbook 'support-specialist' version 7."),
    ],
)
def test_an_unknown_playbook_or_version_is_a_404(client, url, message):
    response = _post(client, _journey(), url=url)

    assert (response.status_code, response.json()["message"]) == (404, message)


def test_without_the_scope_the_key_is_refused(client):
    assert _post(client, _journey(), scopes=("events:write",)).status_code == 403


def test_without_credentials_nothing_runs(client):
    assert client.post(URL, _journey(), content_type="application/json").status_code == 401
