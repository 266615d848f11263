"""Evaluation cost per event against the length of the learners' histories.

    bin/bench history [--learners 50] [--sizes 20,5000] [--rounds 3]

Learners of the support-specialist playbook (playbooks/demo/support-specialist.yaml) get a history of N evaluated
events (page views and tickets, more than the 7-day window old, so that every group decides the same things), their
tallies built as the worker leaves them. Then each learner plays the benchmark's 20-event journeys
(benchmarks/pipeline.py), one new event per learner per batch, and the worker's batched evaluation
(``learners_evaluate_pending``, 50 learners per batch as the tasks run it, on PostgreSQL) is timed: µs per event
evaluated. The groups take turns batch by batch, so that the machine's load falls on all of them alike.

Target: the cost per event at a 5,000-event history at most 1.2x the cost at a 20-event history. As a reference,
the same groups with the tally cleared before each batch (each batch then reads and folds the whole history, as
the evaluation did before it kept a tally).
"""

import argparse
import json
import logging
import statistics
import time
from datetime import datetime, timedelta

from benchmarks._support import django_setup
from benchmarks.pipeline import JOURNEY_LENGTH, PLAYBOOK, Pool

SOURCE = "bench"


class Group:
    def __init__(self, name: str, size: int, learners: int, start, *, rebuild: bool) -> None:
        self.name, self.size, self.rebuild = name, size, rebuild
        self.pool = Pool(name, learners, start)
        self.times: list[float] = []  # seconds per event, one per batch

    def create(self, history_start) -> None:
        from identity.models import Learner
        from signals_app.models import Event
        from signals_app.services.evaluation import tallies_rebuild

        self.pool.create()
        rows = Learner.objects.filter(external_id__startswith=f"{self.name}-").values_list("external_id", "pk")
        self.learner = dict(rows)
        self.ids = sorted(self.learner.values())
        rows = []
        for pk in self.ids:
            for n in range(self.size):
                kind = "ticket_submitted" if n % 3 == 0 else "page_view"
                rows.append(
                    Event(
                        source="bench-history",
                        client_id=f"{self.name}-{pk}-h{n}",
                        learner_id=pk,
                        type=kind,
                        occurred_at=history_start + timedelta(minutes=5 * n),
                        received_at=history_start,
                        processed_at=history_start,
                        properties={"path": "/kb"},
                    )
                )
            if len(rows) >= 20_000:
                Event.objects.bulk_create(rows)
                rows = []
        Event.objects.bulk_create(rows)
        tallies_rebuild(learner_ids=self.ids)

    def batch(self) -> None:
        from django.db import transaction
        from django.utils import timezone

        from playbooks.models import Enrollment
        from signals_app.services import learners_evaluate_pending
        from signals_app.services.ingestion import _insert_new

        events = self.pool.take(self.pool.count)
        now = timezone.now()
        # Stored as the ingestion stores them (COPY, then INSERT), without enqueueing tasks: no worker runs here.
        rows = [
            (SOURCE, e["id"], self.learner[e["learner"]], e["type"], e["module"],
             datetime.fromisoformat(e["occurred_at"]), now, json.dumps(e["properties"]))
            for e in events
        ]  # fmt: skip
        with transaction.atomic():  # the COPY's temporary table lives until the commit
            _insert_new(rows)
        if self.rebuild:
            Enrollment.objects.filter(learner_id__in=self.ids).update(tally={})
        began = time.perf_counter()
        result = learners_evaluate_pending(learner_ids=self.ids)
        elapsed = time.perf_counter() - began
        assert result.processed == len(events), (result.processed, len(events))
        self.times.append(elapsed / len(events))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--learners", type=int, default=50)
    parser.add_argument("--sizes", default="20,5000")
    parser.add_argument("--rounds", type=int, default=3, help="times each group plays the 20-event journeys")
    args = parser.parse_args()
    django_setup()
    logging.disable(logging.INFO)
    from django.utils import timezone

    from playbooks.services import playbook_import

    playbook_import(text=PLAYBOOK.read_text(), publish=True)
    sizes = [int(size) for size in args.sizes.split(",")]
    now = timezone.now().replace(microsecond=0)
    start = now - timedelta(days=40)
    groups = [Group(f"h{size}", size, args.learners, start, rebuild=False) for size in sizes]
    groups += [Group(f"r{size}", size, args.learners, start, rebuild=True) for size in sizes]
    for group in groups:
        # The history ends 8 days before the journeys, out of the 7-day window the playbook counts tickets over.
        history_start = now - timedelta(days=9) - timedelta(minutes=5 * group.size)
        group.pool.start = now - timedelta(hours=6)
        began = time.perf_counter()
        group.create(history_start)
        took = time.perf_counter() - began
        print(f"set up {group.name}: {group.size} events x {args.learners} learners in {took:.0f} s")
    for _round in range(args.rounds * JOURNEY_LENGTH):
        for group in groups:
            group.batch()
    print(
        f"\nµs per event evaluated ({args.learners} learners per batch, one new event each, "
        f"{args.rounds * JOURNEY_LENGTH} batches per group; median, p90):"
    )
    medians = {}
    for group in groups:
        median = statistics.median(group.times) * 1e6
        p90 = statistics.quantiles(group.times, n=10)[-1] * 1e6
        medians[group.name] = median
        how = "tally cleared before each batch" if group.rebuild else "incremental"
        print(f"  history {group.size:>6,} events, {how:<32} {median:>8,.0f} µs  (p90 {p90:,.0f})")
    small, large = min(sizes), max(sizes)
    ratio = medians[f"h{large}"] / medians[f"h{small}"]
    print(f"ratio {large:,} / {small:,} events of history, incremental: {ratio:.2f}x (target <= 1.2x)")
    print(
        f"ratio {large:,} / {small:,}, tally cleared each batch:   {medians[f'r{large}'] / medians[f'r{small}']:.2f}x"
    )


if __name__ == "__main__":
    main()
