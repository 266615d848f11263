"""What a playbook means: names resolve, conditions type-check, references exist, branches end in ``otherwise``.

Every problem is reported with its path, all at once; nothing is written while any remains.
"""

import difflib
import re
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from playbooks.engine.conditions import (
    BASE_VOCABULARY,
    EVENT_FILTER,
    ConditionError,
    Vocabulary,
    compile_condition,
    vocabulary_for,
)
from playbooks.engine.durations import DurationError, parse_duration
from playbooks.engine.journeys import saved_journey_errors
from playbooks.engine.readable import explain_errors
from playbooks.engine.shapes import did_you_mean, kind_of, web_url_problem
from playbooks.engine.spec import (
    ACTIONS,
    AGGREGATES,
    AUDIENCE_EXITS,
    DAILY_AGGREGATES,
    DUE_FROM,
    MODULE_ACTIONS,
    MODULE_KINDS,
    PRIORITY_RANGE,
    PROPERTY_AGGREGATES,
    SEQUENCE,
    PlaybookInvalid,
    PlaybookSpec,
    SignalSpec,
    SpecError,
    StepSpec,
    TriggerSpec,
)
from playbooks.engine.waits import WAIT_KEYS

SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
SNAKE = re.compile(r"^[a-z][a-z0-9_]*$")
CLOCK = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
ENDPOINT = re.compile(r"^[a-z0-9][a-z0-9_-]{0,99}$")
EVENT_TYPE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*){0,5}$")
CHANNELS = ("email", "slack", "webhook", "in_app")
MAX_EXPLAIN = 500
WAIT_KEY = re.compile(r"^(module|properties\.[A-Za-z_][A-Za-z0-9_]*)$")


def signals_key(spec: PlaybookSpec) -> tuple[tuple[str, str], ...]:
    return tuple((signal.name, signal.aggregate) for signal in spec.signals)


def parameters_key(spec: PlaybookSpec) -> tuple[tuple[str, str], ...]:
    """``((name, type), ...)`` of the parameters with a usable default (the others are reported)."""
    return tuple((p.name, p.kind) for p in spec.parameters if p.kind and SNAKE.match(p.name))


def vocabulary_of(spec: PlaybookSpec) -> Vocabulary:
    return vocabulary_for(signals_key(spec), parameters_key(spec))


def check_playbook(spec: PlaybookSpec, *, library_modules: Iterable[str] = ()) -> None:
    """Raise PlaybookInvalid listing every problem; ``library_modules`` are slugs already in the content library."""
    errors = validate_spec(spec, library_modules=library_modules)
    if errors:
        raise PlaybookInvalid(errors)


def validate_actions(
    spec: PlaybookSpec, actions: list[Any], *, path: str, library_modules: Iterable[str] = ()
) -> list[SpecError]:
    """Check a trigger's ``then`` list on its own (the admin's trigger form), in the context of ``spec``."""
    errors: list[SpecError] = []
    checker = _Checker(errors, {m.slug for m in spec.modules} | set(library_modules), vocabulary_of(spec))
    if not isinstance(actions, list) or not actions:
        return [SpecError(path, 'a list of actions such as [{"insert_module": "remedial-demo"}]')]
    for number, action in enumerate(actions):
        if not isinstance(action, dict) or len(action) != 1:
            errors.append(SpecError(f"{path}[{number}]", 'an action is a one-key mapping such as {"flag": "review"}'))
            continue
        ((kind, argument),) = action.items()
        checker.action(spec, None, kind, None if kind == "complete" else argument, f"{path}[{number}]")
    return errors


def validate_branch(
    spec: PlaybookSpec, step: StepSpec, *, index: int, library_modules: Iterable[str] = ()
) -> list[SpecError]:
    """Check a branch point's id and options on their own (the admin's step row), as step ``index`` of ``spec``;
    paths are the step's own: ``id``, ``branch``, ``branch[0].when``."""
    errors: list[SpecError] = []
    checker = _Checker(errors, {m.slug for m in spec.modules} | set(library_modules), vocabulary_of(spec))
    checker.branch(spec, step, index, "step")
    return [SpecError(e.path.removeprefix("step."), e.message, e.pointer) for e in errors]


