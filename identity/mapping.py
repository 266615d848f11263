"""From a source's ``Entry`` to what the platform stores: the attribute mappings with their transforms, the external
id, the role rules. Pure apart from reading the source's configuration; every sync, pull or push, maps through here.

A value that cannot be mapped is a ``MappingError`` naming the entry's field; the sync reports it and leaves that
person untouched. The mapped result is hashed (canonical JSON, SHA-256): an entry whose hash is unchanged since the
last run costs no write.
"""

import hashlib
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator
from rule_engine import DataType

from common.hostile import string_problem
from conditions import Condition, ConditionError, Vocabulary, compile_condition
from identity.sources.base import Entry
from identity.validators import validate_timezone

# Role rules read the mapped attributes and the entry's groups: ``"support" in groups and attributes.level >= 2``.
ROLE_RULE_VOCABULARY = Vocabulary(
    {"attributes": DataType.MAPPING(DataType.STRING), "groups": DataType.ARRAY(DataType.STRING)}
)

# The learner's own columns a mapping may target; anything else is ``attributes.<name>``.
LEARNER_FIELDS = ("email", "display_name", "timezone", "locale")
FIELD_MAX_LENGTH = {"email": 254, "display_name": 200, "timezone": 64, "locale": 35}
EXTERNAL_ID_MAX_LENGTH = 255
# A person's groups kept on their link (for the role preview); directories with more are cut here.
MAX_STORED_GROUPS = 500
MAX_ATTRIBUTE_TEXT = 2_000
_ATTRIBUTE_TARGET = re.compile(r"^attributes\.([A-Za-z_][A-Za-z0-9_]*)$")
_LOCALE = re.compile(r"^[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*$")
_WHOLE_NUMBER = re.compile(r"\s*[+-]?\d{1,16}\s*")
_TRUE = frozenset({"true", "yes", "y", "1", "on", "enabled", "active"})
_FALSE = frozenset({"false", "no", "n", "0", "off", "disabled", "inactive", ""})
_validate_email = EmailValidator()


