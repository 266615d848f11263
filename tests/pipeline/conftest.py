"""A real Celery worker process against the test PostgreSQL database and the test Redis (no eager mode)."""

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]


def _test_database_url() -> str:
    db = connection.settings_dict  # after django_db_setup this names the test database
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return f"postgres://{db['USER']}{password}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


@pytest.fixture(scope="session")
def celery_worker_process(django_db_setup, django_db_blocker) -> Iterator[subprocess.Popen]:
    env = {**os.environ, "DATABASE_URL": _test_database_url(), "DJANGO_SETTINGS_MODULE": "onboarding.settings.test"}
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "onboarding",
            "worker",
            "--queues",
            "default,events,reminders,identity",
            "--concurrency",
            "2",
            "--loglevel",
            "INFO",
            "--hostname",
            f"pytest-{os.getpid()}@%h",
            "--without-mingle",
            "--without-gossip",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    _wait_until_ready(worker)
    yield worker
    worker.terminate()
    try:
        worker.wait(timeout=30)
    except subprocess.TimeoutExpired:
        worker.kill()


def _wait_until_ready(worker: subprocess.Popen, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    seen: list[str] = []
    while time.monotonic() < deadline:
        line = worker.stdout.readline()
        if not line and worker.poll() is not None:
            raise RuntimeError("Celery worker exited during start:\n" + "".join(seen))
        seen.append(line)
        if " ready." in line:
            # Keep draining its output so that a full pipe never blocks the worker.
            subprocess.Popen(["cat"], stdin=worker.stdout, stdout=subprocess.DEVNULL)
            return
    worker.kill()
    raise RuntimeError("Celery worker not ready in time:\n" + "".join(seen))
