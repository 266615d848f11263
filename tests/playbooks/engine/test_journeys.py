"""Journey files: the public ones parse; mistakes are refused with the path and a precise message."""

import pytest
import yaml

from playbooks.engine.journeys import JourneyInvalid, parse_journey
from tests.playbooks.engine.replay import SCENARIOS, load_spec

PLAYBOOKS = {"support-specialist": load_spec(SCENARIOS / "support-specialist" / "playbook.yaml")}
JOURNEY = SCENARIOS / "support-specialist" / "journeys" / "fast-skipper.yaml"


@pytest.mark.parametrize("path", sorted(SCENARIOS.glob("*/journeys/*.yaml")), ids=lambda p: p.stem)
def test_every_public_journey_parses(path):
    journey = parse_journey(yaml.safe_load(path.read_text()), playbooks=PLAYBOOKS)

    assert journey.playbook == "support-specialist" and journey.events and journey.expectations


def test_a_journey_reads_offsets_and_expectations():
    journey = parse_journey(yaml.safe_load(JOURNEY.read_text()), playbooks=PLAYBOOKS)

    assert [e.at.total_seconds() for e in journey.events] == [0, 60, 120, 180, 240]
    assert journey.until.total_seconds() == 3600 and journey.timezone == "Europe/Berlin"
    assert [(x.kind, x.value) for x in journey.expectations][-1] == ("flags", ["supervisor_review"])


def _errors(mutate) -> list[str]:
    document = yaml.safe_load(JOURNEY.read_text())
    mutate(document)
    with pytest.raises(JourneyInvalid) as caught:
        parse_journey(document, playbooks=PLAYBOOKS)
    return [str(error) for error in caught.value.errors]


def test_an_unknown_playbook():
    assert _errors(lambda d: d.update(playbook="support-specialst")) == [
        "playbook: unknown playbook 'support-specialst'; did you mean 'support-specialist'?"
    ]


def test_an_unknown_module():
    assert _errors(lambda d: d["events"][1].update(module="welcom")) == [
        "events[1].module: unknown module 'welcom' in playbook 'support-specialist'; did you mean 'welcome'?"
    ]


def test_a_malformed_offset():
    assert _errors(lambda d: d["events"][2].update(at="2 minutes")) == [
        "events[2].at: '2 minutes' is not a duration; write a number and a unit (s, m, h, d, w), e.g. 90s, 24h, 1d2h"
    ]


def test_events_out_of_order():
    assert _errors(lambda d: d["events"][3].update(at="30s")) == [
        "events[3].at: 30s comes before events[2] (at 2m); list the events in time order"
    ]


def test_an_expectation_of_an_unknown_kind():
    assert _errors(lambda d: d["expect"].append({"at": "5m", "next_modul": "crm-basics"})) == [
        "expect[4]: unknown expectation 'next_modul'; did you mean 'next_module'?; "
        "kinds: next_module, status, reminders, flags, completed, decisions"
    ]


def test_time_mistakes():
    def mutate(document):
        document["start"] = "2026-03-02 09:00"
        document["until"] = "3m"
        document["expect"][0] = {"next_module": "welcome"}

    assert _errors(mutate) == [
        "start: '2026-03-02 09:00' is not an ISO 8601 time with a zone, e.g. '2026-03-02T09:00:00Z'",
        "until: 3m ends before the last event arrives (4m)",
        "expect[0].at: a next_module expectation needs the moment it is checked at",
        "expect[2].at: 5m is after the journey ends (until 3m)",
    ]
