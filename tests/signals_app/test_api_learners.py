"""The learner API: the caller's own journey, or a learner's for a service with learners:read; nobody else's."""

import pytest

from identity.services import api_key_revoke, learner_token_create, learner_token_revoke
from playbooks.services import learner_enroll, playbook_import
from signals_app.services import events_ingest, learner_evaluate_pending
from tests.factories import LearnerFactory, api_key
from tests.playbooks.engine.replay import SCENARIOS

pytestmark = pytest.mark.django_db

ME = ["/api/v1/me/next-module", "/api/v1/me/progress", "/api/v1/me/decisions"]


@pytest.fixture(autouse=True)
def playbook():
    playbook_import(text=(SCENARIOS / "support-specialist" / "playbook.yaml").read_text(), publish=True)


@pytest.fixture
def journeyed(learner):
    """Alice after completing the welcome module quickly (remedial demo inserted)."""
    learner_enroll(learner=learner)
    events_ingest(
        body={
            "id": "e1",
            "learner": "alice",
            "type": "module_completed",
            "module": "welcome",
            "occurred_at": "2026-03-02T09:01:00Z",
            "properties": {"duration_seconds": 20},
        },
        source="key:9",
    )
    learner_evaluate_pending(learner_id=learner.pk)
    return learner


def test_a_learner_reads_their_next_module_with_the_reason(client, journeyed):
    client.force_login(journeyed.user)

    body = client.get("/api/v1/me/next-module").json()

    assert body["status"] == "active" and body["playbook"] == "support-specialist"
    assert body["module"] == {"slug": "remedial-demo", "title": "Guided demo", "kind": "video", "url": "", "minutes": 8}
    # In plain words, without the rule's condition: the learner never reads condition text.
    sentence = "Suggested for you because you completed a module and your time on the module was 20 seconds."
    assert body["reason"] == {"rule": "trigger 'remedial demo'", "explanation": sentence, "text": sentence}
    assert body["progress"] == {"completed": 1, "total": 6}


def test_a_service_still_reads_the_rule_beside_the_learners_sentence(client, journeyed):
    key, _ = api_key("learners:read")

    body = client.get("/api/v1/learners/alice/next-module", HTTP_AUTHORIZATION=f"Api-Key {key}").json()

    assert body["reason"]["rule"].startswith("trigger 'remedial demo': event.type == ")
    assert "event.properties.duration_seconds = 20" in body["reason"]["explanation"]
    assert body["reason"]["text"].startswith("Suggested for you because you completed a module")


def test_the_learners_own_decision_log_has_no_condition_text(client, journeyed):
    client.force_login(journeyed.user)
    key, _ = api_key("learners:read")

    mine = client.get("/api/v1/me/decisions").json()["results"]
    theirs = client.get("/api/v1/learners/alice/decisions", HTTP_AUTHORIZATION=f"Api-Key {key}").json()["results"]

    assert [d["kind"] for d in mine] == [d["kind"] for d in theirs]
    for own, service in zip(mine, theirs, strict=True):
        assert "==" not in own["rule"] + own["explanation"] + own["text"] and own["explanation"] == own["text"]
        assert own["text"] == service["text"]
    assert any("==" in d["rule"] for d in theirs)


def test_progress_and_decisions(client, journeyed):
    client.force_login(journeyed.user)

    progress = client.get("/api/v1/me/progress").json()
    decisions = client.get("/api/v1/me/decisions").json()

    assert progress["completed"] == ["welcome"] and progress["current"] == "remedial-demo"
    assert progress["time_spent_seconds"] == 20 and progress["steps"] == {"done": 1, "total": 6}
    kinds = [d["kind"] for d in decisions["results"]]
    assert "trigger" in kinds and "action" in kinds and decisions["next"] is None


def test_a_personal_token_reaches_only_its_learner(client, journeyed, other_learner):
    learner_enroll(learner=other_learner)
    key = learner_token_create(learner=other_learner, name="phone").key

    body = client.get("/api/v1/me/next-module", HTTP_AUTHORIZATION=f"Token {key}").json()

    assert body["module"]["slug"] == "welcome"  # Bob's, not Alice's


