"""Arms that set parameter values: two arms may run one version with different thresholds; the values are checked
against the version's parameters (in the service, the database and the admin's arm rows), label the arm everywhere,
become the defaults of the version a winning arm is promoted to, and can be simulated (``params:`` in a journey)."""

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
import yaml
from django.db import IntegrityError, transaction
from django.urls import reverse

from common.errors import ApplicationError
from identity.services import learner_create, learner_deactivate, learner_reactivate, role_upsert
from insights.models import ExperimentArm, ExperimentStatus
from insights.services.bandits import bandit_allocate
from insights.services.experiments import (
    Variant,
    experiment_create,
    experiment_promote,
    experiment_start,
    experiment_stop,
)
from playbooks import selectors
from playbooks.engine.journeys import JourneyInvalid
from playbooks.engine.spec import PlaybookInvalid
from playbooks.models import Enrollment, VersionStatus
from playbooks.selectors import next_module_for_learner
from playbooks.services import learner_enroll, learners_reroute, playbook_import
from signals_app.services import learner_evaluate_pending
from signals_app.services.cohorts import cohort_simulate
from signals_app.services.ingestion import events_record
from signals_app.services.simulation import journey_simulate
from tests.factories import LearnerFactory, UserFactory, api_key

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 3, 2, 9, tzinfo=UTC)

PLAYBOOK = """
slug: tuned-quiz
name: Tuned quiz
audience: {roles: [agent]}
modules:
  - {slug: intro, title: Intro, minutes: 5}
  - {slug: fast-track, title: Fast track, minutes: 5}
  - {slug: full-course, title: Full course, minutes: 5}
signals:
  quiz_score: {event: quiz_answered, aggregate: avg, property: score}
parameters:
  fast_threshold: 80
  offer_fast_track: true
steps:
  - module: intro
  - id: track
    branch:
      - {when: 'params.offer_fast_track and quiz_score >= params.fast_threshold', module: fast-track}
      - {otherwise: full-course}
"""
JOURNEY = {
    "playbook": "tuned-quiz",
    "learner": {"external_id": "sim", "roles": ["agent"]},
    "start": "2026-03-02T09:00:00Z",
    "events": [
        {"at": "1m", "type": "quiz_answered", "properties": {"score": 60}},
        {"at": "2m", "type": "module_completed", "module": "intro"},
    ],
    "until": "1h",
}
SAVED_JOURNEYS = """
tests:
  - name: a score of 60 takes the full course
    journey:
      learner: {external_id: t1, roles: [agent]}
      start: 2026-03-02T09:00:00Z
      events: [{at: 1m, type: quiz_answered, properties: {score: 60}}, {at: 2m, type: module_completed, module: intro}]
      until: 1h
      expect: [{at: 3m, next_module: full-course}]
  - name: under a lower bar, the fast track
    journey:
      learner: {external_id: t2, roles: [agent]}
      params: {fast_threshold: 50}
      start: 2026-03-02T09:00:00Z
      events: [{at: 1m, type: quiz_answered, properties: {score: 60}}, {at: 2m, type: module_completed, module: intro}]
      until: 1h
      expect: [{at: 3m, next_module: fast-track}]
"""


@pytest.fixture
def v1():
    return playbook_import(text=PLAYBOOK, publish=True).version


def _experiment(v1, *values: dict, **settings):
    variants = [Variant(v1, value) for value in values]
    return experiment_start(
        experiment=experiment_create(playbook=v1.playbook, name="bars", variants=variants, **settings)
    )


def test_two_arms_may_run_one_version_with_different_values(v1):
    experiment = _experiment(v1, {"fast_threshold": 50}, {"fast_threshold": 60, "offer_fast_track": False})

    assert [(arm.version, arm.parameters, arm.is_control, str(arm)) for arm in experiment.arms.all()] == [
        (v1, {}, True, "control (v1)"),
        (v1, {"fast_threshold": 50}, False, "v1 · fast_threshold=50"),
        (
            v1,
            {"fast_threshold": 60, "offer_fast_track": False},
            False,
            "v1 · fast_threshold=60, offer_fast_track=false",
        ),
    ]


