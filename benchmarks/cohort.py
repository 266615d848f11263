"""A 1,000-learner cohort through the simulator: its time, and its time per learner, on one version and on two.

    bin/bench cohort [--learners 1000]

The cohort is docs/examples/cohort-support-specialist.yaml (ranges and chances over the demo playbook's path); the
comparison runs it on a draft that moves one branch threshold against the published version, as an admin would
before publishing. No target is set: the figure goes to docs/benchmarks.md.
"""

import argparse
import logging
import time
from dataclasses import replace
from pathlib import Path

from benchmarks._support import django_setup

ROOT = Path(__file__).resolve().parent.parent
PLAYBOOK = ROOT / "playbooks" / "demo" / "support-specialist.yaml"
TEMPLATE = ROOT / "docs" / "examples" / "cohort-support-specialist.yaml"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--learners", type=int, default=1000)
    args = parser.parse_args()
    django_setup()
    logging.disable(logging.INFO)

    from playbooks.engine.cohorts import expand_cohort
    from playbooks.engine.document import load_yaml
    from playbooks.selectors import version_spec
    from playbooks.services import draft_create, playbook_import, version_write_spec
    from signals_app.services.cohorts import cohort_simulate

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

    journeys = expand_cohort(load_yaml(TEMPLATE.read_text()), learners=args.learners)
    cohort_simulate(journeys=journeys[:5], versions=[published])  # imports and caches warm
    events = sum(len(journey["events"]) for journey in journeys)

    began = time.perf_counter()
    (one,) = cohort_simulate(journeys=journeys, versions=[published])
    single = time.perf_counter() - began
    began = time.perf_counter()
    cohort_simulate(journeys=journeys, versions=[draft, published])
    double = time.perf_counter() - began

    print(f"cohort: {args.learners} learners, {events} events, until 4d each")
    print(f"one version (published): {single:.1f} s = {1000 * single / args.learners:.1f} ms per learner")
    print(f"draft against published: {double:.1f} s = {1000 * double / (2 * args.learners):.1f} ms per learner run")
    branches = "; ".join(
        f"{step}: " + ", ".join(f"{module} {count}" for module, count in counts.most_common())
        for step, counts in one.branches.items()
    )
    print(f"on published: completed {one.completed} of {one.learners} by day 4; branches taken: {branches}")


if __name__ == "__main__":
    main()
