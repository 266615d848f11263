"""The playbook file: shape errors name the path; export of an import equals the input."""

import pytest
import yaml

from playbooks.engine.document import document_from_spec, dump_yaml, load_yaml, spec_from_document
from playbooks.engine.spec import PlaybookInvalid
from tests.playbooks.engine.replay import SCENARIOS

PLAYBOOK = SCENARIOS / "support-specialist" / "playbook.yaml"


def test_the_scenario_playbook_round_trips_exactly():
    original = yaml.safe_load(PLAYBOOK.read_text())

    exported = yaml.safe_load(dump_yaml(spec_from_document(original)))

    assert exported == original


def test_every_form_round_trips():
    document = {
        "slug": "p",
        "name": "P",
        "audience": {"roles": ["a"], "when": "attributes.api_access == true"},
        "modules": [
            {
                "slug": "m",
                "title": "M",
                "kind": "video",
                "url": "https://x.example/m",
                "body": "Hi",
                "minutes": 3,
                "tags": ["t"],
            }
        ],
        "signals": {
            "s": {
                "event": "page_view",
                "aggregate": "avg",
                "property": "seconds",
                "window": "24h",
                "where": 'event.properties.category == "billing"',
            },
            "quietest": {"event": "ticket_submitted", "aggregate": "min_per_day", "window": "7d"},
            "funnel": {
                "sequence": [{"event": "page_view", "where": 'event.properties.page == "a"'}, {"event": "signup"}],
                "within": "30m",
            },
        },
        "steps": [
            {"module": "m"},
            {"id": "b", "branch": [{"when": "s > 1", "goto": "end"}, {"otherwise": "m"}]},
            {"id": "end", "module": "m"},
        ],
        "triggers": [
            {
                "name": "t",
                "when": "skips >= 1",
                "then": [{"flag": "x"}, {"complete": True}, {"remind": {"channel": "email", "template": "drop_off"}}],
                "limit": {"per_learner": 2},
            },
            {
                "name": "capped",
                "when": "skips >= 2",
                "then": [{"flag": "y"}],
                "limit": {"per_learner": 3, "per": "24h"},
                "cooldown": "1h",
            },
            {
                "name": "waiting",
                "when": 'event.type == "module_exited"',
                "then": [
                    {
                        "wait": {
                            "event": "module_started",
                            "where": "event.properties.resumed == true",
                            "key": "module",
                            "within": "5m",
                            "then": [{"flag": "back"}],
                            "else": ["complete", {"remind": {"channel": "in_app", "template": "pick_up"}}],
                        }
                    }
                ],
            },
        ],
        "policy": {"frequency_cap": {"max": 3, "per": "24h"}, "quiet_hours": {"start": "21:00", "end": "08:00"}},
        "tests": [{"name": "t1", "journey": {"events": []}}],
    }

    assert document_from_spec(spec_from_document(document)) == document


def _shape_errors(text: str) -> list[str]:
    with pytest.raises(PlaybookInvalid) as caught:
        spec_from_document(load_yaml(text))
    return [str(error) for error in caught.value.errors]


def test_malformed_yaml_says_where():
    errors = _shape_errors("slug: p\nsteps: [\n  {module: a\n")

    assert len(errors) == 1 and errors[0].startswith("malformed YAML at line")


def test_shape_errors_are_all_reported_with_paths():
    errors = _shape_errors(
        """
slug: p
nme: P
steps:
  - {module: a, branch: []}
  - {id: b, branch: [{when: 'skips > 1'}, {when: 'x', otherwise: a}]}
triggers:
  - {name: t, when: 'skips > 1', then: [], limit: {per_learner: 0}}
"""
    )

    assert errors == [
        "nme: unknown key 'nme'; did you mean 'name'?",
        "name: required",
        "steps[0]: a step has either 'module' or 'branch', not both",
        "steps[1].branch[0]: an option leads to exactly one of 'module' or 'goto'",
        "steps[1].branch[1]: 'otherwise' is the option taken when no 'when' matched: it has no 'when'",
        "triggers[0].limit.per_learner: expected a whole number of at least 1, got 0",
        "triggers[0].then: a trigger needs at least one action",
    ]
