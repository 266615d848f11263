"""Hostile JSON and form input against the doors that write: events, simulate and the learner page.

Whatever arrives (NUL and lone surrogates, huge and non-finite numbers, deep nesting, huge strings, wrong types),
the answer is never a 5xx, an API answer is JSON, and a refused request writes nothing.
"""

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from identity.models import Learner
from playbooks.services import learner_enroll, playbook_import
from signals_app.models import Event
from tests.factories import api_key
from tests.playbooks.engine.replay import SCENARIOS

pytestmark = pytest.mark.django_db

HOSTILE_TEXT = st.one_of(
    st.text(st.characters(codec=None, categories=["Cs", "Cc", "Lu", "Nd", "Zs", "So"]), max_size=40),
    st.sampled_from(["\x00", "a\x00b", "\ud800", "\udfff x", "", " ", "x" * 70_000, "1e400", "NaN", "../../etc"]),
)
HOSTILE_NUMBER = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(10**40), max_value=10**40),
    st.sampled_from([0, -1, 2**31, 2**63, 3e9, -1e308, 1e308]),
)
SCALAR = st.one_of(st.none(), st.booleans(), HOSTILE_NUMBER, HOSTILE_TEXT)
HOSTILE_JSON = st.recursive(
    SCALAR,
    lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(HOSTILE_TEXT, children, max_size=4)),
    max_leaves=20,
)
DEEP = st.integers(min_value=10, max_value=3000).map(lambda depth: "[" * depth + "]" * depth)
FUZZ = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large],
)


@st.composite
def hostile_events(draw) -> dict:
    field = st.one_of(HOSTILE_TEXT, HOSTILE_NUMBER, HOSTILE_JSON)
    event = {
        "id": draw(st.one_of(st.just("evt-1"), field)),
        "learner": draw(st.one_of(st.just("alice"), field)),
        "type": draw(st.one_of(st.just("module_completed"), field)),
        "module": draw(st.one_of(st.just("welcome"), field)),
        "occurred_at": draw(st.one_of(st.just("2026-03-02T09:00:00Z"), st.just("0001-01-01T00:00:00+14:00"), field)),
        "properties": draw(st.one_of(st.dictionaries(HOSTILE_TEXT, HOSTILE_JSON, max_size=5), field)),
    }
    return {key: value for key, value in event.items() if draw(st.booleans()) or key in ("id", "learner")}


def _body(value) -> str:
    # json.dumps writes NaN/Infinity tokens and escapes lone surrogates: what a hostile client can send.
    return json.dumps(value, allow_nan=True)


def _assert_json_refusal_or_accepted(response) -> None:
    assert response.status_code < 500, response.content[:500]
    assert response["Content-Type"].startswith("application/json")
    assert "code" in response.json() or response.status_code == 202


@pytest.fixture
def writer(client, learner):
    key, _ = api_key("events:write")
    client.defaults["HTTP_AUTHORIZATION"] = f"Api-Key {key}"
    return client


@FUZZ
@given(events=st.lists(hostile_events(), min_size=1, max_size=5))
def test_hostile_events_never_cause_a_server_error_and_a_refusal_writes_nothing(writer, events):
    before = Event.objects.count()

    response = writer.post("/api/v1/events", _body({"events": events}), content_type="application/json")

    _assert_json_refusal_or_accepted(response)
    if response.status_code != 202:
        assert Event.objects.count() == before


@FUZZ
@given(body=st.one_of(HOSTILE_JSON.map(_body), DEEP, HOSTILE_TEXT))
def test_any_body_at_all_is_answered_in_json_without_a_server_error(writer, body):
    before = Event.objects.count()

    raw = body.encode("utf-8", "surrogatepass")  # a lone surrogate on the wire: bytes that are not UTF-8

    response = writer.post("/api/v1/events", raw, content_type="application/json")

    _assert_json_refusal_or_accepted(response)
    if response.status_code != 202:
        assert Event.objects.count() == before


@pytest.fixture
def simulator(client):
    playbook_import(text=(SCENARIOS / "support-specialist" / "playbook.yaml").read_text(), publish=True)
    key, _ = api_key("playbooks:simulate")
    client.defaults["HTTP_AUTHORIZATION"] = f"Api-Key {key}"
    return client


@st.composite
def hostile_journeys(draw) -> dict:
    value = st.one_of(HOSTILE_TEXT, HOSTILE_NUMBER, HOSTILE_JSON)
    learner = {
        "external_id": draw(st.one_of(st.just("sim-1"), value)),
        "roles": draw(st.one_of(st.just(["support_specialist"]), value)),
        "attributes": draw(st.one_of(st.dictionaries(HOSTILE_TEXT, HOSTILE_JSON, max_size=3), value)),
        "timezone": draw(st.one_of(st.just("Europe/Berlin"), value)),
    }
    event = {
        "at": draw(st.one_of(st.just("1m"), value)),
        "type": draw(st.one_of(st.just("module_skipped"), value)),
        "module": draw(st.one_of(st.just("welcome"), value)),
        "properties": draw(st.one_of(st.dictionaries(HOSTILE_TEXT, HOSTILE_JSON, max_size=3), value)),
    }
    return {
        "learner": learner,
        "start": draw(st.one_of(st.just("2026-03-02T09:00:00Z"), value)),
        "events": draw(st.one_of(st.just([event]), value)),
        "until": draw(st.one_of(st.just("1h"), value)),
        "expect": draw(st.one_of(st.just([{"at": "2m", "next_module": "crm-basics"}]), value)),
    }


@FUZZ
@given(journey=st.one_of(hostile_journeys(), HOSTILE_JSON))
def test_hostile_journeys_never_cause_a_server_error_and_leave_nothing(simulator, journey):
    learners = Learner.objects.count()

    response = simulator.post(
        "/api/v1/playbooks/support-specialist/simulate", _body(journey), content_type="application/json"
    )

    assert response.status_code < 500, response.content[:500]
    assert response["Content-Type"].startswith("application/json")
    assert Learner.objects.count() == learners  # a simulation never leaves its synthetic learner behind


@pytest.fixture
def on_the_page(client, learner):
    playbook_import(text=(SCENARIOS / "support-specialist" / "playbook.yaml").read_text(), publish=True)
    learner_enroll(learner=learner)
    client.force_login(learner.user)
    return client


@FUZZ
@given(action=HOSTILE_TEXT, module=HOSTILE_TEXT, event_id=HOSTILE_TEXT, started_at=HOSTILE_TEXT)
def test_hostile_learner_page_forms_never_cause_a_server_error(on_the_page, action, module, event_id, started_at):
    form = {"action": action, "module": module, "event_id": event_id, "started_at": started_at}
    safe = {key: value.encode("utf-8", "surrogatepass").decode("utf-8", "replace") for key, value in form.items()}

    response = on_the_page.post("/learn/module", safe)

    assert response.status_code in (302, 400), response.status_code
