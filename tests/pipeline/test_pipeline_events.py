"""Events posted through the API reach the real worker over Redis and lead to the scenarios' next modules."""

import pytest

from playbooks.engine.durations import parse_duration
from playbooks.selectors import next_module_for_learner
from playbooks.services import playbook_import
from signals_app.models import Decision, Event, Flag
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

    sent_until = None
    for expectation in checks:
        items = journey_events(journey, learner.external_id, until=expectation["at"], after=sent_until)
        if items:
            post_events(client, key, items)
        sent_until = expectation["at"]
        wait_until(all_processed, what="the worker to evaluate the events")
        assert next_module_for_learner(learner=learner).module.slug == expectation["next_module"], expectation
    rest = journey_events(journey, learner.external_id, after=sent_until)
    if rest:
        post_events(client, key, rest)
    wait_until(all_processed, what="the worker to evaluate the events")

    flags = next((e["flags"] for e in journey["expect"] if "flags" in e), None)
    if flags is not None:
        assert sorted(Flag.objects.filter(learner=learner).values_list("name", flat=True)) == sorted(flags)
    assert Decision.objects.filter(learner=learner).exists()
    assert Event.objects.filter(learner=learner).count() == len(journey["events"])
