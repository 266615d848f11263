"""Real servers for the outage tests: gunicorn and Celery beat as processes on the test database and broker, and the
test's own Redis and PostgreSQL frozen or stopped for a while (always brought back, whatever the test does)."""

import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests
from django.db import connection

from tests.pipeline.conftest import ROOT, _test_database_url, wait_until
from tests.utils import closed_port


def server_env(**overrides: str) -> dict[str, str]:
    """The environment of a worker in tests/pipeline/conftest.py: test settings, the test database and broker."""
    env = {**os.environ, "DATABASE_URL": _test_database_url(), "DJANGO_SETTINGS_MODULE": "onboarding.settings.test"}
    env.update(overrides)
    return env


class ServerProcess:
    """A process in its own group whose output is kept (and drained, so that a full pipe never blocks it)."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
        )
        self.output: list[str] = []
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self) -> None:
        for line in self.process.stdout:
            self.output.append(line)

    def lines(self, text: str) -> list[str]:
        return [line for line in list(self.output) if text in line]

    def tail(self, count: int = 60) -> str:
        return "".join(self.output[-count:])

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        if self.alive:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=30)


class Gunicorn(ServerProcess):
    """``gunicorn onboarding.wsgi`` with sync workers, as the README runs it."""

    def __init__(self, *, workers: int = 2, **env: str) -> None:
        self.port = closed_port()
        self.url = f"http://127.0.0.1:{self.port}"
        argv = [sys.executable, "-m", "gunicorn", "onboarding.wsgi", "--bind", f"127.0.0.1:{self.port}"]
        argv += ["--config", "python:tests.pipeline.gunicorn_ready"]
        super().__init__([*argv, "--workers", str(workers), "--timeout", "30"], server_env(**env))
        try:
            wait_until(self._answers, timeout=60, what="gunicorn to answer /healthz")
            wait_until(lambda: self._booted(workers), timeout=60, what=f"gunicorn's {workers} workers to boot")
        except BaseException:
            self.stop()  # no server outlives a failed start
            raise

    def _booted(self, workers: int) -> bool:
        return len(self.lines("worker ready")) >= workers  # tests/pipeline/gunicorn_ready.py

    def _answers(self) -> bool:
        if not self.alive:
            raise AssertionError("gunicorn exited:\n" + self.tail())
        try:
            return requests.get(f"{self.url}/healthz", timeout=5).status_code == 200
        except requests.RequestException:  # not listening yet, or its workers still importing Django
            return False


class Beat(ServerProcess):
    """``celery -A onboarding beat``, ticking at least once a second."""

    def __init__(self, **env: str) -> None:
        argv = [sys.executable, "-m", "celery", "-A", "onboarding", "beat", "--loglevel", "INFO", "--max-interval", "1"]
        super().__init__([*argv, "--pidfile", ""], server_env(**env))


# Redis -----------------------------------------------------------------------------------------------------------


def _redis_pid() -> int:
    return int(Path(os.environ["ONBOARDING_TEST_REDIS_DIR"], "redis.pid").read_text())


@contextmanager
def redis_frozen() -> Iterator[None]:
    """Redis stopped with SIGSTOP: it keeps its port, the kernel still accepts connections, nothing answers."""
    pid = _redis_pid()
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(pid, signal.SIGCONT)


# PostgreSQL ------------------------------------------------------------------------------------------------------


def _pg_ctl(*args: str) -> None:
    pg_ctl = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))[-1]
    command = [str(pg_ctl), "-D", os.environ["ONBOARDING_TEST_PGDATA"], *args]
    if os.geteuid() == 0:
        command = ["runuser", "-u", "postgres", "--", *command]
    # No pipes: a started server inherits them, and waiting for their end would wait for the server's.
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)


def _server_options(data: Path) -> str:
    """The options the running server was started with (bin/_services.sh), to start it again the same way."""
    words = shlex.split((data / "postmaster.opts").read_text())[1:]  # drop the postgres binary
    options, skip = [], False
    for word in words:
        if skip:
            skip = False
        elif word == "-D":
            skip = True
        else:
            options.append(shlex.quote(word))
    return " ".join(options)


@contextmanager
def postgres_stopped() -> Iterator[None]:
    """PostgreSQL stopped (fast shutdown: connections are cut) for the block, then started again as it was."""
    data = Path(os.environ["ONBOARDING_TEST_PGDATA"])
    options = _server_options(data)
    _pg_ctl("stop", "-m", "fast", "-w", "-t", "30")
    try:
        yield
    finally:
        _pg_ctl("start", "-w", "-t", "30", "-l", str(data / "server.log"), "-o", options)
        connection.close()  # ours died with the server; the next query opens a new one


@contextmanager
def postgres_frozen() -> Iterator[None]:
    """PostgreSQL's postmaster stopped with SIGSTOP: open sessions go on, a new connection is accepted by the kernel
    and then never answered."""
    pid = int(Path(os.environ["ONBOARDING_TEST_PGDATA"], "postmaster.pid").read_text().split()[0])
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(pid, signal.SIGCONT)


def elapsed(function, *args, **kwargs) -> tuple[float, object]:
    started = time.monotonic()
    result = function(*args, **kwargs)
    return time.monotonic() - started, result
