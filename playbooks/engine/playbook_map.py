"""What the playbook map shows besides the playbook itself: live counts and a simulated journey's route, both read
off the decision log's rule texts, and short sentences for actions. Pure: the admin passes rows it aggregated.

A branch decision is logged under ``branch '<step>': <the option's condition>`` (or ``otherwise``), a trigger's
under ``trigger '<name>': <condition>``; matching those texts is how a count or a route finds its option or trigger,
because two options of one branch point may give the same module.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from playbooks.engine.journey import trigger_rule
from playbooks.engine.spec import ActionSpec, PlaybookSpec, StepSpec, TriggerSpec
from playbooks.engine.waits import CAME, TIMED_OUT, nested_actions

OUTCOMES = (CAME, TIMED_OUT)


@dataclass(frozen=True)
class MapCounts:
    """Learners now at each step, per step key; done: learners who completed each module step's module; options:
    learners who took each option, by (step key, option index); triggers: learners each trigger fired for, by name;
    waits: waits decided, by (trigger name, action index, came | timed_out); completed: learners who finished."""

    at_step: Mapping[str, int] = field(default_factory=dict)
    done: Mapping[str, int] = field(default_factory=dict)
    options: Mapping[tuple[str, int], int] = field(default_factory=dict)
    triggers: Mapping[str, int] = field(default_factory=dict)
    waits: Mapping[tuple[str, int, str], int] = field(default_factory=dict)
    completed: int = 0
    elsewhere: int = 0  # active learners on a module a trigger inserted, which belongs to no step


@dataclass(frozen=True)
class MapRoute:
    """One journey through the map: the steps it reached, the options it took, the triggers that fired for it, the
    waits' outcomes, where it ended (a step key, or None) and whether it completed the playbook."""

    steps: frozenset[str] = frozenset()
    options: frozenset[tuple[str, int]] = frozenset()
    triggers: frozenset[str] = frozenset()
    waits: frozenset[tuple[str, int, str]] = frozenset()
    at: str | None = None
    completed: bool = False


def option_for_rule(step: StepSpec, rule: str) -> int | None:
    """The index of the option a branch decision's rule names, or None (a step by tags, or an option since edited)."""
    prefix = f"branch '{step.key}': "
    if not rule.startswith(prefix) or not step.branch:
        return None
    condition = rule.removeprefix(prefix)
    for index, option in enumerate(step.branch):
        if option.when == condition or (option.is_otherwise and condition == "otherwise"):
            return index
    return None


def triggers_by_rule(spec: PlaybookSpec) -> dict[str, TriggerSpec]:
    return {trigger_rule(trigger): trigger for trigger in spec.triggers}


def wait_index(trigger: TriggerSpec, event: str | None) -> int | None:
    """The trigger's wait action for ``event`` (the first one; a trigger rarely waits twice for one event type)."""
    waits = [number for number, action in enumerate(trigger.then) if action.kind == "wait"]
    matching = [number for number in waits if isinstance(trigger.then[number].argument, dict)]
    matching = [number for number in matching if trigger.then[number].argument.get("event") == event]
    return (matching or waits or [None])[0]


def counts_from_rows(
    spec: PlaybookSpec,
    *,
    at_step: Mapping[str, int],
    completed_modules: Mapping[str, int],
    branch_rules: Mapping[tuple[str, str], int],
    trigger_rules: Mapping[str, int],
    wait_rules: Mapping[tuple[str, str, str], int],
    completed: int,
) -> MapCounts:
    """Counts keyed the way the map draws them, from aggregates keyed the way the database stores them:
    ``at_step`` {current_step: n} ("" = an inserted module), ``completed_modules`` {slug: n}, ``branch_rules``
    {(step, rule): n}, ``trigger_rules`` {rule: n}, ``wait_rules`` {(rule, waited-for event, outcome): n}."""
    steps = {step.key: step for step in spec.steps}
    options: dict[tuple[str, int], int] = {}
    for (key, rule), count in branch_rules.items():
        index = option_for_rule(steps[key], rule) if key in steps else None
        if index is not None:
            options[(key, index)] = options.get((key, index), 0) + count
    by_rule = triggers_by_rule(spec)
    waits: dict[tuple[str, int, str], int] = {}
    for (rule, event, outcome), count in wait_rules.items():
        trigger = by_rule.get(rule)
        number = wait_index(trigger, event) if trigger else None
        if number is not None and outcome in OUTCOMES:
            waits[(trigger.name, number, outcome)] = waits.get((trigger.name, number, outcome), 0) + count
    return MapCounts(
        at_step={key: count for key, count in at_step.items() if key in steps},
        done={step.key: completed_modules.get(step.module, 0) for step in spec.steps if step.module},
        options=options,
        triggers={by_rule[rule].name: count for rule, count in trigger_rules.items() if rule in by_rule},
        waits=waits,
        completed=completed,
        elsewhere=sum(count for key, count in at_step.items() if key not in steps),
    )


