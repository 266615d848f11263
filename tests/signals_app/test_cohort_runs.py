"""Cohort runs started from the admin, spread over the workers a chunk of learners at a time."""

import pytest
import yaml

from playbooks.engine.cohorts import expand_cohort
from playbooks.services import draft_create, playbook_import
from signals_app.models import CohortRun
from signals_app.services.cohorts import cohort_chunk_execute, cohort_run_execute, cohort_run_start, cohort_simulate
from tests.signals_app.cohort_runs import cohort_run_here
from tests.signals_app.test_cohort_batch import PLAYBOOK, TEMPLATE

pytestmark = pytest.mark.django_db


@pytest.fixture
def versions():
    published = playbook_import(text=PLAYBOOK, publish=True).version
    return draft_create(playbook=published.playbook), published


def _run(versions, learners: int = 25) -> CohortRun:
    draft, published = versions
    return CohortRun.objects.create(
        version=draft, against=published, template=TEMPLATE, learners=learners, total=2 * learners
    )


def _without_time(reports: list[dict]) -> list[dict]:
    return [{key: value for key, value in report.items() if key != "seconds"} for report in reports]


def test_a_run_in_chunks_reports_what_one_chunk_reports(versions, settings):
    settings.COHORT_CHUNK_LEARNERS = 7
    spread = _run(versions)
    cohort_run_here(spread.pk)
    settings.COHORT_CHUNK_LEARNERS = 1000
    whole = _run(versions)
    cohort_run_here(whole.pk)

    spread.refresh_from_db()
    whole.refresh_from_db()
    assert spread.chunks.count() == 4 and whole.chunks.count() == 1
    assert (spread.status, spread.done, whole.status) == ("done", 50, "done")
    assert _without_time(spread.report) == _without_time(whole.report)
    in_process = cohort_simulate(journeys=expand_cohort(yaml.safe_load(TEMPLATE), learners=25), versions=list(versions))
    assert _without_time(spread.report) == _without_time([report.as_dict() for report in in_process])


def test_each_chunk_adds_its_learner_runs_to_the_progress_and_the_last_writes_the_report(versions, settings):
    settings.COHORT_CHUNK_LEARNERS = 7
    run = _run(versions)
    cohort_run_execute(run_id=run.pk)
    seen = []

    for index in (2, 0, 3, 1):  # workers finish in any order
        cohort_chunk_execute(run_id=run.pk, chunk=index)
        run.refresh_from_db()
        seen.append((run.status, run.done, bool(run.report)))

    # 7, 7, 4 and 7 learners, each on the draft and the published version.
    assert seen == [("running", 14, False), ("running", 28, False), ("running", 36, False), ("done", 50, True)]


def test_a_chunk_delivered_twice_and_a_run_started_again_do_not_count_twice(versions, settings):
    settings.COHORT_CHUNK_LEARNERS = 10
    run = _run(versions)
    cohort_run_execute(run_id=run.pk)
    cohort_chunk_execute(run_id=run.pk, chunk=0)
    cohort_chunk_execute(run_id=run.pk, chunk=0)  # redelivered
    run.refresh_from_db()
    assert run.done == 20

    # The worker is lost: the sweeper hands the run over again, and only the chunks not finished run.
    CohortRun.objects.filter(pk=run.pk).update(heartbeat_at=run.heartbeat_at.replace(year=2000))
    cohort_run_execute(run_id=run.pk)
    run.refresh_from_db()
    assert (run.status, run.done, run.chunks.count()) == ("running", 20, 3)
    assert list(run.chunks.filter(tallies__isnull=True).values_list("index", flat=True).order_by("index")) == [1, 2]


def test_a_learner_past_those_checked_at_the_start_that_cannot_run_fails_the_run_naming_them(versions, settings):
    settings.COHORT_CHUNK_LEARNERS = 100
    draft, _published = versions
    rows = [f"n{number},newcomer,{'Mars/Olympus' if number == 203 else 'UTC'}" for number in range(1, 211)]
    run = cohort_run_start(
        version=draft,
        against=None,
        template=TEMPLATE,
        learners_csv="\n".join(["external_id,roles,timezone", *rows]),
        learners=None,
    )
    assert run.total == 210  # the first 200 were checked in the admin's request: they are fine

    cohort_run_here(run.pk)

    run.refresh_from_db()
    assert run.status == "failed"
    assert run.error.startswith("learner 203: learner.timezone")
    assert run.report == []
