"""The condition language: rule-engine expressions type-checked against the declared vocabulary (DESIGN.md §4).

Conditions are checked when saved, never at run time: an unknown name, a type mismatch or a regex operator is a
``ConditionError`` that says where (column, with a caret) and, for names, what the admin probably meant.
"""

import re
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import rule_engine
from rule_engine import DataType
from rule_engine import errors as rule_errors

from playbooks.engine.closures import NotComparable, Unsupported, compile_closure
from playbooks.engine.shapes import did_you_mean

# `attributes.api_access` and `event.properties.duration_seconds` are our syntax (DESIGN.md §4). rule-engine 5.x
# resolves dot access on a mapping only after a failed attribute lookup (with a fuzzy "did you mean" search: a third
# of evaluation time) and warns that 6.0 drops it. We check the expression as written, then run it rewritten to
# item access (attributes["api_access"]), with absent keys read as null.
warnings.filterwarnings("ignore", category=rule_errors.MappingAttributeLookupDeprecation)
_MAPPING_ACCESS = re.compile(r"(?<![\w.])(attributes|event\.properties)\.([A-Za-z_][A-Za-z0-9_]*)")

NUMBER = DataType.FLOAT
_EVENT = DataType.OBJECT(
    "event",
    {"type": DataType.STRING, "module": DataType.STRING, "properties": DataType.MAPPING(DataType.STRING)},
    accessor=lambda value, name: value.get(name),
)

BUILTIN_SIGNALS = ("skips", "skip_streak", "completed_modules", "avg_module_seconds", "idle_hours", "sessions")

BASE_VOCABULARY: dict[str, Any] = {
    "roles": DataType.ARRAY(DataType.STRING),
    "role": DataType.STRING,
    "attributes": DataType.MAPPING(DataType.STRING),
    "days_enrolled": NUMBER,
    "now": DataType.OBJECT("now", {"hour": NUMBER, "weekday": NUMBER}, accessor=lambda value, name: value.get(name)),
    **dict.fromkeys(BUILTIN_SIGNALS, NUMBER),
    "module": DataType.OBJECT(
        "module",
        {"slug": DataType.STRING, "seconds": NUMBER, "completion_pct": NUMBER, "views": NUMBER},
        accessor=lambda value, name: value.get(name),
    ),
    "event": _EVENT,
}
# A signal's ``where`` sees only the event it filters.
EVENT_FILTER_VOCABULARY: dict[str, Any] = {"event": _EVENT}

_STRING_LITERAL = re.compile(r"\"(?:\\.|[^\"\\])*\"|'(?:\\.|[^'\\])*'")
_REGEX_OPERATOR = re.compile(r"=~~?|!~~?")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_KEYWORDS = frozenset({"and", "or", "not", "in", "if", "else", "for", "true", "false", "null", "inf", "nan"})


@dataclass(frozen=True)
class ConditionError(Exception):
    """A condition that cannot be saved: ``message`` names the problem, ``column`` (1-based) where it is."""

    expression: str
    message: str
    column: int

    def __str__(self) -> str:
        return self.message

    def pointer(self) -> str:
        """The expression with a caret under the column, for error pages and CLI output."""
        return f"{self.expression}\n{' ' * (self.column - 1)}^"


class Vocabulary:
    """The names a condition may use and their types; hashable so compiled conditions can be cached by it."""

    def __init__(self, types: Mapping[str, Any]) -> None:
        self.types = dict(types)
        self.key = tuple(sorted((name, repr(kind)) for name, kind in self.types.items()))
        resolver = rule_engine.type_resolver_from_dict(self.types)
        self.context = rule_engine.Context(type_resolver=resolver, default_value=None)
        self.runtime_context = rule_engine.Context(
            type_resolver=resolver, default_value=None, mapping_attribute_lookup=False
        )

    def __hash__(self) -> int:
        return hash(self.key)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vocabulary) and other.key == self.key


def signal_type(aggregate: str) -> Any:
    """``last`` yields whatever the property held; every other aggregate is a number."""
    return DataType.UNDEFINED if aggregate == "last" else NUMBER