@pytest.mark.parametrize(
    ("values", "code", "message"),
    [
        ([{"fast_threshold": 50}, {"fast_threshold": 50.0}], "duplicate_arm", "Two arms are the same"),
        ([{"fast_threshold": 80}], "invalid_variant", "its values are v1's defaults"),
        ([{"fast_threshold": "50"}], "invalid_parameters", "parameters.fast_threshold: expected a number"),
        ([{"fast_treshold": 50}], "invalid_parameters", "did you mean 'fast_threshold'?"),
    ],
)
def test_arms_that_are_the_same_or_whose_values_do_not_fit_are_refused(v1, values, code, message):
    with pytest.raises(ApplicationError) as refused:
        experiment_create(playbook=v1.playbook, name="x", variants=[Variant(v1, value) for value in values])

    assert refused.value.code == code and refused.value.field == "variants"
    assert message in refused.value.message
    assert not v1.playbook.experiments.exists()


def test_the_database_refuses_two_identical_arms_whatever_the_key_order(v1):
    experiment = _experiment(v1, {"fast_threshold": 60, "offer_fast_track": False})

    with pytest.raises(IntegrityError), transaction.atomic():
        ExperimentArm.objects.create(
            experiment=experiment, version=v1, parameters={"offer_fast_track": False, "fast_threshold": 60}
        )


def test_each_learner_starts_under_their_arms_values(v1):
    experiment = _experiment(v1, {"fast_threshold": 50})
    learners = [LearnerFactory(roles=["agent"]) for _ in range(30)]

    for learner in learners:
        learner_enroll(learner=learner)

    for enrollment in Enrollment.objects.filter(learner__in=learners):
        arm = experiment.assignments.get(learner=enrollment.learner).arm
        assert enrollment.state.get("params", {}) == arm.parameters
    assert {a.arm.is_control for a in experiment.assignments.all()} == {True, False}  # 2⁻²⁹ chance otherwise


def _admin_form(v1, rows: list[tuple[object, str]], **fields) -> dict:
    form = {
        "playbook": v1.playbook.pk, "name": "bars", "hypothesis": "", "baseline_rate": "0.4", "minimum_effect": "0.1",
        "alpha": "0.05", "power": "0.8", "allocation": "fixed", "floor": "0.05", "with_control": "on",
        "arms-TOTAL_FORMS": str(len(rows)), "arms-INITIAL_FORMS": "0", **fields,
    }  # fmt: skip
    for index, (version, values) in enumerate(rows):
        form[f"arms-{index}-version"] = version.pk if version else ""
        form[f"arms-{index}-parameters"] = values
    return form


def test_the_admin_creates_arms_with_parameter_values(client, v1):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    rows = [(v1, "{fast_threshold: 50}"), (v1, "fast_threshold: 60\noffer_fast_track: false"), (None, "")]

    add_page = client.get(reverse("admin:insights_experiment_add")).content.decode()
    response = client.post(reverse("admin:insights_experiment_add"), _admin_form(v1, rows))

    assert 'id="arm-row-2"' in add_page and "Arms that set parameter values" in add_page
    assert response.status_code == 302, response.content.decode()[:3000]
    experiment = v1.playbook.experiments.get()
    assert [str(arm) for arm in experiment.arms.all()] == [
        "control (v1)",
        "v1 · fast_threshold=50",
        "v1 · fast_threshold=60, offer_fast_track=false",
    ]
    change_page = client.get(reverse("admin:insights_experiment_change", args=[experiment.pk])).content.decode()
    assert "fast_threshold=60, offer_fast_track=false" in change_page


def _row(page: str, index: int) -> str:
    return page.split(f'id="arm-row-{index}"')[1].split("</tr>")[0]


def test_the_admin_shows_each_bad_value_on_its_arm_row(client, v1):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    rows = [(v1, "{fast_threshold: high}"), (v1, "{fast_treshold: 5}"), (None, "{fast_threshold: 5}"), (v1, "[1")]

    page = client.post(reverse("admin:insights_experiment_add"), _admin_form(v1, rows)).content.decode()

    assert "parameters.fast_threshold: expected a number, like its default 80; got text" in _row(page, 0)
    assert "parameters.fast_treshold" in _row(page, 1) and "did you mean &#x27;fast_threshold&#x27;?" in _row(page, 1)
    assert "Say which version these values are for." in _row(page, 2)
    assert "Not YAML" in _row(page, 3)
    assert not v1.playbook.experiments.exists()


def test_the_admin_refuses_two_identical_arms(client, v1):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    rows = [(v1, "{fast_threshold: 50}"), (v1, "{fast_threshold: 50.0}")]

    page = client.post(reverse("admin:insights_experiment_add"), _admin_form(v1, rows)).content.decode()

    assert "Two arms are the same: v1 · fast_threshold=50.0 and v1 · fast_threshold=50 run v1" in page
    assert not v1.playbook.experiments.exists()


