"""``/metrics`` scraped from a real gunicorn after events went through it and a real Celery worker: the counters of
all their processes (PROMETHEUS_MULTIPROC_DIR) add up to what the database says happened."""

from collections import Counter

import pytest
import requests
from django.db import transaction
from django.db.models import Count
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from delivery.models import Message, MessageKind, MessageStatus
from delivery.services.outbox import Outgoing, messages_enqueue
from identity.models import SyncRun, SyncRunStatus
from identity.services import learner_create, role_upsert
from identity.services.sync import sync_start
from playbooks.services import playbook_import
from signals_app.models import Decision, Event
from tests.factories import api_key
from tests.identity.sync_fixtures import HEADER, make_file_source
from tests.pipeline.conftest import ROOT, wait_until
from tests.pipeline.journeys import all_processed
from tests.pipeline.servers import Gunicorn

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]

TOKEN = "scrape-me-0123456789"
PLAYBOOK = ROOT / "tests" / "scenarios" / "support-specialist" / "playbook.yaml"


@pytest.fixture
def multiprocess(tmp_path, monkeypatch):
    """One folder for the web and the worker processes, as on one machine (the worker reads os.environ)."""
    folder = tmp_path / "metrics"
    folder.mkdir()
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(folder))
    monkeypatch.setenv("METRICS_TOKEN", TOKEN)
    return folder


@pytest.fixture
def web(multiprocess):
    server = Gunicorn(workers=2, PROMETHEUS_MULTIPROC_DIR=str(multiprocess), METRICS_TOKEN=TOKEN)
    yield server
    server.stop()


@pytest.fixture
def file_source(tmp_path, settings, monkeypatch):
    settings.IDENTITY_FILES_DIR = tmp_path
    monkeypatch.setenv("IDENTITY_FILES_DIR", str(tmp_path))
    (tmp_path / "people.csv").write_text(
        "\n".join([HEADER, *(f"{n},E{n},p{n}@example.com,P{n},support,1,support,yes" for n in range(5))])
    )
    return make_file_source(tmp_path)


def scrape(url: str) -> dict[tuple[str, tuple], float]:
    response = requests.get(f"{url}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30)
    assert response.status_code == 200, response.text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def send(url: str, key: str, events: list[dict]) -> dict:
    response = requests.post(
        f"{url}/api/v1/events", json={"events": events}, headers={"Authorization": f"Api-Key {key}"}, timeout=30
    )
    assert response.status_code == 202, response.text
    return response.json()


def test_counters_after_a_pipeline_run_match_what_happened(web, start_worker, file_source):
    playbook_import(text=PLAYBOOK.read_text(), publish=True)
    role = role_upsert(slug="support_specialist", name="Support specialist")
    for learner in range(6):
        learner_create(external_id=f"metrics-{learner}", roles=[role])
    key, _ = api_key("events:write")
    start_worker()
    events = [
        {
            "id": f"evt-{learner}-{n}",
            "learner": f"metrics-{learner}",
            "type": "module_completed" if n % 2 else "module_started",
            "module": "welcome",
            "occurred_at": f"2026-11-25T09:0{n}:00Z",
            "properties": {"duration_seconds": 50},
        }
        for learner in range(6)
        for n in range(4)
    ]

    first = send(web.url, key, events)
    again = send(web.url, key, events[:10])  # a client retrying part of the batch
    changed = send(web.url, key, [{**events[0], "module": "crm-basics"}])  # a retry whose body differs
    with transaction.atomic():
        sync_start(source=file_source)
        messages_enqueue(
            outgoing=[
                Outgoing(kind=MessageKind.WEBHOOK, channels=["webhook"], due_at=timezone.now(), endpoint="nowhere"),
            ]
        )
    wait_until(all_processed, what="the worker to evaluate the events")
    # Each learner now rests on crm-basics, where a page view can change nothing: the quiet path takes them.
    views = [
        {
            "id": f"view-{learner}",
            "learner": f"metrics-{learner}",
            "type": "page_view",
            "module": "",
            "occurred_at": "2026-11-25T09:05:00Z",
            "properties": {},
        }
        for learner in range(6)
    ]
    send(web.url, key, views)
    wait_until(all_processed, what="the worker to evaluate the page views")
    wait_until(lambda: SyncRun.objects.filter(status=SyncRunStatus.SUCCEEDED).exists(), what="the sync run")
    wait_until(lambda: not Message.objects.filter(status=MessageStatus.SCHEDULED).exists(), what="the delivery")
    samples = scrape(web.url)

    assert first["accepted"] == len(events) == Event.objects.count() - len(views)
    assert value(samples, "onboarding_events_accepted_total", sender="key") == len(events) + len(views)
    assert value(samples, "onboarding_events_duplicates_total", sender="key") == again["duplicates"] + 1 == 11
    assert value(samples, "onboarding_events_conflicts_total") == len(changed["conflicts"]) == 1
    assert value(samples, "onboarding_events_evaluated_total") == len(events) + len(views)
    assert value(samples, "onboarding_events_quiet_total") == len(views)
    logged = dict(Decision.objects.values_list("kind").annotate(n=Count("pk")))
    assert logged.get("next_module")  # the playbook decided something to count
    counted = {labels[0][1]: n for (name, labels), n in samples.items() if name == "onboarding_decisions_total"}
    assert counted == logged
    assert value(samples, "onboarding_events_pending") == 0
    assert value(samples, "onboarding_evaluation_lag_seconds") == 0
    assert value(samples, "onboarding_outbox_messages", status="dead") == 1
    assert value(samples, "onboarding_outbox_messages", status="scheduled") == 0
    assert value(samples, "onboarding_outbox_attempts_total", channel="webhook", outcome="dead") == 1
    assert value(samples, "onboarding_identity_sync_runs", source=file_source.name, status="succeeded") == 1
    assert value(samples, "onboarding_identity_sync_last_success_timestamp_seconds", source=file_source.name) > 0
    route = "api/v1/events"
    assert (
        value(samples, "onboarding_http_request_duration_seconds_count", method="POST", route=route, status="202") == 4
    )
    tasks = Counter(
        dict(labels)["task"]
        for (name, labels), n in samples.items()
        if name == "onboarding_task_duration_seconds_count" and n
    )
    assert {"signals_app.evaluate_learners", "identity.sync_source", "delivery.deliver_due"} <= set(tasks)


def test_lag_shows_events_no_worker_has_evaluated_and_only_the_token_may_see_it(web):
    playbook_import(text=PLAYBOOK.read_text(), publish=True)
    key, _ = api_key("events:write", can_create_learners=True)
    send(
        web.url,
        key,
        [{"id": "waiting", "learner": "idle", "type": "module_started", "occurred_at": "2026-11-25T09:00:00Z"}],
    )

    samples = scrape(web.url)
    missing = requests.get(f"{web.url}/metrics", timeout=10)
    wrong = requests.get(f"{web.url}/metrics", headers={"Authorization": "Bearer guess"}, timeout=10)

    assert value(samples, "onboarding_events_pending") == 1
    assert value(samples, "onboarding_evaluation_lag_seconds") > 0
    assert value(samples, "onboarding_events_evaluated_total") == 0
    assert missing.status_code == wrong.status_code == 401
    assert missing.headers["WWW-Authenticate"] == 'Bearer realm="metrics"'
    assert "METRICS_TOKEN" in wrong.text and "onboarding_" not in wrong.text
