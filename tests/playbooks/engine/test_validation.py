"""Bad playbooks are refused whole, with every problem named by its path."""

import pytest
import yaml

from playbooks.engine.document import spec_from_document
from playbooks.engine.spec import PlaybookInvalid
from playbooks.engine.validation import check_playbook
from tests.playbooks.engine.replay import SCENARIOS

SCENARIO = yaml.safe_load((SCENARIOS / "support-specialist" / "playbook.yaml").read_text())


def _errors(mutate) -> list[str]:
    document = yaml.safe_load(yaml.safe_dump(SCENARIO))
    mutate(document)
    with pytest.raises(PlaybookInvalid) as caught:
        check_playbook(spec_from_document(document))
    return [str(error) for error in caught.value.errors]


def test_the_scenario_playbook_is_valid():
    check_playbook(spec_from_document(SCENARIO))


def test_unknown_name_in_a_branch_condition():
    def mutate(doc):
        doc["steps"][4]["branch"][0]["when"] = "avg_module_secs < 90 and skips >= 3"

    assert _errors(mutate) == [
        "steps[4].branch[0].when: unknown name 'avg_module_secs' at column 1; did you mean 'avg_module_seconds'?"
    ]


def test_type_error_in_a_trigger():
    def mutate(doc):
        doc["triggers"][1]["when"] = "skip_streak >= 'three'"

    assert _errors(mutate)[0].startswith("triggers[1].when: type error at column 1")


def test_missing_otherwise():
    def mutate(doc):
        doc["steps"][5]["branch"].pop()

    assert _errors(mutate) == [
        "steps[5].branch: a branch needs a final 'otherwise' option, taken when no 'when' matches"
    ]


def test_step_referring_to_an_unknown_module():
    def mutate(doc):
        doc["steps"][1]["module"] = "crm-basic"

    assert _errors(mutate) == ["steps[1].module: unknown module 'crm-basic'; did you mean 'crm-basics'?"]


def test_modules_already_in_the_library_are_known():
    document = yaml.safe_load(yaml.safe_dump(SCENARIO))
    document["steps"].append({"module": "library-only"})

    check_playbook(spec_from_document(document), library_modules={"library-only"})


def test_duplicate_step_id():
    def mutate(doc):
        doc["steps"][5]["id"] = "specialist-track"

    assert _errors(mutate) == ["steps[5].id: duplicate step id 'specialist-track' (also steps[4])"]


def test_a_cycle_of_gotos():
    def mutate(doc):
        doc["steps"][5]["branch"][0] = {"when": "tickets_7d >= 14", "goto": "specialist-track"}

    assert _errors(mutate) == [
        "steps[5].branch[0].goto: a cycle of gotos: 'specialist-track' leads back here "
        "(specialist-track → escalation → specialist-track); jump to a later step"
    ]


def test_signal_and_action_mistakes():
    def mutate(doc):
        doc["signals"]["tickets_7d"] = {"event": "ticket_submitted", "aggregate": "avg", "window": "7 days"}
        doc["signals"]["skips"] = {"event": "module_skipped", "aggregate": "count"}
        doc["triggers"][0]["then"] = [{"insert_modul": "remedial-demo"}]
        doc["policy"] = {"quiet_hours": {"start": 1260, "end": "08:00"}}

    assert _errors(mutate) == [
        "signals.tickets_7d.property: aggregate 'avg' needs the property it aggregates",
        "signals.tickets_7d.window: '7 days' is not a duration; write a number and a unit (s, m, h, d, w), "
        "e.g. 90s, 24h, 1d2h",
        "signals.skips: 'skips' is a built-in name; choose another signal name",
        "triggers[0].then[0]: unknown action 'insert_modul'; did you mean 'insert_module'?",
        "policy.quiet_hours.start: '1260' is not a time of day; write it quoted, e.g. '21:00'",
    ]


def test_limit_and_cooldown_mistakes():
    def mutate(doc):
        doc["triggers"][0]["limit"] = {"per": "24 hours"}
        doc["triggers"][1]["cooldown"] = "soon"

    assert _errors(mutate) == [
        "triggers[0].limit.per: '24 hours' is not a duration; write a number and a unit (s, m, h, d, w), "
        "e.g. 90s, 24h, 1d2h",
        "triggers[0].limit: a limit per window needs per_learner: {per_learner: 3, per: 24h}",
        "triggers[1].cooldown: 'soon' is not a duration; write a number and a unit (s, m, h, d, w), "
        "e.g. 90s, 24h, 1d2h",
    ]


def test_limit_and_cooldown_typos_are_named_with_the_likely_key():
    document = yaml.safe_load(yaml.safe_dump(SCENARIO))
    document["triggers"][0]["limit"] = {"per_learner": 3, "pr": "24h"}
    document["triggers"][0]["cooldwn"] = "1h"

    with pytest.raises(PlaybookInvalid) as caught:
        spec_from_document(document)

    assert [str(error) for error in caught.value.errors] == [
        "triggers[0].cooldwn: unknown key 'cooldwn'; did you mean 'cooldown'?",
        "triggers[0].limit.pr: unknown key 'pr'; did you mean 'per'?",
    ]


