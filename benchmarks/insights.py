"""Insights: the dashboard's figures read from rollups against the same figures computed from the raw rows, and the
rollups' upkeep as a share of the worker's per-event cost.

    bin/bench insights [--events 10000000] [--repeat 3] [--learners-per-fold 1000]

Set-up: the support-specialist playbook (playbooks/demo/support-specialist.yaml) in two published versions, then
rows written by SQL (generate_series) into the real tables as the pipeline leaves them, foreign keys valid:
``--events / 100`` learners with a role, one enrolment each over 90 days (30 % on v1, 55 % completed, 5 % ended),
module progress along the path (one to six modules, a branch's module picked at random, some skipped, some with no
time), 100 events each (processed 5 ms to a few seconds after receipt) and a decision for one event in five (next
module, branch, triggers fired and held back). Every row is dated in the past, beyond the fold's look-back.

1. The first fold of the rollups (``rollups_fold``: a rebuild, every partition and the ledger), timed.
2. ``dashboard_figures`` for the playbook (all nine figures, the admin's page without its HTML), against SQL written
   here over the raw tables for the same figures: completion per version, median and p90 time to completion,
   module reached/completed/skipped/time (skip rate, funnel, time per module), triggers fired and held back, event to
   decision latency p50/p95. Both must agree (counts exactly, percentiles within the sketch's 1 % plus the page's
   rounding) before the median of ``--repeat`` timings of each is compared. Target: rollups ≥ 100x faster.
3. Upkeep: ``benchmarks.pipeline``'s journeys for ``--learners-per-fold`` new learners enrolled on a day inside the
   data, one event per learner a round (20 rounds): each round evaluated as the worker does
   (``learners_evaluate_pending``, 50 learners a batch), then folded (``rollups_fold``, with the default look-back, in
   the steady state of a fold a minute). Each round stands for a minute of the worker at that many events per minute,
   so each fold looks back six rounds, as a fold a minute looks back six minutes (``fold_lag``): it reads the rows
   changed within them, compares them with its ledger and writes the differences. Target: the fold at most 10 % of
   the evaluation's time.
"""

import argparse
import statistics
import time
from collections import defaultdict
from datetime import UTC, date, datetime
from pathlib import Path

from benchmarks._support import django_setup

PLAYBOOK = Path(__file__).resolve().parent.parent / "playbooks" / "demo" / "support-specialist.yaml"
FIRST_DAY = date(2026, 1, 1)
DAYS = 90
UPKEEP_DAY = datetime(2026, 3, 2, 9, tzinfo=UTC)  # inside the data: its partitions are as full as any other day's
EVENTS_PER_LEARNER = 100
PATH = ["welcome", "crm-basics", "ticketing-101", "product-tour"]
TRACK = ["advanced-debugging", "standard-api-troubleshooting", "compliance-escalation"]
ESCALATION = ["escalation-prep", "policy-compliance"]
SKIP_CHANCE = {"welcome": 0.02, "crm-basics": 0.1, "ticketing-101": 0.15, "product-tour": 0.4}  # one called out
PERCENTILE_SLACK = 0.01  # the sketch's relative accuracy (insights.sketch)


def setup_playbook() -> dict:
    from identity.services import role_upsert
    from playbooks.models import ContentModule
    from playbooks.services import playbook_import

    text = PLAYBOOK.read_text()
    v1 = playbook_import(text=text, publish=True).version
    # A second published version: the same file with one module's expected minutes changed.
    changed = text.replace("    minutes: 5\n", "    minutes: 6\n", 1)
    if changed == text:
        raise SystemExit(f"{PLAYBOOK.name}: no 'minutes: 5' line left to change for the second version")
    v2 = playbook_import(text=changed, publish=True)
    role = role_upsert(slug="support_specialist", name="Support specialist")
    modules = dict(ContentModule.objects.values_list("slug", "pk"))
    return {"playbook": v1.playbook_id, "v1": v1.pk, "v2": v2.version.pk, "role": role.pk, "modules": modules}


