"""The dashboards' figures, read from the rollups, against the same figures computed here from the rows written."""

import math
import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta

import pytest

from insights.selectors import Filters, dashboard_figures
from insights.services import rollups_fold
from insights.sketch import RELATIVE_ACCURACY
from tests.insights.conftest import T0

PATH = {"welcome": "welcome", "tools": "tools", "basics": "track", "deep-dive": "track"}


@dataclass
class Truth:
    """What the test wrote, one record per enrolment, to compute each figure from."""

    rows: list[dict] = field(default_factory=list)
    triggers: list[dict] = field(default_factory=list)
    reminders: list[dict] = field(default_factory=list)
    latencies: list[dict] = field(default_factory=list)


def _populate(world, seed: int) -> Truth:
    rng, truth = random.Random(seed), Truth()
    for _ in range(40):
        role, version = rng.choice(["agent", "lead"]), rng.choice([world.v1, world.v2])
        at = T0 + timedelta(days=rng.randrange(3), minutes=rng.randrange(600))
        fate = rng.choice(["completed", "completed", "ended", "active"])
        seconds = rng.randrange(3600, 200 * 3600)
        enrollment = world.enrol(
            world.learner(role),
            at=at,
            version=version,
            done_after=timedelta(seconds=seconds) if fate == "completed" else None,
            ended=fate == "ended",
        )
        record = {"role": role, "version": version, "day": at.date(), "fate": fate, "ttc": seconds, "modules": {}}
        for module in ["welcome", "tools", rng.choice(["basics", "deep-dive"])][: rng.randrange(4)]:
            status = rng.choice(["completed", "completed", "skipped", "started"])
            spent = rng.choice([0, rng.randrange(30, 3000)]) if status == "completed" else 0
            world.progress(enrollment, module, status, spent)
            record["modules"][module] = (status, spent)
        truth.rows.append(record)
        for _ in range(rng.randrange(3)):
            decided = at + timedelta(hours=rng.randrange(40))
            kind, name = rng.choice([("trigger", "nudge"), ("suppressed", "review"), ("trigger", "review")])
            event = world.event(enrollment.learner, at=decided, latency_ms=rng.uniform(2, 4000))
            world.decision(enrollment, kind, f"trigger '{name}': whatever", at=decided, event=event)
            # A second decision of the same event counts once in the latency.
            world.decision(enrollment, "action", "trigger 'x': y", at=decided, event=event)
            truth.triggers.append({**record, "day": decided.date(), "kind": kind, "name": name})
            latency = (event.processed_at - event.received_at).total_seconds() * 1000
            truth.latencies.append({**record, "day": decided.date(), "ms": latency})
        if rng.random() < 0.5:
            decided = at + timedelta(hours=rng.randrange(40))
            outcome = rng.choice(["sent", "suppressed", "dead", "scheduled", "cancelled"])
            channel = rng.choice(["email", "slack"])
            world.reminder(enrollment, at=decided, channel=channel, outcome=outcome, via="in_app")
            via = "in_app" if outcome == "sent" else channel
            truth.reminders.append({**record, "day": decided.date(), "outcome": outcome, "channel": via})
            truth.triggers.append({**record, "day": decided.date(), "kind": "trigger", "name": "nudge"})
    return truth


def _nearest_rank(values: list[float], q: float) -> float:
    return sorted(values)[math.ceil(q * len(values)) - 1]


def _close(actual: float, exact: float, scale: float = 1.0) -> bool:
    """Within the sketch's accuracy, after the figure's rounding to 0.1 of its unit."""
    return abs(actual - exact / scale) <= RELATIVE_ACCURACY * exact / scale + 0.05


