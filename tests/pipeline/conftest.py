"""Real Celery worker processes against the test PostgreSQL database and the test Redis (no eager mode)."""

import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from django.conf import settings
from django.db import connection

from onboarding.celery import CeleryQueue, worker_argv

ROOT = Path(__file__).resolve().parents[2]


def _test_database_url() -> str:
    db = connection.settings_dict  # after django_db_setup this names the test database
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return f"postgres://{db['USER']}{password}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


class WorkerProcess:
    """``celery worker`` in its own process group, so that a test can kill it and its children at once."""

    def __init__(self, concurrency: int = 2) -> None:
        self.concurrency = concurrency
        self.name = f"pytest-{time.monotonic_ns()}@{socket.gethostname()}"
        self.process: subprocess.Popen | None = None
        self.output: list[str] = []

    def start(self, timeout: float = 60.0) -> "WorkerProcess":
        env = {**os.environ, "DATABASE_URL": _test_database_url(), "DJANGO_SETTINGS_MODULE": "onboarding.settings.test"}
        self.process = subprocess.Popen(
            [*worker_argv(concurrency=self.concurrency), "--hostname", self.name],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        ready = threading.Event()
        threading.Thread(target=self._drain, args=(ready,), daemon=True).start()
        if not ready.wait(timeout):
            self.kill()
            raise RuntimeError("Celery worker not ready in time:\n" + "".join(self.output[-50:]))
        return self

    def _drain(self, ready: threading.Event) -> None:
        # Reading all output keeps a full pipe from ever blocking the worker.
        for line in self.process.stdout:
            self.output.append(line)
            if " ready." in line:
                ready.set()

    def running_tasks(self) -> bool:
        """Whether the worker is running a task, as it answers itself: a task acknowledged on receipt (not late) has
        left the broker's unacknowledged set by the time it runs. No answer within a second counts as running."""
        if self.process.poll() is not None:
            return False
        from onboarding.celery import app

        answer = app.control.inspect(destination=[self.name], timeout=1.0).active()
        return answer is None or bool(answer.get(self.name))

    @property
    def pid(self) -> int:
        return self.process.pid

    def kill(self) -> None:
        """kill -9 the worker and its pool processes, mid-task if need be."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture(scope="module")
def celery_worker_process(django_db_setup, django_db_blocker) -> Iterator[WorkerProcess]:
    """A worker for the module, on an empty queue: the tasks earlier modules published with no worker running (an
    enrolment, a delivery, a sync) are theirs, and would otherwise run first, ahead of this module's."""
    from onboarding.celery import app

    app.control.purge()
    worker = WorkerProcess().start()
    yield worker
    worker.stop()


@pytest.fixture(autouse=True)
def _worker_idle_before_flush(request) -> Iterator[None]:
    """After a test with the module's worker, let the worker finish what the test set going (a delivery, a sweep)
    before the database is emptied: a task still writing while the tables are truncated deadlocks with it, and the
    test fails in its teardown. Torn down before pytest-django's flush, which was set up before it."""
    if "celery_worker_process" not in request.fixturenames:
        yield
        return
    worker = request.getfixturevalue("celery_worker_process")
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    # Tasks a killed worker had taken stay unacknowledged until the visibility timeout: they are not this test's.
    taken_before = set(broker.hkeys("unacked"))

    def idle() -> bool:
        queued = any(broker.llen(queue.value) for queue in CeleryQueue)
        held = set(broker.hkeys("unacked")) - taken_before  # taken and not yet acknowledged: running, or to retry
        return not queued and not held and not worker.running_tasks()

    yield
    deadline = time.monotonic() + 30
    while not idle() and time.monotonic() < deadline:  # past that, a stuck task is the next test's news
        time.sleep(0.05)
    broker.close()


@pytest.fixture
def start_worker(django_db_setup) -> Iterator:
    """Start workers in a test; whatever happens, none outlives it (a stray one would hold the test database)."""
    started: list[WorkerProcess] = []

    def start() -> WorkerProcess:
        started.append(WorkerProcess().start())
        return started[-1]

    yield start
    for worker in started:
        if worker.process.poll() is None:
            worker.kill()


def wait_until(predicate, *, timeout: float = 60.0, interval: float = 0.1, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")
