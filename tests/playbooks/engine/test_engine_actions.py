"""The engine's path rules and actions, one behaviour each."""

from datetime import UTC, datetime, timedelta

from playbooks.engine.document import spec_from_document
from playbooks.engine.journey import CompiledPlaybook, LearnerFacts, evaluate, resolve, start
from playbooks.engine.signals import EventFact
from playbooks.engine.validation import check_playbook

T0 = datetime(2026, 3, 2, 9, tzinfo=UTC)
FACTS = LearnerFacts("ada", ("new_hire",), {"api_access": True}, "Europe/Berlin")
MODULES = [{"slug": s, "title": s} for s in ("a", "b", "c", "d", "simple-b", "extra", "bonus")]


def _playbook(steps, triggers=()):
    spec = spec_from_document(
        {"slug": "p", "name": "P", "modules": MODULES, "steps": steps, "triggers": list(triggers)}
    )
    check_playbook(spec)
    return CompiledPlaybook(spec)


class Journey:
    def __init__(self, playbook):
        self.playbook, self.events = playbook, []
        outcome = start(playbook, FACTS, now=T0)
        self.state, self.decisions = outcome.state, list(outcome.decisions)

    def send(self, kind, module=None, minutes=1, **properties):
        at = (self.events[-1].occurred_at if self.events else T0) + timedelta(minutes=minutes)
        self.events.append(EventFact(kind, at, module, properties))
        outcome = evaluate(self.playbook, FACTS, self.state, events=self.events, event=self.events[-1], now=at)
        self.state = outcome.state
        self.decisions += outcome.decisions
        return outcome.position

    @property
    def next(self):
        return resolve(self.playbook, self.state).module


PATH = [{"module": "a"}, {"module": "b"}, {"module": "c"}]


def test_a_module_done_out_of_order_counts_where_it_stands():
    journey = Journey(_playbook(PATH))

    journey.send("module_completed", "b")
    assert journey.next == "a"
    journey.send("module_completed", "a")
    assert journey.next == "c"


def test_the_journey_completes_when_the_path_is_done():
    journey = Journey(_playbook(PATH))
    for module in ("a", "b"):
        journey.send("module_completed", module)

    position = journey.send("module_skipped", "c")

    assert (position.status, position.module) == ("completed", None)
    assert journey.decisions[-1].kind == "completed"


def test_an_inserted_module_comes_first_and_the_module_in_progress_after_it():
    journey = Journey(
        _playbook(
            PATH,
            [
                {
                    "name": "t",
                    "when": "module.seconds < 60 and module.completion_pct > 0",
                    "then": [{"insert_module": "extra"}],
                }
            ],
        )
    )
    journey.send("module_completed", "a")

    journey.send("module_progress", "b", seconds=30, completion_pct=20)

    assert journey.next == "extra"
    journey.send("module_completed", "extra")
    assert journey.next == "b"


def test_swap_module_replaces_the_current_module():
    journey = Journey(
        _playbook(PATH, [{"name": "simplify", "when": "module.views >= 2", "then": [{"swap_module": "simple-b"}]}])
    )
    journey.send("module_completed", "a")
    journey.send("module_viewed", "b")

    journey.send("module_viewed", "b")

    assert journey.next == "simple-b"
    journey.send("module_completed", "simple-b")
    assert journey.next == "c"


def test_goto_jumps_forward_passing_the_steps_between():
    journey = Journey(
        _playbook(
            [*PATH, {"id": "last", "module": "d"}],
            [{"name": "fast track", "when": "sessions >= 1", "then": [{"goto": "last"}]}],
        )
    )

    journey.send("session_started")

    assert journey.next == "d"
    assert journey.state.passed == ["a", "b", "c"]


def test_a_branch_goto_skips_to_its_target():
    steps = [
        {"module": "a"},
        {"id": "fork", "branch": [{"when": "skips >= 1", "goto": "end"}, {"otherwise": "b"}]},
        {"module": "c"},
        {"id": "end", "module": "d"},
    ]
    journey = Journey(_playbook(steps))

    journey.send("module_skipped", "a")

    assert journey.next == "d"


def test_complete_ends_the_journey_and_flag_is_raised_once():
    journey = Journey(
        _playbook(
            PATH,
            [
                {"name": "review", "when": "skips >= 1", "then": [{"flag": "supervisor_review"}]},
                {"name": "done", "when": "completed_modules >= 2", "then": [{"complete": True}]},
            ],
        )
    )

    journey.send("module_skipped", "a")
    journey.send("module_completed", "b")
    journey.send("module_skipped", "c")
    journey.send("module_completed", "a")
    journey.send("module_completed", "b")

    assert journey.state.flags == ["supervisor_review"]
    assert resolve(journey.playbook, journey.state).status == "completed"


def test_a_trigger_fires_again_only_after_its_condition_was_false():
    journey = Journey(
        _playbook(PATH, [{"name": "nudge", "when": 'event.type == "page_view"', "then": [{"unlock_module": "bonus"}]}])
    )

    for kind in ("page_view", "page_view", "click", "page_view"):
        journey.send(kind)

    assert [d.kind for d in journey.decisions if d.rule.startswith("trigger")].count("trigger") == 2
    assert journey.state.unlocked == ["bonus"]


def test_remind_is_recorded_as_a_decision_for_delivery():
    journey = Journey(
        _playbook(
            PATH,
            [
                {
                    "name": "drop-off",
                    "when": "idle_hours >= 24",
                    "then": [{"remind": {"channel": "email", "template": "drop_off"}}],
                }
            ],
        )
    )

    journey.send("page_view")
    outcome = evaluate(  # driven by the clock a day later, with no event
        journey.playbook,
        FACTS,
        journey.state,
        events=journey.events,
        event=None,
        now=journey.events[-1].occurred_at + timedelta(hours=24),
    )

    actions = [d.action for d in outcome.decisions if d.kind == "action"]
    assert actions == [{"remind": {"channel": "email", "template": "drop_off"}}]
