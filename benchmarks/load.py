"""The realistic mix under load (locust, headless): 70 % event POSTs, 25 % next-module reads, 5 % admin pages, against
gunicorn and Celery workers as deployed. Baseline in the same run: the same users and web processes asking /healthz
(no database), the ceiling of this machine's client and server. Afterwards: were all events stored and evaluated,
and how long did the workers take to catch up.

    bin/bench load [--users 32] [--seconds 60] [--learners 1000] [--web-workers 4] [--worker-concurrency 2]
"""

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks._support import ROOT, django_setup

LOCUSTFILE = ROOT / "benchmarks" / "locust_mix.py"
ADMIN_USER, ADMIN_PASSWORD = "load-admin", "load-admin-password-1"


def seed(*, learners: int) -> dict[str, str]:
    """The published support playbook, ``learners`` enrolled learners, the two service keys and a signed-in admin;
    returns the environment the locustfile reads."""
    from django.contrib.auth.models import User

    from identity.services import api_key_create, learner_create, role_upsert
    from playbooks.models import Playbook
    from playbooks.services import playbook_import

    if not Playbook.objects.filter(slug="support-specialist").exists():
        text = (ROOT / "tests" / "scenarios" / "support-specialist" / "playbook.yaml").read_text()
        playbook_import(text=text, publish=True)
    role = role_upsert(slug="support_specialist", name="Support specialist")
    from identity.models import Learner

    existing = set(Learner.objects.filter(external_id__startswith="load-").values_list("external_id", flat=True))
    for number in range(learners):
        if f"load-{number}" not in existing:
            learner_create(external_id=f"load-{number}", roles=[role])
    if not User.objects.filter(username=ADMIN_USER).exists():
        User.objects.create_superuser(ADMIN_USER, "load@example.com", ADMIN_PASSWORD)
    events = api_key_create(name="load: LMS connector", scopes=["events:write"]).key
    read = api_key_create(name="load: intranet widget", scopes=["learners:read"]).key
    return {
        "LOAD_EVENTS_KEY": events,
        "LOAD_READ_KEY": read,
        "LOAD_LEARNERS": str(learners),
        "LOAD_ADMIN_USER": ADMIN_USER,
        "LOAD_ADMIN_PASSWORD": ADMIN_PASSWORD,
    }


@dataclass(frozen=True)
class Endpoint:
    name: str
    requests: int
    failures: int
    rate: float  # requests per second over the run
    p50: float  # milliseconds
    p95: float
    p99: float
    errors: list[str] = field(default_factory=list)  # the total's only: each distinct failure with its count


def run_locust(
    host: str, *, users: int, seconds: int, env: dict[str, str], user_class: str = "OnboardingUser"
) -> dict[str, Endpoint]:
    """Run the locustfile headless against ``host``; returns each request name's figures (and ``"total"``)."""
    with tempfile.TemporaryDirectory() as folder:
        report = Path(folder) / "stats.json"
        command = [
            sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "--only-summary", "--skip-log-setup",
            "--users", str(users), "--spawn-rate", str(users), "--run-time", f"{seconds}s", "--host", host,
            "--json-file", str(report.with_suffix("")), "--csv", f"{folder}/run", "--stop-timeout", "10", user_class,
        ]  # fmt: skip
        ran = subprocess.run(
            command, cwd=ROOT, env={**os.environ, **env}, capture_output=True, text=True, timeout=seconds + 120
        )
        if not report.exists():
            raise RuntimeError(f"locust exited with {ran.returncode} and no report:\n{ran.stderr[-3000:]}")
        entries = json.loads(report.read_text())
        with open(f"{folder}/run_failures.csv", newline="") as failures:
            errors = [
                f"{row['Occurrences']}x {row['Method']} {row['Name']}: {row['Error']}"
                for row in csv.DictReader(failures)
            ]
    # The run's own span (locust's start-up aside), from its first request to its last.
    span = max(e["last_request_timestamp"] or 0 for e in entries) - min(e["start_time"] for e in entries)
    figures = {entry["name"]: _endpoint(entry, span) for entry in entries}
    figures["total"] = _total(list(figures.values()), span, errors)
    return figures


def _endpoint(entry: dict, elapsed: float) -> Endpoint:
    times = sorted((float(ms), count) for ms, count in entry["response_times"].items())
    return Endpoint(
        entry["name"],
        entry["num_requests"],
        entry["num_failures"],
        entry["num_requests"] / elapsed,
        _percentile(times, 0.50),
        _percentile(times, 0.95),
        _percentile(times, 0.99),
    )


def _percentile(times: list[tuple[float, int]], fraction: float) -> float:
    total = sum(count for _ms, count in times)
    seen = 0
    for ms, count in times:
        seen += count
        if seen >= fraction * total:
            return ms
    return 0.0


def _total(endpoints: list[Endpoint], elapsed: float, errors: list[str]) -> Endpoint:
    requests = sum(e.requests for e in endpoints)
    return Endpoint("total", requests, sum(e.failures for e in endpoints), requests / elapsed, 0.0, 0.0, 0.0, errors)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=32)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--learners", type=int, default=1000)
    parser.add_argument("--web-workers", type=int, default=4)
    parser.add_argument("--worker-concurrency", type=int, default=2)
    args = parser.parse_args()
    django_setup()
    from django.core.management import call_command

    from benchmarks._support import start_web, start_worker, stop, wait_for
    from signals_app.models import Event

    call_command("collectstatic", "--noinput", "-v0")  # the admin pages need the hashed static files, as deployed
    env = seed(learners=args.learners)
    before = Event.objects.count()
    web, url = start_web(workers=args.web_workers)
    worker = start_worker(concurrency=args.worker_concurrency)
    try:
        baseline = run_locust(url, users=args.users, seconds=args.seconds, env=env, user_class="HealthzUser")
        mix = run_locust(url, users=args.users, seconds=args.seconds, env=env)
        ended = time.monotonic()
        wait_for(lambda: not Event.objects.filter(processed_at__isnull=True).exists(), timeout=900, what="evaluation")
        drained = time.monotonic() - ended
    finally:
        stop(web)
        stop(worker)
    _report(args, baseline, mix, stored=Event.objects.count() - before, drained=drained)


def _report(args, baseline: dict[str, Endpoint], mix: dict[str, Endpoint], *, stored: int, drained: float) -> None:
    posted = mix["POST events"].requests - mix["POST events"].failures
    print(
        f"locust: {args.users} users, {args.seconds} s per run, gunicorn --workers {args.web_workers}, "
        f"one Celery worker --concurrency {args.worker_concurrency}, {args.learners} learners"
    )
    print(f"{'request':<32} {'count':>7} {'fail':>5} {'req/s':>8} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7}")
    for endpoint in [*baseline.values(), *mix.values()]:
        print(
            f"{endpoint.name:<32} {endpoint.requests:>7} {endpoint.failures:>5} {endpoint.rate:>8.1f} "
            f"{endpoint.p50:>7.0f} {endpoint.p95:>7.0f} {endpoint.p99:>7.0f}"
        )
    for error in mix["total"].errors:
        print(f"failed: {error}")
    print(f"mix throughput / /healthz baseline: {mix['total'].rate / baseline['total'].rate:.2f}x")
    print(f"events posted and acknowledged: {posted}, stored: {stored}, all evaluated {drained:.1f} s after the run")


if __name__ == "__main__":
    main()