def route_from_timeline(
    spec: PlaybookSpec, timeline: Iterable[Mapping[str, Any]], final: Mapping[str, Any]
) -> MapRoute:
    """A simulated journey's route, from the simulator's timeline entries and its final position."""
    entries = list(timeline)
    given = {e["module"] for e in entries if e["kind"] in ("enrolled", "next_module") and e.get("module")}
    given |= set(final.get("completed") or ()) | set(final.get("skipped") or ())
    steps = {step.key for step in spec.steps if step.module and step.module in given}
    by_key = {step.key: step for step in spec.steps}
    options = set()
    for entry in entries:
        if entry["kind"] == "branch" and entry.get("step") in by_key:
            steps.add(entry["step"])
            index = option_for_rule(by_key[entry["step"]], entry.get("rule", ""))
            if index is not None:
                options.add((entry["step"], index))
    by_rule = triggers_by_rule(spec)
    fired = {by_rule[e["rule"]].name for e in entries if _is(e, "trigger", "fired") and e.get("rule") in by_rule}
    waits = set()
    for entry in entries:
        trigger = by_rule.get(entry.get("rule", ""))
        if entry["kind"] == "wait" and entry.get("status") in OUTCOMES and trigger is not None:
            number = wait_index(trigger, (entry.get("values") or {}).get("waited_for"))
            if number is not None:
                waits.add((trigger.name, number, entry["status"]))
    completed = final.get("status") == "completed"
    at = None if completed else _step_of(spec, final.get("next_module"), steps)
    return MapRoute(frozenset(steps), frozenset(options), frozenset(fired), frozenset(waits), at, completed)


def _is(entry: Mapping[str, Any], kind: str, status: str) -> bool:
    return entry["kind"] == kind and entry.get("status") == status


def _step_of(spec: PlaybookSpec, module: str | None, reached: set[str]) -> str | None:
    """The step a module is given at: a module step, else a reached branch point that has it as an option."""
    if not module:
        return None
    for step in spec.steps:
        if step.module == module or (step.key in reached and any(o.module == module for o in step.branch or ())):
            return step.key
    return None


def describe_action(action: ActionSpec) -> str:
    """An action in a few words, as the map lists it under its trigger."""
    kind, argument = action.kind, action.argument
    if kind == "insert_module":
        return f"insert module {argument}"
    if kind == "swap_module":
        return f"swap the current module for {argument}"
    if kind == "unlock_module":
        return f"unlock {argument}"
    if kind == "goto":
        return f"go to step {argument}"
    if kind == "flag":
        return f"flag {argument}"
    if kind == "complete":
        return "complete the journey"
    if kind == "remind" and isinstance(argument, dict):
        attached = f" with {argument['attach_module']}" if argument.get("attach_module") else ""
        return f"remind by {argument.get('channel', '?')}: {argument.get('template', '?')}{attached}"
    if kind == "webhook" and isinstance(argument, dict):
        return f"webhook to {argument.get('endpoint', '?')}"
    if kind == "wait" and isinstance(argument, dict):
        key = f", same {argument['key'].removeprefix('properties.')}" if argument.get("key") else ""
        where = " (with a condition)" if argument.get("where") else ""
        return f"wait up to {argument.get('within', '?')} for {argument.get('event', '?')}{key}{where}"
    return kind


def wait_arms(action: ActionSpec) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """A wait's ``then`` and ``else`` actions, described; an unreadable wait (a draft being edited) gives none."""
    argument = action.argument if isinstance(action.argument, dict) else {}
    try:
        then, otherwise = nested_actions(argument.get("then")), nested_actions(argument.get("else"))
    except (AttributeError, TypeError, ValueError):
        return (), ()
    return tuple(map(describe_action, then)), tuple(map(describe_action, otherwise))
