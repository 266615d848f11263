"""Event → decisions committed, through a real worker and Redis, against a no-op task per event.

    bin/bench pipeline [--events 20000] [--learners 1000] [--seconds 10] [--profile] [--tick S] [--load-curve SHARE ...]
                       [--rate EVENTS_PER_S]

The workload walks learners along the support-specialist playbook (playbooks/demo/support-specialist.yaml). Each
learner plays one of three journeys of 20 events, modelled on tests/scenarios/support-specialist/journeys/, with
its events sent in order (strictly increasing occurred_at, one minute apart):

- rushed (no API access): completes the first module in 20 s, so the 'remedial demo' trigger inserts the guided
  demo; rushes ticketing-101 too (the trigger's limit: a 'suppressed' decision), then works slowly: the
  specialist-track branch picks compliance-escalation, the escalation branch policy-compliance, and the playbook
  completes;
- skipper (API access): skips three modules in a row: the 'skip streak review' trigger raises a flag, the branch
  picks advanced-debugging, then policy-compliance, and the playbook completes;
- steady (API access): steady completions and one skip pick standard-api-troubleshooting, and 15 tickets then pick
  escalation-prep.

Between the completions and skips that decide, the journeys hold module_started, module_progress, page views,
sessions and tickets, as a learner's app sends them; about a third of the events cause decisions. A learner
given more events than its journey sends page views after it.

1. Baseline: N no-op Celery tasks through the same Redis to the worker processes (``--processes``, 2 by
   default): tasks/s.
2. Sustained: N events (``--events``) over ``--learners`` learners, stored through the ingestion service in
   batches of 500 (round-robin over the learners, so each learner's events arrive in order) and evaluated by the
   same worker processes: events/s until every event is processed. Target: at least 1x the no-op's tasks/s.
3. Latency from storage to the commit of the decisions an event caused (the decision rows' commit timestamp,
   ``pg_xact_commit_timestamp(xmin)``, minus the event's ``received_at``), over the events that caused at least
   one decision: p50 at a trickle of 20 events/s, and p95 at half the sustained rate, each phase on fresh learners
   enough for its events, once the workers are idle. Target: the p95 at half rate at most 3x the p50 at a trickle.
   The loaded phases send one ingestion batch every ``--tick`` seconds (0.1: 168 events at once at 1,680 events/s;
   0.01 is closer to many apps posting a few events each). The same is measured at the shares of the sustained rate
   given by ``--load-curve`` (by default 10 to 40 %), with how long evaluation ran on after the last batch: a few
   tenths of a second when the workers kept up, the backlog when they did not.
   Each phase also prints its evaluation transactions: how many, their size, how many events each learner had in
   one (several in the sustained phase, where the workers run behind the storing; one in the latency phases), and
   the share of the phase the worker processes spent inside one.
   Below the target (or with ``--profile``), cProfile of the evaluation as the half-rate phase runs it (tasks of
   50 learners with one new event each) says where the time goes.

Nothing lost: every phase checks that each event stored was processed and that the decisions written, by kind,
are exactly those the engine decides for the same journeys run in memory (playbooks/engine, no database).
bin/bench starts PostgreSQL with track_commit_timestamp=on, which the latency needs.
"""

import argparse
import cProfile
import io
import logging
import math
import pstats
import time
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

from benchmarks._support import django_setup, percentile, start_worker, stop, wait_for

PLAYBOOK = Path(__file__).resolve().parent.parent / "playbooks" / "demo" / "support-specialist.yaml"
SOURCE = "bench"


def _done(kind: str, module: str, seconds: int) -> tuple:
    return (kind, module, {"duration_seconds": seconds})


def _progress(module: str, seconds: int, pct: int) -> tuple:
    return ("module_progress", module, {"seconds": seconds, "completion_pct": pct})


STARTED, COMPLETED, SKIPPED = "module_started", "module_completed", "module_skipped"
PAGE = ("page_view", "", {"path": "/kb/refunds"})
TICKET = ("ticket_submitted", "", {"priority": "normal"})
SESSION = ("session_started", "", {"client": "web"})