@lru_cache(maxsize=256)
def vocabulary_for(signals: tuple[tuple[str, str], ...] = ()) -> Vocabulary:
    """The vocabulary of a playbook whose signals are ``((name, aggregate), ...)``."""
    return Vocabulary({**BASE_VOCABULARY, **{name: signal_type(aggregate) for name, aggregate in signals}})


EVENT_FILTER = Vocabulary(EVENT_FILTER_VOCABULARY)


class Condition:
    """A compiled condition. ``evaluate`` never raises: a value missing at run time makes it false, with a note.

    It runs as a tree of closures compiled from rule-engine's type-checked AST (closures.py), or on rule-engine
    itself for the rare node kinds the closures do not cover.
    """

    __slots__ = ("expression", "_rule", "_fast", "_attribute_keys", "_property_keys")

    def __init__(self, expression: str, rule: rule_engine.Rule, mapping_keys: dict[str, frozenset[str]]) -> None:
        self.expression = expression
        self._rule = rule
        try:
            self._fast = compile_closure(rule.statement.expression)
        except Unsupported:
            self._fast = None
        self._attribute_keys = mapping_keys.get("attributes", frozenset())
        self._property_keys = mapping_keys.get("event.properties", frozenset())

    def evaluate(self, values: Mapping[str, Any]) -> tuple[bool, str | None]:
        values = self._with_absent_keys(values)
        if self._fast is not None:
            try:
                return bool(self._fast(values)), None
            except NotComparable as exc:
                return False, f"could not evaluate ({exc}); taken as false"
        return self.evaluate_slowly(values)

    def evaluate_slowly(self, values: Mapping[str, Any]) -> tuple[bool, str | None]:
        """On rule-engine itself: the reference the closures are tested against."""
        try:
            return bool(self._rule.evaluate(self._with_absent_keys(values))), None
        except rule_errors.EvaluationError as exc:
            # Typically a comparison with a value this event does not carry (null < 30): not a match.
            return False, f"could not evaluate ({exc.message}); taken as false"

    def _with_absent_keys(self, values: Mapping[str, Any]) -> Mapping[str, Any]:
        """Absent attributes and properties read as null, as they did with dot access."""
        attributes = values.get("attributes") or {}
        if self._attribute_keys and not self._attribute_keys <= attributes.keys():
            values = {**values, "attributes": {**dict.fromkeys(self._attribute_keys), **attributes}}
        event = values.get("event") or {}
        properties = event.get("properties") or {}
        if self._property_keys and not self._property_keys <= properties.keys():
            values = {**values, "event": {**event, "properties": {**dict.fromkeys(self._property_keys), **properties}}}
        return values

    def __repr__(self) -> str:
        return f"Condition({self.expression!r})"


@lru_cache(maxsize=4096)
def compile_condition(expression: str, vocabulary: Vocabulary) -> Condition:
    """Parse and type-check ``expression``; cached, so each condition of a version compiles once per process."""
    if not isinstance(expression, str) or not expression.strip():
        raise ConditionError(str(expression), "empty condition; write an expression such as 'skips >= 3'", 1)
    masked = _mask_strings(expression)
    regex = _REGEX_OPERATOR.search(masked)
    if regex:
        raise ConditionError(
            expression,
            f"regex operator '{regex.group()}' at column {regex.start() + 1} is not allowed "
            "(it can take exponential time); compare with ==, 'in', or a signal instead",
            regex.start() + 1,
        )
    try:
        rule_engine.Rule(expression, context=vocabulary.context)  # checked as the admin wrote it
    except rule_errors.SymbolResolutionError as exc:
        raise _unknown_name(expression, masked, exc.symbol_name, vocabulary.types) from None
    except rule_errors.AttributeResolutionError as exc:
        raise _unknown_attribute(expression, masked, exc) from None
    except rule_errors.RuleSyntaxError as exc:
        raise _syntax_error(expression, exc) from None
    except rule_errors.EngineError as exc:
        raise _type_error(expression, masked, vocabulary, getattr(exc, "message", str(exc))) from None
    runtime, mapping_keys = _item_access(expression, masked)
    return Condition(expression, rule_engine.Rule(runtime, context=vocabulary.runtime_context), mapping_keys)


