"""Event → evaluated (decisions persisted) through a real worker and Redis, against a no-op task per event.

    bin/bench pipeline [--events 20000] [--learners 1000] [--seconds 10]

1. Baseline: N no-op Celery tasks through the same Redis to 2 worker processes: tasks/s.
2. Sustained: N events stored through the ingestion service (batches of 500, spread over the learners, all
   enrolled in the support-specialist playbook) and evaluated by 2 worker processes: events/s until every event is
   processed. Target (DESIGN.md section 10): at least 1x the no-op's tasks/s.
3. Latency from storage to evaluation (processed_at - received_at): p50 at a trickle of 20 events/s, and p95 at
   half the sustained rate. Target: the p95 at half rate at most 3x the p50 at a trickle.
"""

import argparse
import random
import time
from datetime import timedelta
from pathlib import Path

from benchmarks._support import django_setup, percentile, start_worker, stop, wait_for

PLAYBOOK = Path(__file__).resolve().parent.parent / "playbooks" / "demo" / "support-specialist.yaml"
KINDS = ["module_progress", "page_view", "ticket_submitted", "module_viewed", "click"]


def setup_learners(count: int) -> None:
    from identity.models import Learner, RoleAssignment
    from identity.services import role_upsert
    from playbooks.services import learner_enroll, playbook_import

    playbook_import(text=Path(PLAYBOOK).read_text(), publish=True)
    role = role_upsert(slug="support_specialist", name="Support specialist")
    learners = Learner.objects.bulk_create(
        [Learner(external_id=f"bench-{n}", attributes={"api_access": n % 2 == 0}) for n in range(count)]
    )
    RoleAssignment.objects.bulk_create([RoleAssignment(learner=learner, role=role) for learner in learners])
    for learner in Learner.objects.filter(external_id__startswith="bench-"):
        learner_enroll(learner=learner)


def make_batch(start: int, size: int, learners: int, tag: str) -> dict:
    from django.utils import timezone

    now = timezone.now() - timedelta(minutes=5)
    return {
        "events": [
            {
                "id": f"{tag}-{n}",
                "learner": f"bench-{random.randrange(learners)}",
                "type": KINDS[n % len(KINDS)],  # noqa: S311
                "module": "welcome",
                "occurred_at": (now + timedelta(microseconds=n)).isoformat(),
                "properties": {"seconds": n % 300, "completion_pct": n % 100},
            }
            for n in range(start, start + size)
        ]
    }


def unprocessed() -> int:
    from signals_app.models import Event

    return Event.objects.filter(processed_at__isnull=True).count()


def noop_rate(count: int) -> float:
    import redis
    from django.conf import settings

    from onboarding.tasks import noop

    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    for _ in range(200):  # warm the worker
        noop.delay()
    wait_for(lambda: client.llen("default") == 0, timeout=60, what="warm-up")
    began = time.perf_counter()
    for _ in range(count):
        noop.delay()
    wait_for(lambda: client.llen("default") == 0, timeout=600, what="no-op tasks", interval=0.01)
    return count / (time.perf_counter() - began)


def sustained_rate(events: int, learners: int) -> float:
    from signals_app.services import events_ingest

    began = time.perf_counter()
    for start in range(0, events, 500):
        events_ingest(body=make_batch(start, 500, learners, "sustained"), source="bench")
    wait_for(lambda: unprocessed() == 0, timeout=1800, what="evaluation", interval=0.05)
    return events / (time.perf_counter() - began)


def latencies(rate: float, seconds: float, learners: int, tag: str) -> list[float]:
    from signals_app.models import Event
    from signals_app.services import events_ingest

    tick = 0.05 if rate <= 20 else 0.1
    per_tick = max(1, round(rate * tick))
    sent, began = 0, time.perf_counter()
    while time.perf_counter() - began < seconds:
        events_ingest(body=make_batch(sent, per_tick, learners, tag), source="bench")
        sent += per_tick
        time.sleep(max(0.0, began + (sent / per_tick) * tick - time.perf_counter()))
    wait_for(lambda: unprocessed() == 0, timeout=600, what="evaluation", interval=0.05)
    rows = Event.objects.filter(client_id__startswith=f"{tag}-").values_list("received_at", "processed_at")
    return [(processed - received).total_seconds() * 1000 for received, processed in rows]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--learners", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    django_setup()
    setup_learners(args.learners)
    worker = start_worker(concurrency=2)
    try:
        time.sleep(5)  # let the worker connect
        noop = noop_rate(args.events)
        sustained = sustained_rate(args.events, args.learners)
        trickle = latencies(20, args.seconds, args.learners, "trickle")
        half = latencies(sustained / 2, args.seconds, args.learners, "half")
    finally:
        stop(worker)
    print(f"no-op task:               {noop:>9,.0f} tasks/s (2 worker processes)")
    print(f"event -> evaluated:       {sustained:>9,.0f} events/s sustained, {args.learners} learners")
    print(f"ratio sustained / no-op:  {sustained / noop:.2f}x (target >= 1x)")
    print(f"latency at 20 events/s:   p50 {percentile(trickle, 0.5):.0f} ms, p95 {percentile(trickle, 0.95):.0f} ms")
    print(
        f"latency at {sustained / 2:,.0f} events/s: p50 {percentile(half, 0.5):.0f} ms, "
        f"p95 {percentile(half, 0.95):.0f} ms"
    )
    print(
        f"ratio p95 at half rate / p50 at trickle: {percentile(half, 0.95) / percentile(trickle, 0.5):.1f}x "
        "(target <= 3x)"
    )


if __name__ == "__main__":
    main()
