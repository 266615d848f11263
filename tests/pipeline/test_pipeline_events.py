"""Events posted through the API reach the real worker over Redis and lead to the scenarios' next modules, the
same ones the simulator predicts for the same journey."""

from datetime import datetime

import pytest
import yaml

from playbooks.engine.durations import format_duration, parse_duration
from playbooks.selectors import next_module_for_learner
from playbooks.services import playbook_import
from playbooks.services.blocks import block_version_save
from signals_app.models import Decision, Event, Flag, Reminder, ReminderStatus
from signals_app.services.simulation import journey_simulate
from signals_app.tasks import evaluate_clock
from tests.factories import api_key
from tests.pipeline.conftest import wait_until
from tests.pipeline.journeys import all_processed, journey_events, journey_learner, journey_start, post_events
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


EXAMPLES = SCENARIOS.parents[1] / "docs" / "examples"
EXAMPLE_JOURNEYS = [
    (path, test["name"])
    for path in sorted(EXAMPLES.glob("*.yaml"))
    for test in (yaml.safe_load(path.read_text()) or {}).get("tests", [])
]


@pytest.mark.parametrize(
    ("example", "name"), EXAMPLE_JOURNEYS, ids=[f"{path.stem}: {name}" for path, name in EXAMPLE_JOURNEYS]
)
def test_example_journey_live_agrees_with_the_simulation(celery_worker_process, client, example, name):
    """The docs' examples, live: events through the API and the worker, and the clock sweeps through the worker's
    clock task at the moments the simulator swept (production sweeps every 5 minutes; the others decide nothing)."""
    document = yaml.safe_load(example.read_text())
    for block in sorted((EXAMPLES / "blocks").glob("*.yaml")):  # the reusable blocks examples include
        block_version_save(text=block.read_text())
    version = playbook_import(text=example.read_text(), publish=True).version
    journey = {**next(t["journey"] for t in document["tests"] if t["name"] == name), "playbook": document["slug"]}
    simulated = journey_simulate(document=journey, version=version)
    assert simulated.passed
    learner = journey_learner(journey)
    key, _ = api_key("events:write")
    began = journey_start(journey)
    happened = {began + parse_duration(event["at"]) for event in journey["events"]}
    sweeps = sorted(
        {_at(e) for e in simulated.timeline if e["kind"] != "reminder" and _at(e) not in happened} - {began}
    )

    sent_until = None
    for sweep in [*sweeps, None]:
        until = format_duration(sweep - began) if sweep else None
        items = journey_events(journey, learner.external_id, until=until, after=sent_until)
        if items:
            post_events(client, key, items)
        wait_until(all_processed, what="the worker to evaluate the events")
        if sweep is not None:
            clock = {"learner_ids": [learner.pk], "at": sweep.isoformat()}
            evaluate_clock.apply_async(kwargs=clock, ignore_result=False).get(timeout=60)
        sent_until = until

    assert _live_log(learner, began) == _simulated_log(simulated)
    assert next_module_for_learner(learner=learner).status == simulated.final["status"]
    assert sorted(set(Flag.objects.filter(learner=learner).values_list("name", flat=True))) == simulated.final["flags"]
    reminders = Reminder.objects.filter(learner=learner).exclude(status=ReminderStatus.SUPPRESSED)
    assert reminders.count() == simulated.final["reminders"]


def _at(entry: dict) -> datetime:
    return datetime.fromisoformat(entry["at"])


def _live_log(learner, began: datetime) -> list[tuple[str, str, str]]:
    rows = Decision.objects.filter(learner=learner).order_by("decided_at", "pk")
    return [
        (format_duration(row.decided_at - began), _live_label(row), row.rule)
        for row in rows
        if not (row.action and "remind" in row.action)
    ]


def _live_label(row: Decision) -> str:
    """A decision row in the timeline's words: fired or suppressed; a wait waiting, came or timed out."""
    action = row.action or {}
    if row.kind == "wait":
        return action["wait"]
    if "wait" in action:
        return "waiting"
    return {"trigger": "fired"}.get(row.kind, row.kind)


def _simulated_log(simulated) -> list[tuple[str, str, str]]:
    """The timeline in the decision log's words: a trigger entry is fired or suppressed, a flag is an action."""
    kinds = {"flag": "action"}
    return [
        (entry["offset"], entry.get("status") or kinds.get(entry["kind"], entry["kind"]), entry["rule"])
        for entry in simulated.timeline
        if entry["kind"] not in ("event", "enrolled", "reminder")
    ]
