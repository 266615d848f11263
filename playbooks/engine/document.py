"""The playbook file (docs/playbook-format.md): YAML text ↔ ``PlaybookSpec``, with errors that name the path.

``spec_from_document`` checks shape (keys, types); ``validation.validate_spec`` checks meaning (names, conditions,
references). ``document_from_spec`` is the inverse used by export: exporting an import gives back the input.
"""

import math
from collections.abc import Hashable, Iterable
from dataclasses import dataclass, replace
from typing import Any

import yaml
from yaml.constructor import ConstructorError
from yaml.error import Mark, MarkedYAMLError
from yaml.events import MappingStartEvent, SequenceStartEvent
from yaml.nodes import MappingNode, Node, ScalarNode

from playbooks.engine.shapes import UNPRINTABLE, ShapeReader, kind_of
from playbooks.engine.spec import (
    SEQUENCE,
    ActionSpec,
    AudienceSpec,
    BranchOption,
    DueSpec,
    IncludeSpec,
    ModuleSpec,
    ParameterSpec,
    PlaybookInvalid,
    PlaybookSpec,
    PolicySpec,
    SequenceStep,
    SignalSpec,
    SpecError,
    StepSpec,
    TriggerSpec,
)

TOP_KEYS = (
    "slug",
    "name",
    "description",
    "priority",
    "audience",
    "on_audience_exit",
    "include",
    "modules",
    "signals",
    "parameters",
    "steps",
    "triggers",
    "policy",
    "tests",
)
MODULE_KEYS = ("slug", "title", "kind", "url", "body", "minutes", "tags")
SIGNAL_KEYS = ("event", "aggregate", "property", "window", "where", "sequence", "within")
SEQUENCE_KEYS = ("sequence", "within")
STEP_KEYS = ("id", "module", "branch", "required", "due", "readiness", "block")
# A reusable block's file: what it shares (signals, steps, triggers), the modules it declares in the library, and
# the blocks it includes in turn.
BLOCK_KEYS = ("slug", "name", "description", "include", "modules", "signals", "steps", "triggers")
INCLUDE_KEYS = ("block", "version")
DUE_KEYS = ("after", "from")
OPTION_KEYS = ("when", "module", "goto", "otherwise", "explain")
TRIGGER_KEYS = ("name", "when", "then", "limit", "cooldown", "explain")
POLICY_KEYS = ("frequency_cap", "quiet_hours")


@dataclass(frozen=True)
class YamlKind:
    """What a YAML text is (for messages), the most bytes it may hold (refused before parsing) and the most values
    (scalars, lists, mappings; refused while composing)."""

    name: str
    max_bytes: int
    max_nodes: int


# PyYAML's pure-Python parser takes about 3 s per MB of ordinary YAML and 25 µs per value (12 s for 1 MB of "1,"):
# the limits keep one document to a few seconds' parsing. A 10,000-event journey (journeys.MAX_EVENTS) is about
# 1 MB and 110,000 values.
PLAYBOOK_YAML = YamlKind("a playbook file", 1_000_000, 150_000)  # saved journeys included
SAVED_JOURNEYS_YAML = YamlKind("the saved journeys", 1_000_000, 150_000)  # exported in the playbook file
JOURNEY_YAML = YamlKind("a journey", 2_000_000, 250_000)
COHORT_TEMPLATE_YAML = YamlKind("a cohort template", 1_000_000, 100_000)  # one journey template
ANY_YAML = YamlKind("a YAML document", 1_000_000, 100_000)
# Deeper than any playbook or journey (about 8 levels) and shallow enough never to exhaust the stack.
MAX_YAML_DEPTH = 50
ALIASES_REFUSED = "YAML aliases (&anchor / *alias) are not allowed; write the value out in full"
# Tags whose values a JSON column cannot hold (bytes, sets, ordered pairs): unknown tags, refused with their line.
_NOT_JSON_TAGS = frozenset(f"tag:yaml.org,2002:{name}" for name in ("binary", "omap", "pairs", "set"))
_MERGE_TAG = "tag:yaml.org,2002:merge"


class YamlRefused(MarkedYAMLError):
    """Well-formed YAML the platform does not take (aliases, duplicate keys, depth, control characters)."""

    def __init__(self, problem: str, mark: Mark | None) -> None:
        super().__init__(problem=problem, problem_mark=mark)


class SafeLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing what a hostile document uses against the platform: aliases (a 3 KB "billion
    laughs" expands to gigabytes once walked or stored), duplicate keys (the later one silently wins), nesting deep
    enough to exhaust the stack (checked while composing, before any recursion), control characters and lone
    surrogates written as escapes (PostgreSQL refuses them), and values a JSON column cannot hold (``.inf``, bytes,
    sets). Timestamps are kept as the text written, so that everything loaded can be stored as JSON.
    """

    yaml_constructors = {
        tag: constructor for tag, constructor in yaml.SafeLoader.yaml_constructors.items() if tag not in _NOT_JSON_TAGS
    }

    def __init__(self, stream: str, kind: YamlKind = ANY_YAML) -> None:
        super().__init__(stream)
        self.kind = kind
        self.depth = 0
        self.nodes = 0

    def compose_node(self, parent: Node | None, index: Any) -> Node:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            raise YamlRefused(ALIASES_REFUSED, event.start_mark)
        self.nodes += 1
        if self.nodes > self.kind.max_nodes:
            raise YamlRefused(
                f"{self.kind.name} holds at most {self.kind.max_nodes:,} values (texts, numbers, lists and mappings)",
                event.start_mark,
            )
        if not isinstance(event, SequenceStartEvent | MappingStartEvent):
            return super().compose_node(parent, index)
        if self.depth >= MAX_YAML_DEPTH:
            raise YamlRefused(f"nested more than {MAX_YAML_DEPTH} levels deep", event.start_mark)
        self.depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1

    def construct_object(self, node: Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep)
        except (ValueError, LookupError, OverflowError, TypeError) as exc:  # !!bool maybe, a 5,000-digit int
            reason = str(exc).split(";")[0] or type(exc).__name__
            raise YamlRefused(f"cannot read {_shown(node)} as {_tag_name(node)}: {reason}", node.start_mark) from None

    def construct_scalar(self, node: ScalarNode) -> str:
        value = super().construct_scalar(node)
        unprintable = UNPRINTABLE.search(value)
        if unprintable:
            raise YamlRefused(f"{_character(unprintable.group())} is not allowed in text; remove it", node.start_mark)
        return value

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        if not isinstance(node, MappingNode):
            raise ConstructorError(None, None, f"expected a mapping, found {node.id}", node.start_mark)
        mapping: dict[Any, Any] = {}
        lines: dict[Any, int] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                raise YamlRefused("YAML merge keys (<<) are not allowed; write the keys out", key_node.start_mark)
            key = self.construct_object(key_node, deep=deep)
            if not isinstance(key, Hashable):
                raise YamlRefused("a key must be text or a number, not a list or mapping", key_node.start_mark)
            if key in mapping:
                raise YamlRefused(
                    f"duplicate key '{str(key)[:60]}' (first at line {lines[key]}): give each key once",
                    key_node.start_mark,
                )
            lines[key] = key_node.start_mark.line + 1
            mapping[key] = self.construct_object(value_node, deep=deep)
        return mapping

    def construct_yaml_float(self, node: ScalarNode) -> float:
        value = super().construct_yaml_float(node)
        if not math.isfinite(value):
            raise YamlRefused(
                f"{_shown(node)} is not a finite number (.inf and .nan cannot be stored)", node.start_mark
            )
        return value

    def construct_yaml_timestamp(self, node: ScalarNode) -> str:
        return self.construct_scalar(node)  # as written: the journey reader parses ISO 8601, JSON stores text

    def construct_undefined(self, node: Node) -> Any:
        raise YamlRefused(
            f"the tag '{node.tag}' is not allowed: write plain text, numbers, lists and mappings", node.start_mark
        )


SafeLoader.add_constructor("tag:yaml.org,2002:float", SafeLoader.construct_yaml_float)
SafeLoader.add_constructor("tag:yaml.org,2002:timestamp", SafeLoader.construct_yaml_timestamp)
SafeLoader.add_constructor(None, SafeLoader.construct_undefined)


def load_yaml(text: str, kind: YamlKind = ANY_YAML) -> Any:
    """The one way user YAML is read: ``SafeLoader`` after the size and character checks; raises PlaybookInvalid
    with one problem that says where (line and column) and what to change."""
    size_problem = yaml_size_problem(text, kind)
    if size_problem:
        raise PlaybookInvalid([SpecError("", size_problem)])
    unprintable = UNPRINTABLE.search(text)
    if unprintable:
        where = _where_in(text, unprintable.start())
        raise PlaybookInvalid(
            [SpecError(where, f"{_character(unprintable.group())} is not allowed in YAML; remove it")]
        )
    loader = SafeLoader(text, kind)
    try:
        return loader.get_single_data()  # what yaml.safe_load does, with SafeLoader above
    except YamlRefused as exc:
        raise PlaybookInvalid([SpecError(_where(exc.problem_mark), exc.problem)]) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{_where(mark)}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise PlaybookInvalid([SpecError("", f"malformed YAML at {where}{problem}")]) from None
    finally:
        loader.dispose()


def yaml_size_problem(text: str, kind: YamlKind) -> str | None:
    """Why ``text`` is too large to parse as ``kind``, or None (in UTF-8 bytes, encoded only when it may fit)."""
    return yaml_bytes_problem(len(text) if len(text) > kind.max_bytes else _utf8_size(text), kind)


def yaml_bytes_problem(size: int, kind: YamlKind) -> str | None:
    """Why ``size`` bytes of ``kind`` are refused before reading them (an upload's or a file's size), or None."""
    if size <= kind.max_bytes:
        return None
    return (
        f"{kind.name} is at most {kind.max_bytes / 1_000_000:g} MB ({kind.max_bytes:,} bytes); this one is "
        f"{size:,} bytes: split it or leave out what it does not need"
    )


def _utf8_size(text: str) -> int:
    return len(text.encode("utf-8", errors="surrogatepass"))  # a lone surrogate is reported by the character check


def _where(mark: Mark | None) -> str:
    return f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""


def _where_in(text: str, offset: int) -> str:
    line, line_start = text.count("\n", 0, offset) + 1, text.rfind("\n", 0, offset) + 1
    return f"line {line}, column {offset - line_start + 1}"


def _character(char: str) -> str:
    code = ord(char)
    if 0xD800 <= code <= 0xDFFF:
        return f"the lone surrogate U+{code:04X} (not valid Unicode)"
    if code in (0xFFFE, 0xFFFF):
        return f"the non-character U+{code:04X}"
    name = {0x00: " (NUL)", 0x1B: " (escape)", 0x7F: " (delete)"}.get(code, "")
    return f"the control character U+{code:04X}{name}"


def _shown(node: Node) -> str:
    value = str(node.value)
    return repr(value if len(value) <= 40 else value[:40] + "…")


def _tag_name(node: Node) -> str:
    return {"int": "a whole number", "float": "a number", "bool": "true/false"}.get(
        node.tag.rsplit(":", 1)[-1], node.tag
    )


def spec_from_document(document: Any, *, keys: tuple[str, ...] = TOP_KEYS) -> PlaybookSpec:
    """Shape-check a loaded playbook document; raises PlaybookInvalid listing every problem. A block's file is read
    the same way with ``keys=BLOCK_KEYS``."""
    reader = ShapeReader()
    top = reader.mapping(document, "", keys)
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
        priority=_priority(reader, top.get("priority")),
        on_audience_exit=_on_audience_exit(reader, top.get("on_audience_exit")),
        includes=_includes(reader, top.get("include")),
        parameters=_parameters(reader, top.get("parameters")),
    )
    if reader.errors:
        raise PlaybookInvalid(reader.errors)
    return spec


def _includes(reader: ShapeReader, value: Any) -> tuple[IncludeSpec, ...]:
    includes = []
    for index, item in enumerate(reader.sequence(value, "include")):
        path = f"include[{index}]"
        body = reader.mapping(item, path, INCLUDE_KEYS)
        if not body:
            continue
        slug = reader.text(body.get("block"), f"{path}.block")
        number = reader.integer(body.get("version"), f"{path}.version", minimum=1)
        if "version" not in body:
            reader.error(f"{path}.version", "pin the block's version, e.g. {block: compliance-basics, version: 2}")
        if slug and number is not None:
            includes.append(IncludeSpec(slug, number))
    return tuple(includes)


def _priority(reader: ShapeReader, value: Any) -> int:
    """A whole number, negative ones included (below the default 0); its range is validation's."""
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int):
        reader.error("priority", f"expected a whole number (the highest is served first), got {kind_of(value)}")
        return 0
    return value


