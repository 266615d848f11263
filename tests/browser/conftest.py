import os
import shutil

import pytest
from playwright.sync_api import sync_playwright

# A real worker evaluates the clicks, and finishes before each test's tables are emptied.
from tests.pipeline.conftest import _worker_idle_before_flush, celery_worker_process  # noqa: F401

# Debian's chromium, installed by bin/test; flags for a root user on a machine with no outside network.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser():
    executable = shutil.which("chromium")
    assert executable, "Debian's chromium is not installed: bin/test installs it"
    # Playwright's sync API runs an event loop in this thread, which Django takes for async code and refuses the
    # ORM; the test's own database calls are ordinary synchronous ones (pytest-playwright documents the same).
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
            yield browser
            browser.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous
