"""A frozen Redis (SIGSTOP: it keeps its port, the kernel still accepts connections, nothing answers) does not take the
web tier down: gunicorn keeps answering probes at once, an event batch is stored and acknowledged within 3 s though
its evaluation cannot be enqueued, /readyz says the broker is down within its timeout, and once Redis is back the
sweeper and a worker evaluate every accepted event."""

import threading
import time

import pytest
import requests
from django.conf import settings
from django.utils import timezone

from signals_app.models import Event
from signals_app.services.ingestion import events_requeue_stale
from tests.factories import api_key
from tests.pipeline.conftest import wait_until
from tests.pipeline.journeys import all_processed, journey_events, journey_learner
from tests.pipeline.servers import Gunicorn, elapsed, redis_frozen
from tests.playbooks.engine.replay import SCENARIOS, load_journey

pytestmark = pytest.mark.django_db(transaction=True)

JOURNEY = load_journey(SCENARIOS / "support-specialist" / "journeys" / "fast-skipper.yaml")
POST_DEADLINE_SECONDS = 3.0
HEALTHZ_DEADLINE_SECONDS = 0.1


@pytest.fixture
def gunicorn():
    server = Gunicorn(workers=2)
    yield server
    server.stop()


def _post(server: Gunicorn, key: str, events: list) -> requests.Response:
    headers = {"Authorization": f"Api-Key {key}"}
    return requests.post(f"{server.url}/api/v1/events", json={"events": events}, headers=headers, timeout=30)


def test_a_frozen_redis_neither_blocks_requests_nor_loses_accepted_events(gunicorn, start_worker):
    key, _ = api_key("events:write")
    batches = []
    for number in range(3):
        learner = journey_learner(JOURNEY, external_id=f"frozen-{number}")
        batches.append(journey_events(JOURNEY, learner.external_id))

    with redis_frozen():
        posts: list[tuple[float, requests.Response]] = []
        sender = threading.Thread(target=lambda: posts.extend(elapsed(_post, gunicorn, key, b) for b in batches))
        sender.start()
        time.sleep(0.3)  # a POST is now waiting on the frozen Redis in one gunicorn worker
        probes = [elapsed(requests.get, f"{gunicorn.url}/healthz", timeout=5) for _ in range(5)]
        readyz_seconds, readyz = elapsed(requests.get, f"{gunicorn.url}/readyz", timeout=10)
        sender.join(timeout=30)

    assert [response.status_code for _, response in posts] == [202, 202, 202], gunicorn.tail()
    assert max(seconds for seconds, _ in posts) < POST_DEADLINE_SECONDS, [seconds for seconds, _ in posts]
    assert [response.json()["accepted"] for _, response in posts] == [len(batch) for batch in batches]
    assert all(response.status_code == 200 for _, response in probes)
    assert max(seconds for seconds, _ in probes) < HEALTHZ_DEADLINE_SECONDS, [seconds for seconds, _ in probes]
    assert readyz.status_code == 503
    assert readyz.json()["checks"] == {"database": "ok", "broker": "unavailable"}
    assert readyz_seconds < settings.READYZ_TIMEOUT_SECONDS + 0.5
    # The failure is in the log with what it concerns (the formatter keeps `extra` fields), for the sweeper to mend.
    failures = gunicorn.lines("signals.ingest.enqueue_failed")
    assert any("learner_ids=[" in line and "error=" in line for line in failures), failures
    assert Event.objects.filter(processed_at__isnull=True).count() == sum(map(len, batches))

    events_requeue_stale(older_than=timezone.now())  # what beat's sweeper does within two minutes
    worker = start_worker()
    wait_until(all_processed, timeout=120, what="every accepted event to be evaluated")
    worker.stop()
    assert Event.objects.count() == sum(map(len, batches))


def test_readyz_answers_within_its_timeout_while_redis_is_frozen(gunicorn):
    with redis_frozen():
        seconds, response = elapsed(requests.get, f"{gunicorn.url}/readyz", timeout=10)

    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "checks": {"database": "ok", "broker": "unavailable"}}
    assert seconds < settings.READYZ_TIMEOUT_SECONDS + 0.5
    assert requests.get(f"{gunicorn.url}/readyz", timeout=10).status_code == 200  # and ready again once it is back
