"""A worker's evaluation cost, two variants side by side in one process, to tell apart changes of a few percent.

    bin/bench evaluation_ab VARIANT [--learners 75] [--rounds 3] [--b-events K]

This machine's speed drifts by 20-30 % over minutes (docs/benchmarks.md), far more than most changes to the
evaluation move it, so two runs of `bin/bench pipeline` cannot tell a 10 % change apart. Here two pools of learners
walk the pipeline benchmark's journeys (its 20 steps, one new event per learner each) in the same process,
step by step in alternation (A then B, then B then A), the variant switched on for B's evaluations only. Drift
then touches both alike: the figure to read is the median over steps of B's time over A's. With ``none`` (the two
sides identical) it comes out within 1-2 % of 1.

Variants (what B does differently):

- ``none``: nothing (calibration).
- ``kept-enrolments``: the ceiling of keeping each learner's enrolment in the worker between batches: B's
  enrolments (and the learners' facts) are not read again after the first batch, nor the events their tally is
  behind by. An upper bound of the saving (no check that the row is unchanged, every batch on the same process).
- ``kept-enrolments-checked``: the same, but reading what a real version could not skip: the learners' facts and
  each enrolment's id and status (where a revision would be checked), and the evaluated events a kept tally may
  be behind by (another worker's unwritten evaluations).
- ``without-quiet``: B evaluates every event through the engine, as before the quiet path (docs/evaluation.md);
  A takes the events that cannot change a journey on the quiet path. B / A above 1 is what the quiet path saves.
- ``django-timestamps``: B parses timestamps with Django's own loader (pure Python), A with psycopg's C parser
  as the product does (common/postgresql.py).

Both pools must end with the same decisions, kind by kind (checked): a variant that changed what the engine
decides would not be a measure of cost.

``--b-events K`` measures what a batch's cost is made of instead: B's learners get K steps' events (K new events
each) before each of B's evaluations, A's one, as under a backlog and at a moderate load. A batch of n learners with
k new events each costs about f + n (a + k b); the two sides give the cost per learner (a, with f shared out) and
per event (b), and how much more an event costs evaluated alone than with K - 1 others of its learner. (The events
are the same and evaluated in the same order, so the decisions must still be identical.)
"""

import argparse
import logging
import os
import statistics
import time
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Protocol

from benchmarks._support import django_setup
from benchmarks.pipeline import JOURNEY_LENGTH, PLAYBOOK, Pool, ingest


class Variant(Protocol):
    """What B does differently, switched on for B's evaluations only."""

    def switch(self, on: bool) -> None: ...


class Swaps:
    """Module attributes swapped in while B evaluates."""

    def __init__(self, swaps: list[tuple[object, str, object]]) -> None:
        self.swaps = [(owner, name, getattr(owner, name), new) for owner, name, new in swaps]

    def switch(self, on: bool) -> None:
        for owner, name, old, new in self.swaps:
            setattr(owner, name, new if on else old)


def _none() -> Variant:
    return Swaps([])


def _kept_enrolments(*, checked: bool) -> Variant:
    import signals_app.services.evaluation as evaluation
    from playbooks.models import Enrollment, EnrollmentStatus
    from playbooks.selectors import learner_facts_many

    read, behind = evaluation._enrollments, evaluation._behind
    kept: dict[int, tuple] = {}  # learner id -> (enrolment as evaluated last, the learner's facts)
    reused: set[int] = set()

    def enrollments(learners):
        fresh = [learner for learner in learners if learner.pk not in kept]
        fresh_ids = {learner.pk for learner in fresh}
        active, enrolled, facts = read(fresh) if fresh else ([], set(), {})
        for enrollment in active:
            kept[enrollment.learner_id] = (enrollment, facts[enrollment.learner_id])
        if checked:
            facts = learner_facts_many(learners=learners)
            rows = Enrollment.objects.filter(learner__in=learners).values_list("pk", "learner_id", "status")
            enrolled = {learner_id for _pk, learner_id, _status in rows}
        reused.clear()
        for learner in learners:
            if learner.pk in fresh_ids:
                continue
            enrollment, learner_facts = kept[learner.pk]
            enrolled.add(learner.pk)
            facts.setdefault(learner.pk, learner_facts)
            if enrollment.status == EnrollmentStatus.ACTIVE:
                active.append(enrollment)
                reused.add(enrollment.pk)
        return sorted(active, key=lambda e: (e.learner_id, e.pk)), enrolled, facts

    swaps: list[tuple[object, str, object]] = [(evaluation, "_enrollments", enrollments)]
    if not checked:
        swaps.append((evaluation, "_behind", lambda rows: behind([e for e in rows if e.pk not in reused])))
    return Swaps(swaps)


def _django_timestamps() -> Variant:
    """B reads timestamps through Django's own loader (psycopg's Python parser), A through common/postgresql.py."""
    from django.db import connection
    from django.db.backends.postgresql.psycopg_any import BaseTzLoader

    connection.ensure_connection()
    adapters = connection.connection.adapters
    ours = adapters.get_loader(1184, 0)  # timestamptz, text

    class DjangoLoader(BaseTzLoader):
        timezone = connection.timezone

    class Loaders:
        def switch(self, on: bool) -> None:
            adapters.register_loader("timestamptz", DjangoLoader if on else ours)

    return Loaders()