def validate_spec(spec: PlaybookSpec, *, library_modules: Iterable[str] = (), block: bool = False) -> list[SpecError]:
    """Every problem in ``spec`` (blocks expanded). A ``block`` is held to the same rules, except that it may have
    no steps (one that shares signals and triggers only)."""
    errors: list[SpecError] = []
    known_modules = {module.slug for module in spec.modules} | set(library_modules)
    vocabulary = vocabulary_of(spec)
    checker = _Checker(errors, known_modules, vocabulary)
    if not SLUG.match(spec.slug or ""):
        errors.append(SpecError("slug", f"{spec.slug!r} is not a slug: lower-case letters, digits, - and _"))
    checker.modules(spec)
    checker.signals(spec)
    errors.extend(parameter_errors(spec))
    for index, role in enumerate(spec.audience.roles):
        if not SLUG.match(role):
            errors.append(SpecError(f"audience.roles[{index}]", f"{role!r} is not a role slug"))
    checker.condition(spec.audience.when, "audience.when")
    checker.role_tags(spec)
    if spec.on_audience_exit not in AUDIENCE_EXITS:
        errors.append(
            SpecError(
                "on_audience_exit",
                f"{spec.on_audience_exit!r} is not a choice; use 'end' (the enrolment ends when the learner leaves the "
                "audience; the default) or 'keep'",
            )
        )
    low, high = PRIORITY_RANGE
    if not low <= spec.priority <= high:
        errors.append(SpecError("priority", f"a priority is between {low} and {high}; got {spec.priority}"))
    checker.steps(spec, required=not block)
    checker.triggers(spec)
    checker.policy(spec)
    errors.extend(saved_journey_errors(spec))
    return errors


def parameter_errors(spec: PlaybookSpec) -> list[SpecError]:
    errors = []
    for parameter in spec.parameters:
        path = f"parameters.{parameter.name}"
        if not SNAKE.match(parameter.name):
            errors.append(SpecError(path, f"{parameter.name!r} is not a parameter name: a-z, 0-9 and _, from a letter"))
        if parameter.kind is None:
            errors.append(
                SpecError(path, f"a default is a number, a string or true/false; got {kind_of(parameter.default)}")
            )
    return errors


def _whole_days(text: str) -> int | None:
    try:
        span = parse_duration(text)
    except DurationError:
        return None  # reported as a duration
    return span.days if span.days > 0 and span == timedelta(days=span.days) else None