# (attributes, events): each event is (type, module, properties). The comments say what the engine decides.
JOURNEYS: dict[str, tuple[dict, list[tuple]]] = {
    "rushed": (
        {"api_access": False},
        [
            SESSION,
            (STARTED, "welcome", {}),
            _done(COMPLETED, "welcome", 20),  # remedial demo: trigger, insert_module, next module
            (STARTED, "remedial-demo", {}),
            _progress("remedial-demo", 200, 50),
            _done(COMPLETED, "remedial-demo", 400),  # next module: crm-basics
            (STARTED, "crm-basics", {}),
            _progress("crm-basics", 80, 60),
            _done(COMPLETED, "crm-basics", 150),  # next module
            PAGE,
            _done(COMPLETED, "ticketing-101", 25),  # remedial demo again: suppressed (limit 1); next module
            (STARTED, "product-tour", {}),
            _progress("product-tour", 90, 50),
            _done(COMPLETED, "product-tour", 180),  # specialist-track: avg >= 120, compliance-escalation
            (STARTED, "compliance-escalation", {}),
            TICKET,
            _done(COMPLETED, "compliance-escalation", 300),  # escalation: no API access, policy-compliance
            (STARTED, "policy-compliance", {}),
            _progress("policy-compliance", 120, 50),
            _done(COMPLETED, "policy-compliance", 240),  # the playbook is complete
        ],
    ),
    "skipper": (
        {"api_access": True},
        [
            SESSION,
            (STARTED, "welcome", {}),
            _progress("welcome", 25, 50),
            _done(COMPLETED, "welcome", 50),  # next module
            (STARTED, "crm-basics", {}),
            (SKIPPED, "crm-basics", {}),  # next module
            PAGE,
            (SKIPPED, "ticketing-101", {}),  # next module
            ("module_viewed", "product-tour", {}),
            (SKIPPED, "product-tour", {}),  # skip streak: trigger, flag; specialist-track: advanced-debugging
            (STARTED, "advanced-debugging", {}),
            _progress("advanced-debugging", 30, 40),
            _progress("advanced-debugging", 55, 80),
            _done(COMPLETED, "advanced-debugging", 70),  # escalation: too few tickets, policy-compliance
            SESSION,
            (STARTED, "policy-compliance", {}),
            _progress("policy-compliance", 30, 50),
            PAGE,
            _done(COMPLETED, "policy-compliance", 60),  # the playbook is complete
            PAGE,
        ],
    ),
    "steady": (
        {"api_access": True},
        [
            _done(COMPLETED, "welcome", 100),  # next module
            TICKET,
            _done(COMPLETED, "crm-basics", 110),  # next module
            TICKET,
            (SKIPPED, "ticketing-101", {}),  # next module
            TICKET,
            _done(COMPLETED, "product-tour", 95),  # specialist-track: standard-api-troubleshooting
            *[TICKET] * 12,
            _done(COMPLETED, "standard-api-troubleshooting", 100),  # escalation: 15 tickets in 7 days, escalation-prep
        ],
    ),
}
KINDS = list(JOURNEYS)
JOURNEY_LENGTH = 20
assert all(len(events) == JOURNEY_LENGTH for _attributes, events in JOURNEYS.values())


def journey_event(kind: str, step: int) -> tuple:
    events = JOURNEYS[kind][1]
    return events[step] if step < len(events) else PAGE


