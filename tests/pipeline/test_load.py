"""A small run of the load test (locust, headless, the realistic mix) against gunicorn and a real worker: no request
fails, and every event acknowledged is stored and evaluated. The full-size run is ``bin/bench load``."""

import pytest

from benchmarks.load import run_locust, seed
from signals_app.models import Event
from tests.pipeline.conftest import wait_until
from tests.pipeline.journeys import all_processed
from tests.pipeline.servers import Gunicorn

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]


def test_the_realistic_mix_runs_without_a_failure_and_every_event_is_evaluated(start_worker):
    env = seed(learners=20)
    start_worker()
    web = Gunicorn(workers=2)
    try:
        figures = run_locust(web.url, users=4, seconds=15, env={**env, "LOAD_WAIT": "0.05"})
    finally:
        web.stop()

    assert figures["total"].failures == 0, figures
    posted = figures["POST events"].requests
    assert posted > 0 and figures["GET next-module"].requests > 0
    assert any(name.startswith("admin /admin/") and f.requests for name, f in figures.items())
    assert Event.objects.count() == posted  # one event per POST, each acknowledged only once stored
    wait_until(all_processed, timeout=120, what="the worker to evaluate every event")
