"""bin/screenshots' body: demo data with learners spread over the demo playbook, then one PNG per main page.

Run through bin/screenshots, which points ONBOARDING_VAR_DIR (the SQLite database, the broker's folder, static
files) at a throwaway directory.
"""

import os
import random
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import django

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "onboarding-demo"  # noqa: S105 (the demo's well-known password, as bin/serve prints it)
VIEWPORT = {"width": 1280, "height": 800}
JOURNEY = ROOT / "tests" / "scenarios" / "support-specialist" / "journeys" / "fast-skipper.yaml"
NAMES = ("Ana", "Ben", "Chen", "Dana", "Emil", "Fatima", "Gus", "Hana", "Ivan", "Jo", "Kofi", "Lea", "Mo", "Nia")
SURNAMES = ("Alvarez", "Brandt", "Costa", "Dubois", "Eriksen", "Fischer", "Garcia", "Haddad", "Ito", "Jensen", "Kim")
PACES = (20, 50, 70, 100, 110, 150, 200)  # seconds per module: the branch point's options read the average


def seed() -> None:
    """Forty learners reporting to the demo's Alex, at every stage of the demo playbook, all through ingestion and
    evaluation as the API's events would be (evaluated here, not by a worker)."""
    from django.utils import timezone

    from identity.models import Learner, Role
    from identity.services import learner_create, learner_update
    from playbooks.selectors import next_module_for_learner
    from playbooks.services import learner_enroll
    from signals_app.services import events_ingest, learner_evaluate_pending

    now, rng = timezone.now(), random.Random(7)  # noqa: S311 (the same learners every run)
    roles = list(Role.objects.filter(slug="support_specialist"))
    alex = Learner.objects.get(external_id="demo-alex")
    learners = [(alex, 2, 60, 0.0)]
    for n in range(40):
        first, last = NAMES[n % len(NAMES)], SURNAMES[(n * 5) % len(SURNAMES)]
        learner = learner_create(
            external_id=f"hire-{n:02}",
            display_name=f"{first} {last}",
            email=f"{first}.{last}.{n}@example.com".lower(),
            roles=roles,
            attributes={"manager": "demo-alex", "api_access": n % 3 == 0, "department": "support"},
        )
        learners.append((learner, rng.randint(0, 9), rng.choice(PACES), rng.choice((0.0, 0.0, 0.3, 0.6))))
    sam = Learner.objects.get(external_id="demo-sam")
    learner_update(learner=sam, data={"attributes": {**sam.attributes, "manager": "demo-alex"}})
    for learner, modules, pace, skip_rate in learners:
        start = now - timedelta(days=rng.randint(2, 20), hours=rng.randint(0, 8))
        learner_enroll(learner=learner, now=start)
        moment = start
        for number in range(modules):
            answer = next_module_for_learner(learner=learner)
            if answer.module is None:
                break
            moment += timedelta(hours=rng.randint(2, 30))
            skipped = rng.random() < skip_rate
            event = {
                "id": f"{learner.external_id}-{number}",
                "learner": learner.external_id,
                "type": "module_skipped" if skipped else "module_completed",
                "module": answer.module.slug,
                "occurred_at": min(moment, now).isoformat(),
                "properties": {} if skipped else {"duration_seconds": pace + rng.randint(-5, 5)},
            }
            events_ingest(body={"events": [event]}, source="key:demo", now=now)
            learner_evaluate_pending(learner_id=learner.pk, now=now)


def prepare() -> None:
    from django.core.management import call_command

    from insights.services import rollups_rebuild

    call_command("migrate", verbosity=0)
    call_command("loaddemo", password=PASSWORD)
    call_command("collectstatic", interactive=False, verbosity=0)
    seed()
    rollups_rebuild()


@contextmanager
def server():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    gunicorn = shutil.which("gunicorn", path=str(Path(sys.executable).parent))
    process = subprocess.Popen(  # noqa: S603 (our own fixed command line)
        [gunicorn, "onboarding.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", "2"]
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(f"{url}/healthz", timeout=2)  # noqa: S310 (http on loopback)
                break
            except OSError:
                time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


def shoot(url: str, out: Path) -> None:
    from playwright.sync_api import sync_playwright

    from playbooks.models import Playbook, PlaybookVersion

    version = PlaybookVersion.objects.get(playbook__slug="support-specialist", status="published")
    playbook = Playbook.objects.get(slug="support-specialist")
    out.mkdir(parents=True, exist_ok=True)
    args = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=shutil.which("chromium"), headless=True, args=args)
        admin = browser.new_page(viewport=VIEWPORT)
        admin.goto(f"{url}/admin/login/?next=/admin/")
        admin.get_by_label("Username").fill("admin")
        admin.get_by_label("Password").fill(PASSWORD)
        admin.get_by_role("button", name="Log in").click()
        admin.wait_for_url(f"{url}/admin/")
        admin.screenshot(path=out / "admin-index.png")
        admin.goto(f"{url}/admin/playbooks/playbookversion/{version.pk}/change/")
        admin.screenshot(path=out / "playbook-version.png")
        admin.goto(f"{url}/admin/playbooks/playbookversion/{version.pk}/map/")
        height = min(admin.evaluate("document.documentElement.scrollHeight"), 1400)  # the whole map, if it fits
        _clipped(admin, out / "playbook-map.png", top=0, height=height)
        admin.goto(f"{url}/admin/playbooks/playbookversion/{version.pk}/simulate/")
        admin.get_by_label("Journey").fill(JOURNEY.read_text())
        admin.get_by_role("button", name="Simulate").click()
        route = admin.locator("#route")
        route.wait_for()
        # From the route's heading to the end of its map (the triggers fired), at most 1,200 px.
        top = admin.evaluate("document.getElementById('route').getBoundingClientRect().top + window.scrollY") - 16
        bottom = admin.evaluate("document.querySelector('svg.playbook-map').getBoundingClientRect().bottom + scrollY")
        _clipped(admin, out / "simulate.png", top=top, height=min(bottom + 16 - top, 1200))
        admin.goto(f"{url}/admin/playbooks/playbook/{playbook.pk}/insights/")
        admin.screenshot(path=out / "insights-dashboard.png")
        learner = browser.new_page(viewport=VIEWPORT)
        learner.goto(f"{url}/accounts/login/?next=/learn/")
        learner.get_by_label("Username").fill("alex")
        learner.get_by_label("Password").fill(PASSWORD)
        learner.locator("form [type=submit]").click()
        learner.wait_for_url(f"{url}/learn/")
        learner.screenshot(path=out / "learner-page.png")
        learner.goto(f"{url}/learn/team")
        learner.screenshot(path=out / "manager-page.png")
        browser.close()
    for png in sorted(out.glob("*.png")):
        print(f"{png.relative_to(ROOT) if png.is_relative_to(ROOT) else png}: {png.stat().st_size // 1024} KB")


def _clipped(page, path: Path, *, top: float, height: float) -> None:
    page.screenshot(path=path, clip={"x": 0, "y": top, "width": VIEWPORT["width"], "height": height}, full_page=True)


def main() -> None:
    out = Path(sys.argv[1])
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "onboarding.settings.base")
    django.setup()
    prepare()
    with server() as url:
        shoot(url, out)


if __name__ == "__main__":
    main()