class Pool:
    """Learners ``prefix-0`` … ``prefix-(count-1)``, enrolled at ``start``, journey ``KINDS[n % 3]`` each, and the
    sequence of their events, round-robin: event ``i`` is step ``i // count`` of learner ``i % count``."""

    def __init__(self, prefix: str, count: int, start: datetime) -> None:
        self.prefix, self.count, self.start = prefix, count, start
        self.sent = 0
        self.steps = [0] * count  # events sent to each learner

    def create(self) -> None:
        from identity.models import Learner, RoleAssignment
        from identity.services import role_upsert
        from playbooks.services import learner_enroll

        role = role_upsert(slug="support_specialist", name="Support specialist")
        learners = Learner.objects.bulk_create(
            [
                Learner(external_id=f"{self.prefix}-{n}", attributes=JOURNEYS[KINDS[n % len(KINDS)]][0])
                for n in range(self.count)
            ]
        )
        RoleAssignment.objects.bulk_create([RoleAssignment(learner=learner, role=role) for learner in learners])
        for learner in Learner.objects.filter(external_id__startswith=f"{self.prefix}-"):
            learner_enroll(learner=learner, now=self.start)

    def take(self, size: int) -> list[dict]:
        out = []
        for index in range(self.sent, self.sent + size):
            number, step = index % self.count, index // self.count
            kind, module, properties = journey_event(KINDS[number % len(KINDS)], step)
            occurred_at = self.start + timedelta(minutes=1 + step, seconds=number % 50)
            out.append(
                {
                    "id": f"{self.prefix}-{number}-{step}",
                    "learner": f"{self.prefix}-{number}",
                    "type": kind,
                    "module": module,
                    "occurred_at": occurred_at.isoformat(),
                    "properties": properties,
                }
            )
            self.steps[number] = step + 1
        self.sent += size
        return out

    def expected(self, engine: dict[str, list[Counter]]) -> tuple[Counter, int]:
        """The decisions (by kind) the engine takes for the events sent, and how many events cause any."""
        kinds: Counter = Counter()
        deciding = 0
        for number, steps in enumerate(self.steps):
            for step in range(steps):
                decided = engine[KINDS[number % len(KINDS)]][min(step, JOURNEY_LENGTH)]
                kinds.update(decided)
                deciding += bool(decided)
        return kinds, deciding


def engine_decisions(start: datetime) -> dict[str, list[Counter]]:
    """Each journey run through the pure engine (as the worker runs it): the decisions of each step, by kind."""
    from playbooks.engine.journey import LearnerFacts, evaluate
    from playbooks.engine.journey import start as journey_start
    from playbooks.engine.signals import EventFact
    from playbooks.models import PlaybookVersion
    from playbooks.selectors import compiled_version

    version = PlaybookVersion.objects.filter(playbook__slug="support-specialist", status="published").get()
    playbook = compiled_version(version=version)
    out = {}
    for kind, (attributes, _events) in JOURNEYS.items():
        facts = LearnerFacts(kind, ("support_specialist",), attributes, "UTC")
        state = journey_start(playbook, facts, now=start).state
        history: list[EventFact] = []
        steps = []
        for step in range(JOURNEY_LENGTH + 1):  # and a page view after it, as every later step
            event_type, module, properties = journey_event(kind, step)
            fact = EventFact(event_type, start + timedelta(minutes=1 + step), module or None, properties)
            history.append(fact)
            outcome = evaluate(playbook, facts, state, events=history, event=fact, now=fact.occurred_at)
            state = outcome.state
            steps.append(Counter(decision.kind for decision in outcome.decisions))
        out[kind] = steps
    return out


def unprocessed() -> int:
    from signals_app.models import Event

    return Event.objects.filter(processed_at__isnull=True).count()


def broker():
    import redis
    from django.conf import settings

    return redis.Redis.from_url(settings.CELERY_BROKER_URL)


def drain() -> None:
    """Wait until every event is processed and the workers have nothing left: tasks still queued (a task often
    finds its learners' events already evaluated by another) or held back (busy learners come back 0.2 s later),
    which would otherwise delay the next phase's first events."""
    client = broker()
    wait_for(lambda: unprocessed() == 0, timeout=600, what="evaluation", interval=0.05)

    # kombu's Redis transport keeps each task taken from a queue in its "unacked" hash until it is acknowledged.
    def idle() -> bool:
        return client.llen("events") + client.hlen("unacked") == 0

    wait_for(idle, timeout=600, what="the workers", interval=0.05)
    time.sleep(0.5)