class _Checker:
    def __init__(self, errors: list[SpecError], known_modules: set[str], vocabulary: Vocabulary) -> None:
        self.errors = errors
        self.known_modules = known_modules
        self.vocabulary = vocabulary

    def error(self, path: str, message: str, pointer: str | None = None) -> None:
        self.errors.append(SpecError(path, message, pointer))

    def condition(self, expression: str | None, path: str, vocabulary: Vocabulary | None = None) -> None:
        if expression is None:
            return
        try:
            compile_condition(expression, vocabulary or self.vocabulary)
        except ConditionError as exc:
            self.error(path, exc.message, exc.pointer())

    def explain(self, template: str | None, path: str) -> None:
        if template is None:
            return
        if not template.strip():
            self.error(path, "an empty 'explain'; write a sentence for the learner, or leave the key out")
        elif len(template) > MAX_EXPLAIN:
            self.error(path, f"{len(template)} characters; an 'explain' sentence has at most {MAX_EXPLAIN}")
        for problem in explain_errors(template, self.vocabulary):
            self.error(path, problem.message, problem.pointer())

    def module_ref(self, slug: Any, path: str) -> None:
        if not isinstance(slug, str) or not slug:
            self.error(path, "name a module by its slug")
        elif slug not in self.known_modules:
            close = difflib.get_close_matches(slug, sorted(self.known_modules), n=1)
            hint = (
                f"; did you mean '{close[0]}'?" if close else "; declare it under 'modules' or create it in the library"
            )
            self.error(path, f"unknown module '{slug}'{hint}")

    def modules(self, spec: PlaybookSpec) -> None:
        seen: set[str] = set()
        for index, module in enumerate(spec.modules):
            path = f"modules[{index}]"
            if not SLUG.match(module.slug):
                self.error(f"{path}.slug", f"{module.slug!r} is not a slug: lower-case letters, digits, - and _")
            if module.slug in seen:
                self.error(f"{path}.slug", f"module '{module.slug}' is declared twice")
            seen.add(module.slug)
            if module.kind not in MODULE_KINDS:
                self.error(f"{path}.kind", f"unknown kind '{module.kind}'; use one of: {', '.join(MODULE_KINDS)}")
            if not 1 <= module.minutes <= 600:
                self.error(f"{path}.minutes", "minutes must be between 1 and 600")
            if module.url and (problem := web_url_problem(module.url)):
                self.error(f"{path}.url", problem)

    def signals(self, spec: PlaybookSpec) -> None:
        for signal in spec.signals:
            path = f"signals.{signal.name}"
            if not SNAKE.match(signal.name):
                self.error(path, f"signal name '{signal.name}' must be snake_case, usable in conditions")
            elif signal.name in BASE_VOCABULARY:
                self.error(path, f"'{signal.name}' is a built-in name; choose another signal name")
            if signal.aggregate == SEQUENCE:
                self.sequence(signal, path)
                continue
            if not SNAKE.match(signal.event):
                self.error(f"{path}.event", f"event type '{signal.event}' must be snake_case, e.g. ticket_submitted")
            if signal.aggregate not in AGGREGATES:
                self.error(
                    f"{path}.aggregate", f"unknown aggregate '{signal.aggregate}'; use one of: {', '.join(AGGREGATES)}"
                )
            elif signal.aggregate in PROPERTY_AGGREGATES and not signal.property:
                self.error(f"{path}.property", f"aggregate '{signal.aggregate}' needs the property it aggregates")
            if signal.window is not None:
                self.duration(signal.window, f"{path}.window")
            if signal.aggregate in DAILY_AGGREGATES:
                self.daily(signal, path)
            self.condition(signal.where, f"{path}.where", EVENT_FILTER)

    def daily(self, signal: SignalSpec, path: str) -> None:
        """A rate per day is measured over a window; the quietest day's count over whole days."""
        if signal.window is None:
            self.error(f"{path}.window", f"'{signal.aggregate}' needs the window it is measured over, e.g. window: 7d")
        elif signal.aggregate == "min_per_day" and _whole_days(signal.window) is None:
            self.error(f"{path}.window", f"'min_per_day' counts whole days: a window such as 7d, not {signal.window}")

    def sequence(self, signal: SignalSpec, path: str) -> None:
        if len(signal.sequence) < 2:
            self.error(f"{path}.sequence", "a sequence needs at least two steps, in order: A, then B")
        for index, step in enumerate(signal.sequence):
            if not SNAKE.match(step.event):
                self.error(f"{path}.sequence[{index}].event", f"event type '{step.event}' must be snake_case")
            self.condition(step.where, f"{path}.sequence[{index}].where", EVENT_FILTER)
        if signal.within is not None:
            self.duration(signal.within, f"{path}.within")

    def duration(self, text: str, path: str) -> None:
        try:
            if parse_duration(text).total_seconds() <= 0:
                self.error(path, "a duration must be longer than zero")
        except DurationError as exc:
            self.error(path, str(exc))

    def steps(self, spec: PlaybookSpec, *, required: bool = True) -> None:
        if required and not spec.steps:
            self.error("steps", "a playbook needs at least one step")
        first_seen: dict[str, int] = {}
        readiness: int | None = None
        for index, step in enumerate(spec.steps):
            path = f"steps[{index}]"
            self.schedule(step, path)
            if step.readiness and readiness is not None:
                self.error(
                    f"{path}.readiness", f"only one step can be the readiness milestone (also steps[{readiness}])"
                )
            elif step.readiness:
                readiness = index
            if step.id is not None and not SLUG.match(step.id):
                self.error(f"{path}.id", f"step id {step.id!r} must be a slug")
            if step.key in first_seen:
                what = "step id" if step.id else "module step (give one of them an 'id')"
                self.error(
                    f"{path}.id" if step.id else f"{path}.module",
                    f"duplicate {what} '{step.key}' (also steps[{first_seen[step.key]}])",
                )
            first_seen.setdefault(step.key, index)
            if step.by_tags:
                self.tag_step(spec, step, path)
                continue
            if step.is_branch and step.required:
                self.error(f"{path}.required", "a branch point cannot be required: mark the module steps it leads to")
            if step.is_branch:
                self.branch(spec, step, index, path)
            else:
                self.module_ref(step.module, f"{path}.module")

    def schedule(self, step: StepSpec, path: str) -> None:
        if step.is_branch and step.due is not None:
            self.error(f"{path}.due", "a branch point is passed when reached: put 'due' on the steps it leads to")
        if step.is_branch and step.readiness:
            self.error(f"{path}.readiness", "a branch point cannot be the readiness milestone: mark a module step")
        if step.due is None:
            return
        if step.due.after:
            self.duration(step.due.after, f"{path}.due.after")
        if step.due.from_ is not None and step.due.from_ not in DUE_FROM:
            hint = did_you_mean(step.due.from_, DUE_FROM) or f"; one of {', '.join(DUE_FROM)}"
            self.error(f"{path}.due.from", f"unknown 'from' {step.due.from_!r}{hint}")

    def tag_step(self, spec: PlaybookSpec, step: StepSpec, path: str) -> None:
        if not step.id:
            self.error(f"{path}.id", "a step picking by tags needs an 'id' so that its choice can be kept and reported")
        for number, tag in enumerate(step.tags):
            if not SLUG.match(tag):
                self.error(
                    f"{path}.module.tags[{number}]", f"{tag!r} is not a tag: lower-case letters, digits, - and _"
                )
        if step.required:
            self.error(f"{path}.required", "a step picking by tags cannot be required: require a named module")
        if not spec.tag_candidates(step.tags):
            self.error(
                f"{path}.module.tags",
                f"no module under 'modules' carries all of {', '.join(step.tags)}: a step by tags picks from them",
            )

    def role_tags(self, spec: PlaybookSpec) -> None:
        for role, tags in spec.audience.role_tags:
            if not SLUG.match(role):
                self.error(f"audience.role_tags.{role}", f"{role!r} is not a role slug")
            for number, tag in enumerate(tags):
                if not SLUG.match(tag):
                    self.error(f"audience.role_tags.{role}[{number}]", f"{tag!r} is not a tag")

    def branch(self, spec: PlaybookSpec, step: StepSpec, index: int, path: str) -> None:
        if not step.id:
            self.error(f"{path}.id", "a branch point needs an 'id' so that its choice can be kept and reported")
        options = step.branch or ()
        if not options or not options[-1].is_otherwise:
            self.error(f"{path}.branch", "a branch needs a final 'otherwise' option, taken when no 'when' matches")
        for number, option in enumerate(options):
            option_path = f"{path}.branch[{number}]"
            if option.is_otherwise and number != len(options) - 1:
                self.error(option_path, "'otherwise' must be the last option: options after it are never reached")
            self.condition(option.when, f"{option_path}.when")
            self.explain(option.explain, f"{option_path}.explain")
            if option.module is not None:
                self.module_ref(
                    option.module, f"{option_path}.module" if not option.is_otherwise else f"{option_path}.otherwise"
                )
            elif option.goto is not None:
                self.goto(spec, option.goto, index, f"{option_path}.goto")

    def goto(self, spec: PlaybookSpec, target: str, source_index: int, path: str) -> None:
        target_index = spec.step_index(target)
        if target_index is None:
            self.error(path, f"unknown step '{target}'{did_you_mean(target, [s.key for s in spec.steps])}")
        elif target_index <= source_index:
            loop = " → ".join(s.key for s in spec.steps[target_index : source_index + 1])
            self.error(path, f"a cycle of gotos: '{target}' leads back here ({loop} → {target}); jump to a later step")

    def triggers(self, spec: PlaybookSpec) -> None:
        names: set[str] = set()
        for index, trigger in enumerate(spec.triggers):
            path = f"triggers[{index}]"
            if not trigger.name:
                self.error(f"{path}.name", "a trigger needs a name")
            elif trigger.name in names:
                self.error(f"{path}.name", f"duplicate trigger name '{trigger.name}'")
            names.add(trigger.name)
            self.condition(trigger.when, f"{path}.when")
            self.explain(trigger.explain, f"{path}.explain")
            self.limits(trigger, path)
            for number, action in enumerate(trigger.then):
                self.action(spec, trigger, action.kind, action.argument, f"{path}.then[{number}]")

    def limits(self, trigger: TriggerSpec, path: str) -> None:
        if trigger.limit_per is not None:
            self.duration(trigger.limit_per, f"{path}.limit.per")
            if trigger.limit_per_learner is None:
                self.error(f"{path}.limit", "a limit per window needs per_learner: {per_learner: 3, per: 24h}")
        if trigger.cooldown is not None:
            self.duration(trigger.cooldown, f"{path}.cooldown")

    def action(self, spec: PlaybookSpec, trigger: TriggerSpec | None, kind: str, argument: Any, path: str) -> None:
        if kind not in ACTIONS:
            self.error(path, f"unknown action '{kind}'{did_you_mean(kind, ACTIONS)}")
        elif kind in MODULE_ACTIONS:
            self.module_ref(argument, f"{path}.{kind}")
        elif kind == "goto":
            if spec.step_index(str(argument)) is None:
                steps = [s.key for s in spec.steps]
                self.error(f"{path}.goto", f"unknown step '{argument}'{did_you_mean(str(argument), steps)}")
        elif kind == "flag" and not (isinstance(argument, str) and SNAKE.match(argument)):
            self.error(f"{path}.flag", "a flag is a snake_case name, e.g. supervisor_review")
        elif kind == "remind":
            self.remind(argument, f"{path}.remind")
        elif kind == "webhook":
            self.webhook(argument, f"{path}.webhook")
        elif kind == "wait":
            self.wait(spec, trigger, argument, f"{path}.wait")

    def wait(self, spec: PlaybookSpec, trigger: TriggerSpec | None, argument: Any, path: str) -> None:
        if not isinstance(argument, dict):
            self.error(
                path, "a wait is a mapping such as {event: module_started, key: module, within: 5m, else: [...]}"
            )
            return
        for key in argument:
            if key not in WAIT_KEYS:
                self.error(f"{path}.{key}", f"unknown wait key '{key}'{did_you_mean(str(key), WAIT_KEYS)}")
        event = argument.get("event")
        if not (isinstance(event, str) and SNAKE.match(event)):
            self.error(f"{path}.event", "required: the event type waited for, snake_case, e.g. module_started")
        where = argument.get("where")
        if where is not None and not isinstance(where, str):
            self.error(f"{path}.where", "a condition on event.*, written as text")
        elif where is not None:
            self.condition(where, f"{path}.where", EVENT_FILTER)
        key = argument.get("key")
        if key is not None and not (isinstance(key, str) and WAIT_KEY.match(key)):
            self.error(f"{path}.key", f"{key!r}: a wait is keyed to 'module' or to 'properties.<name>' of the event")
        if "within" not in argument:
            self.error(f"{path}.within", "required: how long to wait, e.g. 5m")
        else:
            self.duration(str(argument["within"]), f"{path}.within")
        if not argument.get("then") and not argument.get("else"):
            self.error(path, "a wait needs 'then' (actions if the event came), 'else' (if it did not), or both")
        for branch in ("then", "else"):
            self.wait_actions(spec, trigger, argument.get(branch), f"{path}.{branch}")

    def wait_actions(self, spec: PlaybookSpec, trigger: TriggerSpec | None, actions: Any, path: str) -> None:
        if actions is None:
            return
        if not isinstance(actions, list):
            self.error(path, "a list of actions such as [{flag: review}]")
            return
        for number, action in enumerate(actions):
            if isinstance(action, str):
                kind, argument = action, None
            elif isinstance(action, dict) and len(action) == 1:
                ((kind, argument),) = action.items()
                argument = None if kind == "complete" and argument is True else argument
            else:
                self.error(f"{path}[{number}]", "an action is a one-key mapping such as {flag: review}")
                continue
            if kind == "wait":
                self.error(f"{path}[{number}]", "a wait's actions cannot wait again; let another trigger do it")
            else:
                self.action(spec, trigger, str(kind), argument, f"{path}[{number}]")

    def webhook(self, argument: Any, path: str) -> None:
        """An endpoint configured in the admin, by name: a URL written in a playbook would bypass its checks."""
        if isinstance(argument, str):
            argument = {"endpoint": argument}
        if not isinstance(argument, dict) or not isinstance(argument.get("endpoint"), str):
            self.error(path, "a webhook names an endpoint configured in the admin: {endpoint: hr-system}")
            return
        if not ENDPOINT.match(argument["endpoint"]):
            self.error(f"{path}.endpoint", f"{argument['endpoint']!r} is not an endpoint name such as hr-system")
        for key in argument:
            if key not in ("endpoint", "event"):
                self.error(f"{path}.{key}", f"unknown webhook key '{key}'; a webhook has endpoint and event")
        event = argument.get("event")
        if event is not None and not (isinstance(event, str) and EVENT_TYPE.match(event)):
            self.error(f"{path}.event", "an event type is dotted lower case, e.g. onboarding.learner_stuck")

    def remind(self, argument: Any, path: str) -> None:
        if not isinstance(argument, dict):
            self.error(path, "a reminder is a mapping such as {channel: email, template: drop_off}")
            return
        channel = argument.get("channel")
        if channel not in CHANNELS:
            self.error(f"{path}.channel", f"unknown channel {channel!r}; use one of: {', '.join(CHANNELS)}")
        for key in argument:
            if key not in ("channel", "template", "attach_module", "fallback", "critical", "delay", "endpoint"):
                self.error(f"{path}.{key}", f"unknown reminder key '{key}'")
        if "attach_module" in argument:
            self.module_ref(argument["attach_module"], f"{path}.attach_module")
        endpoint = argument.get("endpoint")
        if endpoint is not None and not (isinstance(endpoint, str) and ENDPOINT.match(endpoint)):
            self.error(f"{path}.endpoint", "an endpoint is named as in the admin, e.g. support-slack")
        if "delay" in argument:
            self.duration(str(argument["delay"]), f"{path}.delay")

    def policy(self, spec: PlaybookSpec) -> None:
        policy = spec.policy
        if policy.frequency_cap_per is not None:
            self.duration(policy.frequency_cap_per, "policy.frequency_cap.per")
        if (policy.frequency_cap_max is None) != (policy.frequency_cap_per is None):
            self.error("policy.frequency_cap", "a frequency cap needs both 'max' and 'per'")
        for name in ("start", "end"):
            value = getattr(policy, f"quiet_hours_{name}")
            if value is not None and not CLOCK.match(value):
                self.error(
                    f"policy.quiet_hours.{name}", f"{value!r} is not a time of day; write it quoted, e.g. '21:00'"
                )
        if (policy.quiet_hours_start is None) != (policy.quiet_hours_end is None):
            self.error("policy.quiet_hours", "quiet hours need both 'start' and 'end'")
