"""Feed a journey's events to the engine in order: the engine-level half of the simulator, for engine tests."""

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import yaml

from playbooks.engine.document import load_yaml, spec_from_document
from playbooks.engine.durations import parse_duration
from playbooks.engine.journey import (
    CompiledPlaybook,
    Decision,
    JourneyState,
    LearnerFacts,
    Position,
    evaluate,
    resolve,
    start,
)
from playbooks.engine.signals import EventFact
from playbooks.engine.spec import PlaybookSpec
from playbooks.engine.validation import check_playbook

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"


def load_spec(path: Path) -> PlaybookSpec:
    spec = spec_from_document(load_yaml(path.read_text()))
    check_playbook(spec)
    return spec


@dataclass
class Replay:
    started: datetime
    timeline: list[tuple[datetime, Position]] = field(default_factory=list)
    decisions: list[tuple[datetime, Decision]] = field(default_factory=list)
    state: JourneyState | None = None

    def position_at(self, offset: timedelta) -> Position:
        moment = self.started + offset
        return [position for at, position in self.timeline if at <= moment][-1]


def replay(spec: PlaybookSpec, journey: dict) -> Replay:
    playbook = CompiledPlaybook(spec)
    learner = journey["learner"]
    facts = LearnerFacts(
        learner["external_id"],
        tuple(learner.get("roles", ())),
        learner.get("attributes", {}),
        learner.get("timezone", "UTC"),
    )
    began = datetime.fromisoformat(journey["start"].replace("Z", "+00:00"))
    outcome = start(playbook, facts, now=began)
    result = Replay(began, [(began, outcome.position)], [(began, d) for d in outcome.decisions], outcome.state)
    events: list[EventFact] = []
    for item in journey["events"]:
        at = began + parse_duration(item["at"])
        event = EventFact(item["type"], at, item.get("module"), item.get("properties") or {})
        events.append(event)
        outcome = evaluate(playbook, facts, result.state, events=events, event=event, now=at)
        result.state = outcome.state
        result.timeline.append((at, outcome.position))
        result.decisions.extend((at, d) for d in outcome.decisions)
    assert resolve(playbook, result.state) == result.timeline[-1][1]
    return result


def load_journey(path: Path) -> dict:
    return yaml.safe_load(path.read_text())