def noop_rate(count: int) -> float:
    from onboarding.tasks import noop

    client = broker()
    for _ in range(200):  # warm the worker
        noop.delay()
    wait_for(lambda: client.llen("default") == 0, timeout=60, what="warm-up")
    began = time.perf_counter()
    for _ in range(count):
        noop.delay()
    wait_for(lambda: client.llen("default") == 0, timeout=600, what="no-op tasks", interval=0.01)
    return count / (time.perf_counter() - began)


def ingest(events: list[dict]) -> None:
    from signals_app.services import events_ingest

    result = events_ingest(body={"events": events}, source=SOURCE)
    if result.accepted != len(events):
        raise SystemExit(f"{len(events) - result.accepted} of {len(events)} events were not accepted")


def sustained_rate(pool: Pool, events: int) -> float:
    began = time.perf_counter()
    for start in range(0, events, 500):
        ingest(pool.take(min(500, events - start)))
    wait_for(lambda: unprocessed() == 0, timeout=1800, what="evaluation", interval=0.05)
    return events / (time.perf_counter() - began)


def send_at(pool: Pool, rate: float, seconds: float, tick: float = 0.1) -> float:
    """Send at ``rate`` for ``seconds``, a batch every ``tick`` seconds (every 0.05 s at a trickle), then wait for
    the workers; returns how long the evaluation ran on after the last batch (a few tenths of a second if the
    workers kept up, the backlog's length if not)."""
    tick = 0.05 if rate <= 20 else tick
    per_tick = max(1, round(rate * tick))
    ticks, began = 0, time.perf_counter()
    while time.perf_counter() - began < seconds:
        ingest(pool.take(per_tick))
        ticks += 1
        time.sleep(max(0.0, began + ticks * tick - time.perf_counter()))
    sent = time.perf_counter()
    wait_for(lambda: unprocessed() == 0, timeout=600, what="evaluation", interval=0.02)
    behind = time.perf_counter() - sent
    drain()
    return behind


_LATENCY_SQL = """
    SELECT e.received_at, e.processed_at, max(pg_xact_commit_timestamp(d.xmin)), count(*)
    FROM signals_app_event e JOIN signals_app_decision d ON d.event_id = e.id
    WHERE e.source = %s AND e.client_id LIKE %s
    GROUP BY e.id, e.received_at, e.processed_at
"""


# Every event of a phase, decisive or not: from its storage to the commit of its evaluation.
_EVALUATED_SQL = """
    SELECT received_at, pg_xact_commit_timestamp(xmin)
    FROM signals_app_event WHERE source = %s AND client_id LIKE %s AND processed_at IS NOT NULL
"""


# The evaluation transactions of a phase: the event rows each one marked processed carry its id (xmin), its start
# of evaluation (processed_at) and its commit time.
_TRANSACTIONS_SQL = """
    SELECT count(*), min(processed_at), max(pg_xact_commit_timestamp(xmin)), min(received_at),
           count(DISTINCT learner_id)
    FROM signals_app_event WHERE source = %s AND client_id LIKE %s AND processed_at IS NOT NULL
    GROUP BY xmin::text
"""