def generate(ids: dict, events: int) -> dict[str, float]:
    """Write the raw rows with SQL; returns seconds per table."""
    from django.db import connection, transaction

    learners = max(1, events // EVENTS_PER_LEARNER)
    m = ids["modules"]
    params = {
        "learners": learners,
        "per": EVENTS_PER_LEARNER,
        "first": datetime.combine(FIRST_DAY, datetime.min.time(), tzinfo=UTC),
        "days": DAYS,
        "playbook": ids["playbook"],
        "v1": ids["v1"],
        "v2": ids["v2"],
        "role": ids["role"],
        "path": [m[s] for s in PATH],
        "track": [m[s] for s in TRACK],
        "escalation": [m[s] for s in ESCALATION],
        "skip": [SKIP_CHANCE[s] for s in PATH] + [0.05, 0.05],
    }
    statements = {
        "learners": """
            INSERT INTO identity_learner (external_id, email, display_name, timezone, locale, attributes, is_active,
                                          created_at, updated_at)
            SELECT 'bulk-' || g, '', '', 'UTC', 'en', '{}', true, %(first)s, %(first)s
            FROM generate_series(1, %(learners)s) g""",
        "role assignments": """
            INSERT INTO identity_roleassignment (learner_id, role_id, source, created_at)
            SELECT id, %(role)s, 'manual', %(first)s FROM identity_learner WHERE external_id LIKE 'bulk-%%'""",
        "enrolments": """
            INSERT INTO playbooks_enrollment (learner_id, playbook_id, version_id, status, state, tally, current_step,
                current_reason, steps_done, steps_total, enrolled_at, completed_at, ended_at, ended_reason, updated_at)
            SELECT id, %(playbook)s, CASE WHEN r.v < 0.3 THEN %(v1)s ELSE %(v2)s END,
                   CASE WHEN r.s < 0.55 THEN 'completed' WHEN r.s < 0.6 THEN 'ended' ELSE 'active' END,
                   '{}', '{}', '', '{}', 0, 6, r.moment,
                   CASE WHEN r.s < 0.55 THEN r.moment + interval '1 hour' * (1 + 300 * r.t * r.t) END,
                   CASE WHEN r.s >= 0.55 AND r.s < 0.6 THEN r.moment + interval '3 days' END,
                   CASE WHEN r.s >= 0.55 AND r.s < 0.6 THEN 'left_audience' ELSE '' END,
                   r.moment + interval '14 days'
            FROM identity_learner l,
                 LATERAL (SELECT random() v, random() s, random() t,
                                 %(first)s + interval '1 second' * floor(random() * %(days)s * 86400) moment
                          WHERE l.id IS NOT NULL) r
            WHERE l.external_id LIKE 'bulk-%%'""",
        "module progress": """
            INSERT INTO playbooks_moduleprogress (enrollment_id, module_id, status, seconds, completion_pct,
                                                  started_at, finished_at, updated_at)
            SELECT e.id, p.module, p.status,
                   CASE WHEN p.status = 'completed' AND random() > 0.1 THEN 60 + floor(random() * 1500) ELSE 0 END,
                   CASE WHEN p.status = 'started' THEN 40 ELSE 100 END,
                   e.enrolled_at, CASE WHEN p.status <> 'started' THEN e.enrolled_at + interval '1 hour' END,
                   e.updated_at
            FROM (SELECT en.*, CASE WHEN en.status = 'completed' THEN 6 ELSE 1 + floor(random() * 6)::int END k,
                         (%(track)s::int[])[1 + floor(random() * 3)::int] track,
                         (%(escalation)s::int[])[1 + floor(random() * 2)::int] escalation
                  FROM playbooks_enrollment en WHERE en.playbook_id = %(playbook)s) e,
                 LATERAL (SELECT (%(path)s::int[] || ARRAY[e.track, e.escalation])[i] module,
                                 CASE WHEN i = e.k AND e.status <> 'completed' THEN 'started'
                                      WHEN random() < (%(skip)s::float[])[i] THEN 'skipped'
                                      ELSE 'completed' END status
                          FROM generate_series(1, e.k) i) p""",
        "events": """
            INSERT INTO signals_app_event (source, client_id, learner_id, type, module, occurred_at, received_at,
                                           properties, processed_at, conflicting_retries)
            SELECT 'key:bulk', e.learner_id || '-' || i,  e.learner_id,
                   (ARRAY['module_started', 'module_progress', 'page_view', 'session_started', 'ticket_submitted',
                          'module_completed'])[1 + i %% 6],
                   '', t.ts, t.ts + interval '1 second', '{}',
                   t.ts + interval '1 second' + interval '1 millisecond' * (5 + 60 * -ln(1 - random())), 0
            FROM playbooks_enrollment e, generate_series(1, %(per)s) i,
                 LATERAL (SELECT e.enrolled_at + interval '20 minutes' * i ts) t
            WHERE e.playbook_id = %(playbook)s""",
        "decisions": """
            INSERT INTO signals_app_decision (learner_id, enrollment_id, event_id, dedupe_key, kind, rule, explanation,
                                              text, values, step, module, decided_at, created_at)
            SELECT ev.learner_id, en.id, ev.id, 'bulk:' || ev.id, k.kind, k.rule, '', '', '{}', '', '', ev.occurred_at,
                   ev.processed_at
            FROM signals_app_event ev JOIN playbooks_enrollment en ON en.learner_id = ev.learner_id,
                 LATERAL (SELECT random() r WHERE ev.id IS NOT NULL) x,
                 LATERAL (SELECT CASE WHEN x.r < 0.65 THEN 'next_module' WHEN x.r < 0.8 THEN 'branch'
                                      WHEN x.r < 0.95 THEN 'trigger' ELSE 'suppressed' END kind,
                                 CASE WHEN x.r < 0.8 THEN 'path'
                                      WHEN x.r < 0.9 THEN 'trigger ''remedial demo'': duration_seconds < 30'
                                      WHEN x.r < 0.95 THEN 'trigger ''skip streak review'': skip_streak >= 3'
                                      ELSE 'trigger ''remedial demo'': limit of 1 per learner reached' END rule) k
            WHERE ev.source = 'key:bulk' AND ev.id %% 5 = 0 AND en.playbook_id = %(playbook)s""",
    }
    seconds = {}
    for name, sql in statements.items():
        began = time.perf_counter()
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, params)
            # Statistics before the next statement joins this table: without them the planner chose nested loops
            # over a freshly filled table (decisions took 570 s of a 1M-event run).
            cursor.execute(f"ANALYZE {TABLE_OF[name]}")
        seconds[name] = time.perf_counter() - began
    began = time.perf_counter()
    with connection.cursor() as cursor:  # as autovacuum would have by now: statistics, and the visibility map
        for table in RAW_TABLES:
            cursor.execute(f"VACUUM ANALYZE {table}")
    seconds["vacuum analyze"] = time.perf_counter() - began
    return seconds