def test_arms_are_labelled_by_their_values_on_the_results_page_csv_api_and_bandit_log(client, v1):
    experiment = _experiment(v1, {"fast_threshold": 50}, allocation="bandit", floor=0.1)
    for _ in range(6):
        learner_enroll(learner=LearnerFactory(roles=["agent"]))
    bandit_allocate(experiment=experiment, seed=7)
    experiment = experiment_stop(experiment=experiment, winner=experiment.arms.get(parameters={"fast_threshold": 50}))
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    key, _ = api_key("analytics:read")
    label = "v1 · fast_threshold=50"

    page = client.get(reverse("admin:insights_experiment_results", args=[experiment.pk])).content.decode()
    table = client.get(reverse("admin:insights_experiment_results_csv", args=[experiment.pk])).content.decode()
    body = client.get(
        f"/api/v1/analytics/playbooks/{v1.playbook.slug}/experiments", HTTP_AUTHORIZATION=f"Api-Key {key}"
    ).json()

    assert (
        f'<td class="arm-label">{label}</td>' in page
        and f"winner: {label}" in page
        and f"{label}: α, β → share" in page
    )
    rows = list(csv.DictReader(io.StringIO(table)))
    assert [(row["arm"], row["version"], row["parameters"]) for row in rows] == [
        ("control (v1)", "1", ""),
        (label, "1", "fast_threshold=50"),
    ]
    assert sum(int(row["learners"]) for row in rows) == 6
    (shown,) = body["experiments"]
    assert [(arm["arm"], arm["parameters"]) for arm in shown["arms"]] == [
        ("control (v1)", {}),
        (label, {"fast_threshold": 50}),
    ]
    assert (shown["winner"], shown["winner_arm"]) == (1, label)
    assert [row["label"] for row in experiment.allocations.get().arms] == ["control (v1)", label]


def test_promoting_a_parameter_arm_publishes_its_values_as_the_defaults(v1, admin_user):
    experiment = _experiment(v1, {"fast_threshold": 50}, {"fast_threshold": 60})
    winner = experiment.arms.get(parameters={"fast_threshold": 50})

    published = experiment_promote(experiment=experiment, winner=winner, user=admin_user)

    experiment.refresh_from_db()
    assert (experiment.status, experiment.winning_arm, experiment.winner) == (ExperimentStatus.STOPPED, winner, v1)
    assert (published.number, published.status, experiment.promoted) == (2, VersionStatus.PUBLISHED, published)
    spec = selectors.version_spec(version=published)
    assert [(p.name, p.default) for p in spec.parameters] == [("fast_threshold", 50), ("offer_fast_track", True)]
    assert spec.steps == selectors.version_spec(version=v1).steps
    (enrolled,) = learner_enroll(learner=LearnerFactory(roles=["agent"]))
    assert enrolled.version == published and "params" not in enrolled.state  # new learners: the new defaults


def test_promoting_the_control_publishes_nothing(v1):
    experiment = _experiment(v1, {"fast_threshold": 50})

    assert experiment_promote(experiment=experiment, winner=experiment.arms.get(is_control=True)) == v1
    assert v1.playbook.versions.count() == 1


def test_a_promotion_whose_saved_journeys_fail_is_refused_and_leaves_the_winner_recorded():
    v1 = playbook_import(text=PLAYBOOK + SAVED_JOURNEYS, publish=True).version
    experiment = _experiment(v1, {"fast_threshold": 50})
    winner = experiment.arms.get(is_control=False)

    with pytest.raises(PlaybookInvalid, match="full-course"):
        experiment_promote(experiment=experiment, winner=winner)

    experiment.refresh_from_db()
    assert (experiment.status, experiment.winning_arm, experiment.promoted) == (ExperimentStatus.STOPPED, winner, None)
    assert v1.playbook.versions.filter(status=VersionStatus.PUBLISHED).get() == v1


