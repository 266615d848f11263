"""Condition evaluation: rule-engine against plain lambdas, and its share of the engine's per-event cost.

    bin/bench conditions [--events 200] [--seconds 2]

Prints evaluations/s for the support-specialist playbook's conditions compiled by rule-engine and written as
Python lambdas, their ratio, and the share of condition evaluation in (1) the pure engine's ``evaluate`` and
(2) the worker's batched evaluation on PostgreSQL (``learners_evaluate_pending``: locks, histories, engine,
enrolments, progress, decision log), which bin/bench provides. Both shares are measured again with
benchmarks/playbooks/article-examples.yaml, which uses the newer vocabulary at once (sustained rates, a sequence,
sessions, schedules, tags, windowed limits, a wait) over a history of sessions, page views and tickets.
"""

import argparse
import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from playbooks.engine import conditions as conditions_module
from playbooks.engine.document import load_yaml, spec_from_document
from playbooks.engine.journey import CompiledPlaybook, LearnerFacts, evaluate, start
from playbooks.engine.signals import EventFact

PLAYBOOK = Path(__file__).resolve().parent.parent / "playbooks" / "demo" / "support-specialist.yaml"
NEW_VOCABULARY = Path(__file__).resolve().parent / "playbooks" / "article-examples.yaml"

CONTEXT = {
    "roles": ["support_specialist"],
    "role": "support_specialist",
    "attributes": {"api_access": True},
    "days_enrolled": 3.5,
    "now": {"hour": 10, "weekday": 2},
    "skips": 2,
    "skip_streak": 1,
    "completed_modules": 3,
    "avg_module_seconds": 104.0,
    "idle_hours": 1.5,
    "sessions": 4,
    "tickets_7d": 9,
    "module": {"slug": "product-tour", "seconds": 50, "completion_pct": 40, "views": 2},
    "event": {"type": "module_completed", "module": "product-tour", "properties": {"duration_seconds": 95}},
}
# The same conditions, as a programmer would hand-write them.
LAMBDAS = {
    "avg_module_seconds < 90 and skips >= 3": lambda c: c["avg_module_seconds"] < 90 and c["skips"] >= 3,
    "avg_module_seconds >= 90 and avg_module_seconds < 120 and skips <= 1": lambda c: (
        90 <= c["avg_module_seconds"] < 120 and c["skips"] <= 1
    ),
    "avg_module_seconds >= 120": lambda c: c["avg_module_seconds"] >= 120,
    "attributes.api_access == true and tickets_7d >= 14": lambda c: (
        c["attributes"].get("api_access") is True and c["tickets_7d"] >= 14
    ),
    'event.type == "module_completed" and event.properties.duration_seconds < 30': lambda c: (
        c["event"]["type"] == "module_completed" and c["event"]["properties"]["duration_seconds"] < 30
    ),
    "skip_streak >= 3": lambda c: c["skip_streak"] >= 3,
}


def rate(function, seconds: float) -> float:
    count, started = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - started) < seconds:
        for _ in range(1000):
            function()
        count += 1000
    return count / elapsed


def condition_rates(playbook: CompiledPlaybook, seconds: float) -> tuple[float, float]:
    compiled = {c.expression: c for c in [*playbook.options.values(), *(c for _, c in playbook.triggers)]}
    assert set(compiled) == set(LAMBDAS), set(compiled) ^ set(LAMBDAS)
    for expression, condition in compiled.items():  # the two must agree before we compare their speed
        assert condition.evaluate(CONTEXT)[0] == LAMBDAS[expression](CONTEXT), expression
    rules, lambdas = list(compiled.values()), [LAMBDAS[c.expression] for c in compiled.values()]
    engine = rate(lambda: [rule.evaluate(CONTEXT) for rule in rules], seconds) * len(rules)
    plain = rate(lambda: [function(CONTEXT) for function in lambdas], seconds) * len(lambdas)
    return engine, plain


def journey_events(count: int) -> list[EventFact]:
    began, kinds = datetime(2026, 3, 2, 9, tzinfo=UTC), ["module_progress", "ticket_submitted", "page_view"]
    return [
        EventFact(kinds[i % 3], began + timedelta(minutes=i), "product-tour", {"seconds": i, "completion_pct": i % 100})
        for i in range(count)
    ]


# A day's pattern for the newer vocabulary: a session, the pricing → signup → ticket funnel, progress on a tagged
# module, a lab exit (which starts a wait) and the return to it; every 12 events, one every 20 minutes.
_DAY = [
    ("session_started", None, {}),
    ("page_view", None, {"page": "pricing"}),
    ("page_view", None, {"page": "signup"}),
    ("ticket_submitted", None, {}),
    ("module_progress", "api-lab", {"seconds": 120, "completion_pct": 60}),
    ("module_exited", "api-lab", {"kind": "interactive"}),
    ("module_started", "api-lab", {}),
    ("ticket_submitted", None, {}),
    ("module_progress", "product-tour", {"seconds": 300, "completion_pct": 40}),
    ("ticket_submitted", None, {}),
    ("page_view", None, {"page": "docs"}),
    ("session_ended", None, {}),
]


