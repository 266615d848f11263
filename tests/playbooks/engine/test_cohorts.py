"""Cohort templates: ranges and chances drawn reproducibly, CSV learners, mistakes named by path."""

import pytest

from playbooks.engine.cohorts import CohortInvalid, expand_cohort
from playbooks.engine.durations import parse_duration

TEMPLATE = {
    "playbook": "support-specialist",
    "learners": 40,
    "seed": 3,
    "learner": {
        "external_id": "s",
        "roles": ["support_specialist"],
        "attributes": {"api_access": {"choice": [True, False]}},
    },
    "start": "2026-03-02T09:00:00Z",
    "events": [
        {
            "at": "0m",
            "type": "module_completed",
            "module": "welcome",
            "properties": {"duration_seconds": {"between": [10, 20]}},
        },
        {"at": {"between": ["1m", "1h"]}, "type": "module_skipped", "module": "crm-basics", "probability": 0.5},
        {"at": "30m", "type": "session_started"},
    ],
    "until": "1d",
}


def test_each_learner_draws_within_the_ranges_and_events_stay_in_time_order():
    journeys = expand_cohort(TEMPLATE)

    assert len(journeys) == 40
    assert [j["learner"]["external_id"] for j in journeys[:3]] == ["s-1", "s-2", "s-3"]
    for journey in journeys:
        assert 10 <= journey["events"][0]["properties"]["duration_seconds"] <= 20
        offsets = [parse_duration(e["at"]) for e in journey["events"]]
        assert offsets == sorted(offsets)
        assert "probability" not in str(journey) and "between" not in str(journey)
    skipped = sum(any(e["type"] == "module_skipped" for e in j["events"]) for j in journeys)
    assert 8 < skipped < 32  # about half, by chance
    assert {j["learner"]["attributes"]["api_access"] for j in journeys} == {True, False}


def test_the_same_seed_draws_the_same_cohort_and_another_seed_does_not():
    assert expand_cohort(TEMPLATE) == expand_cohort(TEMPLATE)
    assert expand_cohort(TEMPLATE) != expand_cohort({**TEMPLATE, "seed": 4})


def test_a_csv_gives_the_learners_with_typed_attributes():
    csv_text = (
        "external_id,roles,timezone,attributes.api_access,attributes.level\n"
        "ann,support_specialist;lead,Europe/Paris,true,3\n"
        "bob,,,false,\n"
    )

    journeys = expand_cohort(TEMPLATE, csv_text=csv_text)

    assert [j["learner"] for j in journeys] == [
        {
            "external_id": "ann",
            "roles": ["support_specialist", "lead"],
            "timezone": "Europe/Paris",
            "attributes": {"api_access": True, "level": 3},
        },
        {"external_id": "bob", "roles": [], "attributes": {"api_access": False, "level": None}},
    ]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"learners": 0}, "learners: expected how many learners to simulate, 1 to 10000"),
        (
            {"events": [{"at": {"between": ["1h", "1m"]}, "type": "x"}]},
            "events[0].at.between: ['1h', '1m'] is not a range",
        ),
        (
            {"events": [{"at": "0m", "type": "x", "probability": 2}]},
            "events[0].probability: expected a chance between 0 and 1",
        ),
        ({"learner": "support_specialist"}, "learner: expected a mapping such as {external_id: spec"),
        (
            {"learner": {"attributes": {"tier": {"choice": []}}}},
            "learner.attributes.tier.choice: expected {choice: [one, another, ...]}",
        ),
    ],
)
def test_template_mistakes_are_named_by_path(change, message):
    with pytest.raises(CohortInvalid) as refused:
        expand_cohort({**TEMPLATE, **change})

    assert any(str(error).startswith(message) for error in refused.value.errors), refused.value.errors


def test_an_unknown_csv_column_is_refused():
    with pytest.raises(CohortInvalid, match="csv column 'department': unknown"):
        expand_cohort(TEMPLATE, csv_text="external_id,department\nann,support\n")
