"""Hostile and long journeys in the simulator: YAML bombs, oversized files and deep values are refused quickly with
the path at fault; a journey longer than one ingestion batch is sent in batches and its expectations hold."""

import html
import io

import pytest
import yaml
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.urls import reverse

from playbooks.engine.document import JOURNEY_YAML, load_yaml
from playbooks.engine.journeys import JourneyInvalid
from playbooks.services import playbook_import
from signals_app.event_input import MAX_BATCH
from signals_app.models import CohortRun, Event
from signals_app.services import simulation
from signals_app.services.cohorts import cohort_simulate
from signals_app.services.simulation import journey_simulate
from tests.factories import api_key
from tests.playbooks.engine.replay import SCENARIOS
from tests.playbooks.engine.test_safe_yaml import alias_bomb
from tests.utils import CpuSeconds

pytestmark = pytest.mark.django_db

SPECIALIST = SCENARIOS / "support-specialist"
FAST_SKIPPER = (SPECIALIST / "journeys" / "fast-skipper.yaml").read_text()
ALIASES = "YAML aliases (&anchor / *alias) are not allowed"
ALIASES_HTML = html.escape(ALIASES)


@pytest.fixture
def published():
    return playbook_import(text=(SPECIALIST / "playbook.yaml").read_text(), publish=True).version


def long_journey(events: int) -> dict:
    """``events`` page views on the first module, one a second, then its completion: the path moves on only then."""
    views = [{"at": f"{n}s", "type": "page_viewed", "module": "welcome"} for n in range(events - 1)]
    done = {"at": f"{events}s", "type": "module_completed", "module": "welcome", "properties": {"duration_seconds": 95}}
    return {
        "playbook": "support-specialist",
        "learner": {"external_id": "sim-long", "roles": ["support_specialist"], "attributes": {"api_access": True}},
        "start": "2026-03-02T09:00:00Z",
        "events": [*views, done],
        "until": "1d",
        "expect": [
            {"at": "20m", "next_module": "welcome"},  # 1,200 events in: past the first batch
            {"at": "2h", "next_module": "crm-basics"},
            {"completed": ["welcome"]},
            {"decisions": {"not_fired": ["remedial demo", "skip streak review"]}},
        ],
    }


def test_a_2500_event_journey_is_sent_in_batches_and_its_expectations_pass(published, monkeypatch):
    batches: list[int] = []
    record = simulation.events_record

    def counting(*, body, **kwargs):
        batches.append(len(body["events"]))
        return record(body=body, **kwargs)

    monkeypatch.setattr(simulation, "events_record", counting)
    text = yaml.safe_dump(long_journey(2_500), sort_keys=False)

    result = journey_simulate(document=load_yaml(text, JOURNEY_YAML))

    assert result.passed, [e.message for e in result.expectations if not e.passed]
    assert sum(batches) == 2_500 and max(batches) == MAX_BATCH
    assert not Event.objects.exists()


def test_an_expectation_at_an_events_own_moment_sees_that_event(published):
    journey = yaml.safe_load(FAST_SKIPPER)
    journey["expect"] = [
        {"at": "0m", "next_module": "welcome"},  # the start itself
        {"at": "1m", "next_module": "crm-basics"},  # welcome is completed at 1m
        {"at": "4m", "next_module": "advanced-debugging"},  # the third skip, at 4m, decides the branch
    ]

    result = journey_simulate(document=journey)

    assert [(e.at, e.actual, e.passed) for e in result.expectations] == [
        ("0s", "welcome", True),
        ("1m", "crm-basics", True),
        ("4m", "advanced-debugging", True),
    ]


def test_an_ingestion_error_past_the_first_batch_names_the_journeys_index(published):
    journey = long_journey(1_600)
    journey["events"][1_500]["properties"] = {"note": "x" * 9_000}  # over the ingestion's 8 KB of properties

    with pytest.raises(JourneyInvalid) as caught:
        journey_simulate(document=journey)

    assert [(e.path, e.message.split(";")[0]) for e in caught.value.errors] == [
        ("events[1500].properties", "Properties take at most 8192 bytes of JSON")
    ]


def test_a_cohort_of_long_journeys_runs_in_batches_too(published):
    journey = long_journey(1_100)
    journey["expect"] = []

    (report,) = cohort_simulate(
        journeys=[journey, {**journey, "learner": {**journey["learner"]}}], versions=[published]
    )

    assert (report.learners, report.enrolled) == (2, 2)
    assert report.next_modules == {"crm-basics": 2}


# --- values a journey cannot hold -----------------------------------------------------------------------------------


def _nested(depth: int) -> dict:
    value: dict = {"leaf": 1}
    for _ in range(depth - 1):
        value = {"k": value}
    return value


