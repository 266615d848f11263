"""A playbook as plain data: what the YAML file says, what the database rows say, what the engine runs."""

from dataclasses import dataclass, field
from typing import Any

AGGREGATES = ("count", "sum", "avg", "min", "max", "distinct", "last", "days_active", "per_day", "min_per_day")
# Rates by the learner's local day: over the window's days, whole days only (per_day counts the window's events per
# day; min_per_day is the count on the window's quietest day, so ``>= 2`` means "at least 2 on each day").
DAILY_AGGREGATES = frozenset({"per_day", "min_per_day"})
SEQUENCE = "sequence"  # the aggregate a sequence signal is stored under: how many times its steps happened in order
# Aggregates over a property's values; count and days_active need none.
PROPERTY_AGGREGATES = frozenset({"sum", "avg", "min", "max", "distinct", "last"})
ACTIONS = ("insert_module", "swap_module", "unlock_module", "goto", "remind", "flag", "complete", "webhook", "wait")
MODULE_ACTIONS = frozenset({"insert_module", "swap_module", "unlock_module"})
MODULE_KINDS = ("article", "video", "checklist", "quiz", "course", "interactive", "link")
# What becomes of an active enrolment whose learner no longer matches the audience: ended (the default), or kept.
AUDIENCE_EXITS = ("end", "keep")
PRIORITY_RANGE = (-1000, 1000)  # a learner in several playbooks is served the highest priority first
DUE_FROM = ("reached", "enrolment")  # what a step's due time counts from; the first is the default


@dataclass(frozen=True)
class ModuleSpec:
    slug: str
    title: str
    kind: str = "article"
    url: str = ""
    body: str = ""
    minutes: int = 5
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class SequenceStep:
    event: str
    where: str | None = None


@dataclass(frozen=True)
class SignalSpec:
    name: str
    event: str
    aggregate: str
    property: str | None = None
    window: str | None = None  # a duration as written ("7d"), None for all time
    where: str | None = None
    sequence: tuple[SequenceStep, ...] = ()  # a sequence signal's steps, in order (aggregate SEQUENCE, no event)
    within: str | None = None  # a sequence's longest span, first step to last
    origin: str | None = None  # the included block it comes from (not written in the playbook's own file)


@dataclass(frozen=True)
class BranchOption:
    """One way out of a branch point: to a module, or a jump (``goto``) to a later step. ``when`` None = otherwise."""

    when: str | None
    module: str | None = None
    goto: str | None = None
    explain: str | None = None  # the learner's reason, with {name} placeholders (engine/readable.py)

    @property
    def is_otherwise(self) -> bool:
        return self.when is None


@dataclass(frozen=True)
class DueSpec:
    """A step is due ``after`` (a duration as written) from when it is reached, or from enrolment."""

    after: str
    from_: str | None = None  # as written: None (absent) means "reached", and export leaves it out again

    @property
    def anchor(self) -> str:
        return self.from_ or DUE_FROM[0]


@dataclass(frozen=True)
class StepSpec:
    id: str | None = None
    module: str | None = None
    branch: tuple[BranchOption, ...] | None = None
    required: bool = False  # a module step no goto, swap_module or complete passes before its module is completed
    tags: tuple[str, ...] = ()  # a step that picks its module by tags when reached (``module: {tags: [...]}``)
    due: DueSpec | None = None
    readiness: bool = False  # the readiness milestone: completing it records the learner's time to competency
    block: str | None = None  # a placeholder (``- block: slug``): where an included block's steps go
    origin: str | None = None  # the included block it comes from

    @property
    def key(self) -> str:
        """How decisions and enrolments refer to the step: its id, else its module's slug."""
        return self.id or self.module or ""

    @property
    def is_branch(self) -> bool:
        return self.branch is not None

    @property
    def by_tags(self) -> bool:
        return bool(self.tags)


@dataclass(frozen=True)
class ActionSpec:
    kind: str
    argument: Any = None  # a module slug, a step id, a flag name, or a dict for remind/webhook