def _on_audience_exit(reader: ShapeReader, value: Any) -> str:
    exit_ = reader.text(value, "on_audience_exit", required=False)
    return "end" if exit_ is None else exit_


def _audience(reader: ShapeReader, value: Any) -> AudienceSpec:
    if value is None:
        return AudienceSpec()
    audience = reader.mapping(value, "audience", ("roles", "when", "role_tags"))
    roles = [
        reader.text(r, f"audience.roles[{i}]")
        for i, r in enumerate(reader.sequence(audience.get("roles"), "audience.roles"))
    ]
    return AudienceSpec(
        roles=tuple(r for r in roles if r),
        when=reader.text(audience.get("when"), "audience.when", required=False),
        role_tags=_role_tags(reader, audience.get("role_tags")),
    )


def _role_tags(reader: ShapeReader, value: Any) -> tuple[tuple[str, tuple[str, ...]], ...]:
    if value is None:
        return ()
    if not isinstance(value, dict):
        reader.error("audience.role_tags", f"expected a mapping of role to tags, got {kind_of(value)}")
        return ()
    return tuple((str(role), _tags(reader, tags, f"audience.role_tags.{role}")) for role, tags in value.items())


def _tags(reader: ShapeReader, value: Any, path: str) -> tuple[str, ...]:
    tags = [reader.text(t, f"{path}[{i}]") for i, t in enumerate(reader.sequence(value, path))]
    return tuple(t for t in tags if t)


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


