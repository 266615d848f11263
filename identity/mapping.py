"""From a source's ``Entry`` to what the platform stores: the attribute mappings with their transforms, the external
id, the role rules. Pure apart from reading the source's configuration; every sync, pull or push, maps through here.

A value that cannot be mapped is a ``MappingError`` naming the entry's field; the sync reports it and leaves that
person untouched. The mapped result is hashed (canonical JSON, SHA-256): an entry whose hash is unchanged since the
last run costs no write. Before mapping, ``Mapper.raw_digest`` hashes what mapping reads of the entry as the source
gave it (the mapped attributes, the external id, the groups, the enabled flag) with the mapping's ``fingerprint``:
an entry whose raw digest is unchanged is not even mapped.
"""

import hashlib
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from functools import lru_cache
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
# Django's own pattern for the part before the @, compiled here: its lazy proxy costs more than the match.
_EMAIL_USER = re.compile(EmailValidator.user_regex.pattern, EmailValidator.user_regex.flags)
# What common.hostile.string_problem refuses (NUL, lone surrogates), found by one C-level scan; only a string that
# matches is given to string_problem, for its message.
_HOSTILE = re.compile("[\x00\ud800-\udfff]")
# Bumped when a change to this module's code changes what it makes of the same entry (a transform, a check): the
# fingerprint, so every raw digest, changes with it and the next run maps everyone again.
MAPPING_VERSION = 1
# Distinct values remembered per run (groups tuples, e-mail domains, role rule inputs); past this the cache starts
# again, so a directory where every value differs costs memory for a bounded number only.
_CACHE_LIMIT = 10_000
_NO_ROLES: tuple[str, ...] = ()


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
    json_text: str = field(default="", compare=False, repr=False)  # canonical_json(as_json()), set with the digest

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
    return _digest_of(canonical_json(mapped))


def canonical_json(mapped: Mapping[str, Any]) -> str:
    """The JSON the digest covers; also valid for the link's ``mapped`` column (the sync writes it as it is)."""
    return json.dumps(mapped, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def _digest_of(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", errors="surrogatepass")).hexdigest()


def mapping_fingerprint(
    *, external_id_from: str, mappings: Sequence[MappingRule], rules: Sequence[RoleRuleSpec], direct_fields: bool
) -> str:
    """SHA-256 of everything besides the entry that decides what mapping makes of it: this module's version, the
    external id's attribute, the mappings and the role rules in order. Part of every raw digest, so that an edited
    mapping or rule maps every person again on the next run."""
    return entry_digest(
        {
            "version": MAPPING_VERSION,
            "external_id_from": external_id_from,
            "direct_fields": direct_fields,
            "mappings": [[rule.source_attribute, rule.target, rule.transform] for rule in mappings],
            "rules": [[rule.when, rule.role] for rule in rules],
        }
    )


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
    """A source's mapping, compiled once per run: ``map(entry)`` → ``MappedEntry`` or ``MappingError``.

    A Mapper serves one run and remembers what it worked out per distinct value (a tuple of groups, the roles of one
    combination of attributes and groups), so that each is checked once per run rather than once per person.
    """

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
        # Every attribute of an entry that mapping reads (a source need give no other).
        self.attributes_read = self.source_attributes | ({external_id_from} if external_id_from else set())
        self._sources = tuple(rule.source_attribute for rule in self.mappings)
        self.rules: tuple[tuple[Condition, str], ...] = tuple(
            (compile_condition(rule.when, ROLE_RULE_VOCABULARY), rule.role) for rule in rules
        )
        self.role_slugs = frozenset(slug for _condition, slug in self.rules)
        self.fingerprint = mapping_fingerprint(
            external_id_from=external_id_from, mappings=self.mappings, rules=rules, direct_fields=direct_fields
        )
        self._raw_base = hashlib.sha256(self.fingerprint.encode("ascii"))
        self._groups_seen: dict[tuple[str, ...], tuple[str, ...] | MappingError] = {}
        self._groups_text: dict[tuple[str, ...], bytes] = {}
        self._roles_seen: dict[tuple[Any, ...], tuple[str, ...]] = {}

    def raw_values(self, entry: Entry) -> tuple[Any, ...]:
        """What the mappings read of ``entry``, one value per mapping (None: absent), found as ``map`` finds them."""
        attributes_in = entry.attributes
        try:
            return tuple([attributes_in[name] for name in self._sources])
        except KeyError:
            pass
        lowered: dict[str, Any] | None = None
        values = []
        for name in self._sources:
            if name in attributes_in:
                values.append(attributes_in[name])
                continue
            # Directory attribute names are case-insensitive (mail, Mail): a second, lower-cased look.
            if lowered is None:
                lowered = {str(key).lower(): value for key, value in attributes_in.items()}
            values.append(lowered.get(name.lower()))
        return tuple(values)

    def raw_digest(self, entry: Entry, values: tuple[Any, ...] | None = None) -> str:
        """SHA-256 of the mapping's fingerprint and everything ``map`` reads of ``entry`` as the source gave it: the
        mapped attributes' values (``values``, from ``raw_values``), the external id's, the groups and the enabled
        flag. Equal digests give equal mapped entries, so a person whose link holds this digest needs no mapping."""
        if values is None:
            values = self.raw_values(entry)
        read = (entry.remote_id, values, self._external_raw(entry, entry.attributes), bool(entry.enabled))
        digest = self._raw_base.copy()
        # repr tells apart what mapping tells apart ('1', 1, 1.0, True, ['1']); the groups' text is worked out once
        # per distinct tuple.
        digest.update(repr(read).encode("utf-8", errors="surrogatepass"))
        digest.update(self._groups_repr(entry.groups))
        return digest.hexdigest()

    def map(self, entry: Entry, values: tuple[Any, ...] | None = None) -> MappedEntry:
        if values is None:
            values = self.raw_values(entry)
        fields: dict[str, str] = {}
        attributes: dict[str, Any] = {}
        for rule, raw in zip(self.mappings, values, strict=True):
            if raw is None:
                continue
            value = _transformed(raw, rule)
            if value is None:
                continue
            if rule.target in LEARNER_FIELDS:
                fields[rule.target] = _learner_field(rule, value)
            else:
                attributes[rule.target.removeprefix("attributes.")] = _attribute_value(rule, value)
        groups = self._groups(entry.groups)
        roles = self.roles_for(attributes, groups)
        return MappedEntry(
            remote_id=entry.remote_id,
            ref=entry.ref or entry.remote_id,
            external_id=self._external_id(entry, entry.attributes),
            fields=fields,
            attributes=attributes,
            groups=groups,
            roles=roles,
            enabled=bool(entry.enabled),
        )

    def mapped(self, entry: Entry, values: tuple[Any, ...] | None = None) -> MappedEntry:
        """``map`` with the digest filled in (the sync's hot path)."""
        result = self.map(entry, values)
        return _with_digest(result)

    def roles_for(self, attributes: Mapping[str, Any], groups: Iterable[str]) -> tuple[str, ...]:
        """Every matching rule gives its role (rules are ordered; order only matters for reading them). The answer
        for each distinct (attributes, groups) is remembered for the run: conditions read nothing else."""
        if not self.rules:
            return _NO_ROLES
        groups = tuple(groups)
        key = _roles_key(attributes, groups)
        if key is not None and (known := self._roles_seen.get(key)) is not None:
            return known
        values = {"attributes": attributes, "groups": list(groups)}
        roles = tuple(sorted({slug for condition, slug in self.rules if condition.evaluate(values)[0]}))
        if key is not None:
            if len(self._roles_seen) >= _CACHE_LIMIT:
                self._roles_seen.clear()
            self._roles_seen[key] = roles
        return roles

    def _groups(self, groups: Iterable[str]) -> tuple[str, ...]:
        """``_checked_groups`` once per distinct tuple of group names in the run (a directory hands the same tuple
        to everyone with the same memberships)."""
        try:
            known = self._groups_seen.get(groups)
        except TypeError:  # a list, or a tuple holding one: checked every time
            return _checked_groups(groups)
        if known is None:
            try:
                known = _checked_groups(groups)
            except MappingError as exc:
                known = exc
            # 1 == True: only tuples of names are kept, compared by value.
            if type(groups) is tuple and all(type(group) is str for group in groups):
                if len(self._groups_seen) >= _CACHE_LIMIT:
                    self._groups_seen.clear()
                self._groups_seen[groups] = known
        if isinstance(known, MappingError):
            raise MappingError(known.field, known.message)
        return known

    def _groups_repr(self, groups: Iterable[str]) -> bytes:
        try:
            text = self._groups_text.get(groups)
        except TypeError:
            text = None
        if text is None:
            text = repr(groups).encode("utf-8", errors="surrogatepass")
            if type(groups) is tuple and all(type(group) is str for group in groups):
                if len(self._groups_text) >= _CACHE_LIMIT:
                    self._groups_text.clear()
                self._groups_text[groups] = text
        return text

    def _external_raw(self, entry: Entry, attributes_in: Mapping[str, Any]) -> Any:
        name = self.external_id_from
        if not name:
            return entry.remote_id
        raw = attributes_in.get(name)
        if raw is None:
            raw = next((value for key, value in attributes_in.items() if str(key).lower() == name.lower()), None)
        return raw

    def _external_id(self, entry: Entry, attributes_in: Mapping[str, Any]) -> str:
        raw = self._external_raw(entry, attributes_in)
        where = self.external_id_from or "remote id"
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
        if problem := _string_problem(text):
            raise MappingError(where, f"the external id ({where}) {problem}")
        return text


def _with_digest(result: MappedEntry) -> MappedEntry:
    text = canonical_json(result.as_json())
    object.__setattr__(result, "json_text", text)
    object.__setattr__(result, "digest", _digest_of(text))
    return result


def _roles_key(attributes: Mapping[str, Any], groups: tuple[str, ...]) -> tuple[Any, ...] | None:
    """A hashable stand-in for what role rules read, or None when a value cannot be one. Types are part of it:
    1, 1.0 and True are equal keys in Python but not to a condition."""
    try:
        key = tuple(
            (name, type(value), tuple(value) if type(value) is list else value) for name, value in attributes.items()
        )
        hash(key)
        hash(groups)
    except TypeError:
        return None
    if not all(type(group) is str for group in groups):
        return None
    return (key, groups)


def _checked_groups(groups: Iterable[str]) -> tuple[str, ...]:
    cleaned = sorted({str(group) for group in groups if group is not None and str(group)})
    for group in cleaned:
        if problem := _string_problem(group):
            raise MappingError("groups", f"a group name {problem}")
    return tuple(cleaned[:MAX_STORED_GROUPS])


def _string_problem(text: str) -> str | None:
    """``common.hostile.string_problem``, with its Python-level scan run only on the rare string that needs it."""
    return string_problem(text) if _HOSTILE.search(text) else None


def _is_email(text: str) -> bool:
    """What Django's EmailValidator accepts (its rules, its user-part pattern), with each domain's verdict kept:
    a directory has a handful of domains and a person each."""
    if len(text) > 320 or "@" not in text:
        return False
    user_part, domain_part = text.rsplit("@", 1)
    return bool(_EMAIL_USER.match(user_part)) and _email_domain_ok(domain_part)


@lru_cache(maxsize=_CACHE_LIMIT)
def _email_domain_ok(domain_part: str) -> bool:
    return domain_part in _validate_email.domain_allowlist or _validate_email.validate_domain_part(domain_part)


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
    if problem := _string_problem(text):
        raise MappingError(where, f"{target} {problem}")
    if len(text) > FIELD_MAX_LENGTH[target]:
        raise MappingError(where, f"{target} is longer than {FIELD_MAX_LENGTH[target]} characters")
    if target == "email" and text:
        if not _is_email(text):
            raise MappingError(where, f"{_shown(text)} is not an e-mail address")
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
        if problem := _string_problem(item):
            raise MappingError(rule.source_attribute, f"{rule.target} {problem}")
        if len(item) > MAX_ATTRIBUTE_TEXT:
            raise MappingError(rule.source_attribute, f"{rule.target} is longer than {MAX_ATTRIBUTE_TEXT} characters")
    return value


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:59] + "…"
