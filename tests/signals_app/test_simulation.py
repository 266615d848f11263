"""The simulator through its command: the public journeys pass, failures explain themselves, bad journeys are
refused precisely, time-based rules fire on the simulated clock, and nothing is left in the database."""

import io
import json
from pathlib import Path

import pytest
import yaml
from django.apps import apps
from django.core.management import CommandError, call_command

from playbooks.models import Playbook, PlaybookVersion
from playbooks.selectors import version_spec
from playbooks.services import draft_create, playbook_import, version_write_spec
from tests.playbooks.engine.replay import SCENARIOS

pytestmark = pytest.mark.django_db

SPECIALIST = SCENARIOS / "support-specialist"
JOURNEYS = sorted(SPECIALIST.glob("journeys/*.yaml"))
FAST_SKIPPER = SPECIALIST / "journeys" / "fast-skipper.yaml"


@pytest.fixture
def published():
    return playbook_import(text=(SPECIALIST / "playbook.yaml").read_text(), publish=True).version


def simulate(journey: Path, *args: str) -> tuple[int, str]:
    out = io.StringIO()
    try:
        call_command("simulate", str(journey), *args, stdout=out)
    except SystemExit as exit_:
        return exit_.code, out.getvalue()
    return 0, out.getvalue()


def write_journey(tmp_path: Path, document: dict) -> Path:
    path = tmp_path / "journey.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


@pytest.mark.parametrize("journey", JOURNEYS, ids=lambda path: path.stem)
def test_every_public_journey_passes(published, journey):
    status, out = simulate(journey, "--format", "json")

    report = json.loads(out)
    assert status == 0
    assert report["passed"] and all(e["passed"] for e in report["expectations"])
    assert (report["playbook"], report["version"]) == ("support-specialist", 1)
    assert report["learner"] == yaml.safe_load(journey.read_text())["learner"]["external_id"]


def test_the_json_timeline_says_what_happened_and_when(published):
    report = json.loads(simulate(FAST_SKIPPER, "--format", "json")[1])

    decided = [(e["offset"], e["kind"], e.get("module") or e.get("flag") or e.get("step")) for e in report["timeline"]]
    assert decided[0] == ("0s", "enrolled", "welcome")
    assert ("1m", "next_module", "crm-basics") in decided
    assert ("4m", "flag", "supervisor_review") in decided
    assert ("4m", "branch", "advanced-debugging") in decided
    assert report["timeline"][-1]["at"] == "2026-03-02T09:04:00Z"
    assert report["final"] == {
        "status": "active",
        "next_module": "advanced-debugging",
        "completed": ["welcome"],
        "skipped": ["crm-basics", "ticketing-101", "product-tour"],
        "flags": ["supervisor_review"],
        "reminders": 0,
    }


def test_the_text_format_reads_like_a_story(published):
    status, out = simulate(FAST_SKIPPER)

    assert status == 0
    assert "Simulation of 'support-specialist' v1 (published) for sim-fast-skipper" in out
    assert "+0s  enrolled; first module: welcome - Step 1 of 6 of the playbook." in out
    assert "+4m  flag raised for a supervisor: supervisor_review" in out
    assert "PASS  next module at 5m: expected 'advanced-debugging', got 'advanced-debugging'" in out
    assert out.rstrip().endswith("4 of 4 expectation(s) passed.")


def test_a_failing_expectation_exits_1_and_shows_the_decision_log_behind_it(published, tmp_path):
    document = yaml.safe_load(FAST_SKIPPER.read_text())
    document["expect"] = [
        {"at": "5m", "next_module": "standard-api-troubleshooting"},
        {"reminders": 1},
        {"decisions": {"fired": ["skip streak review"], "not_fired": ["remedial demo"]}},
    ]

    status, out = simulate(write_journey(tmp_path, document))

    assert status == 1
    assert (
        "FAIL  next module at 5m: expected 'standard-api-troubleshooting', got 'advanced-debugging' "
        "(branch 'specialist-track': avg_module_seconds < 90 and skips >= 3" in out
    )
    assert "decision log up to then:" in out
    assert "branch 'specialist-track' chose advanced-debugging - Chosen because" in out
    assert "FAIL  reminders scheduled by the end: expected 1, got 0" in out
    assert "PASS  rules by the end: as expected (fired: ['skip streak review', 'specialist-track'])" in out
    assert out.rstrip().endswith("1 of 3 expectation(s) passed.")


