"""The journey file (docs/journeys.md): a synthetic learner's events on a clock, and what should happen.

Pure parsing and validation, with errors that name the path (``events[3].at: …``), for the simulator and for the
journeys saved as a playbook's tests. A journey is checked against the playbook it names, so an unknown module is
caught before anything runs.
"""

import contextlib
import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import cache
from typing import Any
from zoneinfo import available_timezones

from playbooks.engine.durations import DurationError, format_duration, parse_duration
from playbooks.engine.parameters import override_errors
from playbooks.engine.reminders import NO_PREFERENCES, LearnerPreferences
from playbooks.engine.shapes import ShapeReader, did_you_mean, join_path, text_problem, value_problem
from playbooks.engine.spec import PlaybookSpec, SpecError

EXPECTATION_KINDS = ("next_module", "status", "reminders", "flags", "completed", "decisions")
STATUSES = ("not_enrolled", "active", "completed")
# Bounds that keep one simulation to seconds: a journey is a story about one learner, not a load test.
MAX_EVENTS = 10_000
MAX_EXPECTATIONS = 1_000  # each one with an ``at`` is a moment the simulator stops to observe
MAX_SPAN = timedelta(days=366)
_ROLE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,99}$")
_SNAKE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_TOP_KEYS = ("playbook", "learner", "params", "start", "events", "until", "expect")
_LEARNER_KEYS = ("external_id", "roles", "attributes", "timezone", "preferences")
_PREFERENCE_KEYS = ("quiet_hours", "snooze_until", "opt_out")
_CLOCK = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
_OPTIONAL_CHANNELS = ("email", "slack", "webhook")


@dataclass(frozen=True)
class JourneyEvent:
    at: timedelta  # when it happened
    type: str
    module: str | None = None
    properties: dict[str, Any] = field(default_factory=dict)
    arrives: timedelta | None = None  # when the platform receives it, if later (a connector that batches)

    @property
    def arrival(self) -> timedelta:
        return self.arrives if self.arrives is not None else self.at

    @property
    def is_late(self) -> bool:
        return self.arrives is not None and self.arrives > self.at


@dataclass(frozen=True)
class Expectation:
    kind: str
    value: Any
    at: timedelta | None = None


@dataclass(frozen=True)
class Journey:
    playbook: str
    external_id: str
    roles: tuple[str, ...]
    attributes: dict[str, Any]
    timezone: str
    start: datetime
    events: tuple[JourneyEvent, ...]
    until: timedelta
    expectations: tuple[Expectation, ...]
    preferences: LearnerPreferences = NO_PREFERENCES  # the learner's own delivery preferences
    params: dict[str, Any] = field(default_factory=dict)  # parameter values over the version's defaults (an arm's)


class JourneyInvalid(Exception):
    def __init__(self, errors: list[SpecError]) -> None:
        super().__init__("\n".join(map(str, errors)))
        self.errors = errors


