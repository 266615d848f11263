"""Events posted through the API reach the real worker over Redis and lead to the scenarios' next modules, the
same ones the simulator predicts for the same journey."""

import pytest

from playbooks.engine.durations import parse_duration
from playbooks.selectors import next_module_for_learner
from playbooks.services import playbook_import
from signals_app.models import Decision, Event, Flag
from signals_app.services.simulation import journey_simulate
from tests.factories import api_key
from tests.pipeline.conftest import wait_until
from tests.pipeline.journeys import all_processed, journey_events, journey_learner, post_events
from tests.playbooks.engine.replay import SCENARIOS, load_journey

pytestmark = pytest.mark.django_db(transaction=True)

JOURNEYS = sorted(SCENARIOS.glob("*/journeys/*.yaml"))


@pytest.mark.parametrize("journey_path", JOURNEYS, ids=lambda path: path.stem)
def test_public_journey_live_through_api_and_worker(celery_worker_process, client, journey_path):
    playbook_import(text=(journey_path.parents[1] / "playbook.yaml").read_text(), publish=True)
    journey = load_journey(journey_path)
    learner = journey_learner(journey)
    key, _ = api_key("events:write")
    checks = sorted((e for e in journey["expect"] if "next_module" in e), key=lambda e: parse_duration(e["at"]))
    simulated = journey_simulate(document=journey)
    predicted = {parse_duration(e.at): e.actual for e in simulated.expectations if e.kind == "next_module"}
    assert simulated.passed

    sent_until = None
    for expectation in checks:
        items = journey_events(journey, learner.external_id, until=expectation["at"], after=sent_until)
        if items:
            post_events(client, key, items)
        sent_until = expectation["at"]
        wait_until(all_processed, what="the worker to evaluate the events")
        live = next_module_for_learner(learner=learner).module.slug
        assert live == predicted[parse_duration(expectation["at"])] == expectation["next_module"], expectation
    rest = journey_events(journey, learner.external_id, after=sent_until)
    if rest:
        post_events(client, key, rest)
    wait_until(all_processed, what="the worker to evaluate the events")

    flags = next((e["flags"] for e in journey["expect"] if "flags" in e), None)
    if flags is not None:
        assert sorted(Flag.objects.filter(learner=learner).values_list("name", flat=True)) == sorted(flags)
    assert next_module_for_learner(learner=learner).module.slug == simulated.final["next_module"]
    assert sorted(set(Flag.objects.filter(learner=learner).values_list("name", flat=True))) == simulated.final["flags"]
    live_log = [
        (d.kind, d.rule, d.module) for d in Decision.objects.filter(learner=learner).order_by("decided_at", "pk")
    ]
    simulated_log = [
        (e["kind"], e["rule"], e.get("module") or "")
        for e in simulated.timeline
        if e["kind"] in ("next_module", "branch")
    ]
    assert [row for row in live_log if row[0] in ("next_module", "branch")] == simulated_log
    assert Event.objects.filter(learner=learner).count() == len(journey["events"])