TABLE_OF = {
    "learners": "identity_learner",
    "role assignments": "identity_roleassignment",
    "enrolments": "playbooks_enrollment",
    "module progress": "playbooks_moduleprogress",
    "events": "signals_app_event",
    "decisions": "signals_app_decision",
}
RAW_TABLES = (
    "identity_learner",
    "identity_roleassignment",
    "playbooks_enrollment",
    "playbooks_moduleprogress",
    "signals_app_event",
    "signals_app_decision",
)

RAW_SQL = {
    "completion": """
        SELECT version_id, count(*), count(*) FILTER (WHERE status = 'completed'),
               count(*) FILTER (WHERE status = 'ended')
        FROM playbooks_enrollment WHERE playbook_id = %(playbook)s GROUP BY version_id""",
    # percentile_disc is the nearest rank, as the rollups' percentiles.
    "time to competency": """
        SELECT version_id, count(*),
               percentile_disc(ARRAY[0.5, 0.9]) WITHIN GROUP (ORDER BY extract(epoch FROM completed_at - enrolled_at))
        FROM playbooks_enrollment
        WHERE playbook_id = %(playbook)s AND status = 'completed' AND completed_at IS NOT NULL
        GROUP BY ROLLUP (version_id)""",
    "modules": """
        SELECT e.version_id, m.slug, count(*), count(*) FILTER (WHERE p.status = 'completed'),
               count(*) FILTER (WHERE p.status = 'skipped'),
               count(*) FILTER (WHERE p.status = 'completed' AND p.seconds > 0),
               coalesce(sum(p.seconds) FILTER (WHERE p.status = 'completed' AND p.seconds > 0), 0)
        FROM playbooks_moduleprogress p JOIN playbooks_enrollment e ON e.id = p.enrollment_id
             JOIN playbooks_contentmodule m ON m.id = p.module_id
        WHERE e.playbook_id = %(playbook)s GROUP BY 1, 2""",
    "triggers": """
        SELECT coalesce(substring(d.rule FROM '^trigger ''(.+?)'': '), left(d.rule, 100)), d.kind, count(*)
        FROM signals_app_decision d JOIN playbooks_enrollment e ON e.id = d.enrollment_id
        WHERE e.playbook_id = %(playbook)s
          AND (d.kind = 'trigger' OR (d.kind = 'suppressed' AND d.rule NOT LIKE 'delivery policy%%'))
        GROUP BY 1, 2""",
    # Each event once per enrolment it caused decisions in, as the rollups count it.
    "latency": """
        SELECT e.version_id, count(*),
               percentile_disc(ARRAY[0.5, 0.95]) WITHIN GROUP (ORDER BY x.ms)
        FROM (SELECT DISTINCT d.event_id, d.enrollment_id,
                     extract(epoch FROM ev.processed_at - ev.received_at) * 1000 ms
              FROM signals_app_decision d JOIN signals_app_event ev ON ev.id = d.event_id
              WHERE ev.processed_at IS NOT NULL) x
             JOIN playbooks_enrollment e ON e.id = x.enrollment_id
        WHERE e.playbook_id = %(playbook)s
        GROUP BY ROLLUP (e.version_id)""",
}


