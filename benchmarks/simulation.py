"""A 30-day, 1,000-event journey through the simulator, against replaying the same events through the live API and
worker.

    bin/bench simulation [--events 1000] [--days 30] [--seed 7] [--profile]

The journey is generated (seeded, so every run plays the same one): a support specialist with API access works
through the support-specialist playbook's path on working days, in sessions (session_started, page views, tickets,
module_started / module_progress / module_completed, one module_skipped), with weekends and a three-day absence
(gaps of more than 24 hours) so that the idle reminder fires. The demo playbook has no time-based trigger, so the
benchmark imports it with a `drop-off reminder` (`idle_hours >= 24 and module.completion_pct <
75`) added, which makes the simulator walk the production clock sweep's 5-minute ticks over the 30 days.

1. Simulated: `journey_simulate` (enrolment, ingestion, the worker's evaluation, the clock sweep where a
   time-based trigger turns, the reminder policy, the next-module selector; rolled back), median of 3 runs after a
   warm-up on a short journey.
2. Live (the baseline): gunicorn (2 workers) and a Celery worker (2 processes); the learner is created and enrolled
   at the journey's start, then each event is POSTed on its own to /api/v1/events in order (one keep-alive
   connection, as an app sends events as they happen), until every event is processed. The journey is shifted to
   end a day before now (the API refuses events from the future). Beat's clock sweep runs in real time, so a
   replay compressed into seconds cannot fire the idle reminders at their moments: the baseline leaves it out
   (which makes the baseline cheaper, the ratio conservative).

Target: the simulation at least 10x faster than the live replay. The live next module is
compared with the simulation's final one: they must agree.
"""

import argparse
import cProfile
import io
import pstats
import random
import statistics
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from benchmarks._support import django_setup, start_web, start_worker, stop, wait_for

PLAYBOOK = Path(__file__).resolve().parent.parent / "playbooks" / "demo" / "support-specialist.yaml"
DROP_OFF = {
    "name": "drop-off reminder",
    "when": "idle_hours >= 24 and module.completion_pct < 75",
    "then": [{"remind": {"channel": "email", "template": "drop_off"}}],
}
LEARNER = {
    "external_id": "bench-simulated-specialist",
    "roles": ["support_specialist"],
    "attributes": {"api_access": True},
    "timezone": "Europe/Berlin",
}
# The path this learner takes: steady completions (avg_module_seconds between 90 and 120) and one skip lead the
# specialist track to standard-api-troubleshooting, and enough tickets to escalation-prep, which is still in
# progress at the end (never completed).
PLAN = [
    ("welcome", "complete"),
    ("crm-basics", "complete"),
    ("ticketing-101", "skip"),
    ("product-tour", "complete"),
    ("standard-api-troubleshooting", "complete"),
    ("escalation-prep", "in_progress"),
]
PAGES = ["/kb/refunds", "/kb/billing", "/kb/api-errors", "/kb/sso", "/crm/accounts", "/tickets/queue", "/status"]


def playbook_text() -> str:
    """The demo playbook with a drop-off reminder, unless it has one already."""
    import yaml

    document = yaml.safe_load(PLAYBOOK.read_text())
    triggers = document.setdefault("triggers", [])
    if not any("idle_hours" in trigger.get("when", "") for trigger in triggers):
        triggers.append(DROP_OFF)
    return yaml.safe_dump(document, sort_keys=False)