@dataclass(frozen=True)
class TriggerSpec:
    name: str
    when: str
    then: tuple[ActionSpec, ...]
    limit_per_learner: int | None = None
    limit_per: str | None = None  # the sliding window the limit counts in ("24h"); None: the whole journey
    cooldown: str | None = None  # the least time between two firings ("1h")
    origin: str | None = None  # the included block it comes from
    explain: str | None = None  # the learner's reason for what it does, with {name} placeholders


@dataclass(frozen=True)
class PolicySpec:
    frequency_cap_max: int | None = None
    frequency_cap_per: str | None = None
    quiet_hours_start: str | None = None  # "21:00", in the learner's own time zone
    quiet_hours_end: str | None = None

    @property
    def is_empty(self) -> bool:
        return self == PolicySpec()


@dataclass(frozen=True)
class AudienceSpec:
    roles: tuple[str, ...] = ()
    when: str | None = None
    # Each role's default tags: a step picking by tags prefers modules that also carry the learner's roles' tags.
    role_tags: tuple[tuple[str, tuple[str, ...]], ...] = ()


@dataclass(frozen=True)
class IncludeSpec:
    """A reusable block a playbook (or another block) includes, pinned to one of its versions."""

    block: str
    version: int


PARAMETER_TYPES = {bool: "bool", int: "number", float: "number", str: "string"}


@dataclass(frozen=True)
class ParameterSpec:
    """A named value conditions read as ``params.<name>`` (``parameters:`` in the file): its default, whose type
    (number, string or true/false) is the parameter's."""

    name: str
    default: Any

    @property
    def kind(self) -> str | None:
        return PARAMETER_TYPES.get(type(self.default))


@dataclass(frozen=True)
class PlaybookSpec:
    slug: str
    name: str
    description: str = ""
    audience: AudienceSpec = field(default_factory=AudienceSpec)
    modules: tuple[ModuleSpec, ...] = ()
    signals: tuple[SignalSpec, ...] = ()
    steps: tuple[StepSpec, ...] = ()
    triggers: tuple[TriggerSpec, ...] = ()
    policy: PolicySpec = field(default_factory=PolicySpec)
    tests: tuple[dict[str, Any], ...] = ()  # saved journeys, run before publishing
    priority: int = 0
    on_audience_exit: str = "end"
    parameters: tuple[ParameterSpec, ...] = ()  # in the file's order
    includes: tuple[IncludeSpec, ...] = ()  # blocks, pinned by version; their content is expanded in place

    def required_keys(self) -> tuple[str, ...]:
        return tuple(step.key for step in self.steps if step.required)

    def tag_candidates(self, tags: tuple[str, ...]) -> list[ModuleSpec]:
        """The declared modules carrying every one of ``tags``, in file order: what a step by tags picks from."""
        return [module for module in self.modules if set(tags) <= set(module.tags)]

    def step_index(self, key: str) -> int | None:
        return next((index for index, step in enumerate(self.steps) if step.key == key), None)

    def path_modules(self) -> set[str]:
        """Every module a learner can be given by this playbook."""
        slugs = {step.module for step in self.steps if step.module}
        slugs.update(m.slug for step in self.steps if step.by_tags for m in self.tag_candidates(step.tags))
        for step in self.steps:
            slugs.update(option.module for option in step.branch or () if option.module)
        for trigger in self.triggers:
            for action in trigger.then:
                slugs.update(_given_modules(action.kind, action.argument))
        return slugs


def _given_modules(kind: str, argument: Any) -> set[str]:
    """The modules an action can give the learner: its own, or those of a wait's ``then`` and ``else``."""
    if kind in MODULE_ACTIONS:
        return {argument}
    if kind != "wait" or not isinstance(argument, dict):
        return set()
    nested = [
        a for branch in ("then", "else") for a in argument.get(branch) or () if isinstance(a, dict) and len(a) == 1
    ]
    return {slug for action in nested for slug in _given_modules(*next(iter(action.items())))}


@dataclass(frozen=True)
class SpecError:
    """One problem in a playbook, at a path such as ``steps[4].branch[0].when``."""

    path: str
    message: str
    pointer: str | None = None  # the expression with a caret, for condition errors

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class PlaybookInvalid(Exception):
    """Raised with every problem found, so the admin fixes them all in one pass."""

    def __init__(self, errors: list[SpecError]) -> None:
        super().__init__("\n".join(map(str, errors)))
        self.errors = errors
