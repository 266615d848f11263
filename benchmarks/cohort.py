"""Cohort simulation, draft against published: the database path it replaced, in memory in one process, and a run
started as the admin starts one, spread over worker processes, with its progress.

    bin/bench cohort [--learners 1000] [--big 10000] [--baseline 100] [--workers 2]

The cohort is docs/examples/cohort-support-specialist.yaml (ranges and chances over the demo playbook's path); the
draft moves one branch threshold, as an admin would before publishing.

1. Baseline: the first ``--baseline`` learners through the database simulator, one throwaway transaction each, as
   cohorts ran before (tests/signals_app/cohort_reference.py): ms per learner run, and the in-memory tallies of the
   same learners checked equal to it.
2. In memory, one process: ``--learners`` learners on both versions.
3. Through the workers: a run of ``--learners`` and one of ``--big`` learners started with ``cohort_run_start`` (what
   the admin's form calls) and run by ``--workers`` worker processes (one per session), a chunk of learners per
   task; the time from the start to the report, and the big run's progress (what the admin's progress bar shows).
   Target: the ``--learners`` run in under 20 s.
"""

import argparse
import logging
import os
import time
from dataclasses import replace
from pathlib import Path

from benchmarks._support import django_setup, start_worker, stop, wait_for

ROOT = Path(__file__).resolve().parent.parent
PLAYBOOK = ROOT / "playbooks" / "demo" / "support-specialist.yaml"
TEMPLATE = ROOT / "docs" / "examples" / "cohort-support-specialist.yaml"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--learners", type=int, default=1000)
    parser.add_argument("--big", type=int, default=10_000)
    parser.add_argument("--baseline", type=int, default=100)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    django_setup()
    logging.disable(logging.INFO)

    from playbooks.engine.cohorts import expand_cohort
    from playbooks.engine.document import load_yaml
    from signals_app.services.cohorts import cohort_simulate

    draft, published = _versions()
    versions = [draft, published]
    journeys = expand_cohort(load_yaml(TEMPLATE.read_text()), learners=args.learners)
    cohort_simulate(journeys=journeys[:5], versions=versions)  # imports and caches warm
    events = sum(len(journey["events"]) for journey in journeys)
    print(f"cohort: {args.learners} learners, {events} events, until 4d each; draft against published")
    print(f"load average at the start: {os.getloadavg()[0]:.1f} (2 cores, shared)")

    baseline = _baseline(journeys[: args.baseline], versions)
    print(
        f"1. database path (before): {1000 * baseline:.1f} ms per learner run, measured on {args.baseline} learners "
        f"x 2 versions; {args.learners} learners x 2 would take {2 * args.learners * baseline:.0f} s"
    )
    began = time.perf_counter()
    cohort_simulate(journeys=journeys, versions=versions)
    memory = time.perf_counter() - began
    print(
        f"2. in memory, one process: {memory:.1f} s = {1000 * memory / (2 * args.learners):.1f} ms per learner run "
        f"({baseline * 2 * args.learners / memory:.1f}x the database path)"
    )
    # One worker process per session (as one systemd unit each would be): this machine's kernel shares the CPU
    # between sessions (sched_autogroup), so the processes of one `celery worker --concurrency N` share one share.
    workers = [start_worker(concurrency=1) for _ in range(args.workers)]
    try:
        _wait_for_workers(len(workers))
        for learners, show in ((args.learners, False), (args.big, True)):
            requested, total = _run(draft, published, learners, show_progress=show)
            print(
                f"3. {learners:,} learners through {args.workers} worker processes: {total:.1f} s from the start to "
                f"the report (of which {requested:.1f} s checking the template in the request); "
                f"load average {os.getloadavg()[0]:.1f}"
            )
    finally:
        for worker in workers:
            stop(worker)


def _wait_for_workers(count: int) -> None:
    """Until every worker answers (started on a busy machine, one may take half a minute to import Django)."""
    from onboarding.celery import app

    wait_for(lambda: len(app.control.ping(timeout=0.5)) >= count, timeout=180, what="the workers", interval=0.5)


def _versions():
    from playbooks.selectors import version_spec
    from playbooks.services import draft_create, playbook_import, version_write_spec

    published = playbook_import(text=PLAYBOOK.read_text(), publish=True).version
    draft = draft_create(playbook=published.playbook)
    spec = version_spec(version=draft)
    steps = list(spec.steps)
    index = next(i for i, step in enumerate(steps) if step.branch)
    options = list(steps[index].branch)
    if options[0].when:
        options[0] = replace(options[0], when=options[0].when.replace("90", "100"))
    steps[index] = replace(steps[index], branch=tuple(options))
    version_write_spec(version=draft, spec=replace(spec, steps=tuple(steps)))
    return draft, published


def _baseline(journeys: list[dict], versions: list) -> float:
    """Seconds per learner run on the database path; the in-memory tallies of the same learners must equal it."""
    from signals_app.services.cohorts import CohortReport, cohort_simulate
    from tests.signals_app.cohort_reference import reference_simulate

    began = time.perf_counter()
    per_learner = reference_simulate(journeys=journeys, versions=versions)
    seconds = (time.perf_counter() - began) / (len(journeys) * len(versions))
    for version, reports, mine in zip(
        versions, per_learner, cohort_simulate(journeys=journeys, versions=versions), strict=True
    ):
        summed = CohortReport(version.playbook.slug, version.number, version.status)
        for report in reports:
            summed.add(report.tallies())
        if summed.as_dict() | {"seconds": 0} != mine.as_dict() | {"seconds": 0}:
            raise SystemExit(f"in memory and the database path differ on v{version.number}")
    return seconds


def _run(draft, published, learners: int, *, show_progress: bool) -> tuple[float, float]:
    from signals_app.models import CohortRun, CohortRunStatus
    from signals_app.services.cohorts import cohort_run_start

    began = time.perf_counter()
    run = cohort_run_start(
        version=draft, against=published, template=TEMPLATE.read_text(), learners_csv="", learners=learners
    )
    requested = time.perf_counter() - began
    shown = -1
    while True:
        status, done, total = CohortRun.objects.filter(pk=run.pk).values_list("status", "done", "total").get()
        percent = 100 * done // total
        if show_progress and percent // 10 > shown:
            shown = percent // 10
            bar = "#" * (percent // 5)
            moment = time.perf_counter() - began
            print(f"   [{bar:<20}] {percent:>3}%  {done:>6,} of {total:,} learner runs  {moment:5.1f} s")
        if status in (CohortRunStatus.DONE, CohortRunStatus.FAILED):
            break
        time.sleep(0.05)
    if status == CohortRunStatus.FAILED:
        raise SystemExit(CohortRun.objects.get(pk=run.pk).error)
    return requested, time.perf_counter() - began


if __name__ == "__main__":
    main()
