"""What gunicorn hands Django for requests a client may well send: a chunked body (no Content-Length, which Django
would read as empty) and a NUL character in the path. Both are refused as JSON before any view, over real HTTP."""

import json

import pytest
import requests

from tests.factories import api_key
from tests.pipeline.journeys import journey_events, journey_learner
from tests.pipeline.servers import Gunicorn
from tests.playbooks.engine.replay import SCENARIOS, load_journey

pytestmark = pytest.mark.django_db(transaction=True)

JOURNEY = load_journey(SCENARIOS / "support-specialist" / "journeys" / "fast-skipper.yaml")


@pytest.fixture(scope="module")
def gunicorn(django_db_setup, django_db_blocker):
    server = Gunicorn(workers=1)
    yield server
    server.stop()


def test_a_chunked_batch_is_refused_with_411_and_the_same_batch_with_a_length_is_accepted(gunicorn):
    key, _ = api_key("events:write")
    learner = journey_learner(JOURNEY, external_id="chunked")
    body = json.dumps({"events": journey_events(JOURNEY, learner.external_id)}).encode()
    headers = {"Authorization": f"Api-Key {key}", "Content-Type": "application/json"}

    url = f"{gunicorn.url}/api/v1/events"
    chunked = requests.post(url, data=iter([body[:100], body[100:]]), headers=headers, timeout=30)
    sized = requests.post(url, data=body, headers=headers, timeout=30)

    assert chunked.request.headers["Transfer-Encoding"] == "chunked"
    assert chunked.status_code == 411
    assert chunked.json()["code"] == "length_required"
    assert sized.status_code == 202, sized.text


def test_a_nul_character_in_the_path_is_a_json_400(gunicorn):
    key, _ = api_key("learners:read")

    response = requests.get(
        f"{gunicorn.url}/api/v1/learners/alice%00/next-module", headers={"Authorization": f"Api-Key {key}"}, timeout=30
    )

    assert response.status_code == 400
    assert response.json() == {
        "code": "invalid_path",
        "message": "The path or query holds a NUL character, which no resource has.",
        "field": None,
    }