@pytest.mark.parametrize(
    ("change", "path", "message"),
    [
        (
            lambda j: j["events"][1].update(properties=_nested(20)),
            "events[1].properties.k.k.k.k.k.k.k.k",
            "nested more than 8 levels deep",
        ),
        (
            lambda j: j["learner"].update(attributes={"team": _nested(9)}),
            "learner.attributes.team.k.k.k.k.k.k.k",
            "nested more than 8 levels deep",
        ),
        (
            lambda j: j["events"][1].update(properties={"note": "a\x00b"}),
            "events[1].properties.note",
            "contains the character U+0000",
        ),
        (
            lambda j: j.update(events=[j["events"][0]] * 10_001),
            "events",
            "10,001 events; a journey holds at most 10,000",
        ),
    ],
    ids=["deep-properties", "deep-attributes", "nul", "too-many-events"],
)
def test_values_a_journey_cannot_hold_are_refused_with_their_path(published, change, path, message):
    journey = yaml.safe_load(FAST_SKIPPER)
    change(journey)

    with pytest.raises(JourneyInvalid) as caught:
        journey_simulate(document=journey)

    assert [(e.path, e.message) for e in caught.value.errors if e.path == path][0][1].startswith(message)


def test_the_api_refuses_deep_properties_with_a_400_naming_the_path(client, published):
    journey = yaml.safe_load(FAST_SKIPPER)
    journey["events"][1]["properties"] = _nested(20)
    key, _ = api_key("playbooks:simulate")

    response = client.post(
        "/api/v1/playbooks/support-specialist/simulate",
        journey,
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Api-Key {key}",
    )

    assert response.status_code == 400
    body = response.json()
    assert body["field"].startswith("events[1].properties.k") and "nested more than 8 levels deep" in body["message"]


# --- journey and template files ------------------------------------------------------------------------------------


def _simulate_command(path) -> str:
    with pytest.raises(CommandError) as caught:
        call_command("simulate", str(path), stdout=io.StringIO())
    return str(caught.value)


def test_the_simulate_command_refuses_an_oversized_journey_file_without_reading_it(published, tmp_path):
    path = tmp_path / "huge.yaml"
    path.write_text("events: []\nnote: " + "x" * 10_000_000 + "\n")  # 10,000,018 bytes

    with CpuSeconds() as spent:
        message = _simulate_command(path)

    assert message == (
        f"{path}: a journey is at most 2 MB (2,000,000 bytes); this one is 10,000,018 bytes: "
        "split it or leave out what it does not need"
    )
    assert spent.seconds < 1


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (alias_bomb() + FAST_SKIPPER, f"line 1, column 5: {ALIASES}"),
        (FAST_SKIPPER.replace("until: 1h", "until: 1h\nuntil: 2h"), "duplicate key 'until' (first at line 11)"),
        (FAST_SKIPPER.replace("sim-fast-skipper", '"sim\\0"'), "the control character U+0000 (NUL) is not allowed"),
        ("events: " + "[" * 10_000, "nested more than 50 levels deep"),
    ],
    ids=["alias-bomb", "duplicate-key", "nul", "deep-nesting"],
)
def test_the_simulate_command_refuses_hostile_yaml_naming_the_file_and_line(published, tmp_path, text, expected):
    path = tmp_path / "journey.yaml"
    path.write_text(text)

    message = _simulate_command(path)

    assert message.startswith(f"{path}: the journey is not valid YAML, 1 problem(s):")
    assert expected in message


def test_the_cohort_command_refuses_an_alias_bomb_template(published, tmp_path):
    path = tmp_path / "template.yaml"
    path.write_text(alias_bomb())

    with pytest.raises(CommandError) as caught:
        call_command("simulate_cohort", str(path), stdout=io.StringIO(), stderr=io.StringIO())

    assert ALIASES in str(caught.value)


# --- the admin's Simulate pages --------------------------------------------------------------------------------------


def _simulate_url(version) -> str:
    return reverse("admin:playbooks_playbookversion_simulate", args=[version.pk])


def test_an_alias_bomb_pasted_on_the_simulate_page_is_refused_quickly(admin_client, published):
    with CpuSeconds() as spent:
        response = admin_client.post(_simulate_url(published), {"journey": alias_bomb() + FAST_SKIPPER})

    assert response.status_code == 200 and ALIASES_HTML in response.content.decode()
    assert spent.seconds < 2


def test_an_oversized_journey_upload_is_a_form_error(admin_client, published):
    upload = SimpleUploadedFile("huge.yaml", b"events: []\nnote: " + b"x" * 3_000_000)

    response = admin_client.post(_simulate_url(published), {"journey": "", "upload": upload})

    assert response.status_code == 200
    errors = str(response.context["form"].errors["upload"])
    assert "A journey is at most 2 MB (2,000,000 bytes); this one is 3,000,017 bytes" in errors


def test_an_alias_bomb_cohort_template_is_refused_before_anything_is_queued(admin_client, published):
    url = reverse("admin:playbooks_playbookversion_cohort", args=[published.pk])

    page = admin_client.post(url, {"template": alias_bomb(), "learners": 3}).content.decode()

    assert ALIASES_HTML in page
    assert not CohortRun.objects.exists()


def test_an_oversized_cohort_template_is_a_form_error(admin_client, published):
    url = reverse("admin:playbooks_playbookversion_cohort", args=[published.pk])

    response = admin_client.post(url, {"template": "events: []\nnote: " + "x" * 1_000_000, "learners": 3})

    assert "A cohort template is at most 1 MB" in str(response.context["form"].errors["template"])
    assert not CohortRun.objects.exists()
