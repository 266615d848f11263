"""The README's commands as a newcomer types them, each in a fresh shell (no virtualenv active, none of the test
suite's variables): its first command, the `python manage.py` lines after `source .venv/bin/activate` as it says,
the curl examples with the keys it tells how to make, and `bin/test` with the arguments it shows.

Two liberties, so that the run fits beside others: the platform gets its own state folder and port
(`ONBOARDING_VAR_DIR`, `PORT`, both documented), and `SKIP_INSTALL=1` is passed on when the suite has it, for
checkouts whose `.venv` is shared rather than made by `bin/test` (on a fresh clone the installs are no-ops anyway).
"""

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest
import requests

from tests.utils import closed_port

# Installs checked, the demo migrated and loaded, the static files collected, a whole bin/test run: minutes.
pytestmark = pytest.mark.timeout(900)

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
FRESH_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def code_blocks() -> list[list[str]]:
    return [block.strip().splitlines() for block in re.findall(r"```sh\n(.*?)```", README, re.DOTALL)]


def command(line: str) -> str:
    return line.split("#", 1)[0].strip()


def fresh_env(var_dir: Path, port: int) -> dict[str, str]:
    env = {"PATH": FRESH_PATH, "HOME": os.environ.get("HOME", "/root"), "LANG": "C.UTF-8"}
    env.update(ONBOARDING_VAR_DIR=str(var_dir), PORT=str(port))
    if os.environ.get("SKIP_INSTALL"):
        env["SKIP_INSTALL"] = os.environ["SKIP_INSTALL"]
    return env


def shell(line: str, env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", "--noprofile", "--norc", "-c", line],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """The README's first command, left running."""
    first = command(code_blocks()[0][0])
    assert first == "bin/serve"
    var_dir = tmp_path_factory.mktemp("readme-var")
    port = closed_port()
    env = fresh_env(var_dir, port)
    log_path = var_dir.parent / "serve.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            ["bash", "--noprofile", "--norc", "-c", first],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    try:
        _wait_for_banner(process, log_path)
        yield {"env": env, "url": f"http://127.0.0.1:{port}", "log": log_path}
    finally:
        os.killpg(process.pid, signal.SIGINT)
        process.wait(timeout=60)


def _wait_for_banner(process: subprocess.Popen, log: Path, timeout: float = 600.0) -> None:
    deadline = time.monotonic() + timeout
    while "Press Enter to show this again" not in log.read_text():
        if process.poll() is not None:
            raise AssertionError(f"bin/serve exited with {process.returncode}:\n{log.read_text()}")
        if time.monotonic() > deadline:
            raise AssertionError(f"bin/serve did not come up in {timeout}s:\n{log.read_text()}")
        time.sleep(0.5)


def test_the_manage_py_lines_work_in_the_virtualenv_the_readme_names(served):
    lines = [command(line) for block in code_blocks() for line in block if line.startswith("python manage.py")]
    trying = [line for line in lines if "DJANGO_SETTINGS_MODULE" not in line and "--deploy" not in line]
    assert len(trying) >= 4

    for line in trying:
        result = shell(f"source .venv/bin/activate && {line}", served["env"])

        assert result.returncode == 0, f"{line}\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}"


def test_the_curl_examples_work_with_the_keys_the_readme_says_to_make(served):
    keys = re.findall(r'`manage\.py (create_api_key "[^"]+" --scopes [^`]+)`', README)  # the examples' own keys
    assert len(keys) == 2
    curls = [
        " ".join(line.rstrip("\\").strip() for line in block) for block in code_blocks() if block[0].startswith("curl")
    ]
    assert len(curls) == 2

    answers = []
    for make_key, curl in zip(keys, curls, strict=True):
        issued = shell(f"source .venv/bin/activate && python manage.py {make_key}", served["env"])
        assert issued.returncode == 0, issued.stderr
        line = curl.replace("http://127.0.0.1:8000", served["url"])
        result = shell(f"KEY={issued.stdout.strip()} && {line}", served["env"], timeout=60)
        assert result.returncode == 0, result.stderr
        answers.append(json.loads(result.stdout))

    sent, read = answers
    assert sent["accepted"] + sent["duplicates"] == 1 and sent["warnings"] == []
    assert "module" in read  # the demo learner's next module, for the widget


def test_serve_is_calm_and_prints_its_addresses_last_and_again_on_request(served):
    requests.get(f"{served['url']}/learn/", timeout=10)  # some activity after the banner: it must stay on screen
    again = shell("bin/serve --urls", served["env"], timeout=30)
    icon = requests.get(f"{served['url']}/favicon.ico", timeout=10)
    log = served["log"].read_text()

    assert "No hostname was supplied" not in log
    banner = log[log.index("  Onboarding platform is running") :]
    assert banner.rstrip().endswith("stop with Ctrl-C.")  # nothing logged after it
    assert f"Admin:      {served['url']}/admin/    login: admin / onboarding-demo" in banner
    assert f"Learner:    {served['url']}/learn/    login: alex / onboarding-demo" in banner
    assert again.returncode == 0 and again.stdout.strip() == banner.strip()
    assert icon.status_code == 200 and icon.headers["Content-Type"].startswith("image/svg+xml")


def test_bin_test_runs_with_the_arguments_the_readme_shows(tmp_path):
    example = re.search(r"\(`(bin/test [^`]+)`\)", README).group(1)
    assert example == "bin/test -k loaddemo -x"

    result = shell(example, fresh_env(tmp_path, closed_port()), timeout=900)

    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert re.search(r"\d+ passed", result.stdout)