def raw_figures(playbook_id: int) -> dict[str, list[tuple]]:
    from django.db import connection

    out = {}
    with connection.cursor() as cursor:
        for name, sql in RAW_SQL.items():
            cursor.execute(sql, {"playbook": playbook_id})
            out[name] = cursor.fetchall()
    return out


def rollup_figures(playbook_id: int) -> dict:
    from insights.selectors import Filters, dashboard_figures
    from playbooks.models import Playbook

    figures = dashboard_figures(filters=Filters(playbook=Playbook.objects.get(pk=playbook_id)))
    return {f.slug: [[cell.value for cell in row] for row in f.rows] for f in figures}


def _close(shown: float | None, exact: float, rounding: float) -> bool:
    return shown is not None and abs(shown - exact) <= PERCENTILE_SLACK * exact + rounding


def check_agree(raw: dict, rollup: dict, ids: dict) -> list[str]:
    """What differs between the two (empty when they agree)."""
    from insights.selectors import Filters, funnel_version
    from insights.services.partitions import step_keys
    from playbooks.models import Playbook

    problems = []
    names = {ids["v1"]: "v1", ids["v2"]: "v2", None: "all"}
    completion = {names[v]: [n, c, e] for v, n, c, e in raw["completion"]}
    completion["all"] = [sum(row[i] for row in completion.values()) for i in range(3)]
    if {row[0]: row[1:4] for row in rollup["completion"]} != completion:
        problems.append(f"completion: {rollup['completion']} against {completion}")
    for figure, key, scale in (("time-to-competency", "time to competency", 3600), ("latency", "latency", 1)):
        shown = {row[0]: row[1:] for row in rollup[figure]}
        for version, n, (low, high) in raw[key]:
            label = names[version]
            if label not in shown:
                problems.append(f"{figure}: no row {label!r} among {sorted(shown)}")
                continue
            # The page rounds to 0.1 (hours, milliseconds): half of that on top of the sketch's 1 %.
            if shown[label][0] != n or not all(
                _close(s, float(x) / scale, 0.05) for s, x in zip(shown[label][1:], (low, high), strict=True)
            ):
                problems.append(f"{figure} {label}: {shown[label]} against {n}, {float(low) / scale}, {high / scale}")
    modules: dict[str, list[int]] = defaultdict(lambda: [0] * 5)
    by_version: dict[tuple, list[int]] = {}
    for version, slug, *counts in raw["modules"]:
        modules[slug] = [a + b for a, b in zip(modules[slug], counts, strict=True)]
        by_version[(version, slug)] = counts
    skips = {row[0]: row[1:3] for row in rollup["skip-rate"]}
    if skips != {slug: [c[0], c[2]] for slug, c in modules.items()}:
        problems.append(f"skip-rate: {skips}")
    timed = {row[0]: row[1:3] for row in rollup["time-per-module"]}
    expected = {s: [c[3], round(c[4] / c[3] / 60, 1) if c[3] else None] for s, c in modules.items()}
    if timed != expected:
        problems.append(f"time-per-module: {timed} against {expected}")
    version = funnel_version(Filters(playbook=Playbook.objects.get(pk=ids["playbook"])))
    steps: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for (version_id, slug), step in step_keys({version.pk}).items():
        counts = by_version.get((version_id, slug), [0, 0, 0])
        steps[step] = [a + b for a, b in zip(steps[step], counts[:3], strict=True)]
    funnel = {row[0]: row[2:5] for row in rollup["funnel"]}
    if funnel != dict(steps):
        problems.append(f"funnel: {funnel} against {dict(steps)}")
    fired: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for name, kind, n in raw["triggers"]:
        fired[name][kind == "suppressed"] += n
    if {row[0]: row[1:3] for row in rollup["triggers"]} != dict(fired):
        problems.append(f"triggers: {rollup['triggers']} against {dict(fired)}")
    return problems