def parse_journey(document: Any, *, playbooks: dict[str, PlaybookSpec]) -> Journey:
    """Check a loaded journey against the playbooks it may name; raises JourneyInvalid listing every problem."""
    reader = _JourneyReader()
    top = reader.mapping(document, "", _TOP_KEYS)
    slug = top.get("playbook")
    spec = playbooks.get(slug) if isinstance(slug, str) else None
    if spec is None:
        reader.error("playbook", f"unknown playbook {slug!r}{did_you_mean(str(slug), playbooks)}")
    learner = reader.mapping(top.get("learner"), "learner", _LEARNER_KEYS)
    external_id = learner.get("external_id")
    if not isinstance(external_id, str) or not external_id:
        reader.error("learner.external_id", "required: the synthetic learner's id, e.g. sim-1")
    elif problem := text_problem(external_id):
        reader.error("learner.external_id", problem)
    roles = learner.get("roles") or []
    if not isinstance(roles, list) or not all(isinstance(r, str) and _ROLE.match(r) for r in roles):
        reader.error("learner.roles", "expected a list of role slugs, e.g. [support_specialist]")
        roles = []
    attributes = learner.get("attributes") or {}
    if not isinstance(attributes, dict):
        reader.error("learner.attributes", "expected a mapping of name: value, e.g. {api_access: true}")
        attributes = {}
    elif not reader.storable(attributes, "learner.attributes"):
        attributes = {}
    timezone = learner.get("timezone", "UTC")
    if not isinstance(timezone, str) or timezone not in _zones():
        reader.error("learner.timezone", f"{timezone!r} is not an IANA time zone name, e.g. Europe/Berlin")
    preferences = reader.preferences(learner.get("preferences"), "learner.preferences")
    params = top.get("params") or {}
    if spec is not None:
        problems = override_errors(spec, params, path="params")
        reader.errors.extend(problems)
        params = {} if problems else params
    start = reader.moment(top.get("start"), "start")
    events = tuple(reader.events(top.get("events"), spec))
    last = max((event.arrival for event in events), default=timedelta(0))
    until = reader.offset(top.get("until", "0s"), "until")
    if until is not None and until < last:
        reader.error("until", f"{top.get('until')} ends before the last event arrives ({format_duration(last)})")
    if until is not None and until > MAX_SPAN:
        reader.error("until", f"a journey spans at most {MAX_SPAN.days} days")
    expectations = tuple(reader.expectations(top.get("expect"), until, spec))
    if reader.errors:
        raise JourneyInvalid(reader.errors)
    return Journey(
        slug,
        external_id,
        tuple(roles),
        dict(attributes),
        timezone,
        start,
        events,
        until,
        expectations,
        preferences,
        dict(params),
    )