def _parameters(reader: ShapeReader, value: Any) -> tuple[ParameterSpec, ...]:
    """``parameters: {name: default}``; the defaults' types are checked with the rest (validation)."""
    if value is None:
        return ()
    if not isinstance(value, dict):
        reader.error("parameters", f"expected a mapping of parameter name to default value, got {kind_of(value)}")
        return ()
    return tuple(ParameterSpec(str(name), default) for name, default in value.items())


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
        if "sequence" in body:
            signals.append(_sequence_signal(reader, str(name), body, path))
            continue
        if "within" in body:
            reader.error(f"{path}.within", "'within' bounds a sequence signal; a count over time has a 'window'")
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


def _sequence_signal(reader: ShapeReader, name: str, body: dict[str, Any], path: str) -> SignalSpec:
    for key in body:
        if key in SIGNAL_KEYS and key not in SEQUENCE_KEYS:  # unknown keys are already reported
            reader.error(
                f"{path}.{key}",
                f"a sequence signal has 'sequence' and 'within' only; each step names its {key}"
                if key in ("event", "where")
                else f"a sequence signal has 'sequence' and 'within' only, not '{key}'",
            )
    steps = []
    for index, item in enumerate(reader.sequence(body["sequence"], f"{path}.sequence")):
        step = reader.mapping(item, f"{path}.sequence[{index}]", ("event", "where"))
        steps.append(
            SequenceStep(
                event=reader.text(step.get("event"), f"{path}.sequence[{index}].event") or "",
                where=reader.text(step.get("where"), f"{path}.sequence[{index}].where", required=False),
            )
        )
    within = reader.text(body.get("within"), f"{path}.within", required=False)
    return SignalSpec(name=name, event="", aggregate=SEQUENCE, sequence=tuple(steps), within=within)


def _step(reader: ShapeReader, value: Any, path: str) -> StepSpec:
    step = reader.mapping(value, path, STEP_KEYS)
    if "block" in step:  # where an included block's steps go
        for key in step.keys() - {"block"}:
            reader.error(f"{path}.{key}", "a block's place in the steps has 'block' only: its steps are the block's")
        return StepSpec(block=reader.text(step["block"], f"{path}.block") or "")
    tags: tuple[str, ...] = ()
    if isinstance(step.get("module"), dict):  # picked by tags when reached
        tags = _tags(
            reader, reader.mapping(step["module"], f"{path}.module", ("tags",)).get("tags"), f"{path}.module.tags"
        )
        if not tags:
            reader.error(f"{path}.module.tags", "a module picked by tags needs at least one tag: {tags: [sql]}")
        step = {key: item for key, item in step.items() if key != "module"} | {"module": None, "tags": tags}
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
        tags=tags,
        required=reader.boolean(step.get("required"), f"{path}.required"),
        due=_due(reader, step.get("due"), f"{path}.due"),
        readiness=reader.boolean(step.get("readiness"), f"{path}.readiness"),
    )