def timed(function, repeat: int) -> float:
    function()  # warm: caches, connections, PostgreSQL's buffers
    runs = []
    for _ in range(repeat):
        began = time.perf_counter()
        function()
        runs.append(time.perf_counter() - began)
    return statistics.median(runs)


def steady_state() -> None:
    """Leave the fold's state as a fold a minute leaves it: the last fold just now, every decision so far folded."""
    from django.utils import timezone

    from insights.models import FoldState
    from signals_app.models import Decision

    top = Decision.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    FoldState.objects.filter(pk=1).update(folded_until=timezone.now(), decision_top=top, decision_gaps=[])


LOOK_BACK_ROUNDS = 6  # a fold a minute looks back six minutes; the upkeep's rounds stand for minutes


def upkeep(learners: int) -> tuple[float, float, int, list[float]]:
    """Rounds of one event per learner: evaluated as the worker does, then folded. Returns the evaluation's and the
    fold's seconds, the events, and each fold's seconds."""
    from django.utils import timezone

    from benchmarks.pipeline import JOURNEY_LENGTH, Pool, ingest
    from identity.models import Learner
    from insights.services import rollups_fold
    from onboarding.celery import app as celery_app
    from signals_app.services import learners_evaluate_pending

    pool = Pool("fold", learners, UPKEEP_DAY)
    pool.create()
    ids = list(Learner.objects.filter(external_id__startswith="fold-").values_list("pk", flat=True))
    steady_state()
    rollups_fold()  # the new enrolments, as the minute before would have
    steady_state()
    evaluation, folds, stamps = 0.0, [], [timezone.now()]
    for _ in range(JOURNEY_LENGTH):
        ingest(pool.take(pool.count))
        began = time.perf_counter()
        for first in range(0, len(ids), 50):
            learners_evaluate_pending(learner_ids=ids[first : first + 50])
        evaluation += time.perf_counter() - began
        # Six rounds back from the last fold, as six minutes back from the last of a fold a minute.
        lag = stamps[-1] - stamps[-1 - LOOK_BACK_ROUNDS] if len(stamps) > LOOK_BACK_ROUNDS else None
        began = time.perf_counter()
        result = rollups_fold(lag=lag)
        folds.append(time.perf_counter() - began)
        stamps.append(timezone.now())
        assert result is not None, "another fold was running"
    celery_app.control.purge()  # the tasks the ingestion enqueued: already done here
    return evaluation, sum(folds), learners * JOURNEY_LENGTH, folds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=10_000_000, help="raw events to generate")
    parser.add_argument("--repeat", type=int, default=3, help="timings of each side (median), after a warm-up")
    parser.add_argument("--learners-per-fold", type=int, default=1000, help="events per fold in the upkeep phase")
    args = parser.parse_args()
    django_setup()
    from django.db import connection

    from insights.services import rollups_fold

    ids = setup_playbook()
    began = time.perf_counter()
    seconds = generate(ids, args.events)
    with connection.cursor() as cursor:
        counts = {}
        for table in RAW_TABLES:
            cursor.execute(f"SELECT count(*) FROM {table}")
            counts[table] = cursor.fetchone()[0]
    print(
        f"generated in {time.perf_counter() - began:.1f} s: " + ", ".join(f"{k} {v:.1f} s" for k, v in seconds.items())
    )
    print("rows: " + ", ".join(f"{table} {n:,}" for table, n in counts.items()))

    began = time.perf_counter()
    result = rollups_fold()
    fold = time.perf_counter() - began
    print(
        f"first fold (a rebuild): {fold:.1f} s ({result.rollup_rows:,} rollup rows; ledger of {result.enrollments:,} "
        f"enrolments, {result.progress:,} progress rows; {counts['signals_app_event'] / fold:,.0f} events/s)"
    )

    problems = check_agree(raw_figures(ids["playbook"]), rollup_figures(ids["playbook"]), ids)
    if problems:
        raise SystemExit("rollups and raw rows disagree:\n" + "\n".join(problems))
    print("the figures agree (counts exactly, percentiles within 1 %)")
    rollups = timed(lambda: rollup_figures(ids["playbook"]), args.repeat)
    raw = timed(lambda: raw_figures(ids["playbook"]), args.repeat)
    print(f"dashboard from rollups: {rollups * 1000:.1f} ms (median of {args.repeat}, all nine figures)")
    print(f"same figures from raw rows: {raw * 1000:,.0f} ms (median of {args.repeat})")
    print(
        f"ratio raw / rollups: {raw / rollups:,.0f}x (target >= 100x: {'met' if raw / rollups >= 100 else 'NOT met'})"
    )

    evaluation, folding, events, folds = upkeep(args.learners_per_fold)
    share = folding / evaluation
    print(
        f"upkeep: {events:,} events evaluated in {evaluation:.1f} s ({evaluation / events * 1e6:.0f} us per event); "
        f"{len(folds)} folds of {args.learners_per_fold:,} events each in {folding:.1f} s "
        f"({folding / events * 1e6:.0f} us per event; fold median {statistics.median(folds) * 1000:.0f} ms, "
        f"max {max(folds) * 1000:.0f} ms)"
    )
    per_fold = statistics.median(folds)
    print(
        f"fold / evaluation: {share:.1%} (target <= 10 %: {'met' if share <= 0.10 else 'NOT met'}); at one fold a "
        f"minute, 10 % is reached from {per_fold / (0.1 * evaluation / events):,.0f} events a minute"
    )


if __name__ == "__main__":
    main()