class _JourneyReader(ShapeReader):
    root = "journey"

    def offset(self, value: Any, path: str) -> timedelta | None:
        try:
            return parse_duration(value)
        except DurationError as exc:
            self.error(path, str(exc))
            return None

    def moment(self, value: Any, path: str) -> datetime | None:
        moment = value if isinstance(value, datetime) else None  # YAML reads an unquoted timestamp as one
        if isinstance(value, str):
            with contextlib.suppress(ValueError):  # reported below, with the expected form
                moment = datetime.fromisoformat(value)
        if moment is not None and not 1970 <= moment.year <= 2999:
            self.error(path, f"{value!r} is out of range: a start between the years 1970 and 2999")
            return None
        if moment is None or moment.tzinfo is None:
            self.error(path, f"{value!r} is not an ISO 8601 time with a zone, e.g. '2026-03-02T09:00:00Z'")
            return None
        return moment

    def preferences(self, value: Any, path: str) -> LearnerPreferences:
        """``{quiet_hours: {start: "19:00", end: "08:00"}, snooze_until: 2026-03-09, opt_out: [email]}``."""
        if value is None:
            return NO_PREFERENCES
        body = self.mapping(value, path, _PREFERENCE_KEYS)
        quiet = None
        if body.get("quiet_hours") is not None:
            hours = self.mapping(body["quiet_hours"], f"{path}.quiet_hours", ("start", "end"))
            start, end = hours.get("start"), hours.get("end")
            for name, clock in (("start", start), ("end", end)):
                if not isinstance(clock, str) or not _CLOCK.match(clock):
                    self.error(f"{path}.quiet_hours.{name}", f"{clock!r} is not a time of day such as 21:00")
            quiet = (start, end) if isinstance(start, str) and isinstance(end, str) else None
        snooze = None
        if body.get("snooze_until") is not None:
            try:
                snooze = date.fromisoformat(str(body["snooze_until"]))
            except ValueError:
                self.error(f"{path}.snooze_until", f"{body['snooze_until']!r} is not a date such as 2026-03-09")
        opt_out = body.get("opt_out") or []
        if not isinstance(opt_out, list) or not all(channel in _OPTIONAL_CHANNELS for channel in opt_out):
            self.error(f"{path}.opt_out", f"a list of channels among {', '.join(_OPTIONAL_CHANNELS)}")
            opt_out = []
        return LearnerPreferences(quiet, snooze, frozenset(opt_out))

    def storable(self, value: Any, path: str) -> bool:
        """Whether a free-form value (properties, attributes) can be stored and walked; reports why not."""
        problem = value_problem(value)
        if problem is not None:
            self.error(join_path(path, problem[0]), problem[1])
        return problem is None

    def events(self, value: Any, spec: PlaybookSpec | None):
        if not isinstance(value, list):
            self.error("events", "expected a list of events such as {at: 5m, type: module_completed, module: welcome}")
            return
        if len(value) > MAX_EVENTS:  # refused before reading any: no work in proportion to what is refused
            self.error("events", f"{len(value):,} events; a journey holds at most {MAX_EVENTS:,}")
            return
        modules = {m.slug for m in spec.modules} | spec.path_modules() if spec else None
        previous: tuple[int, timedelta] | None = None
        for index, item in enumerate(value):
            path = f"events[{index}]"
            event = self.mapping(item, path, ("at", "arrives", "type", "module", "properties"))
            at = self.offset(event.get("at"), f"{path}.at")
            arrives = self.offset(event["arrives"], f"{path}.arrives") if "arrives" in event else None
            if arrives is not None and at is not None and arrives < at:
                self.error(f"{path}.arrives", f"{event['arrives']} is before the event happened (at {event['at']})")
                arrives = None
            kind, module = event.get("type"), event.get("module")
            if not isinstance(kind, str) or not _SNAKE.match(kind):
                self.error(f"{path}.type", f"{kind!r} is not an event type: snake_case, e.g. module_completed")
            if module is not None and not isinstance(module, str):
                self.error(f"{path}.module", "expected a module slug")
            elif module is not None and modules is not None and module not in modules:
                self.error(
                    f"{path}.module",
                    f"unknown module '{module}' in playbook '{spec.slug}'{did_you_mean(str(module), sorted(modules))}",
                )
            properties = event.get("properties") or {}
            if not isinstance(properties, dict):
                self.error(f"{path}.properties", "expected a mapping of name: value")
                properties = {}
            elif not self.storable(properties, f"{path}.properties"):
                properties = {}
            if at is not None and previous is not None and at < previous[1]:
                self.error(
                    f"{path}.at",
                    f"{event.get('at')} comes before events[{previous[0]}] "
                    f"(at {format_duration(previous[1])}); list the events in time order",
                )
            if at is not None:
                previous = (index, at)
                module = module if isinstance(module, str) else None
                yield JourneyEvent(at, str(kind), module, dict(properties), arrives)

    def expectations(self, value: Any, until: timedelta | None, spec: PlaybookSpec | None):
        if not value:
            return
        if not isinstance(value, list):
            self.error("expect", "expected a list of expectations such as {at: 6m, next_module: crm-basics}")
            return
        if len(value) > MAX_EXPECTATIONS:
            self.error("expect", f"{len(value):,} expectations; a journey holds at most {MAX_EXPECTATIONS:,}")
            return
        for index, item in enumerate(value):
            path = f"expect[{index}]"
            if not isinstance(item, dict):
                self.error(path, "expected a mapping such as {at: 6m, next_module: crm-basics}")
                continue
            kinds = [key for key in item if key != "at"]
            if len(kinds) != 1 or kinds[0] not in EXPECTATION_KINDS:
                unknown = next((k for k in kinds if k not in EXPECTATION_KINDS), None)
                hint = (
                    f"unknown expectation '{unknown}'{did_you_mean(unknown, EXPECTATION_KINDS)}"
                    if unknown
                    else "one expectation per item"
                )
                self.error(path, f"{hint}; kinds: {', '.join(EXPECTATION_KINDS)}")
                continue
            at = self.offset(item["at"], f"{path}.at") if "at" in item else None
            if kinds[0] == "next_module" and "at" not in item:
                self.error(f"{path}.at", "a next_module expectation needs the moment it is checked at")
            if at is not None and until is not None and at > until:
                self.error(f"{path}.at", f"{item['at']} is after the journey ends (until {format_duration(until)})")
            self.expected_value(kinds[0], item[kinds[0]], f"{path}.{kinds[0]}", spec)
            yield Expectation(kinds[0], item[kinds[0]], at)

    def expected_value(self, kind: str, value: Any, path: str, spec: PlaybookSpec | None) -> None:
        """Each kind's value: a module (or null once the path is done), flag names, a count, completion, rules."""
        modules = sorted({m.slug for m in spec.modules} | spec.path_modules()) if spec else None
        if kind == "next_module":
            if value is not None and not isinstance(value, str):
                self.error(path, "expected a module slug, or null for 'nothing left: the journey is complete'")
            elif value is not None and modules is not None and value not in modules:
                self.error(path, f"unknown module '{value}' in playbook '{spec.slug}'{did_you_mean(value, modules)}")
        elif kind == "status" and value not in STATUSES:
            self.error(path, f"{value!r} is not a status; use one of: {', '.join(STATUSES)}")
        elif kind == "flags" and not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
            self.error(path, "expected a list of flag names, e.g. [supervisor_review] (or [] for none)")
        elif kind == "reminders" and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
            self.error(path, "expected how many reminders were scheduled, e.g. 1")
        elif kind == "completed":
            if isinstance(value, list):
                for index, module in enumerate(value):
                    if modules is not None and module not in modules:
                        self.error(f"{path}[{index}]", f"unknown module {module!r}{did_you_mean(str(module), modules)}")
            elif not isinstance(value, bool):
                self.error(path, "expected true/false (the whole journey), or a list of modules completed")
        elif kind == "decisions":
            self.expected_rules(value, path, spec)

    def expected_rules(self, value: Any, path: str, spec: PlaybookSpec | None) -> None:
        if not isinstance(value, dict) or not value or set(value) - {"fired", "not_fired"}:
            self.error(path, "expected {fired: [rule, ...], not_fired: [rule, ...]} naming triggers or branch steps")
            return
        rules = sorted({t.name for t in spec.triggers} | {s.key for s in spec.steps if s.is_branch}) if spec else None
        for key, names in value.items():
            if not isinstance(names, list):
                self.error(f"{path}.{key}", "expected a list of trigger names or branch step ids")
                continue
            for index, name in enumerate(names):
                if rules is not None and name not in rules:
                    self.error(
                        f"{path}.{key}[{index}]",
                        f"no trigger or branch step {name!r} in playbook '{spec.slug}'{did_you_mean(str(name), rules)}",
                    )