def _due(reader: ShapeReader, value: Any, path: str) -> DueSpec | None:
    if value is None:
        return None
    due = reader.mapping(value, path, DUE_KEYS)
    if not isinstance(value, dict):
        return None  # reported as the wrong shape: no 'required' on top
    after = reader.text(due.get("after"), f"{path}.after")
    return DueSpec(after=after or "", from_=reader.text(due.get("from"), f"{path}.from", required=False))


def branch_from_document(value: Any, path: str = "branch") -> tuple[BranchOption, ...]:
    """Shape-check a branch point's options on their own, as a playbook file writes them (the admin's step row);
    raises PlaybookInvalid listing every problem."""
    reader = ShapeReader()
    options = tuple(_option(reader, o, f"{path}[{i}]") for i, o in enumerate(reader.sequence(value, path)))
    if reader.errors:
        raise PlaybookInvalid(reader.errors)
    return options


def branch_document(options: Iterable[BranchOption]) -> list[dict[str, Any]]:
    """Options as a playbook file writes them: what branch_from_document reads back."""
    return [_option_document(option) for option in options]


def _option(reader: ShapeReader, value: Any, path: str) -> BranchOption:
    option = reader.mapping(value, path, OPTION_KEYS)
    explain = reader.text(option.get("explain"), f"{path}.explain", required=False)
    if "otherwise" in option:
        if "when" in option:
            reader.error(path, "'otherwise' is the option taken when no 'when' matched: it has no 'when'")
        target = option["otherwise"]
        if isinstance(target, dict):
            jump = reader.mapping(target, f"{path}.otherwise", ("goto",))
            goto = reader.text(jump.get("goto"), f"{path}.otherwise.goto")
            return BranchOption(when=None, goto=goto, explain=explain)
        return BranchOption(when=None, module=reader.text(target, f"{path}.otherwise"), explain=explain)
    if option and "when" not in option:
        reader.error(path, "each option needs 'when' (or is the final 'otherwise')")
    if ("module" in option) == ("goto" in option):
        reader.error(path, "an option leads to exactly one of 'module' or 'goto'")
    return BranchOption(
        when=reader.text(option.get("when"), f"{path}.when") or "",
        module=reader.text(option.get("module"), f"{path}.module", required=False),
        goto=reader.text(option.get("goto"), f"{path}.goto", required=False),
        explain=explain,
    )


