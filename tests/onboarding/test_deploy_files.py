"""The deployment files run what the code needs: every Celery queue consumed by some worker, exactly one beat, and
the web server on the project's WSGI application, in the Procfile and in the systemd units alike."""

import re
from pathlib import Path

from onboarding.celery import CeleryQueue

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
QUEUES = {queue.value for queue in CeleryQueue}


def _procfile() -> dict[str, str]:
    lines = (DEPLOY / "Procfile").read_text().splitlines()
    return dict(line.split(": ", 1) for line in lines if line and not line.startswith("#"))


def test_the_procfile_consumes_every_queue_with_one_beat():
    processes = _procfile()
    consumed = set()
    for command in processes.values():
        if " worker " in command:
            consumed |= set(re.search(r"--queues (\S+)", command).group(1).split(","))

    assert consumed == QUEUES
    assert [name for name, command in processes.items() if command.endswith(" beat")] == ["beat"]
    assert "gunicorn onboarding.wsgi" in processes["web"]
    assert "migrate" in processes["release"]


def test_the_systemd_units_consume_every_queue_with_one_beat():
    worker = (DEPLOY / "systemd" / "onboarding-worker@.service").read_text()
    consumed = set()
    for queues in re.findall(r"WORKER_QUEUES_\w+=(\S+)", worker):
        consumed |= set(queues.split(","))

    assert consumed == QUEUES
    assert "celery -A onboarding beat" in (DEPLOY / "systemd" / "onboarding-beat.service").read_text()
    assert "gunicorn onboarding.wsgi" in (DEPLOY / "systemd" / "onboarding-web.service").read_text()
    for unit in (DEPLOY / "systemd").glob("*.service"):
        assert "Restart=always" in unit.read_text(), unit.name
        assert "EnvironmentFile=/etc/onboarding/onboarding.env" in unit.read_text(), unit.name