def article_events(count: int) -> list[EventFact]:
    began = datetime(2026, 3, 2, 9, tzinfo=UTC)
    return [
        EventFact(kind, began + timedelta(minutes=20 * i + 4 * (i // len(_DAY)) * 60), module, properties)
        for i, (kind, module, properties) in ((i, _DAY[i % len(_DAY)]) for i in range(count))
    ]


class ConditionTimer:
    """Adds up the time spent inside Condition.evaluate while active."""

    def __enter__(self) -> "ConditionTimer":
        self.spent, self._original = 0.0, conditions_module.Condition.evaluate
        original = self._original

        def timed(condition, values):
            began = time.perf_counter()
            try:
                return original(condition, values)
            finally:
                self.spent += time.perf_counter() - began

        conditions_module.Condition.evaluate = timed
        return self

    def __exit__(self, *exc_info) -> None:
        conditions_module.Condition.evaluate = self._original


def engine_share(playbook: CompiledPlaybook, events: list[EventFact]) -> tuple[float, float]:
    facts = LearnerFacts("bench", ("support_specialist",), {"api_access": True}, "Europe/Berlin")
    state = start(playbook, facts, now=events[0].occurred_at).state
    with ConditionTimer() as timer:
        began = time.perf_counter()
        for index, event in enumerate(events):
            now = event.occurred_at
            state = evaluate(playbook, facts, state, events=events[: index + 1], event=event, now=now).state
        total = time.perf_counter() - began
    return timer.spent, total


def service_share(events: list[EventFact], learners: int = 200, playbook: Path = PLAYBOOK) -> tuple[float, float, int]:
    """The per-event cost of the worker's batched evaluation (signals_app) on the configured database: the
    history spread over ``learners`` learners, stored, then evaluated 50 learners per batch as the tasks do."""
    import django

    django.setup()
    from identity.services import learner_create, role_upsert
    from playbooks.models import PlaybookVersion
    from playbooks.services import learner_enroll, playbook_import
    from signals_app.services import events_ingest, learners_evaluate_pending

    for other in {PLAYBOOK, NEW_VOCABULARY} - {playbook}:  # only the playbook measured enrols the learners
        slug = spec_from_document(load_yaml(other.read_text())).slug
        PlaybookVersion.objects.filter(playbook__slug=slug, status="published").update(status="archived")
    playbook_import(text=playbook.read_text(), publish=True)
    role = role_upsert(slug="support_specialist", name="Support specialist")
    tag = time.time_ns()
    ids = []
    for number in range(learners):
        learner = learner_create(external_id=f"bench-{tag}-{number}", roles=[role], attributes={"api_access": True})
        learner_enroll(learner=learner, now=events[0].occurred_at)
        ids.append(learner.pk)
    items = [
        {
            "id": f"{tag}-{n}-{i}",
            "learner": f"bench-{tag}-{n}",
            "type": e.type,
            "module": e.module,
            "occurred_at": e.occurred_at.isoformat(),
            "properties": e.properties,
        }
        for n in range(learners)
        for i, e in enumerate(events[:20])
    ]
    for first in range(0, len(items), 500):
        events_ingest(body={"events": items[first : first + 500]}, source="bench")
    with ConditionTimer() as timer:
        began = time.perf_counter()
        for first in range(0, len(ids), 50):
            learners_evaluate_pending(learner_ids=ids[first : first + 50])
        total = time.perf_counter() - began
    return timer.spent, total, len(items)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=200, help="events in the learner's history")
    parser.add_argument("--seconds", type=float, default=2.0, help="time per evaluation-rate measurement")
    args = parser.parse_args()
    playbook = CompiledPlaybook(spec_from_document(load_yaml(PLAYBOOK.read_text())))

    engine, plain = condition_rates(playbook, args.seconds)
    print(f"rule-engine conditions: {engine:>12,.0f} evaluations/s")
    print(f"plain Python lambdas:   {plain:>12,.0f} evaluations/s")
    print(f"ratio rule-engine / lambdas: {engine / plain:.3f}x")
    events = journey_events(args.events)
    spent, total = engine_share(playbook, events)
    print(f"engine evaluate(): {total / args.events * 1e6:.0f} us per event, conditions {spent / total:.1%} of it")
    if os.environ.get("DATABASE_URL"):
        spent, total, count = service_share(events)
        print(
            f"worker's batched evaluation on the database: {total / count * 1e6:.0f} us per event, "
            f"conditions {spent / total:.1%} of it"
        )
    print("with the newer vocabulary (benchmarks/playbooks/article-examples.yaml):")
    newer = CompiledPlaybook(spec_from_document(load_yaml(NEW_VOCABULARY.read_text())))
    events = article_events(args.events)
    spent, total = engine_share(newer, events)
    print(f"engine evaluate(): {total / args.events * 1e6:.0f} us per event, conditions {spent / total:.1%} of it")
    if os.environ.get("DATABASE_URL"):
        spent, total, count = service_share(events, playbook=NEW_VOCABULARY)
        print(
            f"worker's batched evaluation on the database: {total / count * 1e6:.0f} us per event, "
            f"conditions {spent / total:.1%} of it"
        )


if __name__ == "__main__":
    main()
