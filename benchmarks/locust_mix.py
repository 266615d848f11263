"""The realistic mix for locust (run by benchmarks/load.py and tests/pipeline/test_load.py, never imported by them:
locust patches the standard library with gevent): 70 % event POSTs by an LMS connector, 25 % next-module reads by
an intranet widget, 5 % admin pages by an operator who is signed in.

Configured by the environment: LOAD_EVENTS_KEY (events:write), LOAD_READ_KEY (learners:read), LOAD_LEARNERS (how
many learners, ``load-0`` ... ``load-N-1``), LOAD_EVENTS_PER_POST, LOAD_ADMIN_USER, LOAD_ADMIN_PASSWORD, LOAD_WAIT
(seconds between a user's requests; 0 for the full-size benchmark, as fast as the server answers).
"""

import itertools
import os
import random
import re
import uuid
from datetime import UTC, datetime

from locust import HttpUser, constant, task

LEARNERS = int(os.environ.get("LOAD_LEARNERS", "100"))
EVENTS_PER_POST = int(os.environ.get("LOAD_EVENTS_PER_POST", "1"))
MODULES = ["welcome", "crm-basics", "ticketing-101", "product-tour"]
ADMIN_PAGES = [
    "/admin/",
    "/admin/signals_app/event/",
    "/admin/signals_app/decision/",
    "/admin/identity/learner/",
    "/admin/playbooks/playbook/",
]
_sequence = itertools.count()


class OnboardingUser(HttpUser):
    wait_time = constant(float(os.environ.get("LOAD_WAIT", "0")))

    def on_start(self) -> None:
        self.events_key = {"Authorization": f"Api-Key {os.environ['LOAD_EVENTS_KEY']}"}
        self.read_key = {"Authorization": f"Api-Key {os.environ['LOAD_READ_KEY']}"}
        self.signed_in = False

    @task(70)
    def post_events(self) -> None:
        learner = f"load-{random.randrange(LEARNERS)}"  # noqa: S311 - load shape, not security
        now = datetime.now(UTC).isoformat()
        events = [
            {
                "id": f"load-{uuid.uuid4().hex}",
                "learner": learner,
                "type": random.choice(["module_started", "module_completed", "module_skipped"]),  # noqa: S311
                "module": random.choice(MODULES),  # noqa: S311
                "occurred_at": now,
                "properties": {"duration_seconds": random.randint(20, 400), "n": next(_sequence)},  # noqa: S311
            }
            for _ in range(EVENTS_PER_POST)
        ]
        with self.client.post(
            "/api/v1/events", json={"events": events}, headers=self.events_key, name="POST events", catch_response=True
        ) as response:
            if response.status_code != 202 or response.json().get("accepted") != EVENTS_PER_POST:
                response.failure(f"{response.status_code}: {response.text[:200]}")

    @task(25)
    def read_next_module(self) -> None:
        learner = f"load-{random.randrange(LEARNERS)}"  # noqa: S311
        self.client.get(f"/api/v1/learners/{learner}/next-module", headers=self.read_key, name="GET next-module")

    @task(5)
    def admin_page(self) -> None:
        if not self.signed_in:
            self._sign_in()
        page = random.choice(ADMIN_PAGES)  # noqa: S311
        with self.client.get(page, name=f"admin {page}", catch_response=True) as response:
            if response.status_code != 200 or "Log out" not in response.text:
                response.failure(f"{response.status_code}: not the signed-in admin page")

    def _sign_in(self) -> None:
        page = self.client.get("/admin/login/", name="admin login")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
        self.client.post(
            "/admin/login/",
            data={
                "username": os.environ["LOAD_ADMIN_USER"],
                "password": os.environ["LOAD_ADMIN_PASSWORD"],
                "csrfmiddlewaretoken": token,
                "next": "/admin/",
            },
            headers={"Referer": f"{self.host}/admin/login/"},
            name="admin login",
        )
        self.signed_in = True


class HealthzUser(HttpUser):
    """The baseline: as many users, as often, asking what costs the server nothing (no database)."""

    wait_time = constant(float(os.environ.get("LOAD_WAIT", "0")))

    @task
    def healthz(self) -> None:
        self.client.get("/healthz", name="GET /healthz (baseline)")