class MappingError(Exception):
    """One entry's value that cannot be mapped: ``field`` is the source attribute (or target) at fault."""

    def __init__(self, field: str | None, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class MappingRule:
    source_attribute: str
    target: str  # email, display_name, timezone, locale or attributes.<name>
    transform: str = ""


@dataclass(frozen=True)
class RoleRuleSpec:
    when: str
    role: str  # the role's slug


@dataclass(frozen=True)
class MappedEntry:
    """What a source says about one person, after mapping: the part of the learner this source claims."""

    remote_id: str
    ref: str
    external_id: str
    fields: dict[str, str]  # only the learner columns the source mapped and the entry holds
    attributes: dict[str, Any]
    groups: tuple[str, ...]
    roles: tuple[str, ...]  # role slugs, sorted
    enabled: bool
    digest: str = field(default="", compare=False)

    def as_json(self) -> dict[str, Any]:
        """What the link stores (``SourceLink.mapped``) and the hash covers."""
        return {
            "external_id": self.external_id,
            "fields": self.fields,
            "attributes": self.attributes,
            "groups": list(self.groups),
            "roles": list(self.roles),
            "enabled": self.enabled,
        }


def entry_digest(mapped: Mapping[str, Any]) -> str:
    """SHA-256 of the canonical JSON of a mapped entry (sorted keys, no spaces)."""
    text = json.dumps(mapped, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8", errors="surrogatepass")).hexdigest()


def target_problem(target: str) -> str | None:
    """Why ``target`` cannot be a mapping's target, or None."""
    if target in LEARNER_FIELDS or _ATTRIBUTE_TARGET.match(target):
        return None
    return (
        f"'{target}' is not a target; use one of {', '.join(LEARNER_FIELDS)}, or attributes.<name> "
        "with a name usable in conditions (letters, digits, _; not starting with a digit)"
    )


def role_rule_problem(when: str) -> ConditionError | None:
    """The save-time check of a role rule's condition (the caret is in ``ConditionError.pointer()``)."""
    try:
        compile_condition(when, ROLE_RULE_VOCABULARY)
    except ConditionError as exc:
        return exc
    return None


_GRACE_PART = re.compile(r"(\d+)([smhdw])")
_GRACE_WHOLE = re.compile(r"^(?:\d+[smhdw])+$|^0$")
_SECONDS = {"w": 604_800, "d": 86_400, "h": 3_600, "m": 60, "s": 1}


def parse_grace_period(text: str) -> timedelta:
    """``"7d"``, ``"36h"``, ``"1d12h"`` or ``"0"`` (at once) → a timedelta; ValueError with a fix-it message."""
    cleaned = (text or "").strip()
    if not _GRACE_WHOLE.match(cleaned):
        raise ValueError(f"{text!r} is not a duration; write a number and a unit (s, m, h, d, w), e.g. 7d, 36h, or 0")
    seconds = sum(int(number) * _SECONDS[unit] for number, unit in _GRACE_PART.findall(cleaned))
    if seconds > 3650 * 86_400:
        raise ValueError(f"{text!r} is longer than ten years")
    return timedelta(seconds=seconds)


class Mapper:
    """A source's mapping, compiled once per run: ``map(entry)`` → ``MappedEntry`` or ``MappingError``."""

    def __init__(
        self,
        *,
        external_id_from: str = "",
        mappings: Sequence[MappingRule] = (),
        rules: Sequence[RoleRuleSpec] = (),
        direct_fields: bool = False,
    ) -> None:
        self.external_id_from = external_id_from
        explicit = [rule for rule in mappings]
        if direct_fields:
            # The HR API's own top-level fields (email, display_name, …) are taken as they are, unless mapped.
            mapped_targets = {rule.target for rule in explicit}
            explicit += [MappingRule(name, name) for name in LEARNER_FIELDS if name not in mapped_targets]
        self.mappings = tuple(explicit)
        self.source_attributes = frozenset(rule.source_attribute for rule in self.mappings)
        self.rules: tuple[tuple[Condition, str], ...] = tuple(
            (compile_condition(rule.when, ROLE_RULE_VOCABULARY), rule.role) for rule in rules
        )
        self.role_slugs = frozenset(slug for _condition, slug in self.rules)

    def map(self, entry: Entry) -> MappedEntry:
        attributes_in = entry.attributes
        lowered: dict[str, Any] | None = None
        fields: dict[str, str] = {}
        attributes: dict[str, Any] = {}
        for rule in self.mappings:
            if rule.source_attribute in attributes_in:
                raw = attributes_in[rule.source_attribute]
            else:
                # Directory attribute names are case-insensitive (mail, Mail): a second, lower-cased look.
                if lowered is None:
                    lowered = {str(name).lower(): value for name, value in attributes_in.items()}
                raw = lowered.get(rule.source_attribute.lower())
            if raw is None:
                continue
            value = _transformed(raw, rule)
            if value is None:
                continue
            if rule.target in LEARNER_FIELDS:
                fields[rule.target] = _learner_field(rule, value)
            else:
                attributes[rule.target.removeprefix("attributes.")] = _attribute_value(rule, value)
        groups = _groups(entry.groups)
        roles = self.roles_for(attributes, groups)
        return MappedEntry(
            remote_id=entry.remote_id,
            ref=entry.ref or entry.remote_id,
            external_id=self._external_id(entry, attributes_in),
            fields=fields,
            attributes=attributes,
            groups=groups,
            roles=roles,
            enabled=bool(entry.enabled),
        )

    def mapped(self, entry: Entry) -> MappedEntry:
        """``map`` with the digest filled in (the sync's hot path)."""
        result = self.map(entry)
        return _with_digest(result)

    def roles_for(self, attributes: Mapping[str, Any], groups: Iterable[str]) -> tuple[str, ...]:
        """Every matching rule gives its role (rules are ordered; order only matters for reading them)."""
        if not self.rules:
            return ()
        values = {"attributes": attributes, "groups": list(groups)}
        return tuple(sorted({slug for condition, slug in self.rules if condition.evaluate(values)[0]}))

    def _external_id(self, entry: Entry, attributes_in: Mapping[str, Any]) -> str:
        name = self.external_id_from
        raw: Any = entry.remote_id if not name else attributes_in.get(name)
        if name and raw is None:
            raw = next((value for key, value in attributes_in.items() if str(key).lower() == name.lower()), None)
        where = name or "remote id"
        if isinstance(raw, list | tuple):
            if len(raw) != 1:
                raise MappingError(where, f"the external id ({where}) holds {len(raw)} values; it needs exactly one")
            raw = raw[0]
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            raise MappingError(where, f"no external id: the entry has no {where}")
        if isinstance(raw, bool) or not isinstance(raw, str | int):
            raise MappingError(where, f"the external id ({where}) must be text, not {type(raw).__name__}")
        text = str(raw).strip()
        if len(text) > EXTERNAL_ID_MAX_LENGTH:
            raise MappingError(where, f"the external id ({where}) is longer than {EXTERNAL_ID_MAX_LENGTH} characters")
        if problem := string_problem(text):
            raise MappingError(where, f"the external id ({where}) {problem}")
        return text


def _with_digest(result: MappedEntry) -> MappedEntry:
    object.__setattr__(result, "digest", entry_digest(result.as_json()))
    return result


def _groups(groups: Iterable[str]) -> tuple[str, ...]:
    cleaned = sorted({str(group) for group in groups if group is not None and str(group)})
    for group in cleaned:
        if problem := string_problem(group):
            raise MappingError("groups", f"a group name {problem}")
    return tuple(cleaned[:MAX_STORED_GROUPS])


def _transformed(raw: Any, rule: MappingRule) -> Any:
    transform = rule.transform
    if transform == "":
        return raw
    if transform in ("lower", "upper"):
        change = str.lower if transform == "lower" else str.upper
        if isinstance(raw, list | tuple):
            return [change(str(item)) for item in raw]
        return change(raw) if isinstance(raw, str) else raw
    if transform == "first":
        if isinstance(raw, list | tuple):
            return raw[0] if raw else None
        return raw
    if transform == "join":
        return ",".join(str(item) for item in raw) if isinstance(raw, list | tuple) else raw
    if transform == "boolean":
        return _boolean(raw, rule)
    if transform == "integer":
        return _integer(raw, rule)
    raise MappingError(rule.source_attribute, f"unknown transform {transform!r}")


def _boolean(raw: Any, rule: MappingRule) -> bool:
    if isinstance(raw, list | tuple) and len(raw) == 1:
        raw = raw[0]
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, int | float) and raw in (0, 1):
        return bool(raw)
    if isinstance(raw, str) and raw.strip().lower() in _TRUE | _FALSE:
        return raw.strip().lower() in _TRUE
    raise MappingError(
        rule.source_attribute,
        f"{_shown(raw)} is not true or false (true, yes, 1, on, enabled / false, no, 0, off, disabled)",
    )


def _integer(raw: Any, rule: MappingRule) -> int:
    if isinstance(raw, list | tuple) and len(raw) == 1:
        raw = raw[0]
    if isinstance(raw, bool):
        raise MappingError(rule.source_attribute, f"{_shown(raw)} is not a whole number")
    if isinstance(raw, int):
        number = raw
    elif (isinstance(raw, float) and raw.is_integer()) or (isinstance(raw, str) and _WHOLE_NUMBER.fullmatch(raw)):
        number = int(raw)
    else:
        raise MappingError(rule.source_attribute, f"{_shown(raw)} is not a whole number")
    if abs(number) > 10**15:
        raise MappingError(rule.source_attribute, f"{number} is out of range (at most ±1e15)")
    return number


def _learner_field(rule: MappingRule, value: Any) -> str:
    target, where = rule.target, rule.source_attribute
    if isinstance(value, list | tuple):
        raise MappingError(where, f"{target} takes one value, this is a list of {len(value)}; use transform 'first'")
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise MappingError(where, f"{target} takes text, not {type(value).__name__}")
    text = str(value).strip()
    if problem := string_problem(text):
        raise MappingError(where, f"{target} {problem}")
    if len(text) > FIELD_MAX_LENGTH[target]:
        raise MappingError(where, f"{target} is longer than {FIELD_MAX_LENGTH[target]} characters")
    if target == "email" and text:
        try:
            _validate_email(text)
        except ValidationError:
            raise MappingError(where, f"{_shown(text)} is not an e-mail address") from None
    elif target == "timezone":
        try:
            validate_timezone(text)
        except ValidationError:
            raise MappingError(where, f"{_shown(text)} is not an IANA time zone (such as Europe/Berlin)") from None
    elif target == "locale" and not _LOCALE.match(text):
        raise MappingError(where, f"{_shown(text)} is not a language tag (such as en or de-CH)")
    return text


def _attribute_value(rule: MappingRule, value: Any) -> Any:
    if isinstance(value, tuple):
        value = list(value)
    if isinstance(value, list):
        if not all(isinstance(item, str) for item in value):
            raise MappingError(rule.source_attribute, "a list attribute holds text only")
        items = value
    elif isinstance(value, float) and not math.isfinite(value):
        raise MappingError(rule.source_attribute, f"{value} is not a finite number")
    elif value is None or isinstance(value, str | int | float | bool):
        items = [value] if isinstance(value, str) else []
    else:
        raise MappingError(rule.source_attribute, f"cannot store a {type(value).__name__} in {rule.target}")
    for item in items:
        if problem := string_problem(item):
            raise MappingError(rule.source_attribute, f"{rule.target} {problem}")
        if len(item) > MAX_ATTRIBUTE_TEXT:
            raise MappingError(rule.source_attribute, f"{rule.target} is longer than {MAX_ATTRIBUTE_TEXT} characters")
    return value


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:59] + "…"
