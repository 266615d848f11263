"""The playbook file (DESIGN.md §3): YAML text ↔ ``PlaybookSpec``, with errors that name the path.

``spec_from_document`` checks shape (keys, types); ``validation.validate_spec`` checks meaning (names, conditions,
references). ``document_from_spec`` is the inverse used by export: exporting an import gives back the input.
"""

from typing import Any

import yaml

from playbooks.engine.shapes import ShapeReader, kind_of
from playbooks.engine.spec import (
    ActionSpec,
    AudienceSpec,
    BranchOption,
    ModuleSpec,
    PlaybookInvalid,
    PlaybookSpec,
    PolicySpec,
    SignalSpec,
    SpecError,
    StepSpec,
    TriggerSpec,
)

TOP_KEYS = ("slug", "name", "description", "audience", "modules", "signals", "steps", "triggers", "policy", "tests")
MODULE_KEYS = ("slug", "title", "kind", "url", "body", "minutes", "tags")
SIGNAL_KEYS = ("event", "aggregate", "property", "window", "where")
STEP_KEYS = ("id", "module", "branch")
OPTION_KEYS = ("when", "module", "goto", "otherwise")
TRIGGER_KEYS = ("name", "when", "then", "limit")
POLICY_KEYS = ("frequency_cap", "quiet_hours")