class Phase:
    """What a phase wrote, checked against the engine: the latencies of the events that decided something, and the
    evaluation transactions that did it."""

    def __init__(self, name: str, pool: Pool, engine: dict[str, list[Counter]]) -> None:
        from django.db import connection
        from django.db.models import Count

        from signals_app.models import Decision, Event

        self.name, self.pool = name, pool
        events = Event.objects.filter(source=SOURCE, client_id__startswith=f"{pool.prefix}-")
        self.events = events.count()
        self.unprocessed = events.filter(processed_at__isnull=True).count()
        decisions = Decision.objects.filter(event__source=SOURCE, event__client_id__startswith=f"{pool.prefix}-")
        self.kinds = Counter(dict(decisions.values("kind").annotate(n=Count("pk")).values_list("kind", "n")))
        self.expected_kinds, self.expected_deciding = pool.expected(engine)
        with connection.cursor() as cursor:
            cursor.execute(_LATENCY_SQL, [SOURCE, f"{pool.prefix}-%"])
            rows = cursor.fetchall()
        if rows and rows[0][2] is None:
            raise SystemExit("no commit timestamps: start PostgreSQL with -c track_commit_timestamp=on (bin/bench)")
        self.deciding = len(rows)
        self.to_commit = [(committed - received).total_seconds() * 1000 for received, _p, committed, _n in rows]
        self.to_start = [(processed - received).total_seconds() * 1000 for received, processed, _c, _n in rows]
        with connection.cursor() as cursor:
            cursor.execute(_EVALUATED_SQL, [SOURCE, f"{pool.prefix}-%"])
            self.every_to_commit = [(c - r).total_seconds() * 1000 for r, c in cursor.fetchall()]
            cursor.execute(_TRANSACTIONS_SQL, [SOURCE, f"{pool.prefix}-%"])
            self.transactions = cursor.fetchall()

    def evaluating(self, processes: int) -> str:
        """How the phase's events were evaluated: in how many transactions, how many events each learner had in one
        (a batch's cost is mostly per learner), and for what share of the phase the worker processes were inside one
        (from its start of evaluation to its commit)."""
        sizes = sorted(count for count, *_rest in self.transactions)
        if not sizes:
            return "no evaluation transaction"
        learners = sum(learners for *_rest, learners in self.transactions)
        inside = sum((commit - start).total_seconds() for _n, start, commit, _r, _l in self.transactions)
        first = min(received for _n, _s, _c, received, _l in self.transactions)
        span = (max(commit for _n, _s, commit, _r, _l in self.transactions) - first).total_seconds()
        return (
            f"{len(sizes):,} evaluation transactions, {sum(sizes) / len(sizes):.0f} events each on average "
            f"(median {percentile(sizes, 0.5)}), {sum(sizes) / learners:.2f} events per learner in one; the "
            f"{processes} worker processes were inside one {inside / (processes * span):.0%} of the phase"
        )

    @property
    def decisions(self) -> int:
        return sum(self.kinds.values())

    def problems(self) -> list[str]:
        out = []
        if self.events != self.pool.sent:
            out.append(f"{self.pool.sent - self.events} events lost")
        if self.unprocessed:
            out.append(f"{self.unprocessed} events never processed")
        if self.kinds != self.expected_kinds:
            out.append(f"decisions {dict(self.kinds)}, the engine decides {dict(self.expected_kinds)}")
        if self.deciding != self.expected_deciding:
            out.append(f"{self.deciding} events decided something, the engine says {self.expected_deciding}")
        return out

    def summary(self) -> str:
        kinds = ", ".join(f"{kind} {count:,}" for kind, count in sorted(self.kinds.items()))
        return (
            f"{self.name:<10} {self.events:>7,} events, {self.deciding:>6,} of them decided: "
            f"{self.decisions:>7,} decisions ({kinds})"
        )


def profile(start: datetime, *, top: int = 25) -> str:
    """cProfile of the worker's evaluation as the half-rate phase runs it: tasks of 50 learners (a task's batch)
    with one new event each, on journeys under way, in this process (the workers are stopped)."""
    from identity.models import Learner
    from onboarding.celery import app as celery_app
    from signals_app.services import learners_evaluate_pending

    pool = Pool("profile", 50, start)
    pool.create()
    ids = list(Learner.objects.filter(external_id__startswith="profile-").values_list("pk", flat=True))
    for _ in range(6):  # the first steps of every journey, not profiled
        ingest(pool.take(pool.count))
        learners_evaluate_pending(learner_ids=ids)
    profiler, elapsed, tasks = cProfile.Profile(), 0.0, JOURNEY_LENGTH - 6
    for _ in range(tasks):
        ingest(pool.take(pool.count))
        began = time.perf_counter()
        profiler.enable()
        learners_evaluate_pending(learner_ids=ids)
        profiler.disable()
        elapsed += time.perf_counter() - began
    celery_app.control.purge()  # the tasks the ingestion enqueued for these learners: already done here
    buffer = io.StringIO()
    stats = pstats.Stats(profiler, stream=buffer)
    stats.sort_stats("cumulative").print_stats(top)
    stats.sort_stats("tottime").print_stats(top)
    head = f"{tasks} tasks of {pool.count} learners, one new event each: {elapsed / tasks * 1000:.1f} ms per task"
    return f"{head} under cProfile\n{buffer.getvalue()}"