def test_completion_expectations_name_what_is_missing(published, tmp_path):
    document = yaml.safe_load(FAST_SKIPPER.read_text())
    document["expect"] = [{"at": "2m", "completed": ["welcome"]}, {"completed": ["welcome", "crm-basics"]}]

    report = json.loads(simulate(write_journey(tmp_path, document), "--format", "json")[1])

    first, second = report["expectations"]
    assert first["passed"] and not second["passed"]
    assert (
        second["message"] == "modules completed by the end: expected ['welcome', 'crm-basics'], missing ['crm-basics']"
    )


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.update(playbook="support-specialst"), "playbook: unknown playbook 'support-specialst'"),
        (
            lambda d: d["events"][2].update(module="crm-basic"),
            "events[2].module: unknown module 'crm-basic' in playbook 'support-specialist'; did you mean 'crm-basics'?",
        ),
        (lambda d: d["events"][1].update(at="1 minute"), "events[1].at: "),
        (
            lambda d: d["events"][3].update(at="1m"),
            "events[3].at: 1m comes before events[2] (at 2m); list the events in time order",
        ),
        (
            lambda d: d["expect"].append({"next_modul": "welcome"}),
            "expect[4]: unknown expectation 'next_modul'; did you mean 'next_module'?",
        ),
        (lambda d: d["expect"].append({"reminders": "one"}), "expect[4].reminders: expected how many reminders"),
    ],
    ids=["unknown-playbook", "unknown-module", "malformed-offset", "out-of-order", "unknown-expect", "bad-value"],
)
def test_a_bad_journey_is_refused_with_the_path_and_what_is_wrong(published, tmp_path, mutate, message):
    document = yaml.safe_load(FAST_SKIPPER.read_text())
    mutate(document)

    with pytest.raises(CommandError) as refused:
        simulate(write_journey(tmp_path, document))

    assert "the journey cannot run" in str(refused.value)
    assert message in str(refused.value)


