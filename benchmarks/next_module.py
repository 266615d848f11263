"""GET /api/v1/me/next-module under 32 concurrent clients (wrk) against a trivial token-authenticated endpoint
(GET /api/v1/me) on the same gunicorn server.

    bin/bench next_module [--seconds 10] [--connections 32] [--web-workers 4]

Both use the same learner token, the same authentication and throttling; next-module adds the enrolment read
(one indexed query with its module) and the serialisation of the answer. Target: at least
0.7x the trivial endpoint's requests/s, a p99 at most 2x its p99, and a constant query count (asserted in the
test suite).
"""

import argparse
import re
import subprocess
from pathlib import Path

from benchmarks._support import django_setup, start_web, stop

PLAYBOOK = Path(__file__).resolve().parent.parent / "playbooks" / "demo" / "support-specialist.yaml"


def wrk(url: str, token: str, seconds: float, connections: int) -> tuple[float, float]:
    """requests/s and p99 in ms."""
    output = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "-H", f"Authorization: Token {token}", url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    if "Non-2xx" in output:
        raise SystemExit(f"non-2xx answers from {url}:\n{output}")
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    value, unit = re.search(r"99%\s+([\d.]+)(us|ms|s)", output).groups()
    return rate, float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--web-workers", type=int, default=4)
    args = parser.parse_args()
    django_setup()
    from identity.services import learner_create, learner_token_create, role_upsert
    from playbooks.services import learner_enroll, playbook_import

    playbook_import(text=PLAYBOOK.read_text(), publish=True)
    learner = learner_create(external_id="bench-learner", roles=[role_upsert(slug="support_specialist", name="S")])
    learner_enroll(learner=learner)
    token = learner_token_create(learner=learner, name="bench").key
    web, url = start_web(workers=args.web_workers, env={"API_RATE_LIMIT": "100000000/minute"})
    base = f"{url}/api/v1"
    try:
        for url in (f"{base}/me", f"{base}/me/next-module"):  # warm every worker's connections and caches
            wrk(url, token, 2, args.connections)
        trivial_rate, trivial_p99 = wrk(f"{base}/me", token, args.seconds, args.connections)
        next_rate, next_p99 = wrk(f"{base}/me/next-module", token, args.seconds, args.connections)
    finally:
        stop(web)
    print(f"GET /api/v1/me (trivial):   {trivial_rate:>8,.0f} requests/s, p99 {trivial_p99:.1f} ms")
    print(f"GET /api/v1/me/next-module: {next_rate:>8,.0f} requests/s, p99 {next_p99:.1f} ms")
    print(
        f"ratio requests/s: {next_rate / trivial_rate:.2f}x (target >= 0.7x); "
        f"ratio p99: {next_p99 / trivial_p99:.2f}x (target <= 2x)"
    )


if __name__ == "__main__":
    main()