def test_a_journey_simulated_under_params_takes_the_arms_branch(v1):
    at_3m = {"expect": [{"at": "3m", "next_module": "fast-track"}]}

    result = journey_simulate(document={**JOURNEY, "params": {"fast_threshold": 50}, **at_3m}, version=v1)

    assert result.passed, [e.message for e in result.expectations]
    assert not journey_simulate(document={**JOURNEY, **at_3m}, version=v1).passed  # the default bar: full course
    with pytest.raises(JourneyInvalid) as refused:
        journey_simulate(document={**JOURNEY, "params": {"fast_threshold": True}}, version=v1)
    assert [error.path for error in refused.value.errors] == ["params.fast_threshold"]


def test_a_cohort_runs_each_learner_under_their_own_params(v1):
    journeys = [
        {**JOURNEY, "learner": {"external_id": f"c{n}", "roles": ["agent"]}}
        | ({"params": {"fast_threshold": 50}} if n % 2 else {})
        for n in range(4)
    ]

    (report,) = cohort_simulate(journeys=journeys, versions=[v1])

    assert report.branches["track"] == {"fast-track": 2, "full-course": 2}


def test_saved_journeys_with_params_are_checked_before_publishing(v1):
    bad = SAVED_JOURNEYS.replace("params: {fast_threshold: 50}", "params: {fast_threshold: fifty}")

    with pytest.raises(PlaybookInvalid) as refused:
        playbook_import(text=PLAYBOOK.replace("Intro, minutes: 5", "Intro, minutes: 6") + bad, publish=True)

    assert [e.path for e in refused.value.errors] == ["tests[1].journey.params.fast_threshold"]
    published = playbook_import(text=PLAYBOOK.replace("minutes: 5", "minutes: 6") + SAVED_JOURNEYS, publish=True)
    assert published.version.status == VersionStatus.PUBLISHED  # both saved journeys pass, one under params


def test_the_simulate_page_and_api_run_a_journey_under_params(client, admin_client, v1):
    journey = {**JOURNEY, "params": {"fast_threshold": 50}, "expect": [{"at": "3m", "next_module": "fast-track"}]}
    key, _ = api_key("playbooks:simulate")
    simulate_page = reverse("admin:playbooks_playbookversion_simulate", args=[v1.pk])

    body = client.post(
        "/api/v1/playbooks/tuned-quiz/simulate", journey, content_type="application/json",
        HTTP_AUTHORIZATION=f"Api-Key {key}",
    ).json()  # fmt: skip
    page = admin_client.post(simulate_page, {"journey": yaml.safe_dump(journey)}).content.decode()
    refused = admin_client.post(simulate_page, {"journey": yaml.safe_dump({**journey, "params": {"bar": 1}})})

    assert (body["passed"], body["params"]) == (True, {"fast_threshold": 50})
    assert "Run under the parameter values <code>fast_threshold=50</code>" in page and "outcome-fail" not in page
    assert "<code>params.bar</code>: &#x27;tuned-quiz&#x27; declares no parameter" in refused.content.decode()


def test_an_ended_enrolment_given_back_keeps_its_arms_values(v1):
    """A leaver's enrolment is ended and, when they return, given back where it stood: under their arm's values,
    which the next evaluation (the ingestion and evaluation services) still reads."""
    _experiment(v1, {"fast_threshold": 50}, {"fast_threshold": 55}, with_control=False)  # every learner has values
    learner = learner_create(external_id="returner", roles=[role_upsert(slug="agent", name="Agent")])
    learners_reroute(learner_ids=[learner.pk], now=T0)
    learner_deactivate(learner=learner)
    learners_reroute(learner_ids=[learner.pk], now=T0 + timedelta(days=1))
    assert Enrollment.objects.get(learner=learner).status == "ended"

    learner_reactivate(learner=learner)
    learners_reroute(learner_ids=[learner.pk], now=T0 + timedelta(days=2))
    events = [
        {"id": "q", "learner": "returner", "type": "quiz_answered", "properties": {"score": 60}},
        {"id": "i", "learner": "returner", "type": "module_completed", "module": "intro"},
    ]
    for minute, event in enumerate(events, start=1):
        event["occurred_at"] = (T0 + timedelta(days=2, minutes=minute)).isoformat()
    events_record(body={"events": events}, source="key:1", now=T0 + timedelta(days=2, minutes=5))
    learner_evaluate_pending(learner_id=learner.pk, now=T0 + timedelta(days=2, minutes=5))

    enrollment = Enrollment.objects.get(learner=learner)
    assert enrollment.status == "active" and enrollment.state["params"]["fast_threshold"] in (50, 55)
    assert next_module_for_learner(learner=learner).module.slug == "fast-track"  # 60 is over either arm's bar
