"""A cohort run started from the admin, through Redis and real worker processes, a chunk of learners per task."""

import pytest
import yaml

from playbooks.engine.cohorts import expand_cohort
from playbooks.services import draft_create, playbook_import
from signals_app.models import CohortRun
from signals_app.services.cohorts import cohort_run_start, cohort_simulate
from tests.pipeline.conftest import wait_until
from tests.signals_app.test_cohort_batch import PLAYBOOK, TEMPLATE

pytestmark = pytest.mark.django_db(transaction=True)


def _without_time(reports: list[dict]) -> list[dict]:
    return [{key: value for key, value in report.items() if key != "seconds"} for report in reports]


def test_a_run_spread_over_the_workers_reports_what_one_process_reports(start_worker, monkeypatch):
    monkeypatch.setenv("COHORT_CHUNK_LEARNERS", "10")  # read by the workers, started below
    published = playbook_import(text=PLAYBOOK, publish=True).version
    draft = draft_create(playbook=published.playbook)
    run = cohort_run_start(version=draft, against=published, template=TEMPLATE, learners_csv="", learners=40)
    start_worker()

    wait_until(lambda: CohortRun.objects.get(pk=run.pk).status != "queued", timeout=60, what="the run to start")
    wait_until(lambda: CohortRun.objects.get(pk=run.pk).status != "running", timeout=180, what="the run to end")

    run.refresh_from_db()
    assert (run.status, run.done, run.total, run.chunks.count()) == ("done", 80, 80, 4)
    journeys = expand_cohort(yaml.safe_load(TEMPLATE), learners=40)
    here = cohort_simulate(journeys=journeys, versions=[draft, published])
    assert _without_time(run.report) == _without_time([report.as_dict() for report in here])