def _without_quiet() -> Variant:
    """B takes every learner's events through the engine, A takes the quiet ones on the quiet path."""
    import signals_app.services.evaluation as evaluation

    return Swaps([(evaluation, "_take_quiet", lambda learners, pending: (set(), {}))])


VARIANTS: dict[str, Callable[[], Variant]] = {
    "none": _none,
    "without-quiet": _without_quiet,
    "kept-enrolments": lambda: _kept_enrolments(checked=False),
    "kept-enrolments-checked": lambda: _kept_enrolments(checked=True),
    "django-timestamps": _django_timestamps,
}


def _backend_cpu_ms() -> Callable[[], float]:
    """The CPU time PostgreSQL's backend for this process has used (its share of an evaluation)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]

    def read() -> float:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")

    return read


def _decisions(prefix: str) -> Counter:
    from signals_app.models import Decision

    kinds = Decision.objects.filter(learner__external_id__startswith=prefix).values_list("kind", flat=True)
    return Counter(kinds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("variant", choices=sorted(VARIANTS))
    parser.add_argument("--learners", type=int, default=75, help="learners per pool (a task's batch at half rate)")
    parser.add_argument("--rounds", type=int, default=3, help="fresh pools walked through the 20 steps")
    parser.add_argument(
        "--b-events", type=int, default=1, metavar="K", help="B evaluates every K steps, K new events per learner"
    )
    args = parser.parse_args()
    if args.b_events < 1 or JOURNEY_LENGTH % args.b_events:
        parser.error(f"--b-events must divide the journeys' {JOURNEY_LENGTH} steps")
    django_setup()
    logging.disable(logging.INFO)
    from django.utils import timezone

    from identity.models import Learner
    from onboarding.celery import app as celery_app
    from playbooks.services import playbook_import
    from signals_app.services import learners_evaluate_pending

    playbook_import(text=PLAYBOOK.read_text(), publish=True)
    start = timezone.now().replace(microsecond=0) - timedelta(days=1)
    variant = VARIANTS[args.variant]()
    backend_cpu = _backend_cpu_ms()
    totals = {side: Counter() for side in "AB"}
    ratios: list[float] = []
    for number in range(args.rounds):
        pools = {}
        for side in "AB":
            pool = Pool(f"ab{number}{side}", args.learners, start)
            pool.create()
            ids = list(Learner.objects.filter(external_id__startswith=f"{pool.prefix}-").values_list("pk", flat=True))
            pools[side] = (pool, ids)
        wall: Counter = Counter()
        for step in range(JOURNEY_LENGTH):
            for side in "AB" if step % 2 == 0 else "BA":
                pool, ids = pools[side]
                ingest(pool.take(args.learners))
                if side == "B" and (step + 1) % args.b_events:
                    continue  # B's learners wait for more events
                variant.switch(side == "B")
                began, cpu, server = time.perf_counter(), time.process_time(), backend_cpu()
                try:
                    learners_evaluate_pending(learner_ids=ids)
                finally:
                    variant.switch(False)
                elapsed = time.perf_counter() - began
                wall[side] += elapsed
                totals[side].update(
                    batches=1,
                    wall=elapsed * 1000,
                    cpu=(time.process_time() - cpu) * 1000,
                    server=backend_cpu() - server,
                )
            if (step + 1) % args.b_events == 0:  # the same events evaluated on both sides
                ratios.append(wall["B"] / wall["A"])
                wall.clear()
        celery_app.control.purge()  # the tasks the ingestion enqueued: already done here
        a, b = _decisions(f"ab{number}A-"), _decisions(f"ab{number}B-")
        if a != b:
            raise SystemExit(f"round {number}: the variant changed the decisions: A {dict(a)}, B {dict(b)}")
    print(f"{args.variant}: {args.rounds} rounds of {JOURNEY_LENGTH} steps, {args.learners} learners a batch")
    for side in "AB":
        t = totals[side]
        print(
            f"  {side}: {t['wall'] / t['batches']:6.1f} ms a batch (worker CPU {t['cpu'] / t['batches']:5.1f}, "
            f"PostgreSQL CPU {t['server'] / t['batches']:4.1f})"
            + (f", {args.b_events if side == 'B' else 1} new event(s) per learner" if args.b_events > 1 else "")
        )
    print(
        f"  B / A: median over {'steps' if args.b_events == 1 else f'groups of {args.b_events} steps'} "
        f"{statistics.median(ratios):.3f}; totals {totals['B']['wall'] / totals['A']['wall']:.3f}; "
        "decisions identical"
    )
    if args.b_events > 1:
        one = totals["A"]["wall"] / totals["A"]["batches"] / args.learners
        several = totals["B"]["wall"] / totals["B"]["batches"] / args.learners
        per_event = (several - one) / (args.b_events - 1)
        print(
            f"  per learner in a batch {one - per_event:.3f} ms (a), per event {per_event:.3f} ms (b): an event "
            f"evaluated alone costs {one / (several / args.b_events):.2f}x one of {args.b_events} of its learner"
        )


if __name__ == "__main__":
    main()