def test_a_revoked_token_is_refused(client, learner):
    issued = learner_token_create(learner=learner, name="phone")
    learner_token_revoke(token=issued.token)

    response = client.get("/api/v1/me/next-module", HTTP_AUTHORIZATION=f"Token {issued.key}")

    assert response.status_code == 401


@pytest.mark.parametrize("url", ME)
def test_every_learner_endpoint_needs_credentials(client, url):
    response = client.get(url)

    assert response.status_code == 401 and response["WWW-Authenticate"] == "Token"
    assert response.json()["code"] == "not_authenticated"


def test_a_staff_login_without_a_learner_gets_404(client, staff_without_permission):
    client.force_login(staff_without_permission)

    assert client.get("/api/v1/me/next-module").status_code == 404


def test_not_enrolled(client):
    learner = LearnerFactory(user=None, roles=["sales"])
    key = learner_token_create(learner=learner, name="t").key

    body = client.get("/api/v1/me/next-module", HTTP_AUTHORIZATION=f"Token {key}").json()

    assert body == {
        "module": None,
        "status": "not_enrolled",
        "playbook": None,
        "step": None,
        "reason": None,
        "progress": {"completed": 0, "total": 0},
        "others": [],
        "optional": [],
    }


@pytest.mark.parametrize("suffix", ["next-module", "progress", "decisions"])
def test_a_service_with_learners_read_reads_any_learner(client, journeyed, suffix):
    key, _ = api_key("learners:read")

    response = client.get(f"/api/v1/learners/alice/{suffix}", HTTP_AUTHORIZATION=f"Api-Key {key}")

    assert response.status_code == 200


@pytest.mark.parametrize("suffix", ["next-module", "progress", "decisions"])
def test_service_endpoints_refuse_learners_other_scopes_and_unknown_ids(client, journeyed, suffix):
    url = f"/api/v1/learners/alice/{suffix}"
    writer, _ = api_key("events:write")
    reader, reader_row = api_key("learners:read")
    client.force_login(journeyed.user)  # a learner's own session is no service key

    assert client.get(url).status_code == 401
    assert client.get(url, HTTP_AUTHORIZATION=f"Api-Key {writer}").status_code == 403
    assert client.get(f"/api/v1/learners/nobody/{suffix}", HTTP_AUTHORIZATION=f"Api-Key {reader}").status_code == 404
    api_key_revoke(api_key=reader_row)
    assert client.get(url, HTTP_AUTHORIZATION=f"Api-Key {reader}").status_code == 401


@pytest.mark.parametrize("steps", [3, 40])
def test_next_module_costs_the_same_queries_whatever_the_playbook_length(client, steps, django_assert_num_queries):
    modules = "\n".join(f"  - {{slug: m{i}, title: M{i}}}" for i in range(steps))
    path = "\n".join(f"  - module: m{i}" for i in range(steps))
    playbook_import(
        text=f"slug: long\nname: Long\naudience: {{roles: [r]}}\nmodules:\n{modules}\nsteps:\n{path}\n", publish=True
    )
    learner = LearnerFactory(user=None, roles=["r"])
    learner_enroll(learner=learner)
    key = learner_token_create(learner=learner, name="t").key
    client.get("/api/v1/me/next-module", HTTP_AUTHORIZATION=f"Token {key}")  # sets last_used_at once

    with django_assert_num_queries(2):  # the token with its learner, then the enrolment with its module
        body = client.get("/api/v1/me/next-module", HTTP_AUTHORIZATION=f"Token {key}").json()

    assert body["module"]["slug"] == "m0"


def test_a_service_sees_a_deactivated_learner_as_deactivated(client, journeyed):
    from identity.services import learner_deactivate

    key, _ = api_key("learners:read")
    learner_deactivate(learner=journeyed)

    body = client.get("/api/v1/learners/alice/next-module", HTTP_AUTHORIZATION=f"Api-Key {key}").json()

    assert (body["status"], body["module"], body["playbook"]) == ("deactivated", None, "support-specialist")


@pytest.mark.parametrize("external_id", ["ali%00ce", "%00"])
def test_an_id_no_learner_can_have_is_a_json_400(client, external_id):
    key, _ = api_key("learners:read")

    response = client.get(f"/api/v1/learners/{external_id}/next-module", HTTP_AUTHORIZATION=f"Api-Key {key}")

    assert response.status_code == 400
    assert response.json()["code"] == "invalid_path"