def load_yaml(text: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise PlaybookInvalid([SpecError("", f"malformed YAML at {where}{problem}")]) from None


def spec_from_document(document: Any) -> PlaybookSpec:
    """Shape-check a loaded playbook document; raises PlaybookInvalid listing every problem."""
    reader = ShapeReader()
    top = reader.mapping(document, "", TOP_KEYS)
    spec = PlaybookSpec(
        slug=reader.text(top.get("slug"), "slug") or "",
        name=reader.text(top.get("name"), "name") or "",
        description=reader.text(top.get("description"), "description", required=False) or "",
        audience=_audience(reader, top.get("audience")),
        modules=tuple(
            _module(reader, m, f"modules[{i}]") for i, m in enumerate(reader.sequence(top.get("modules"), "modules"))
        ),
        signals=_signals(reader, top.get("signals")),
        steps=tuple(_step(reader, s, f"steps[{i}]") for i, s in enumerate(reader.sequence(top.get("steps"), "steps"))),
        triggers=tuple(
            _trigger(reader, t, f"triggers[{i}]")
            for i, t in enumerate(reader.sequence(top.get("triggers"), "triggers"))
        ),
        policy=_policy(reader, top.get("policy")),
        tests=tuple(reader.sequence(top.get("tests"), "tests")),
    )
    if reader.errors:
        raise PlaybookInvalid(reader.errors)
    return spec


def _audience(reader: ShapeReader, value: Any) -> AudienceSpec:
    if value is None:
        return AudienceSpec()
    audience = reader.mapping(value, "audience", ("roles", "when"))
    roles = [
        reader.text(r, f"audience.roles[{i}]")
        for i, r in enumerate(reader.sequence(audience.get("roles"), "audience.roles"))
    ]
    return AudienceSpec(
        roles=tuple(r for r in roles if r), when=reader.text(audience.get("when"), "audience.when", required=False)
    )


def _module(reader: ShapeReader, value: Any, path: str) -> ModuleSpec:
    module = reader.mapping(value, path, MODULE_KEYS)
    tags = [
        reader.text(t, f"{path}.tags[{i}]") for i, t in enumerate(reader.sequence(module.get("tags"), f"{path}.tags"))
    ]
    minutes = reader.integer(module.get("minutes"), f"{path}.minutes", minimum=1)
    return ModuleSpec(
        slug=reader.text(module.get("slug"), f"{path}.slug") or "",
        title=reader.text(module.get("title"), f"{path}.title") or "",
        kind=reader.text(module.get("kind"), f"{path}.kind", required=False) or "article",
        url=reader.text(module.get("url"), f"{path}.url", required=False) or "",
        body=reader.text(module.get("body"), f"{path}.body", required=False) or "",
        minutes=minutes if minutes is not None else 5,
        tags=tuple(t for t in tags if t),
    )


def _signals(reader: ShapeReader, value: Any) -> tuple[SignalSpec, ...]:
    if value is None:
        return ()
    if not isinstance(value, dict):
        reader.error("signals", f"expected a mapping of signal name to definition, got {kind_of(value)}")
        return ()
    signals = []
    for name, definition in value.items():
        path = f"signals.{name}"
        body = reader.mapping(definition, path, SIGNAL_KEYS)
        signals.append(
            SignalSpec(
                name=str(name),
                event=reader.text(body.get("event"), f"{path}.event") or "",
                aggregate=reader.text(body.get("aggregate"), f"{path}.aggregate") or "",
                property=reader.text(body.get("property"), f"{path}.property", required=False),
                window=reader.text(body.get("window"), f"{path}.window", required=False),
                where=reader.text(body.get("where"), f"{path}.where", required=False),
            )
        )
    return tuple(signals)


def _step(reader: ShapeReader, value: Any, path: str) -> StepSpec:
    step = reader.mapping(value, path, STEP_KEYS)
    if "module" in step and "branch" in step:
        reader.error(path, "a step has either 'module' or 'branch', not both")
    elif step and "module" not in step and "branch" not in step:
        reader.error(path, "a step needs 'module' (a module step) or 'branch' (a branch point)")
    branch = None
    if "branch" in step:
        branch = tuple(
            _option(reader, o, f"{path}.branch[{i}]")
            for i, o in enumerate(reader.sequence(step["branch"], f"{path}.branch"))
        )
    return StepSpec(
        id=reader.text(step.get("id"), f"{path}.id", required=False),
        module=reader.text(step.get("module"), f"{path}.module", required=False),
        branch=branch,
    )


def _option(reader: ShapeReader, value: Any, path: str) -> BranchOption:
    option = reader.mapping(value, path, OPTION_KEYS)
    if "otherwise" in option:
        if "when" in option:
            reader.error(path, "'otherwise' is the option taken when no 'when' matched: it has no 'when'")
        target = option["otherwise"]
        if isinstance(target, dict):
            jump = reader.mapping(target, f"{path}.otherwise", ("goto",))
            return BranchOption(when=None, goto=reader.text(jump.get("goto"), f"{path}.otherwise.goto"))
        return BranchOption(when=None, module=reader.text(target, f"{path}.otherwise"))
    if option and "when" not in option:
        reader.error(path, "each option needs 'when' (or is the final 'otherwise')")
    if ("module" in option) == ("goto" in option):
        reader.error(path, "an option leads to exactly one of 'module' or 'goto'")
    return BranchOption(
        when=reader.text(option.get("when"), f"{path}.when") or "",
        module=reader.text(option.get("module"), f"{path}.module", required=False),
        goto=reader.text(option.get("goto"), f"{path}.goto", required=False),
    )


def _trigger(reader: ShapeReader, value: Any, path: str) -> TriggerSpec:
    trigger = reader.mapping(value, path, TRIGGER_KEYS)
    limit = None
    if trigger.get("limit") is not None:
        body = reader.mapping(trigger["limit"], f"{path}.limit", ("per_learner",))
        limit = reader.integer(body.get("per_learner"), f"{path}.limit.per_learner", minimum=1)
    actions = reader.sequence(trigger.get("then"), f"{path}.then")
    if trigger and not actions:
        reader.error(f"{path}.then", "a trigger needs at least one action")
    return TriggerSpec(
        name=reader.text(trigger.get("name"), f"{path}.name") or "",
        when=reader.text(trigger.get("when"), f"{path}.when") or "",
        then=tuple(_action(reader, a, f"{path}.then[{i}]") for i, a in enumerate(actions)),
        limit_per_learner=limit,
    )


def _action(reader: ShapeReader, value: Any, path: str) -> ActionSpec:
    if isinstance(value, str):  # a bare action name such as "complete"
        return ActionSpec(kind=value, argument=None)
    if not isinstance(value, dict) or len(value) != 1:
        reader.error(
            path, f"an action is a one-key mapping such as {{insert_module: remedial-demo}}, got {kind_of(value)}"
        )
        return ActionSpec(kind="")
    ((kind, argument),) = value.items()
    return ActionSpec(kind=str(kind), argument=None if argument is True and kind == "complete" else argument)


def _policy(reader: ShapeReader, value: Any) -> PolicySpec:
    if value is None:
        return PolicySpec()
    policy = reader.mapping(value, "policy", POLICY_KEYS)
    cap = reader.mapping(policy.get("frequency_cap") or {}, "policy.frequency_cap", ("max", "per"))
    quiet = reader.mapping(policy.get("quiet_hours") or {}, "policy.quiet_hours", ("start", "end"))
    return PolicySpec(
        frequency_cap_max=reader.integer(cap.get("max"), "policy.frequency_cap.max", minimum=1),
        frequency_cap_per=reader.text(cap.get("per"), "policy.frequency_cap.per", required=False),
        quiet_hours_start=reader.text(quiet.get("start"), "policy.quiet_hours.start", required=False),
        quiet_hours_end=reader.text(quiet.get("end"), "policy.quiet_hours.end", required=False),
    )


def document_from_spec(spec: PlaybookSpec) -> dict[str, Any]:
    """The normalised document for ``spec``: only keys that carry something, in the order of DESIGN.md §3."""
    document: dict[str, Any] = {"slug": spec.slug, "name": spec.name}
    if spec.description:
        document["description"] = spec.description
    if spec.audience.roles or spec.audience.when:
        document["audience"] = _without_none({"roles": list(spec.audience.roles), "when": spec.audience.when})
    if spec.modules:
        document["modules"] = [_module_document(module) for module in spec.modules]
    if spec.signals:
        document["signals"] = {
            s.name: _without_none(
                {
                    "event": s.event,
                    "aggregate": s.aggregate,
                    "property": s.property,
                    "window": s.window,
                    "where": s.where,
                }
            )
            for s in spec.signals
        }
    document["steps"] = [_step_document(step) for step in spec.steps]
    if spec.triggers:
        document["triggers"] = [_trigger_document(trigger) for trigger in spec.triggers]
    if not spec.policy.is_empty:
        document["policy"] = _policy_document(spec.policy)
    if spec.tests:
        document["tests"] = list(spec.tests)
    return document


def dump_yaml(spec: PlaybookSpec) -> str:
    return yaml.safe_dump(document_from_spec(spec), sort_keys=False, allow_unicode=True, width=120)


def _module_document(module: ModuleSpec) -> dict[str, Any]:
    document = {"slug": module.slug, "title": module.title, "kind": module.kind}
    if module.url:
        document["url"] = module.url
    if module.body:
        document["body"] = module.body
    document["minutes"] = module.minutes
    if module.tags:
        document["tags"] = list(module.tags)
    return document


def _step_document(step: StepSpec) -> dict[str, Any]:
    document: dict[str, Any] = {"id": step.id} if step.id else {}
    if step.branch is None:
        document["module"] = step.module
        return document
    document["branch"] = [_option_document(option) for option in step.branch]
    return document


def _option_document(option: BranchOption) -> dict[str, Any]:
    if option.is_otherwise:
        return {"otherwise": option.module if option.module else {"goto": option.goto}}
    return {"when": option.when, **({"module": option.module} if option.module else {"goto": option.goto})}


def _trigger_document(trigger: TriggerSpec) -> dict[str, Any]:
    document: dict[str, Any] = {"name": trigger.name, "when": trigger.when}
    document["then"] = [{a.kind: True if a.argument is None else a.argument} for a in trigger.then]
    if trigger.limit_per_learner is not None:
        document["limit"] = {"per_learner": trigger.limit_per_learner}
    return document


def _policy_document(policy: PolicySpec) -> dict[str, Any]:
    document: dict[str, Any] = {}
    cap = _without_none({"max": policy.frequency_cap_max, "per": policy.frequency_cap_per})
    quiet = _without_none({"start": policy.quiet_hours_start, "end": policy.quiet_hours_end})
    if cap:
        document["frequency_cap"] = cap
    if quiet:
        document["quiet_hours"] = quiet
    return document


def _without_none(values: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value is not None}
