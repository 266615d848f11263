"""Faults: a worker killed mid-batch, Redis stopped during ingestion, PostgreSQL restarted during evaluation.

Each test sends the same journeys for "clean" learners on a healthy system and for "fault" learners through the
fault, then asserts that every accepted event was evaluated once in effect: the same decisions, enrolment states
and module progress as the clean run, nothing missing and nothing doubled.
"""

import os
import subprocess
import time
from pathlib import Path

import pytest
from django.db import connection
from django.utils import timezone

from playbooks.models import Enrollment, ModuleProgress
from playbooks.services import playbook_import
from signals_app.models import Decision, Event
from signals_app.services.ingestion import events_requeue_stale
from tests.factories import api_key
from tests.pipeline.conftest import wait_until
from tests.pipeline.journeys import all_processed, journey_events, journey_learner, post_events
from tests.playbooks.engine.replay import SCENARIOS, load_journey

pytestmark = pytest.mark.django_db(transaction=True)

JOURNEYS = [load_journey(path) for path in sorted(SCENARIOS.glob("support-specialist/journeys/*.yaml"))]
LEARNERS = 150


@pytest.fixture
def workload(client, monkeypatch, start_worker):
    """Clean learners, evaluated by a healthy worker; fault learners created with their events ready to send."""
    monkeypatch.setenv("CELERY_VISIBILITY_TIMEOUT", "5")  # a killed worker's tasks come back within the test
    playbook_import(text=(SCENARIOS / "support-specialist" / "playbook.yaml").read_text(), publish=True)
    key, _ = api_key("events:write")
    batches = {"clean": [], "fault": []}
    for number in range(LEARNERS):
        journey = JOURNEYS[number % len(JOURNEYS)]
        for kind in batches:
            learner = journey_learner(journey, external_id=f"{kind}-{number}")
            batches[kind].extend(journey_events(journey, learner.external_id))
    worker = start_worker()
    for chunk in _chunks(batches["clean"]):
        post_events(client, key, chunk)
    wait_until(all_processed, timeout=120, what="the clean run")
    worker.stop()
    return key, batches["fault"]


def _chunks(items: list, size: int = 500) -> list[list]:
    return [items[start : start + size] for start in range(0, len(items), size)]


def _fingerprint(external_id: str) -> tuple:
    decisions = list(
        Decision.objects.filter(learner__external_id=external_id)
        .order_by("decided_at", "event__occurred_at", "dedupe_key")
        .values_list("kind", "rule", "module", "step", "action")
    )
    enrollment = Enrollment.objects.get(learner__external_id=external_id)
    # The moments differ between the clean and the fault run (each is stamped when it ran); the rest must not.
    state = {name: value for name, value in enrollment.state.items() if name not in ("enrolled_at", "clock")}
    progress = list(
        ModuleProgress.objects.filter(enrollment=enrollment)
        .order_by("module__slug")
        .values_list("module__slug", "status", "seconds", "completion_pct")
    )
    return decisions, state, progress, enrollment.current_module_id, enrollment.steps_done


def _assert_same_as_clean_run() -> None:
    assert all_processed()
    for number in range(LEARNERS):
        assert _fingerprint(f"fault-{number}") == _fingerprint(f"clean-{number}"), number
    events = Event.objects.count()
    assert events == 2 * sum(len(JOURNEYS[n % len(JOURNEYS)]["events"]) for n in range(LEARNERS))


def _recovered(worker, what: str, *, restart, timeout: float = 120) -> None:
    """Wait until every event is processed, restarting the worker if it exits, as its supervisor (systemd,
    Kubernetes) would: Celery's worker can die on a lost Redis connection with acks in flight (celery #4652,
    kombu #582), and what we guarantee is that nothing is lost once a worker runs again."""
    deadline = time.monotonic() + timeout
    while not all_processed():
        if worker.process.poll() is not None:
            worker = restart()
        if time.monotonic() > deadline:
            raise AssertionError(
                f"timed out after {timeout}s waiting for {what}; the worker said:\n" + "".join(worker.output[-60:])
            )
        time.sleep(0.1)


def _processed_some() -> bool:
    return Event.objects.filter(learner__external_id__startswith="fault-", processed_at__isnull=False).exists()


def test_a_worker_killed_mid_batch_loses_and_doubles_nothing(client, workload, start_worker):
    key, fault_events = workload
    worker = start_worker()
    for chunk in _chunks(fault_events):
        post_events(client, key, chunk)
    wait_until(_processed_some, what="the worker to start on the batch", interval=0.01)

    worker.kill()

    assert not all_processed(), "the worker finished before it was killed: make the workload bigger"
    replacement = start_worker()
    events_requeue_stale(older_than=timezone.now())
    _recovered(replacement, "recovery after the kill", restart=start_worker)
    replacement.stop()
    _assert_same_as_clean_run()


def _redis(*args: str) -> None:
    port, folder = os.environ["ONBOARDING_TEST_REDIS_PORT"], os.environ["ONBOARDING_TEST_REDIS_DIR"]
    if args == ("start",):
        subprocess.run(
            [
                "redis-server",
                "--port",
                port,
                "--bind",
                "127.0.0.1",
                "--daemonize",
                "yes",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                folder,
                "--pidfile",
                f"{folder}/redis.pid",
                "--logfile",
                f"{folder}/redis.log",
            ],
            check=True,
        )
        wait_until(
            lambda: subprocess.run(["redis-cli", "-p", port, "ping"], capture_output=True).returncode == 0,
            what="Redis to come back",
        )
    else:
        subprocess.run(["redis-cli", "-p", port, "shutdown", "nosave"], capture_output=True)
        wait_until(
            lambda: subprocess.run(["redis-cli", "-p", port, "ping"], capture_output=True).returncode != 0,
            what="Redis to stop",
        )


def test_events_posted_while_redis_is_down_are_kept_and_evaluated_later(client, workload, start_worker):
    key, fault_events = workload
    worker = start_worker()
    _redis("stop")
    try:
        for chunk in _chunks(fault_events):
            result = post_events(client, key, chunk)  # acknowledged: stored, though nothing could be enqueued
            assert result["accepted"] == len(chunk)
        assert Event.objects.filter(processed_at__isnull=True).count() == len(fault_events)
    finally:
        _redis("start")

    events_requeue_stale(older_than=timezone.now())  # what the beat sweeper does once a minute
    _recovered(worker, "evaluation after Redis came back", restart=start_worker)
    worker.stop()
    _assert_same_as_clean_run()


def _restart_postgres() -> None:
    pg_ctl = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))[-1]
    data = os.environ["ONBOARDING_TEST_PGDATA"]
    command = [str(pg_ctl), "-D", data, "-l", f"{data}/server.log", "restart", "-m", "fast", "-w", "-t", "30"]
    if os.geteuid() == 0:
        command = ["runuser", "-u", "postgres", "--", *command]
    # No pipes: the restarted server inherits them, and waiting for their end would wait for the server's.
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)


def test_a_postgresql_restart_during_evaluation_loses_and_doubles_nothing(client, workload, start_worker):
    key, fault_events = workload
    worker = start_worker()
    for chunk in _chunks(fault_events):
        post_events(client, key, chunk)
    wait_until(_processed_some, what="the worker to start on the batch", interval=0.01)

    _restart_postgres()
    connection.close()  # ours died with the server; the next query opens a new one

    _recovered(worker, "recovery after the restart", restart=start_worker, timeout=180)
    worker.stop()
    _assert_same_as_clean_run()
