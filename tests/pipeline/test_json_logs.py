"""A real worker with LOG_FORMAT=json: every line it writes is one JSON object, and what a task logs names the task,
its id and the learner and playbook the work was about."""

import json
import re

import pytest

from identity.services import learner_create, role_upsert
from playbooks.services import playbook_import
from tests.pipeline.conftest import ROOT, wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]

PLAIN_RECORD = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ (DEBUG|INFO|WARNING|ERROR|CRITICAL) ")
PLAYBOOK = ROOT / "tests" / "scenarios" / "support-specialist" / "playbook.yaml"


def test_a_worker_logs_json_lines_naming_the_task_the_learner_and_the_playbook(start_worker, monkeypatch):
    monkeypatch.setenv("LOG_FORMAT", "json")  # the worker process takes the test's environment
    playbook = playbook_import(text=PLAYBOOK.read_text(), publish=True).version.playbook
    worker = start_worker()

    learner = learner_create(external_id="logged", roles=[role_upsert(slug="support_specialist", name="Support")])

    def enrolled() -> list[dict]:
        lines = [json.loads(line) for line in list(worker.output) if line.startswith("{")]
        return [line for line in lines if line["message"] == "playbooks.enrollment.created"]

    wait_until(enrolled, what="the worker to log the enrolment")
    (line,) = enrolled()
    assert line["task"] == "playbooks.enroll_learner" and line["task_id"]
    assert line["learner_id"] == line["learner"] == learner.pk
    assert line["playbook_id"] == playbook.pk
    assert line["level"] == "INFO" and line["logger"] == "playbooks.services.enrollments"
    # Celery's start-up banner is printed, not logged; no log record is left in the plain format.
    assert not [line for line in worker.output if PLAIN_RECORD.match(line)]
