"""The README's first command, minus the install: the platform comes up on SQLite and a filesystem broker."""

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest
import requests

from tests.utils import closed_port

ROOT = Path(__file__).resolve().parents[1]
SERVER_ENV_TO_DROP = ("DATABASE_URL", "CELERY_BROKER_URL", "CELERY_RESULT_BACKEND", "DJANGO_SETTINGS_MODULE")


@pytest.fixture(scope="module")
def embedded(tmp_path_factory):
    var_dir = tmp_path_factory.mktemp("embedded-var")
    port = closed_port()
    env = {k: v for k, v in os.environ.items() if k not in SERVER_ENV_TO_DROP}
    env.update(SKIP_INSTALL="1", PORT=str(port), ONBOARDING_VAR_DIR=str(var_dir), DEMO_PASSWORD="demo-pass-123")
    log = (var_dir / "serve.log").open("w+")
    process = subprocess.Popen(
        [str(ROOT / "bin" / "serve")], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        _wait_for_banner(process, var_dir / "serve.log")
        yield {"url": f"http://127.0.0.1:{port}", "env": env, "process": process, "log": var_dir / "serve.log"}
    finally:
        os.killpg(process.pid, signal.SIGINT)
        process.wait(timeout=30)


def _wait_for_banner(process: subprocess.Popen, log: Path, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if "Onboarding platform is running" in log.read_text():
            return
        if process.poll() is not None:
            raise AssertionError(f"bin/serve exited with {process.returncode}:\n{log.read_text()}")
        time.sleep(0.5)
    raise AssertionError(f"bin/serve did not come up in {timeout}s:\n{log.read_text()}")


def test_it_prints_the_admin_url_and_login(embedded):
    banner = embedded["log"].read_text()

    assert f"Admin:      {embedded['url']}/admin/    login: admin / demo-pass-123" in banner


def test_readyz_is_200_on_sqlite_and_the_filesystem_broker(embedded):
    response = requests.get(f"{embedded['url']}/readyz", timeout=10)

    assert response.status_code == 200
    assert response.json()["checks"] == {"database": "ok", "broker": "ok"}


def test_the_demo_admin_logs_in_and_sees_demo_roles_and_modules(embedded):
    session = requests.Session()
    login_url = f"{embedded['url']}/admin/login/"
    page = session.get(login_url, timeout=10)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)

    response = session.post(
        login_url,
        timeout=10,
        headers={"Referer": login_url},
        data={"username": "admin", "password": "demo-pass-123", "csrfmiddlewaretoken": token, "next": "/admin/"},
    )

    assert response.status_code == 200 and "Log out" in response.text
    roles = session.get(f"{embedded['url']}/admin/identity/role/", timeout=10).text
    modules = session.get(f"{embedded['url']}/admin/playbooks/contentmodule/", timeout=10).text
    assert "support_specialist" in roles
    assert "advanced-debugging" in modules and "policy-compliance" in modules


def test_a_task_sent_to_the_running_worker_is_executed(embedded):
    result = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "python"), "manage.py", "ping_worker", "--timeout", "30"],
        cwd=ROOT,
        env=embedded["env"],
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 0, result.stderr
    assert re.match(r"Worker \S+ \(pid \d+\) answered in \d+ ms", result.stdout)


def test_a_demo_learner_sees_their_next_module_on_the_learner_page(embedded):
    session = requests.Session()
    login_url = f"{embedded['url']}/accounts/login/"
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', session.get(login_url, timeout=10).text).group(1)

    page = session.post(
        login_url,
        timeout=10,
        headers={"Referer": login_url},
        data={"username": "alex", "password": "demo-pass-123", "csrfmiddlewaretoken": token, "next": "/learn/"},
    )

    assert page.status_code == 200
    assert "Next: Welcome to Support" in page.text and "Step 1 of 6 of the playbook." in page.text


def test_the_insights_rollups_rebuild_on_sqlite(embedded):
    """The dashboards' rollups are kept on the embedded default too (the fold once set a PostgreSQL-only isolation
    level and failed on SQLite)."""
    result = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "python"), "manage.py", "rebuild_insights"],
        cwd=ROOT,
        env=embedded["env"],
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 0, result.stderr
    rows, enrollments = map(int, re.match(r"Rebuilt (\d+) rollup rows from (\d+) enrolments", result.stdout).groups())
    assert rows > 0 and enrollments > 0, result.stdout  # the demo learners' journeys are counted
