"""Every public journey, driven through the engine with its events, meets its expectations."""

import pytest

from playbooks.engine.durations import parse_duration
from tests.playbooks.engine.replay import SCENARIOS, load_journey, load_spec, replay

JOURNEYS = sorted(SCENARIOS.glob("*/journeys/*.yaml"))


@pytest.mark.parametrize("journey_path", JOURNEYS, ids=lambda path: path.stem)
def test_public_journey_meets_its_expectations(journey_path):
    spec = load_spec(journey_path.parents[1] / "playbook.yaml")
    journey = load_journey(journey_path)

    result = replay(spec, journey)

    for expectation in journey["expect"]:
        if "next_module" in expectation:
            position = result.position_at(parse_duration(expectation["at"]))
            assert position.module == expectation["next_module"], (expectation, position)
        elif "flags" in expectation:
            assert result.state.flags == expectation["flags"]
        else:
            pytest.fail(f"expectation kind not handled by the engine tests: {expectation}")


def test_fast_skipper_branch_decision_names_the_rule_and_values():
    spec = load_spec(SCENARIOS / "support-specialist" / "playbook.yaml")
    result = replay(spec, load_journey(SCENARIOS / "support-specialist" / "journeys" / "fast-skipper.yaml"))

    branch = next(d for _, d in result.decisions if d.kind == "branch" and d.step == "specialist-track")
    assert branch.module == "advanced-debugging"
    assert branch.rule == "branch 'specialist-track': avg_module_seconds < 90 and skips >= 3"
    assert branch.values == {"avg_module_seconds": 50, "skips": 3}
    assert "avg_module_seconds = 50, skips = 3" in branch.explanation
    position = result.position_at(parse_duration("5m"))
    assert position.reason.rule == branch.rule


def test_remedial_demo_fires_once_and_is_suppressed_after():
    spec = load_spec(SCENARIOS / "support-specialist" / "playbook.yaml")
    result = replay(spec, load_journey(SCENARIOS / "support-specialist" / "journeys" / "rushed-then-slow.yaml"))

    kinds = [(d.kind, d.rule.split(":")[0]) for _, d in result.decisions if d.kind in ("trigger", "suppressed")]
    assert kinds == [("trigger", "trigger 'remedial demo'"), ("suppressed", "trigger 'remedial demo'")]
    suppressed = next(d for _, d in result.decisions if d.kind == "suppressed")
    assert "limit of 1 per learner reached" in suppressed.explanation
    assert suppressed.values == {"event.type": "module_completed", "event.properties.duration_seconds": 25}