def _expected(truth: Truth, keep) -> dict:
    rows = [r for r in truth.rows if keep(r, r["day"])]
    completed = [r for r in rows if r["fate"] == "completed"]
    modules = Counter()
    for r in rows:
        for module, (status, spent) in r["modules"].items():
            modules[(module, "reached")] += 1
            modules[(module, status)] += 1
            if status == "completed" and spent:
                modules[(module, "timed")] += 1
                modules[(module, "seconds")] += spent
    return {
        "enrolled": len(rows),
        "completed": len(completed),
        "ended": sum(r["fate"] == "ended" for r in rows),
        "ttc": [r["ttc"] for r in completed],
        "modules": modules,
        "triggers": Counter((t["name"], t["kind"]) for t in truth.triggers if keep(t, t["day"])),
        "reminders": Counter((m["channel"], m["outcome"]) for m in truth.reminders if keep(m, m["day"])),
        "latency": [t["ms"] for t in truth.latencies if keep(t, t["day"])],
    }


def _table(figure) -> dict:
    return {row[0].value: [cell.value for cell in row[1:]] for row in figure.rows}


def _check(figures: dict, want: dict, threshold: float, on_path: Counter) -> None:
    completion = _table(figures["completion"])["all"]
    rate = round(want["completed"] / want["enrolled"], 4) if want["enrolled"] else None
    assert completion == [want["enrolled"], want["completed"], want["ended"], rate]

    n, median, p90 = _table(figures["time-to-competency"])["all"]
    assert n == len(want["ttc"])
    assert _close(median, _nearest_rank(want["ttc"], 0.5), 3600) and _close(p90, _nearest_rank(want["ttc"], 0.9), 3600)

    n, p50, p95 = _table(figures["latency"])["all"]
    assert n == len(want["latency"])
    assert _close(p50, _nearest_rank(want["latency"], 0.5)) and _close(p95, _nearest_rank(want["latency"], 0.95))

    m = want["modules"]
    skip = _table(figures["skip-rate"])
    assert skip == {
        module: [
            m[(module, "reached")],
            m[(module, "skipped")],
            round(m[(module, "skipped")] / m[(module, "reached")], 4),
        ]
        for module in PATH
        if m[(module, "reached")]
    }
    over = sorted(module for module, (_r, _s, rate) in skip.items() if rate > threshold)
    assert sorted(c.split(":")[0] for c in figures["skip-rate"].callouts) == over

    spent = _table(figures["time-per-module"])
    for module, (timed, mean, _expected_minutes, _ratio) in spent.items():
        assert timed == m[(module, "timed")]
        assert mean == (round(m[(module, "seconds")] / timed / 60, 1) if timed else None)

    funnel, m = _table(figures["funnel"]), on_path  # the funnel follows one version's path
    reached = {
        step: sum(m[(mod, "reached")] for mod, s in PATH.items() if s == step) for step in ["welcome", "tools", "track"]
    }
    assert [funnel[step][1] for step in reached] == list(reached.values())
    assert funnel["welcome"][4] == reached["welcome"] - reached["tools"]

    t = want["triggers"]
    assert _table(figures["triggers"]) == {
        name: [t[(name, "trigger")], t[(name, "suppressed")]] for name in {name for name, _k in t}
    }
    r = want["reminders"]
    outcomes = ["sent", "scheduled", "sending", "suppressed", "dead", "cancelled"]
    assert _table(figures["reminders"]) == {ch: [r[(ch, o)] for o in outcomes] for ch in {ch for ch, _o in r}}


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_figures_equal_those_computed_from_the_rows(world, seed):
    truth = _populate(world, seed)

    rollups_fold()

    figures = {f.slug: f for f in dashboard_figures(filters=Filters(playbook=world.playbook, skip_threshold=0.25))}
    # Unfiltered, the funnel follows the published version.
    on_path = _expected(truth, lambda r, day: r["version"] == world.v2)["modules"]
    _check(figures, _expected(truth, lambda r, day: True), 0.25, on_path)


def test_the_figures_follow_the_role_version_and_date_filters(world):
    truth = _populate(world, 7)
    rollups_fold()
    start, end = date(2026, 3, 3), date(2026, 3, 4)

    filters = Filters(playbook=world.playbook, version=world.v1, role="lead", start=start, end=end, skip_threshold=0.4)
    figures = {f.slug: f for f in dashboard_figures(filters=filters)}

    def keep(record, day):
        return record["role"] == "lead" and record["version"] == world.v1 and start <= day <= end

    _check(figures, _expected(truth, keep), 0.4, _expected(truth, keep)["modules"])
