"""The same event stream evaluated by one, two and four worker processes gives every learner the same decisions in
the same order: per-learner ordering holds however the learners' tasks are spread over processes (each learner's
events arrive in many batches, each batch touches many learners, and tasks for one learner race each other)."""

import random
from datetime import UTC, datetime, timedelta

import pytest

from identity.services import learner_create, role_upsert
from playbooks.services import playbook_import
from signals_app.models import Decision
from tests.factories import api_key
from tests.pipeline.conftest import ROOT, WorkerProcess, wait_until
from tests.pipeline.journeys import all_processed, post_events

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]

PLAYBOOK = ROOT / "tests" / "scenarios" / "support-specialist" / "playbook.yaml"
MODULES = ["welcome", "crm-basics", "ticketing-101", "product-tour", "advanced-debugging", "policy-compliance"]
LEARNERS = 30
EVENTS_PER_LEARNER = 12
BATCH = 45
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def stream(seed: int = 17) -> list[list[dict]]:
    """Per learner, events in time order with a mix of fast and slow completions, skips and tickets; then dealt
    round-robin into batches, so that each batch carries a few events of many learners."""
    rng = random.Random(seed)
    per_learner = []
    for learner in range(LEARNERS):
        at = START + timedelta(minutes=learner)
        events = []
        for number in range(EVENTS_PER_LEARNER):
            at += timedelta(seconds=rng.randint(20, 400))
            kind = rng.choice(
                ["module_completed", "module_completed", "module_skipped", "module_started", "ticket_submitted"]
            )
            events.append(
                {
                    "id": f"{learner}-{number}",
                    "learner": str(learner),
                    "type": kind,
                    "module": "" if kind == "ticket_submitted" else rng.choice(MODULES),
                    "occurred_at": at.isoformat(),
                    "properties": {"duration_seconds": rng.choice([15, 45, 80, 100, 150, 300])},
                }
            )
        per_learner.append(events)
    dealt = [event for round_ in zip(*per_learner, strict=True) for event in round_]
    return [dealt[start : start + BATCH] for start in range(0, len(dealt), BATCH)]


def run(client, key: str, batches: list[list[dict]], *, prefix: str, workers: list[int]) -> dict[str, list[tuple]]:
    """Post the stream (learner and event ids under ``prefix``) while the given workers (their concurrency each)
    evaluate it; returns each learner's decision log."""
    role = role_upsert(slug="support_specialist", name="Support specialist")
    for learner in range(LEARNERS):
        learner_create(external_id=f"{prefix}{learner}", roles=[role], attributes={"api_access": learner % 2 == 0})
    started = [WorkerProcess(concurrency=concurrency).start() for concurrency in workers]
    try:
        for batch in batches:
            post_events(client, key, [{**e, "id": prefix + e["id"], "learner": prefix + e["learner"]} for e in batch])
        wait_until(all_processed, timeout=240, what=f"{len(workers)} worker(s) to evaluate the stream")
    finally:
        for worker in started:
            worker.stop()
    logs: dict[str, list[tuple]] = {}
    rows = Decision.objects.filter(learner__external_id__startswith=prefix).order_by("decided_at", "pk")
    for row in rows.values_list(
        "learner__external_id", "kind", "rule", "step", "module", "action", "decided_at", "event__client_id"
    ):
        external_id, *decision, event = row
        logs.setdefault(external_id.removeprefix(prefix), []).append((*decision, (event or "").removeprefix(prefix)))
    return logs


def test_one_two_and_four_worker_processes_decide_alike(client):
    playbook_import(text=PLAYBOOK.read_text(), publish=True)
    key, _ = api_key("events:write")
    batches = stream()

    alone = run(client, key, batches, prefix="one-", workers=[1])
    two = run(client, key, batches, prefix="two-", workers=[1, 1])
    four = run(client, key, batches, prefix="four-", workers=[1, 1, 1, 1])

    assert len(alone) > LEARNERS // 2 and sum(map(len, alone.values())) > 3 * LEARNERS  # a stream that decides a lot
    assert set(two) == set(four) == set(alone)
    for learner in sorted(alone, key=int):
        assert two[learner] == alone[learner], f"learner {learner} with 2 workers"
        assert four[learner] == alone[learner], f"learner {learner} with 4 workers"