def journey_make(*, events: int, days: int, seed: int, start: datetime) -> dict:
    """A deterministic journey of exactly ``events`` events over ``days`` days, strictly in time order."""
    rng = random.Random(seed)  # noqa: S311 (a benchmark's fixture, not a secret)
    absence = set(range(days // 2, days // 2 + 3))  # a few days off mid-journey: a gap of more than 3 days
    active = [day for day in range(days) if day % 7 not in (5, 6) and day not in absence]
    weights = [rng.uniform(0.7, 1.3) for _ in active]
    per_day = [int(events * weight / sum(weights)) for weight in weights]
    for index in range(events - sum(per_day)):
        per_day[index % len(per_day)] += 1
    # Module events are about 35 % of the stream; pace progress so that the plan's last module is reached after
    # about 70 % of the journey.
    step_mean = 100 * (len(PLAN) - 1) / (0.35 * events * 0.7)
    durations = {module: rng.randint(92, 118) for module, _outcome in PLAN}
    cursor, started, pct = 0, False, 0.0
    out: list[dict] = []

    def module_event() -> dict:
        nonlocal cursor, started, pct
        module, outcome = PLAN[cursor]
        if not started:
            started, pct = True, 0.0
            return {"type": "module_started", "module": module}
        if outcome == "skip":
            cursor, started = cursor + 1, False
            return {"type": "module_skipped", "module": module}
        pct = min(100.0, pct + rng.uniform(0.5, 1.5) * step_mean)
        if outcome == "in_progress":
            pct = min(pct, 70.0)
        elif pct >= 100:
            cursor, started = cursor + 1, False
            return {"type": "module_completed", "module": module, "properties": {"duration_seconds": durations[module]}}
        seconds = round(durations[module] * pct / 100)
        return {
            "type": "module_progress",
            "module": module,
            "properties": {"seconds": seconds, "completion_pct": round(pct)},
        }

    for number, (day, count) in enumerate(zip(active, per_day, strict=True)):
        # Working hours, 07:00 to 17:00 UTC: distinct seconds, sorted, so the events are strictly in time order.
        seconds = sorted(rng.sample(range(7 * 3600, 17 * 3600), count))
        sessions = set(rng.sample(range(1, count), min(count - 1, rng.randint(1, 3)))) | {0} if count > 1 else {0}
        for slot, second in enumerate(seconds):
            if slot in sessions:
                event = {"type": "session_started", "properties": {"client": rng.choice(["web", "desktop"])}}
            else:
                draw = rng.random()
                if draw < 0.35:
                    event = module_event()
                elif draw < 0.75 or number < 2:  # tickets from the third working day on
                    event = {"type": "page_view", "properties": {"path": rng.choice(PAGES)}}
                else:
                    priority = rng.choice(["low", "normal", "normal", "high"])
                    event = {"type": "ticket_submitted", "properties": {"priority": priority}}
            out.append({"at": f"{day * 86400 + second}s", **event})
    return {
        "playbook": "support-specialist",
        "learner": LEARNER,
        "start": start.isoformat().replace("+00:00", "Z"),
        "events": out,
        "until": f"{days}d",
        "expect": [],
    }


def offset_seconds(at: str) -> int:
    return int(at.removesuffix("s"))


def simulate(journey: dict, runs: int) -> tuple[float, object]:
    """Median seconds of ``runs`` simulations (after a warm-up on a short journey), and the last result."""
    from signals_app.services.simulation import journey_simulate

    events = journey["events"][:30]
    warm = {**journey, "events": events, "until": f"{offset_seconds(events[-1]['at']) + 3600}s"}
    journey_simulate(document=warm)
    times, result = [], None
    for _ in range(runs):
        began = time.perf_counter()
        result = journey_simulate(document=journey)
        times.append(time.perf_counter() - began)
    return statistics.median(times), result


def profile(journey: dict, top: int = 15) -> str:
    from signals_app.services.simulation import journey_simulate

    profiler = cProfile.Profile()
    profiler.enable()
    journey_simulate(document=journey)
    profiler.disable()
    buffer = io.StringIO()
    pstats.Stats(profiler, stream=buffer).sort_stats("cumulative").print_stats(top)
    return buffer.getvalue()


def learner_setup(*, external_id: str, start: datetime):
    from identity.services import learner_create, role_upsert
    from playbooks.services import learner_enroll

    role = role_upsert(slug="support_specialist", name="Support specialist")
    fields = {key: LEARNER[key] for key in ("timezone", "attributes")}
    learner = learner_create(external_id=external_id, roles=[role], **fields)
    learner_enroll(learner=learner, now=start)  # as the simulator does: enrolled at the journey's start
    return learner


def worker_ready() -> bool:
    from onboarding.tasks import ping

    try:
        ping.delay().get(timeout=2)
    except Exception:  # noqa: BLE001 (not up yet, whatever the reason)
        return False
    return True


def unprocessed(learner) -> int:
    from signals_app.models import Event

    return Event.objects.filter(learner=learner, processed_at__isnull=True).count()


def replay(session, url: str, key: str, learner, journey: dict, tag: str) -> int:
    """POST the journey's events one by one, in order; returns how many were accepted."""
    start = datetime.fromisoformat(journey["start"])
    accepted = 0
    for index, event in enumerate(journey["events"]):
        body = {
            "id": f"{tag}-{index}",
            "learner": learner.external_id,
            "type": event["type"],
            "module": event.get("module", ""),
            "occurred_at": (start + timedelta(seconds=offset_seconds(event["at"]))).isoformat(),
            "properties": event.get("properties", {}),
        }
        answer = session.post(f"{url}/api/v1/events", json=body, headers={"Authorization": f"Api-Key {key}"})
        if answer.status_code != 202:
            raise SystemExit(f"POST /api/v1/events answered {answer.status_code}: {answer.text}")
        accepted += answer.json()["accepted"]
    return accepted


def live(journey: dict) -> tuple[float, dict]:
    """Seconds from the first POST to every event processed, and the live learner's final state."""
    import requests

    from identity.services import api_key_create
    from playbooks.models import ModuleProgress, ProgressStatus
    from playbooks.selectors import next_module_for_learner
    from signals_app.models import Reminder, ReminderStatus

    start = datetime.fromisoformat(journey["start"])
    warm_learner = learner_setup(external_id="bench-live-warm-up", start=start)
    learner = learner_setup(external_id="bench-live-specialist", start=start)
    key = api_key_create(name="bench simulation", scopes=["events:write"]).key
    worker = start_worker(concurrency=2)
    web, url = start_web(workers=2, env={"API_RATE_LIMIT": "100000000/minute"})
    try:
        wait_for(worker_ready, timeout=60, what="a worker")
        with requests.Session() as session:
            # Warm both gunicorn workers and the Celery worker's imports, caches and connections.
            warm = {**journey, "events": journey["events"][:40]}
            replay(session, url, key, warm_learner, warm, "warm")
            wait_for(lambda: unprocessed(warm_learner) == 0, timeout=120, what="the warm-up's evaluation")
            began = time.perf_counter()
            accepted = replay(session, url, key, learner, journey, "live")
            posted = time.perf_counter() - began
            wait_for(lambda: unprocessed(learner) == 0, timeout=1800, what="evaluation", interval=0.01)
            elapsed = time.perf_counter() - began
    finally:
        stop(web)
        stop(worker)
    if accepted != len(journey["events"]):
        raise SystemExit(f"the API accepted {accepted} of {len(journey['events'])} events")
    answer = next_module_for_learner(learner=learner)
    reminders = Reminder.objects.filter(learner=learner).exclude(status=ReminderStatus.SUPPRESSED).count()
    progress = ModuleProgress.objects.filter(enrollment__learner=learner).order_by("finished_at", "pk")
    rows = list(progress.values_list("module__slug", "status"))
    return elapsed, {
        "status": answer.status,
        "next_module": answer.module.slug if answer.module else None,
        "completed": [slug for slug, status in rows if status == ProgressStatus.COMPLETED],
        "skipped": [slug for slug, status in rows if status == ProgressStatus.SKIPPED],
        "reminders": reminders,
        "posted": posted,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--runs", type=int, default=3, help="simulations timed; the median is reported")
    parser.add_argument("--profile", action="store_true", help="profile one simulation even if the target is met")
    args = parser.parse_args()
    django_setup()
    from playbooks.services import playbook_import

    playbook_import(text=playbook_text(), publish=True)
    # Midnight UTC, days + 1 days ago: the journey (``days`` long) ends a day before now.
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    journey = journey_make(
        events=args.events, days=args.days, seed=args.seed, start=today - timedelta(days=args.days + 1)
    )
    kinds: dict[str, int] = {}
    for event in journey["events"]:
        kinds[event["type"]] = kinds.get(event["type"], 0) + 1
    moments = [offset_seconds(e["at"]) for e in journey["events"]]
    gaps = sum(1 for a, b in zip(moments, moments[1:], strict=False) if b - a > 86400)

    simulated, result = simulate(journey, args.runs)
    live_seconds, live_final = live(journey)
    final = result.final
    agree = live_final["next_module"] == final["next_module"] and live_final["status"] == final["status"]
    ratio = live_seconds / simulated

    print(f"journey: {len(journey['events'])} events over {args.days} days (seed {args.seed}), {gaps} gaps over 24 h")
    print("  " + ", ".join(f"{kind} {count}" for kind, count in sorted(kinds.items())))
    print(
        f"simulated: final next module {final['next_module']!r} ({final['status']}), completed "
        f"{final['completed']}, skipped {final['skipped']}, flags {final['flags']}, reminders {final['reminders']}"
    )
    print(
        f"live:      final next module {live_final['next_module']!r} ({live_final['status']}), completed "
        f"{live_final['completed']}, skipped {live_final['skipped']}, "
        f"reminders {live_final['reminders']} (no clock sweep in the replay)"
    )
    print(f"next modules agree: {'yes' if agree else 'NO: the simulation and the live pipeline disagree'}")
    print(
        f"simulation (median of {args.runs}): {simulated:8.3f} s  ({len(journey['events']) / simulated:,.0f} events/s)"
    )
    print(
        f"live API + worker replay:   {live_seconds:8.3f} s  ({len(journey['events']) / live_seconds:,.0f} events/s; "
        f"the POSTs took {live_final['posted']:.1f} s, the worker finished {live_seconds - live_final['posted']:.1f} s "
        "after the last)"
    )
    print(f"ratio live / simulated:     {ratio:8.1f}x (target >= 10x: {'met' if ratio >= 10 else 'not met'})")
    if ratio < 10 or args.profile:
        print(f"\ncProfile of one simulation, top 15 by cumulative time:\n{profile(journey)}")


if __name__ == "__main__":
    main()
