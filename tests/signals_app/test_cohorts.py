"""Cohort simulation: a draft against the published version, side by side, and nothing kept."""

import io

import pytest
import yaml
from django.core.management import CommandError, call_command

from playbooks.engine.cohorts import expand_cohort
from playbooks.selectors import version_spec
from playbooks.services import draft_create, playbook_import, version_write_spec
from signals_app.models import Decision, Event
from signals_app.services.cohorts import cohort_simulate
from tests.playbooks.engine.replay import SCENARIOS

pytestmark = pytest.mark.django_db

TEMPLATE = """
playbook: support-specialist
learners: 30
seed: 11
learner: {external_id: spec, roles: [support_specialist], attributes: {api_access: true}}
start: '2026-03-02T09:00:00Z'
events:
  - {at: 0m, type: module_completed, module: welcome, properties: {duration_seconds: {between: [40, 160]}}}
  - {at: 10m, type: module_completed, module: crm-basics, properties: {duration_seconds: {between: [40, 160]}}}
  - {at: 20m, type: module_skipped, module: ticketing-101}
  - {at: 30m, type: module_completed, module: product-tour, properties: {duration_seconds: {between: [40, 160]}}}
until: 1d
"""


@pytest.fixture
def versions():
    published = playbook_import(
        text=(SCENARIOS / "support-specialist" / "playbook.yaml").read_text(), publish=True
    ).version
    draft = draft_create(playbook=published.playbook)
    spec = version_spec(version=draft)
    steps = list(spec.steps)
    options = list(steps[4].branch)
    # The draft widens the standard track: up to 150 s on average instead of 120.
    options[1] = type(options[1])(
        when="avg_module_seconds >= 90 and avg_module_seconds < 150 and skips <= 1", module=options[1].module
    )
    options[2] = type(options[2])(when="avg_module_seconds >= 150", module=options[2].module)
    steps[4] = type(steps[4])(id=steps[4].id, branch=tuple(options))
    version_write_spec(version=draft, spec=type(spec)(**{**spec.__dict__, "steps": tuple(steps)}))
    return draft, published


def _standard_track(report) -> int:
    return report.branches["specialist-track"].get("standard-api-troubleshooting", 0)


def test_a_threshold_change_shows_in_the_branch_distribution(versions):
    draft, published = versions
    journeys = expand_cohort(yaml.safe_load(TEMPLATE))

    on_draft, on_published = cohort_simulate(journeys=journeys, versions=[draft, published])

    assert (on_draft.learners, on_published.learners) == (30, 30)
    assert sum(on_draft.branches["specialist-track"].values()) == 30
    assert _standard_track(on_draft) > _standard_track(on_published)
    moved = _standard_track(on_draft) - _standard_track(on_published)
    assert (
        on_published.branches["specialist-track"]["compliance-escalation"]
        - on_draft.branches["specialist-track"].get("compliance-escalation", 0)
        == moved
    )
    assert not Event.objects.exists() and not Decision.objects.exists()


def test_the_command_prints_both_versions_side_by_side(versions, tmp_path):
    template = tmp_path / "cohort.yaml"
    template.write_text(TEMPLATE)
    out, err = io.StringIO(), io.StringIO()

    call_command("simulate_cohort", str(template), "--learners", "10", stdout=out, stderr=err)

    text = out.getvalue()
    assert "Cohort of 10 synthetic learners on 'support-specialist': v2 (draft) against v1 (published)" in text
    assert "branch 'specialist-track'" in text and "  standard-api-troubleshooting" in text
    assert "20/20 learner runs" in err.getvalue()  # 10 learners on each of two versions


def test_a_bad_template_is_refused_with_the_learner_and_path(versions, tmp_path):
    template = tmp_path / "cohort.yaml"
    template.write_text(TEMPLATE.replace("module: ticketing-101", "module: ticketing-102"))

    with pytest.raises(CommandError) as refused:
        call_command("simulate_cohort", str(template), stdout=io.StringIO(), stderr=io.StringIO())

    assert "learner 1: events[2].module: unknown module 'ticketing-102'" in str(refused.value)


@pytest.mark.parametrize(
    ("against", "message"),
    [("7", "--against: 'support-specialist' has no version 7"), ("latest", "--against: expected a version number")],
)
def test_an_unknown_version_to_compare_with_is_refused(versions, tmp_path, against, message):
    template = tmp_path / "cohort.yaml"
    template.write_text(TEMPLATE)

    with pytest.raises(CommandError, match=message):
        call_command("simulate_cohort", str(template), "--against", against, stdout=io.StringIO())


def test_against_one_version_compares_the_draft_with_it(versions, tmp_path):
    template = tmp_path / "cohort.yaml"
    template.write_text(TEMPLATE)
    out = io.StringIO()

    call_command(
        "simulate_cohort", str(template), "--learners", "3", "--against", "1", stdout=out, stderr=io.StringIO()
    )

    assert "Cohort of 3 synthetic learners on 'support-specialist': v2 (draft) against v1 (published)" in out.getvalue()


def test_a_run_whose_worker_was_lost_is_started_again_and_a_live_one_is_left_alone(settings):
    from datetime import timedelta

    from django.utils import timezone

    from signals_app.models import CohortRun, CohortRunStatus
    from signals_app.services.cohorts import STALE_RUN, cohort_runs_requeue_stale

    text = (SCENARIOS / "support-specialist" / "playbook.yaml").read_text()
    version = playbook_import(text=text, publish=True).version
    now = timezone.now()
    lost = CohortRun.objects.create(
        version=version, template="x", status=CohortRunStatus.RUNNING, heartbeat_at=now - STALE_RUN - timedelta(1)
    )
    CohortRun.objects.create(version=version, template="x", status=CohortRunStatus.RUNNING, heartbeat_at=now)
    CohortRun.objects.create(version=version, template="x", status=CohortRunStatus.DONE, heartbeat_at=now - STALE_RUN)

    assert cohort_runs_requeue_stale(now=now) == [lost.pk]
