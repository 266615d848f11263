"""POST /api/v1/events in batches of 500 through gunicorn, against psycopg COPY of the same rows into the same table.

    bin/bench ingestion [--events 20000] [--batch 500] [--clients 2] [--web-workers 2]

Both write the same number of events for 1,000 learners into signals_app_event on the same PostgreSQL; the API
path adds HTTP, authentication, validation of every event, duplicate detection and the enqueueing of evaluation
(to Redis, with no worker running). Target: the API at 0.3x COPY's events/s or better.
"""

import argparse
import io
import json
import threading
import time
from datetime import timedelta

import requests

from benchmarks._support import django_setup, start_web, stop

LEARNERS = 1000


def make_events(count: int, tag: str) -> list[dict]:
    from django.utils import timezone

    base = timezone.now() - timedelta(hours=1)
    kinds = ["module_progress", "page_view", "module_completed", "ticket_submitted"]
    return [
        {
            "id": f"{tag}-{n}",
            "learner": f"bench-{n % LEARNERS}",
            "type": kinds[n % 4],
            "module": "product-tour",
            "occurred_at": (base + timedelta(milliseconds=n)).isoformat(),
            "properties": {"seconds": n % 600, "completion_pct": n % 100},
        }
        for n in range(count)
    ]


def copy_rate(events: list[dict]) -> float:
    from django.db import connection

    from identity.models import Learner

    ids = dict(Learner.objects.filter(external_id__startswith="bench-").values_list("external_id", "pk"))
    buffer = io.StringIO()
    for e in events:
        properties = json.dumps(e["properties"])
        buffer.write(
            "\t".join(
                [
                    "copy",
                    e["id"],
                    str(ids[e["learner"]]),
                    e["type"],
                    e["module"],
                    e["occurred_at"],
                    e["occurred_at"],
                    properties,
                ]
            )
            + "\n"
        )
    columns = "(source, client_id, learner_id, type, module, occurred_at, received_at, properties)"
    began = time.perf_counter()
    with (
        connection.cursor() as cursor,
        cursor.connection.cursor().copy(f"COPY signals_app_event {columns} FROM STDIN") as copy,
    ):
        copy.write(buffer.getvalue())
    elapsed = time.perf_counter() - began
    return len(events) / elapsed


def api_rate(url: str, key: str, events: list[dict], batch: int, clients: int) -> float:
    batches = [events[start : start + batch] for start in range(0, len(events), batch)]
    failures: list[str] = []

    def client(mine: list[list[dict]]) -> None:
        session = requests.Session()
        session.headers["Authorization"] = f"Api-Key {key}"
        for items in mine:
            response = session.post(f"{url}/api/v1/events", json={"events": items}, timeout=60)
            if response.status_code != 202 or response.json()["accepted"] != len(items):
                failures.append(f"{response.status_code} {response.text[:200]}")

    threads = [threading.Thread(target=client, args=(batches[n::clients],)) for n in range(clients)]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    if failures:
        raise SystemExit(f"{len(failures)} failed posts, e.g. {failures[0]}")
    return len(events) / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--clients", type=int, default=2)
    parser.add_argument("--web-workers", type=int, default=2, help="gunicorn worker processes")
    args = parser.parse_args()
    django_setup()
    from identity.models import Learner
    from identity.services import api_key_create

    Learner.objects.bulk_create([Learner(external_id=f"bench-{n}") for n in range(LEARNERS)], ignore_conflicts=True)
    key = api_key_create(name="bench", scopes=["events:write"]).key
    web, url = start_web(workers=args.web_workers)
    try:
        api_rate(url, key, make_events(2 * args.batch, "warm"), args.batch, args.clients)  # warm connections
        copy = copy_rate(make_events(args.events, "copy"))
        api = api_rate(url, key, make_events(args.events, "api"), args.batch, args.clients)
    finally:
        stop(web)
    print(f"psycopg COPY:                {copy:>10,.0f} events/s")
    print(f"POST /api/v1/events ({args.batch}/batch, {args.clients} clients): {api:>10,.0f} events/s")
    print(f"ratio API / COPY: {api / copy:.2f}x (target >= 0.30x)")


if __name__ == "__main__":
    main()
