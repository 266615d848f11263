"""The source articles' examples (docs/examples/*.yaml playbooks) through the simulator: each one's saved journeys
make it fire and show where it must not, and publishing runs them, so an example that stops holding fails here."""

from pathlib import Path

import pytest
import yaml

from playbooks.services import playbook_import
from playbooks.services.blocks import block_version_save
from signals_app.services.simulation import SavedJourneyRun, saved_journeys_run

pytestmark = pytest.mark.django_db

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"
PLAYBOOKS = sorted(path for path in EXAMPLES.glob("*.yaml") if "steps" in yaml.safe_load(path.read_text()))
BLOCKS = sorted((EXAMPLES / "blocks").glob("*.yaml"))


@pytest.fixture(autouse=True)
def _example_blocks():
    """The reusable blocks the examples include, saved as their version 1 (as an admin saves them first)."""
    for path in BLOCKS:
        assert block_version_save(text=path.read_text()).version.number == 1


def _runs(name: str) -> dict[str, SavedJourneyRun]:
    version = playbook_import(text=(EXAMPLES / name).read_text(), publish=True).version
    return {run.name: run for run in saved_journeys_run(version=version)}


@pytest.mark.parametrize("path", PLAYBOOKS, ids=lambda path: path.stem)
def test_every_example_publishes_and_its_journeys_pass(path):
    runs = _runs(path.name)

    assert len(runs) >= 2  # one that makes it fire, one that must not
    failed = {name: [e.message for e in run.result.expectations if not e.passed] for name, run in runs.items()}
    assert not any(failed.values()), failed


def _trigger_entries(run: SavedJourneyRun, name: str) -> list[tuple[str, str]]:
    return [
        (entry["offset"], entry["status"])
        for entry in run.result.timeline
        if entry["kind"] == "trigger" and entry["rule"].startswith(f"trigger '{name}'")
    ]


def test_the_fourth_search_tip_within_24_hours_is_held_back_and_the_timeline_says_why():
    runs = _runs("search-hints-cap.yaml")

    held = runs["the fourth match within 24 hours is held back"]
    assert _trigger_entries(held, "search tip") == [
        ("0s", "fired"),
        ("2h", "fired"),
        ("5h", "fired"),
        ("23h", "suppressed"),
    ]
    suppressed = next(e for e in held.result.timeline if e["kind"] == "trigger" and e["status"] == "suppressed")
    assert "limit of 3 per 24h reached" in suppressed["explanation"]
    assert "next possible after 2026-03-03 09:00:00 UTC" in suppressed["explanation"]
    moved_on = runs["a match after the window moved on is answered"]
    assert _trigger_entries(moved_on, "search tip")[-1] == ("1d1m", "fired")
    assert _trigger_entries(moved_on, "search coach") == [("0s", "fired"), ("2h", "suppressed"), ("1d1m", "fired")]


def _waits(run: SavedJourneyRun) -> list[tuple[str, str]]:
    return [(entry["offset"], entry["status"]) for entry in run.result.timeline if entry["kind"] == "wait"]


def test_the_lab_exit_wait_shows_in_the_timeline_as_waiting_then_came_or_timed_out():
    runs = _runs("lab-exit-follow-up.yaml")

    assert _waits(runs["comes back within 2 minutes"]) == [("1m30s", "waiting"), ("3m", "came")]
    assert _waits(runs["comes back a minute too late"]) == [("1m30s", "waiting"), ("4m30s", "timed_out")]
    assert _waits(runs["opens another module instead"]) == [("1m30s", "waiting"), ("5m", "timed_out")]  # the sweep
    assert _waits(runs["left after a glance"]) == []
    late = next(
        e
        for e in runs["comes back a minute too late"].result.timeline
        if e["kind"] == "wait" and e["offset"] == "4m30s"
    )
    assert late["explanation"] == (
        "No module_started with module = 'api-lab' came within 2m of 2026-03-02 09:01:30 UTC: 'else' runs."
    )
    nudge = next(e for e in runs["comes back a minute too late"].result.timeline if e["kind"] == "reminder")
    assert (nudge["offset"], nudge["template"], nudge["module"]) == ("4m30s", "lab_pick_up", "lab-walkthrough")


def test_the_overdue_reminder_fires_at_the_first_sweep_after_the_due_time_and_readiness_is_in_the_timeline():
    runs = _runs("schedule-readiness.yaml")

    assert _trigger_entries(
        runs["overdue on the CRM course is reminded at the first sweep after the due time"], "overdue reminder"
    ) == [("3d1h5m", "fired")]
    assert _trigger_entries(runs["done one minute before due"], "overdue reminder") == []
    ready = [e for e in runs["on schedule to readiness"].result.timeline if e["kind"] == "ready"]
    assert [(e["offset"], e["step"], e["values"]["days"]) for e in ready] == [("4d", "first-ticket", 4)]