def test_malformed_yaml_says_where(published, tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("playbook: support-specialist\nevents: [\n")

    with pytest.raises(CommandError) as refused:
        simulate(path)

    assert "the journey is not valid YAML, 1 problem(s):\n  malformed YAML at line 3, column 1" in str(refused.value)


NUDGES = """
slug: nudges
name: Nudges
audience: {roles: [newcomer]}
modules:
  - {slug: intro, title: Intro}
  - {slug: short-intro, title: Short intro}
steps:
  - module: intro
triggers:
  - name: drop-off reminder
    when: 'idle_hours >= 24 and module.completion_pct < 75'
    then: [{remind: {channel: email, template: drop_off, attach_module: short-intro}}]
policy: {frequency_cap: {max: 3, per: 24h}, quiet_hours: {start: '21:00', end: '08:00'}}
"""


def _nudge_journey(tmp_path: Path, start: str) -> Path:
    return write_journey(
        tmp_path,
        {
            "playbook": "nudges",
            "learner": {"external_id": "sim-idle", "roles": ["newcomer"], "timezone": "Europe/Berlin"},
            "start": start,
            "events": [
                {"at": "7m", "type": "module_progress", "module": "intro", "properties": {"completion_pct": 40}}
            ],
            "until": "3d",
            "expect": [{"at": "1d", "reminders": 0}, {"reminders": 1}],
        },
    )


def test_an_idle_reminder_fires_at_the_first_clock_sweep_after_24_hours(tmp_path):
    playbook = tmp_path / "nudges.yaml"
    playbook.write_text(NUDGES)

    status, out = simulate(
        _nudge_journey(tmp_path, "2026-03-02T09:00:00Z"), "--playbook", str(playbook), "--format", "json"
    )

    report = json.loads(out)
    assert status == 0, out
    fired = [e for e in report["timeline"] if e["kind"] in ("trigger", "reminder")]
    assert [(e["kind"], e["at"], e.get("status")) for e in fired] == [
        ("trigger", "2026-03-03T09:10:00Z", "fired"),  # idle from 09:07; the 5-minute sweep runs at 09:10
        ("reminder", "2026-03-03T09:10:00Z", "scheduled"),
    ]
    assert fired[1]["channel"] == "email" and fired[1]["module"] == "short-intro"


def test_a_reminder_decided_in_quiet_hours_is_deferred_in_the_simulation_too(tmp_path):
    playbook = tmp_path / "nudges.yaml"
    playbook.write_text(NUDGES)

    report = json.loads(
        simulate(_nudge_journey(tmp_path, "2026-03-02T20:00:00Z"), "--playbook", str(playbook), "--format", "json")[1]
    )

    (reminder,) = [e for e in report["timeline"] if e["kind"] == "reminder"]
    assert reminder["decided_at"] == "2026-03-03T20:10:00Z"  # 21:10 in Berlin
    assert reminder["at"] == "2026-03-04T07:00:00Z"  # 08:00 in Berlin
    assert reminder["note"] == "deferred to 08:00 Europe/Berlin: quiet hours 21:00-08:00 (site)"


def test_a_trigger_named_with_quotes_is_found_by_its_name(tmp_path):
    playbook = tmp_path / "nudges.yaml"
    playbook.write_text(NUDGES.replace("name: drop-off reminder", "name: \"learner's 'pause' nudge\""))
    journey = yaml.safe_load(_nudge_journey(tmp_path, "2026-03-02T09:00:00Z").read_text())
    journey["expect"] = [{"decisions": {"fired": ["learner's 'pause' nudge"]}}]

    status, out = simulate(write_journey(tmp_path, journey), "--playbook", str(playbook))

    assert status == 0, out
    assert "PASS  rules by the end: as expected (fired: [\"learner's 'pause' nudge\"])" in out


def test_a_playbook_file_is_tried_without_being_imported(tmp_path):
    playbook = tmp_path / "nudges.yaml"
    playbook.write_text(NUDGES)

    simulate(_nudge_journey(tmp_path, "2026-03-02T09:00:00Z"), "--playbook", str(playbook))

    assert not Playbook.objects.filter(slug="nudges").exists()


def test_a_draft_is_simulated_by_version_number(published, tmp_path):
    draft = draft_create(playbook=published.playbook)
    spec = version_spec(version=draft)
    # The draft lowers the fast track's threshold so that the fast skipper no longer qualifies.
    steps = list(spec.steps)
    branch = steps[4]
    options = list(branch.branch)
    options[0] = type(options[0])(when="avg_module_seconds < 30 and skips >= 3", module=options[0].module)
    steps[4] = type(branch)(id=branch.id, branch=tuple(options))
    version_write_spec(version=draft, spec=type(spec)(**{**spec.__dict__, "steps": tuple(steps)}))

    status, out = simulate(FAST_SKIPPER, "--playbook", "support-specialist", "--version", str(draft.number))

    assert status == 1
    assert "Simulation of 'support-specialist' v2 (draft)" in out
    assert "FAIL  next module at 5m: expected 'advanced-debugging', got 'standard-api-troubleshooting'" in out


def test_a_learner_outside_the_audience_is_reported_not_enrolled(published, tmp_path):
    document = yaml.safe_load(FAST_SKIPPER.read_text())
    document["learner"]["roles"] = ["sales"]

    status, out = simulate(write_journey(tmp_path, document))

    assert status == 1
    assert "they were never enrolled" in out
    assert (
        "FAIL  next module at 30s: expected 'welcome', got nothing: "
        "the learner never enrolled (they do not match the playbook's audience)\n"
    ) in out


def _snapshot() -> dict[str, list]:
    return {
        model._meta.label: list(model.objects.order_by("pk").values())
        for model in apps.get_models()
        if model._meta.managed
    }


@pytest.mark.django_db(transaction=True)
def test_simulating_leaves_no_trace_in_the_database(tmp_path, settings):
    playbook_import(text=(SPECIALIST / "playbook.yaml").read_text(), publish=True)
    nudges = tmp_path / "nudges.yaml"
    nudges.write_text(NUDGES)
    before = _snapshot()

    for journey in JOURNEYS:
        assert simulate(journey)[0] == 0
    simulate(_nudge_journey(tmp_path, "2026-03-02T09:00:00Z"), "--playbook", str(nudges))

    assert _snapshot() == before
    assert PlaybookVersion.objects.count() == 1


LATE_COMPLETION = Path(__file__).resolve().parents[2] / "docs" / "examples" / "late-completion.yaml"


def test_a_late_event_is_simulated_as_production_evaluates_it(published):
    status, out = simulate(LATE_COMPLETION, "--format", "json")

    report = json.loads(out)
    assert status == 0, [e["message"] for e in report["expectations"] if not e["passed"]]
    completion = next(e for e in report["timeline"] if e["kind"] == "event" and e["type"] == "module_completed")
    assert (completion["offset"], completion["arrives"]) == ("1m", "4m30s")
    branch = next(e for e in report["timeline"] if e["kind"] == "branch")
    assert branch["module"] == "advanced-debugging" and "Late event" in branch["explanation"]


def test_an_event_cannot_arrive_before_it_happened(published, tmp_path):
    document = yaml.safe_load(LATE_COMPLETION.read_text())
    document["events"][1]["arrives"] = "30s"

    with pytest.raises(CommandError, match=r"events\[1\]\.arrives: 30s is before the event happened \(at 1m\)"):
        simulate(write_journey(tmp_path, document))


def test_null_next_module_and_status_say_whether_the_learner_is_done_or_not_enrolled(published, tmp_path):
    document = yaml.safe_load(FAST_SKIPPER.read_text())
    document["learner"]["roles"] = ["sales"]
    document["expect"] = [{"at": "5m", "next_module": None}, {"status": "not_enrolled"}, {"status": "completed"}]

    status, out = simulate(write_journey(tmp_path, document))

    assert status == 1
    assert (
        "PASS  next module at 5m: expected nothing to do (not enrolled, or the journey complete), got nothing: "
        "the learner never enrolled" in out
    )
    assert "PASS  status by the end: expected not_enrolled, got not_enrolled" in out
    assert "FAIL  status by the end: expected completed, got not_enrolled" in out


def test_the_learners_own_quiet_hours_and_opt_outs_hold_in_the_simulation(tmp_path):
    playbook = tmp_path / "nudges.yaml"
    playbook.write_text(NUDGES)
    journey = _nudge_journey(tmp_path, "2026-03-02T09:00:00Z")
    document = yaml.safe_load(journey.read_text())
    document["learner"]["preferences"] = {"quiet_hours": {"start": "09:00", "end": "12:30"}, "opt_out": ["email"]}
    journey.write_text(yaml.safe_dump(document))

    report = json.loads(simulate(journey, "--playbook", str(playbook), "--format", "json")[1])

    (reminder,) = [e for e in report["timeline"] if e["kind"] == "reminder"]
    assert reminder["decided_at"] == "2026-03-03T09:10:00Z"  # 10:10 in Berlin: the learner's quiet hours
    assert reminder["at"] == "2026-03-03T11:30:00Z"  # 12:30 in Berlin
    assert reminder["note"] == (
        "deferred to 12:30 Europe/Berlin: quiet hours 09:00-12:30 (yours); "
        "goes by in_app: the learner opted out of email"
    )


def test_learner_preferences_in_a_journey_are_checked(tmp_path):
    playbook = tmp_path / "nudges.yaml"
    playbook.write_text(NUDGES)
    journey = _nudge_journey(tmp_path, "2026-03-02T09:00:00Z")
    document = yaml.safe_load(journey.read_text())
    document["learner"]["preferences"] = {"quiet_hours": {"start": "25:00", "end": "08:00"}, "opt_out": ["fax"]}
    journey.write_text(yaml.safe_dump(document))

    with pytest.raises(CommandError) as refused:
        simulate(journey, "--playbook", str(playbook))

    assert "learner.preferences.quiet_hours.start: '25:00' is not a time of day such as 21:00" in str(refused.value)
    assert "learner.preferences.opt_out: a list of channels among email, slack, webhook" in str(refused.value)