def _item_access(expression: str, masked: str) -> tuple[str, dict[str, frozenset[str]]]:
    """``attributes.api_access`` → ``attributes["api_access"]``, and the keys each mapping is asked for."""
    keys: dict[str, set[str]] = {}
    pieces, last = [], 0
    for match in _MAPPING_ACCESS.finditer(masked):
        mapping, key = match.groups()
        keys.setdefault(mapping, set()).add(key)
        pieces.append(expression[last : match.start()] + f'{mapping}["{key}"]')
        last = match.end()
    pieces.append(expression[last:])
    return "".join(pieces), {mapping: frozenset(names) for mapping, names in keys.items()}


def known_names(vocabulary: Vocabulary) -> list[str]:
    return sorted(vocabulary.types)


def _mask_strings(expression: str) -> str:
    return _STRING_LITERAL.sub(lambda match: " " * len(match.group()), expression)


def _column_of_name(masked: str, name: str) -> int:
    for match in _NAME.finditer(masked):
        if match.group() == name and (match.start() == 0 or masked[match.start() - 1] != "."):
            return match.start() + 1
    return 1


def _unknown_name(expression: str, masked: str, name: str, types: Mapping[str, Any]) -> ConditionError:
    column = _column_of_name(masked, name)
    return ConditionError(expression, f"unknown name '{name}' at column {column}{did_you_mean(name, types)}", column)


def _unknown_attribute(expression: str, masked: str, exc: rule_errors.AttributeResolutionError) -> ConditionError:
    attribute = exc.attribute_name
    match = re.search(rf"\.{re.escape(attribute)}\b", masked)
    column = match.start() + 2 if match else 1
    object_type = exc.object
    attributes = getattr(object_type, "attributes", None) or {}
    owner = f" of '{object_type.name}'" if hasattr(object_type, "name") else ""
    return ConditionError(
        expression,
        f"unknown attribute '{attribute}'{owner} at column {column}{did_you_mean(attribute, attributes)}",
        column,
    )


def _syntax_error(expression: str, exc: rule_errors.RuleSyntaxError) -> ConditionError:
    token = exc.token
    if token is None:  # the parser ran out of input
        column = len(expression.rstrip()) + 1
        return ConditionError(expression, f"incomplete expression: it ends too early at column {column}", column)
    column = token.lexpos + 1
    return ConditionError(expression, f"syntax error at column {column}: unexpected '{token.value}'", column)


def _type_error(expression: str, masked: str, vocabulary: Vocabulary, detail: str) -> ConditionError:
    """rule-engine reports type mismatches without a position: find the first clause that fails on its own."""
    label = "type error" if "type mismatch" in detail else "invalid expression"
    for start, clause in _clauses(masked):
        try:
            rule_engine.Rule(expression[start : start + len(clause)].strip(), context=vocabulary.context)
        except rule_errors.EngineError:
            column = start + len(clause) - len(clause.lstrip()) + 1
            text = expression[start : start + len(clause)].strip()
            return ConditionError(expression, f"{label} at column {column} in '{text}': {detail}", column)
    return ConditionError(expression, f"{label}: {detail}", 1)


def _clauses(masked: str) -> list[tuple[int, str]]:
    """Split at the top-level ``and``/``or`` into ``(offset, text)`` pieces."""
    pieces, depth, start = [], 0, 0
    for match in re.finditer(r"[()\[\]]|\band\b|\bor\b", masked):
        symbol = match.group()
        if symbol in "([":
            depth += 1
        elif symbol in ")]":
            depth -= 1
        elif depth == 0:
            pieces.append((start, masked[start : match.start()]))
            start = match.end()
    pieces.append((start, masked[start:]))
    return pieces