def _trigger(reader: ShapeReader, value: Any, path: str) -> TriggerSpec:
    trigger = reader.mapping(value, path, TRIGGER_KEYS)
    limit, per = None, None
    if trigger.get("limit") is not None:
        body = reader.mapping(trigger["limit"], f"{path}.limit", ("per_learner", "per"))
        limit = reader.integer(body.get("per_learner"), f"{path}.limit.per_learner", minimum=1)
        per = reader.text(body.get("per"), f"{path}.limit.per", required=False)
    actions = reader.sequence(trigger.get("then"), f"{path}.then")
    if trigger and not actions:
        reader.error(f"{path}.then", "a trigger needs at least one action")
    return TriggerSpec(
        name=reader.text(trigger.get("name"), f"{path}.name") or "",
        when=reader.text(trigger.get("when"), f"{path}.when") or "",
        then=tuple(_action(reader, a, f"{path}.then[{i}]") for i, a in enumerate(actions)),
        limit_per_learner=limit,
        limit_per=per,
        cooldown=reader.text(trigger.get("cooldown"), f"{path}.cooldown", required=False),
        explain=reader.text(trigger.get("explain"), f"{path}.explain", required=False),
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
    """The normalised document for ``spec``: only keys that carry something, in the file's documented order. What
    included blocks brought is written as the ``include`` entries and step placeholders it came from."""
    spec = collapsed(spec)
    document: dict[str, Any] = {"slug": spec.slug, "name": spec.name}
    if spec.description:
        document["description"] = spec.description
    if spec.priority:
        document["priority"] = spec.priority
    if spec.audience.roles or spec.audience.when or spec.audience.role_tags:
        audience = {"roles": list(spec.audience.roles), "when": spec.audience.when}
        audience["role_tags"] = {role: list(tags) for role, tags in spec.audience.role_tags} or None
        document["audience"] = _without_none(audience)
    if spec.on_audience_exit != "end":
        document["on_audience_exit"] = spec.on_audience_exit
    if spec.includes:
        document["include"] = [{"block": include.block, "version": include.version} for include in spec.includes]
    if spec.modules:
        document["modules"] = [_module_document(module) for module in spec.modules]
    if spec.signals:
        document["signals"] = {s.name: _signal_document(s) for s in spec.signals}
    if spec.parameters:
        document["parameters"] = {parameter.name: parameter.default for parameter in spec.parameters}
    document["steps"] = [_step_document(step) for step in spec.steps]
    if spec.triggers:
        document["triggers"] = [_trigger_document(trigger) for trigger in spec.triggers]
    if not spec.policy.is_empty:
        document["policy"] = _policy_document(spec.policy)
    if spec.tests:
        document["tests"] = list(spec.tests)
    return document


def collapsed(spec: PlaybookSpec) -> PlaybookSpec:
    """``spec`` as its own file says it: without what included blocks brought, each block's run of steps back to the
    placeholder it was expanded from (a block's steps are placed once, so each run is one placeholder)."""
    steps: list[StepSpec] = []
    for step in spec.steps:
        if step.origin is None:
            steps.append(step)
        elif not (steps and steps[-1].block == step.origin):
            steps.append(StepSpec(block=step.origin))
    return replace(
        spec,
        signals=tuple(s for s in spec.signals if s.origin is None),
        steps=tuple(steps),
        triggers=tuple(t for t in spec.triggers if t.origin is None),
    )


def dump_yaml(spec: PlaybookSpec) -> str:
    return yaml.safe_dump(document_from_spec(spec), sort_keys=False, allow_unicode=True, width=120)


def _signal_document(signal: SignalSpec) -> dict[str, Any]:
    if signal.aggregate == SEQUENCE:
        steps = [_without_none({"event": step.event, "where": step.where}) for step in signal.sequence]
        return _without_none({"sequence": steps, "within": signal.within})
    return _without_none(
        {
            "event": signal.event,
            "aggregate": signal.aggregate,
            "property": signal.property,
            "window": signal.window,
            "where": signal.where,
        }
    )


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
    if step.block is not None:
        return {"block": step.block}
    document: dict[str, Any] = {"id": step.id} if step.id else {}
    if step.by_tags:
        document["module"] = {"tags": list(step.tags)}
    elif step.branch is None:
        document["module"] = step.module
        if step.required:
            document["required"] = True
    else:
        document["branch"] = [_option_document(option) for option in step.branch]
    if step.due is not None:
        document["due"] = _without_none({"after": step.due.after, "from": step.due.from_})
    if step.readiness:
        document["readiness"] = True
    return document


def _option_document(option: BranchOption) -> dict[str, Any]:
    explain = {"explain": option.explain} if option.explain is not None else {}
    if option.is_otherwise:
        return {"otherwise": option.module if option.module else {"goto": option.goto}, **explain}
    target = {"module": option.module} if option.module else {"goto": option.goto}
    return {"when": option.when, **target, **explain}


def _trigger_document(trigger: TriggerSpec) -> dict[str, Any]:
    document: dict[str, Any] = {"name": trigger.name, "when": trigger.when}
    document["then"] = [{a.kind: True if a.argument is None else a.argument} for a in trigger.then]
    limit = _without_none({"per_learner": trigger.limit_per_learner, "per": trigger.limit_per})
    if limit:
        document["limit"] = limit
    if trigger.cooldown is not None:
        document["cooldown"] = trigger.cooldown
    if trigger.explain is not None:
        document["explain"] = trigger.explain
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