def _invalid(mutate) -> list:
    document = yaml.safe_load(yaml.safe_dump(SCENARIO))
    mutate(document)
    with pytest.raises(PlaybookInvalid) as caught:
        check_playbook(spec_from_document(document))
    return caught.value.errors


def test_a_sequence_step_with_an_unknown_name_points_at_it_with_a_caret():
    def mutate(doc):
        doc["signals"]["funnel"] = {
            "sequence": [{"event": "page_view"}, {"event": "page_view", "where": "event.propertes.page == 'b'"}],
            "within": "half an hour",
        }
        doc["signals"]["lonely"] = {"sequence": [{"event": "Page View"}]}

    errors = _invalid(mutate)

    assert [str(e) for e in errors] == [
        "signals.funnel.sequence[1].where: unknown attribute 'propertes' of 'event' at column 7; "
        "did you mean 'properties'?",
        "signals.funnel.within: 'half an hour' is not a duration; write a number and a unit (s, m, h, d, w), "
        "e.g. 90s, 24h, 1d2h",
        "signals.lonely.sequence: a sequence needs at least two steps, in order: A, then B",
        "signals.lonely.sequence[0].event: event type 'Page View' must be snake_case",
    ]
    assert errors[0].pointer == "event.propertes.page == 'b'\n      ^"


def test_sequence_keys_out_of_place_are_refused_with_the_likely_word():
    document = yaml.safe_load(yaml.safe_dump(SCENARIO))
    document["signals"]["funnel"] = {"sequence": [{"event": "a"}, {"evnt": "b"}], "window": "1h", "withn": "1h"}
    document["signals"]["stray"] = {"event": "ticket_submitted", "aggregate": "count", "within": "7d"}

    with pytest.raises(PlaybookInvalid) as caught:
        spec_from_document(document)

    assert [str(error) for error in caught.value.errors] == [
        "signals.funnel.withn: unknown key 'withn'; did you mean 'within'?",
        "signals.funnel.window: a sequence signal has 'sequence' and 'within' only, not 'window'",
        "signals.funnel.sequence[1].evnt: unknown key 'evnt'; did you mean 'event'?",
        "signals.funnel.sequence[1].event: required",
        "signals.stray.within: 'within' bounds a sequence signal; a count over time has a 'window'",
    ]


def test_rate_mistakes():
    def mutate(doc):
        doc["signals"]["daily"] = {"event": "ticket_submitted", "aggregate": "min_per_day", "window": "36h"}
        doc["signals"]["rate"] = {"event": "ticket_submitted", "aggregate": "per_day"}
        doc["signals"]["rate_typo"] = {"event": "ticket_submitted", "aggregate": "per_dya", "window": "7d"}
        doc["triggers"][0]["when"] = "daily >= 'two'"

    errors = _invalid(mutate)

    assert [str(e) for e in errors][:3] == [
        "signals.daily.window: 'min_per_day' counts whole days: a window such as 7d, not 36h",
        "signals.rate.window: 'per_day' needs the window it is measured over, e.g. window: 7d",
        "signals.rate_typo.aggregate: unknown aggregate 'per_dya'; use one of: count, sum, avg, min, max, distinct, "
        "last, days_active, per_day, min_per_day",
    ]
    assert errors[3].path == "triggers[0].when" and errors[3].message.startswith("type error at column 1")
    assert errors[3].pointer.splitlines()[1] == "^"


def test_wait_mistakes_are_named_by_path_with_a_caret_under_the_condition():
    def mutate(doc):
        doc["triggers"][0]["then"] = [
            {
                "wait": {
                    "event": "module_started",
                    "where": "event.module == crm-basics",
                    "key": "properties",
                    "within": "two minutes",
                    "then": [{"insert_modul": "remedial-demo"}, {"wait": {"event": "x", "within": "1m"}}],
                    "els": [{"flag": "nudge"}],
                }
            },
            {"wait": {"event": "Module Started", "else": "flag"}},
        ]

    errors = _invalid(mutate)

    assert [str(e) for e in errors] == [
        "triggers[0].then[0].wait.els: unknown wait key 'els'; did you mean 'else'?",
        "triggers[0].then[0].wait.where: unknown name 'crm' at column 17",
        "triggers[0].then[0].wait.key: 'properties': a wait is keyed to 'module' or to 'properties.<name>' of the "
        "event",
        "triggers[0].then[0].wait.within: 'two minutes' is not a duration; write a number and a unit "
        "(s, m, h, d, w), e.g. 90s, 24h, 1d2h",
        "triggers[0].then[0].wait.then[0]: unknown action 'insert_modul'; did you mean 'insert_module'?",
        "triggers[0].then[0].wait.then[1]: a wait's actions cannot wait again; let another trigger do it",
        "triggers[0].then[1].wait.event: required: the event type waited for, snake_case, e.g. module_started",
        "triggers[0].then[1].wait.within: required: how long to wait, e.g. 5m",
        "triggers[0].then[1].wait.else: a list of actions such as [{flag: review}]",
    ]
    text, caret = errors[1].pointer.splitlines()
    assert text == "event.module == crm-basics" and caret.index("^") == text.index("crm")
