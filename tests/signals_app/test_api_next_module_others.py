"""GET …/next-module for a learner in several playbooks: the highest priority's module as before, and the other
active playbooks under ``others``, at the same two queries."""

from datetime import timedelta

import pytest

from identity.services import learner_deactivate, learner_token_create
from playbooks.services import learners_reroute
from tests.factories import api_key
from tests.playbooks.test_services_reroute import T0, newcomer, publish

pytestmark = pytest.mark.django_db


@pytest.fixture
def ada():
    """In three playbooks: basics (enrolled first), tools, and compliance (priority 10, enrolled last)."""
    learner = newcomer("ada", "support_specialist")
    for day, (slug, extra) in enumerate([("basics", ""), ("tools", ""), ("compliance", "priority: 10\n")]):
        publish(slug, "support_specialist", extra=extra)
        learners_reroute(learner_ids=[learner.pk], now=T0 + timedelta(days=day))
    return learner


def _module(slug: str, title: str) -> dict:
    return {"slug": slug, "title": title, "kind": "article", "url": "", "minutes": 5}


def _other(playbook: str) -> dict:
    return {
        "playbook": playbook,
        "module": _module(f"{playbook}-1", f"{playbook.title()} one"),
        "step": f"{playbook}-1",
        "reason": {
            "rule": "path",
            "explanation": "Step 1 of 2 of the playbook.",
            "text": "Step 1 of 2 of the playbook.",
        },
        "progress": {"completed": 0, "total": 2},
    }


def test_the_answer_keeps_its_keys_and_lists_the_other_playbooks(client, ada):
    token = learner_token_create(learner=ada, name="t").key

    body = client.get("/api/v1/me/next-module", HTTP_AUTHORIZATION=f"Token {token}").json()

    assert body == {
        "module": _module("compliance-1", "Compliance one"),
        "status": "active",
        "playbook": "compliance",
        "step": "compliance-1",
        "reason": {
            "rule": "path",
            "explanation": "Step 1 of 2 of the playbook.",
            "text": "Step 1 of 2 of the playbook.",
        },
        "progress": {"completed": 0, "total": 2},
        "others": [_other("basics"), _other("tools")],
        "optional": [],
    }


def test_a_service_reads_the_same_answer(client, ada):
    token = learner_token_create(learner=ada, name="t").key
    key, _ = api_key("learners:read")

    mine = client.get("/api/v1/me/next-module", HTTP_AUTHORIZATION=f"Token {token}").json()
    theirs = client.get("/api/v1/learners/ada/next-module", HTTP_AUTHORIZATION=f"Api-Key {key}").json()

    assert theirs == mine


def test_a_deactivated_learner_is_served_nothing_and_no_others(client, ada):
    key, _ = api_key("learners:read")
    learner_deactivate(learner=ada)

    body = client.get("/api/v1/learners/ada/next-module", HTTP_AUTHORIZATION=f"Api-Key {key}").json()

    assert (body["status"], body["module"], body["others"]) == ("deactivated", None, [])


def test_the_others_cost_no_extra_query(client, ada, django_assert_num_queries):
    token = learner_token_create(learner=ada, name="t").key
    client.get("/api/v1/me/next-module", HTTP_AUTHORIZATION=f"Token {token}")  # sets last_used_at once

    with django_assert_num_queries(2):  # the token with its learner, then the enrolments with their modules
        body = client.get("/api/v1/me/next-module", HTTP_AUTHORIZATION=f"Token {token}").json()

    assert len(body["others"]) == 2