_COMMITS_SQL = """
    SELECT count(*), min(pg_xact_commit_timestamp(xmin)), max(pg_xact_commit_timestamp(xmin))
    FROM signals_app_event WHERE source = %s AND client_id LIKE %s
"""


def worker_curve(start: datetime, *, events: int, learners: int, most: int) -> list[tuple[int, float, float]]:
    """Evaluation throughput of 1 … ``most`` worker processes: the events stored (tasks queued) with no worker
    running, then drained; events/s from the first batch's commit to the last (the workers' start-up not counted),
    with the no-op task rate of the same processes."""
    from django.db import connection

    out = []
    for processes in range(1, most + 1):
        pool = Pool(f"curve{processes}", learners, start)
        pool.create()
        for at in range(0, events, 500):
            ingest(pool.take(min(500, events - at)))
        worker = start_worker(concurrency=processes)
        try:
            wait_for(lambda: unprocessed() == 0, timeout=1800, what="evaluation", interval=0.05)
            drain()
            noop = noop_rate(min(events, 10_000))
        finally:
            stop(worker)
        with connection.cursor() as cursor:
            cursor.execute(_COMMITS_SQL, [SOURCE, f"{pool.prefix}-%"])
            count, first, last = cursor.fetchone()
        out.append((processes, count / (last - first).total_seconds(), noop))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--learners", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--profile", action="store_true", help="profile the evaluation even if the target is met")
    parser.add_argument(
        "--rate",
        type=float,
        default=0.0,
        metavar="EVENTS_PER_S",
        help="load the latency phases as shares of this rate instead of the sustained rate measured (to compare two "
        "versions at the same absolute load; the ratio is then not the target's)",
    )
    parser.add_argument(
        "--processes", type=int, default=2, help="worker processes for every phase, the no-op's included"
    )
    parser.add_argument("--curve", type=int, default=0, metavar="N", help="only the throughput of 1 … N processes")
    parser.add_argument(
        "--tick",
        type=float,
        default=0.1,
        help="seconds between the batches of the loaded phases (0.1: a batch of 168 events at 1,680 events/s)",
    )
    parser.add_argument(
        "--load-curve",
        type=float,
        nargs="*",
        default=[0.1, 0.2, 0.3, 0.4],
        metavar="SHARE",
        help="latency also at these shares of the sustained rate (none: skip)",
    )
    args = parser.parse_args()
    django_setup()
    logging.disable(logging.INFO)  # this process only: not a line per enrolment of the set-up
    from django.utils import timezone

    from playbooks.services import playbook_import

    playbook_import(text=PLAYBOOK.read_text(), publish=True)
    # The journeys happen over the last day (the API refuses events from the future), enrolled at its start.
    start = timezone.now().replace(microsecond=0) - timedelta(days=1)
    if args.curve:
        print(f"evaluation throughput, {args.events:,} events queued for {args.learners:,} learners, then drained:")
        for processes, rate, noop in worker_curve(start, events=args.events, learners=args.learners, most=args.curve):
            print(f"  {processes} worker processes: {rate:>7,.0f} events/s evaluated; no-op tasks {noop:>6,.0f}/s")
        return
    engine = engine_decisions(start)
    sustained_pool = Pool("bench", args.learners, start)
    sustained_pool.create()
    trickle_pool = Pool("trickle", math.ceil(20 * args.seconds * 1.2 / JOURNEY_LENGTH) + 1, start)
    trickle_pool.create()
    worker = start_worker(concurrency=args.processes)
    try:
        time.sleep(5)  # let the worker connect
        noop = noop_rate(args.events)
        sustained = sustained_rate(sustained_pool, args.events)
        load = args.rate or sustained
        drain()
        send_at(trickle_pool, 20, args.seconds)
        half_pool = Pool("half", math.ceil(load / 2 * args.seconds * 1.2 / JOURNEY_LENGTH) + 1, start)
        half_pool.create()  # the workers are idle meanwhile
        send_at(half_pool, load / 2, args.seconds, args.tick)
        curve = []
        for share in args.load_curve:
            pool = Pool(f"load{share:g}", math.ceil(load * share * args.seconds * 1.2 / JOURNEY_LENGTH) + 1, start)
            pool.create()
            curve.append((share, pool, send_at(pool, load * share, args.seconds, args.tick)))
    finally:
        stop(worker)
    phases = [
        Phase("sustained", sustained_pool, engine),
        Phase("trickle", trickle_pool, engine),
        Phase("half", half_pool, engine),
    ]
    trickle, half = phases[1], phases[2]
    print(f"no-op task:               {noop:>9,.0f} tasks/s ({args.processes} worker processes)")
    print(f"event -> evaluated:       {sustained:>9,.0f} events/s sustained, {args.learners} learners")
    print(f"ratio sustained / no-op:  {sustained / noop:.2f}x (target >= 1x)")
    print(f"  {phases[0].evaluating(args.processes)}")
    print("latency from storage to the commit of the decisions, over the events that decided something:")
    for phase, rate in ((trickle, 20.0), (half, load / 2)):
        print(
            f"  at {rate:>5,.0f} events/s: p50 {percentile(phase.to_commit, 0.5):.0f} ms, "
            f"p95 {percentile(phase.to_commit, 0.95):.0f} ms ({len(phase.to_commit):,} events; to the start of "
            f"evaluation: p50 {percentile(phase.to_start, 0.5):.0f} ms, p95 {percentile(phase.to_start, 0.95):.0f} ms)"
        )
        print(
            f"    every event, to its evaluation's commit: p50 {percentile(phase.every_to_commit, 0.5):.0f} ms, "
            f"p95 {percentile(phase.every_to_commit, 0.95):.0f} ms ({len(phase.every_to_commit):,} events)"
        )
        print(f"    {phase.evaluating(args.processes)}")
    ratio = percentile(half.to_commit, 0.95) / percentile(trickle.to_commit, 0.5)
    print(
        f"ratio p95 at half rate / p50 at trickle: {ratio:.1f}x (target <= 3x)"
        + (f" (half of --rate {load:,.0f})" if args.rate else "")
    )
    if curve:
        print("latency against load (shares of the sustained rate), each on fresh learners:")
        for share, pool, behind in curve:
            phase = Phase(f"load {share:g}", pool, engine)
            phases.append(phase)
            p50, p95 = percentile(phase.to_commit, 0.5), percentile(phase.to_commit, 0.95)
            print(
                f"  {share:>4.0%} ({load * share:>5,.0f} events/s): p50 {p50:>4.0f} ms, "
                f"p95 {p95:>5.0f} ms, {p95 / percentile(trickle.to_commit, 0.5):>5.1f}x the trickle's p50; "
                f"evaluation ran on {behind * 1000:,.0f} ms after the last event"
            )
    print("decisions written, per phase:")
    for phase in phases:
        print(f"  {phase.summary()}")
    problems = [f"{phase.name}: {problem}" for phase in phases for problem in phase.problems()]
    if problems:
        raise SystemExit("LOST OR WRONG:\n  " + "\n  ".join(problems))
    print("nothing lost: every event processed, the decisions exactly the engine's for the same journeys")
    if ratio > 3 or args.profile:
        print(f"\ncProfile of the evaluation in the steady state: {profile(start)}")


if __name__ == "__main__":
    main()