@cache
def _zones() -> frozenset[str]:
    return frozenset(available_timezones())  # reads the zone files: 25 ms, once


@dataclass(frozen=True)
class SavedJourney:
    """One of a playbook's ``tests``: a named journey that must pass before a version is published."""

    index: int
    name: str
    document: dict[str, Any]  # the journey, its ``playbook`` filled in with the playbook's own slug


def saved_journeys(spec: PlaybookSpec) -> list[SavedJourney]:
    """The well-formed tests of ``spec`` (``saved_journey_errors`` reports the others)."""
    return [
        SavedJourney(index, test["name"], {**test["journey"], "playbook": spec.slug})
        for index, test in enumerate(spec.tests)
        if isinstance(test, dict) and isinstance(test.get("name"), str) and isinstance(test.get("journey"), dict)
    ]


def saved_journey_errors(spec: PlaybookSpec) -> list[SpecError]:
    """Problems in a playbook's saved journeys, by path (``tests[0].journey.events[2].at: …``)."""
    errors: list[SpecError] = []
    names: set[str] = set()
    for index, test in enumerate(spec.tests):
        path = f"tests[{index}]"
        if not isinstance(test, dict) or set(test) - {"name", "journey"}:
            errors.append(SpecError(path, "expected {name: ..., journey: {learner: ..., start: ..., events: ...}}"))
            continue
        name = test.get("name")
        if not isinstance(name, str) or not name.strip():
            errors.append(SpecError(f"{path}.name", "required: what the journey checks, e.g. 'fast skipper'"))
        elif name in names:
            errors.append(SpecError(f"{path}.name", f"another test is already named {name!r}"))
        names.add(name)
        journey = test.get("journey")
        if not isinstance(journey, dict):
            errors.append(SpecError(f"{path}.journey", "expected a journey: {learner, start, events, until, expect}"))
            continue
        if journey.get("playbook", spec.slug) != spec.slug:
            errors.append(SpecError(f"{path}.journey.playbook", f"a saved journey runs on '{spec.slug}' itself"))
            continue
        try:
            parse_journey({**journey, "playbook": spec.slug}, playbooks={spec.slug: spec})
        except JourneyInvalid as invalid:
            errors.extend(SpecError(f"{path}.journey.{e.path}", e.message) for e in invalid.errors)
    return errors
