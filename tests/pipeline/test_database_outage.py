"""PostgreSQL stopped for a while: beat and a worker ride it out and carry on once it is back, and the API answers
503 JSON with Retry-After meanwhile, not a 500 page.

django-celery-beat's scheduler used to end beat at its first full read of the schedule during an outage: it reads
every 5 minutes, so beat died about 4.5 minutes into one. That is longer than a test may take, so these tests make
beat read its whole schedule every few seconds (BEAT_SCHEDULE_RELOAD_SECONDS) and keep the database down through many
such reads: each is the moment the stock scheduler died.
"""

import time

import pytest
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from signals_app.models import Event
from tests.factories import api_key
from tests.pipeline.conftest import wait_until
from tests.pipeline.journeys import all_processed, journey_events, journey_learner, post_events
from tests.pipeline.servers import Beat, elapsed, postgres_frozen, postgres_stopped
from tests.playbooks.engine.replay import SCENARIOS, load_journey

pytestmark = pytest.mark.django_db(transaction=True)

JOURNEY = load_journey(SCENARIOS / "support-specialist" / "journeys" / "fast-skipper.yaml")
RELOAD_SECONDS = 2
OUTAGE_SECONDS = 30  # fifteen full reads of the schedule, each of which the stock scheduler did not survive
HEARTBEAT = "pytest heartbeat"


@pytest.fixture
def beat():
    every_second = IntervalSchedule.objects.create(every=1, period=IntervalSchedule.SECONDS)
    PeriodicTask.objects.create(name=HEARTBEAT, task="onboarding.noop", interval=every_second)
    process = Beat(BEAT_SCHEDULE_RELOAD_SECONDS=str(RELOAD_SECONDS))
    yield process
    process.stop()


def _heartbeats(beat: Beat) -> int:
    return len(beat.lines(f"Sending due task {HEARTBEAT}"))


def test_beat_and_a_worker_ride_out_a_database_outage(client, beat, start_worker):
    worker = start_worker()
    wait_until(lambda: _heartbeats(beat) >= 2, timeout=60, what="beat to send its heartbeat")
    runs_before = PeriodicTask.objects.get(name=HEARTBEAT).total_run_count

    with postgres_stopped():
        sent_before_outage = _heartbeats(beat)
        time.sleep(OUTAGE_SECONDS)
        assert beat.alive, "beat exited during the outage:\n" + beat.tail()
        failed_reads = len(beat.lines("onboarding.beat.database_unavailable"))
        sent_during_outage = _heartbeats(beat) - sent_before_outage

    assert failed_reads >= OUTAGE_SECONDS // (2 * RELOAD_SECONDS), beat.tail()  # the failure mode was exercised
    assert sent_during_outage >= OUTAGE_SECONDS // 2  # the schedule it had kept going out through the broker

    # Back: beat reads its schedule and records its runs again; the worker evaluates new events.
    wait_until(lambda: beat.lines("onboarding.beat.database_back"), timeout=30, what="beat to read its schedule")
    after_outage = _heartbeats(beat)
    wait_until(lambda: _heartbeats(beat) >= after_outage + 3, timeout=30, what="beat to keep sending")
    wait_until(
        lambda: PeriodicTask.objects.get(name=HEARTBEAT).total_run_count > runs_before,
        timeout=30,
        what="beat to record its runs in the database again",
    )
    assert beat.alive and worker.process.poll() is None, "a process exited:\n" + beat.tail() + "".join(worker.output)

    key, _ = api_key("events:write")
    learner = journey_learner(JOURNEY, external_id="after-outage")
    events = journey_events(JOURNEY, learner.external_id)
    assert post_events(client, key, events)["accepted"] == len(events)
    wait_until(all_processed, timeout=60, what="the worker to evaluate events after the outage")
    assert Event.objects.filter(processed_at__isnull=False).count() == len(events)


def test_while_the_database_is_down_the_api_answers_503_json_and_the_probes_say_so(client, learner, settings):
    key, _ = api_key("learners:read", "events:write")
    headers = {"HTTP_AUTHORIZATION": f"Api-Key {key}"}
    client.raise_request_exception = False
    client.force_login(learner.user)  # the learner page then needs the database for its session

    with postgres_stopped():
        read = client.get("/api/v1/learners/alice/next-module", **headers)
        ingest = client.post("/api/v1/events", {"events": []}, content_type="application/json", **headers)
        page = client.get("/learn/")
        healthz = client.get("/healthz")
        readyz_seconds, readyz = elapsed(client.get, "/readyz")

    for response in (read, ingest):
        assert response.status_code == 503
        assert response["Retry-After"].isdigit()
        assert response.json() == {
            "code": "service_unavailable",
            "message": "The service cannot reach its database; try again shortly.",
            "field": None,
        }
    assert page.status_code == 503 and page["Content-Type"].startswith("text/html")  # HTML outside /api/
    assert page["Retry-After"].isdigit()
    assert healthz.status_code == 200  # the process is fine: no reason to restart it
    assert readyz.status_code == 503 and readyz.json()["checks"] == {"database": "unavailable", "broker": "ok"}
    assert readyz_seconds < settings.READYZ_TIMEOUT_SECONDS + 0.5
    assert client.get("/api/v1/learners/alice/next-module", **headers).status_code == 200  # and served once it is back


def test_readyz_answers_within_its_timeout_while_postgresql_accepts_connections_but_never_answers(client, settings):
    with postgres_frozen():
        seconds, response = elapsed(client.get, "/readyz")

    assert response.status_code == 503
    assert response.json()["checks"] == {"database": "unavailable", "broker": "ok"}
    assert seconds < settings.READYZ_TIMEOUT_SECONDS + 0.5
