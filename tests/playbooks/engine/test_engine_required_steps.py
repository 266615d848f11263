"""Required steps: no goto, swap_module, complete or learner's skip passes one before its module is completed."""

from datetime import timedelta

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from playbooks.engine.document import dump_yaml, load_yaml, spec_from_document
from playbooks.engine.journey import CompiledPlaybook, LearnerFacts, evaluate, progress, start
from playbooks.engine.signals import EventFact
from playbooks.engine.spec import ActionSpec, ModuleSpec, PlaybookInvalid, PlaybookSpec, StepSpec, TriggerSpec
from playbooks.engine.validation import check_playbook, validate_spec
from tests.playbooks.engine.test_engine_properties import MODULES, T0, conditions, journeys
from tests.signals_app.test_examples import EXAMPLES

FACTS = LearnerFacts("p", ("r",))


@st.composite
def required_playbooks(draw):
    count = draw(st.integers(2, 7))
    steps = tuple(
        StepSpec(id=f"s{i}", module=draw(st.sampled_from(MODULES)), required=draw(st.booleans())) for i in range(count)
    )
    triggers = []
    for index in range(draw(st.integers(1, 5))):
        kind = draw(st.sampled_from(["goto", "swap_module", "complete", "insert_module"]))
        argument = {
            "goto": f"s{draw(st.integers(0, count - 1))}",
            "complete": None,
        }.get(kind, draw(st.sampled_from(MODULES)))
        triggers.append(TriggerSpec(f"t{index}", draw(conditions()), (ActionSpec(kind, argument),)))
    spec = PlaybookSpec(
        "generated",
        "Generated",
        modules=tuple(ModuleSpec(m, m) for m in MODULES),
        steps=steps,
        triggers=tuple(triggers),
    )
    check_playbook(spec)
    return spec


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=required_playbooks(), events=journeys())
def test_a_required_step_is_never_passed_undone(spec, events):
    playbook = CompiledPlaybook(spec)
    outcome = start(playbook, FACTS, now=T0)
    for index, event in enumerate([None, *events]):
        if event is not None:
            outcome = evaluate(
                playbook, FACTS, outcome.state, events=events[:index], event=event, now=event.occurred_at
            )
        completed = {e.module for e in events[:index] if e.type == "module_completed"}
        position = outcome.position
        # Completed: every required step done. On the path at step i: every required step before i done.
        reached = len(spec.steps) if position.status == "completed" else position.step_index
        for step in spec.steps[: reached or 0]:
            if step.required:
                assert outcome.state.done.get(step.module) == "completed" and step.module in completed
        if position.step_index is not None and spec.steps[position.step_index].required:
            assert position.module == spec.steps[position.step_index].module  # never swapped away


def _example() -> CompiledPlaybook:
    return CompiledPlaybook(spec_from_document(load_yaml((EXAMPLES / "required-compliance.yaml").read_text())))


def _run(playbook: CompiledPlaybook, *events: tuple[int, str, str | None]):
    history = [EventFact(kind, T0 + timedelta(minutes=minute), module) for minute, kind, module in events]
    outcome = start(playbook, FACTS, now=T0)
    decisions = []
    for index, event in enumerate(history):
        outcome = evaluate(
            playbook, FACTS, outcome.state, events=history[: index + 1], event=event, now=event.occurred_at
        )
        decisions.extend(outcome.decisions)
    return outcome, decisions


def test_a_goto_over_a_required_step_says_it_is_held_and_serves_it_first():
    outcome, decisions = _run(_example(), (1, "module_skipped", "welcome"), (2, "module_skipped", "tooling-tour"))

    jump = next(d for d in decisions if d.action == {"goto": "wrap-up"})
    assert jump.explanation.endswith("Held until the required step data-privacy is done (served first).")
    assert outcome.position.module == "data-privacy"
    assert progress(_example(), outcome.state) == (2, 4)


def test_a_swap_of_the_required_module_is_logged_as_held_and_not_applied():
    outcome, decisions = _run(
        _example(),
        (1, "module_completed", "welcome"),
        (2, "module_completed", "tooling-tour"),
        (3, "module_viewed", "data-privacy"),
        (4, "module_viewed", "data-privacy"),
    )

    held = next(d for d in decisions if d.kind == "held")
    assert held.action == {"swap_module": "privacy-short"}
    assert "Held: step 'data-privacy' is required, so its module stays." in held.explanation
    assert outcome.position.module == "data-privacy" and not outcome.state.swaps


def test_required_round_trips_and_is_checked_with_its_path():
    text = (EXAMPLES / "required-compliance.yaml").read_text()
    assert yaml.safe_load(dump_yaml(spec_from_document(load_yaml(text)))) == yaml.safe_load(text)
    with pytest.raises(PlaybookInvalid) as caught:
        spec_from_document(load_yaml(text.replace("required: true", "required: yes please")))
    assert [str(e) for e in caught.value.errors] == ["steps[2].required: expected true or false, got text"]
    with pytest.raises(PlaybookInvalid) as caught:
        spec_from_document(load_yaml(text.replace("required: true", "requird: true")))
    assert str(caught.value.errors[0]) == "steps[2].requird: unknown key 'requird'; did you mean 'required'?"


def test_a_branch_point_cannot_be_required():
    spec = spec_from_document(
        load_yaml(
            "slug: p\nname: P\nmodules: [{slug: a, title: A}]\n"
            "steps:\n  - {id: b, required: true, branch: [{otherwise: a}]}\n"
        )
    )

    assert [str(e) for e in validate_spec(spec)] == [
        "steps[0].required: a branch point cannot be required: mark the module steps it leads to"
    ]
