"""The condition language: rule-engine expressions type-checked against a vocabulary (docs/conditions.md), shared by
playbooks (branches, triggers, signal filters) and identity (role rules). Pure Python: no Django, no app imports.

Conditions are checked when saved, never at run time: an unknown name, a type mismatch or a construct outside the
language is a ``ConditionError`` that says where (column, with a caret) and, for names, what the admin probably meant.

The language is an allow-list, not all of rule-engine: the vocabulary's names with dot access (``module.seconds``,
``attributes.api_access``), literals (numbers, strings, true, false, null, arrays such as ``["a", "b"]``),
``== != < <= > >=``, ``in`` / ``not in``, ``and``, ``or``, ``not``, ``+ - * /`` and parentheses. Everything else
rule-engine accepts ($-built-ins, function calls, comprehensions, indexing and slices, ``? :``, ``**``, ``%``, ``//``,
bitwise, regex and fuzzy operators, ``??``, ``&.``, sets, mappings, dates, bytes, comments) is refused, first on
the tokens (which know their column), then again on the type-checked tree. Text too long or too deeply nested to
check quickly is refused before rule-engine parses it, since its parser builds the tree recursively.
"""

import difflib
import math
import re
import unicodedata
import warnings
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import rule_engine
from rule_engine import DataType, ast
from rule_engine import errors as rule_errors

from conditions.closures import NotComparable, Unsupported, compile_closure

# `attributes.api_access` (playbooks and role rules) and `event.properties.duration_seconds` are our syntax
# (docs/conditions.md). rule-engine 5.x resolves dot access on a mapping only after a failed attribute lookup (with a
# fuzzy "did you mean" search: a third of evaluation time) and warns that 6.0 drops it. We check the expression as
# written, then run it rewritten to item access (attributes["api_access"]), with absent keys read as null.
warnings.filterwarnings("ignore", category=rule_errors.MappingAttributeLookupDeprecation)
_MAPPING_ACCESS = re.compile(r"(?<![\w.])(attributes|event\.properties)\.([A-Za-z_][A-Za-z0-9_]*)")

NUMBER = DataType.FLOAT

# Limits that keep checking and running a condition quick whatever is typed. rule-engine builds its tree with about
# two Python frames per operator and four per bracket, and the closures nest one call per operator: these bounds
# keep both far below the interpreter's recursion limit (1,000), even when called from deep inside a request.
MAX_LENGTH = 2000
MAX_NESTING = 50
MAX_OPERATORS = 100

_STRING_LITERAL = re.compile(r"\"(?:\\.|[^\"\\])*\"|'(?:\\.|[^'\\])*'")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_RESERVED_WORD = re.compile(r"\b(else|elif|while)\b")  # rule-engine's lexer refuses these without a position
_STRING_NEXT = re.compile(r"[ \t\n]*[\"']")
_DECIMAL = re.compile(r"(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")
_POINTER_WIDTH = 100

_OPERATORS = frozenset(
    {"ATTR", "EQ", "NE", "LT", "LE", "GT", "GE", "IN", "AND", "OR", "NOT", "ADD", "SUB", "MUL", "TDIV"}
)
_OPENING, _CLOSING = frozenset({"LPAREN", "LBRACKET"}), frozenset({"RPAREN", "RBRACKET"})
# After one of these, '(' is a call and '[' an index: rule-engine's grammar, not ours.
_OPERAND_ENDS = frozenset(
    {"SYMBOL", "STRING", "FLOAT", "FLOAT_INF", "FLOAT_NAN", "TRUE", "FALSE", "NULL", "RPAREN", "RBRACKET", "RBRACE"}
    | {"BYTES", "DATETIME", "TIMEDELTA"}
)
_REGEX = frozenset({"EQ_FZM", "EQ_FZS", "NE_FZM", "NE_FZS"})
_NO_LOOPS = "a condition cannot loop; test membership with 'in', e.g. \"team_lead\" in roles"
_NO_IF = "a condition has no if/else; give the branch one option per case, or combine conditions with and / or"
_NO_BITS = "bitwise operators are not part of the condition language; combine conditions with and / or"
_NO_ARITHMETIC = "the arithmetic operators are + - * /"
_NO_NULL_SHORTCUT = "a missing value already makes a comparison false; test for it with == null"
_NO_COLLECTIONS = 'sets and mappings are not part of the condition language; write an array such as ["a", "b"]'
_NO_REGEX = "it can take exponential time; compare with ==, 'in', or a signal instead"
# rule-engine's '+' also joins text: with values from events, a chain of them could build strings of any size.
_NO_JOINING = "'+' adds numbers, it does not join text; compare text with == or test it with 'in'"
_NO_DATES = "dates are not part of the condition language; use days_enrolled, idle_hours or now.hour / now.weekday"
# Token kinds rule-engine lexes and our language refuses: (what to call it, why / what to write instead).
_REFUSED_TOKENS: dict[str, tuple[str, str]] = {
    "POW": ("operator '**'", "powers can build numbers of any size; multiply instead"),
    "MOD": ("operator '%'", _NO_ARITHMETIC),
    "FDIV": ("operator '//'", _NO_ARITHMETIC),
    "BWAND": ("operator '&'", _NO_BITS),
    "BWOR": ("operator '|'", _NO_BITS),
    "BWXOR": ("operator '^'", _NO_BITS),
    "BWLSH": ("operator '<<'", _NO_BITS),
    "BWRSH": ("operator '>>'", _NO_BITS),
    "FOR": ("comprehension 'for'", _NO_LOOPS),
    "IF": ("'if'", _NO_IF),
    "QMARK": ("conditional '? :'", _NO_IF),
    "COLON": ("':'", "slices and mappings are not part of the condition language"),
    "COALESCE": ("operator '??'", _NO_NULL_SHORTCUT),
    "ATTR_SAFE": ("operator '&.'", _NO_NULL_SHORTCUT),
    "LBRACE": ("'{'", _NO_COLLECTIONS),
    "RBRACE": ("'}'", _NO_COLLECTIONS),
    "BYTES": ("bytes literal", "write text as a plain quoted string"),
    "DATETIME": ("date literal", _NO_DATES),
    "TIMEDELTA": ("duration literal", _NO_DATES),
    "COMMENT": ("comment '#'", "a condition is one expression, without comments"),
    "FLOAT_INF": ("'inf'", "write a number"),
    "FLOAT_NAN": ("'nan'", "write a number"),
}
# The nodes of a type-checked tree that the language documents (a second line behind the token check).
_LEAVES = frozenset({ast.FloatExpression, ast.StringExpression, ast.BooleanExpression, ast.NullExpression})
_BINARY = frozenset(
    {ast.ComparisonExpression, ast.ArithmeticComparisonExpression, ast.LogicExpression}
    | {ast.AddExpression, ast.SubtractExpression}
)
_TYPE_WORDS = {"STRING": "a string", "FLOAT": "a number", "BOOLEAN": "a boolean", "ARRAY": "an array", "NULL": "null"}
# What a value can make go wrong at run time; ``Condition.evaluate`` turns any of them into "false, with a note".
_RUNTIME_FAILURES = (
    NotComparable,
    rule_errors.EngineError,
    ArithmeticError,  # ZeroDivisionError, OverflowError and decimal's signals
    LookupError,
    TypeError,
    ValueError,
    AttributeError,
    RecursionError,
)


@dataclass(frozen=True)
class ConditionError(Exception):
    """A condition that cannot be saved: ``message`` names the problem, ``column`` (1-based) where it is."""

    expression: str
    message: str
    column: int

    def __str__(self) -> str:
        return self.message

    def pointer(self) -> str:
        """The expression (a window of it, when long) with a caret under the column, for error pages and the CLI."""
        offset = self.column - 1
        start = 0 if len(self.expression) <= _POINTER_WIDTH else max(0, offset - _POINTER_WIDTH // 2)
        end = start + _POINTER_WIDTH
        before, after = ("…" if start else ""), ("…" if end < len(self.expression) else "")
        shown = "".join(_printable(character) for character in self.expression[start:end])
        return f"{before}{shown}{after}\n{' ' * (len(before) + offset - start)}^"


def _printable(character: str) -> str:
    """One character for one, so that the caret stays under its column; never one an HTTP response cannot encode."""
    if character in "\t\n\r":
        return " "
    return "?" if unicodedata.category(character) in ("Cc", "Cf", "Cs") else character


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


class Condition:
    """A compiled condition. ``evaluate`` never raises: a value missing or unusable at run time (null < 30, x / 0, a
    number where a string was expected) makes it false, with a note.

    It runs as a tree of closures compiled from rule-engine's type-checked AST (closures.py), or on rule-engine
    itself for the node kinds the closures do not cover (arithmetic).
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
        if self._fast is None:
            return self.evaluate_slowly(values)
        try:
            return bool(self._fast(self._with_absent_keys(values))), None
        except _RUNTIME_FAILURES as exc:
            return False, _could_not_evaluate(exc)

    def evaluate_slowly(self, values: Mapping[str, Any]) -> tuple[bool, str | None]:
        """On rule-engine itself: the reference the closures are tested against."""
        try:
            return bool(self._rule.evaluate(self._with_absent_keys(values))), None
        except _RUNTIME_FAILURES as exc:
            # Typically a comparison with a value this event does not carry (null < 30): not a match.
            return False, _could_not_evaluate(exc)

    def _with_absent_keys(self, values: Mapping[str, Any]) -> Mapping[str, Any]:
        """Absent attributes and properties read as null, as they did with dot access."""
        if self._attribute_keys:
            attributes = values.get("attributes") or {}
            if isinstance(attributes, Mapping) and not self._attribute_keys <= attributes.keys():
                values = {**values, "attributes": {**dict.fromkeys(self._attribute_keys), **attributes}}
        if self._property_keys:
            event = values.get("event") or {}
            properties = (event.get("properties") or {}) if isinstance(event, Mapping) else None
            if isinstance(properties, Mapping) and not self._property_keys <= properties.keys():
                padded = {**dict.fromkeys(self._property_keys), **properties}
                values = {**values, "event": {**event, "properties": padded}}
        return values

    def tree(self) -> Any:
        """The type-checked parse tree (rule-engine's AST), for readers such as the plain-language reasons."""
        return self._rule.statement.expression

    def __repr__(self) -> str:
        return f"Condition({self.expression!r})"


def _could_not_evaluate(exc: Exception) -> str:
    if isinstance(exc, rule_errors.EngineError):
        detail = exc.message
    elif isinstance(exc, ZeroDivisionError):
        detail = "division by zero"
    elif isinstance(exc, RecursionError):
        detail = "a value nested too deeply"
    elif isinstance(exc, NotComparable):
        detail = str(exc)
    else:
        detail = f"{type(exc).__name__}: {exc}"
    return f"could not evaluate ({_clipped(detail, 200)}); taken as false"


def compile_condition(expression: str, vocabulary: Vocabulary) -> Condition:
    """Parse, check and compile ``expression``. Whatever the text, this returns a Condition or raises a
    ConditionError, quickly; compiled conditions are cached, so each condition of a version compiles once per process.
    """
    if not isinstance(expression, str) or not expression.strip():
        empty = "empty condition; write an expression such as 'skips >= 3'"
        raise ConditionError(str(expression)[:MAX_LENGTH], empty, 1)
    try:
        return _compiled(expression, vocabulary)
    except RecursionError:  # a last resort: check_text's bounds keep rule-engine well inside the stack
        raise ConditionError(expression, "too deeply nested to check; simplify the condition", 1) from None
    except (ArithmeticError, TypeError, ValueError) as exc:  # rule-engine folding constants, say; never a traceback
        detail = _clipped(f"{type(exc).__name__}: {exc}", 120)
        raise ConditionError(expression, f"invalid expression ({detail}); simplify the condition", 1) from None


@lru_cache(maxsize=4096)
def _compiled(expression: str, vocabulary: Vocabulary) -> Condition:
    check_text(expression)
    masked = _mask_strings(expression)
    rule = _type_checked(expression, masked, vocabulary)
    _check_tree(expression, masked, rule.statement.expression, vocabulary)
    runtime, mapping_keys = _item_access(expression, masked)
    return Condition(expression, rule_engine.Rule(runtime, context=vocabulary.runtime_context), mapping_keys)


def _type_checked(expression: str, masked: str, vocabulary: Vocabulary) -> rule_engine.Rule:
    try:
        return rule_engine.Rule(expression, context=vocabulary.context)  # checked as the admin wrote it
    except rule_errors.SymbolResolutionError as exc:
        raise _unknown_name(expression, masked, exc.symbol_name, vocabulary.types) from None
    except rule_errors.AttributeResolutionError as exc:
        raise _unknown_attribute(expression, masked, exc) from None
    except rule_errors.RuleSyntaxError as exc:
        raise _syntax_error(expression, exc) from None
    except rule_errors.EngineError as exc:
        raise _type_error(expression, masked, vocabulary, getattr(exc, "message", str(exc))) from None


# Save-time checks on the text, before rule-engine parses it.


def check_text(expression: str) -> None:
    """Refuse, with the column, what is too long, invisible, outside the language or too deeply nested."""
    if len(expression) > MAX_LENGTH:
        raise ConditionError(
            expression,
            f"condition too long: {len(expression):,} characters, at most {MAX_LENGTH:,}; "
            "split it across branch options or triggers, or declare a signal",
            MAX_LENGTH + 1,
        )
    _check_characters(expression)
    nesting, operators, previous = 0, 0, None
    for token in _tokens(expression):
        _check_token(expression, token, previous)
        column = token.lexpos + 1
        nesting += (token.type in _OPENING) - (token.type in _CLOSING)
        if nesting > MAX_NESTING:
            raise ConditionError(
                expression,
                f"brackets nested more than {MAX_NESTING} deep at column {column}; simplify the condition",
                column,
            )
        operators += token.type in _OPERATORS
        if operators > MAX_OPERATORS:
            raise ConditionError(
                expression,
                f"too many operators: more than {MAX_OPERATORS} (the next one is at column {column}); "
                "split the condition across branch options or triggers, or declare a signal",
                column,
            )
        previous = token


def _check_characters(expression: str) -> None:
    for offset, character in enumerate(expression):
        if character in "\t\n" or character.isprintable():
            continue
        category = unicodedata.category(character)
        if category in ("Cc", "Cf", "Cs"):
            kind = {"Cc": "control character", "Cf": "invisible character", "Cs": "lone surrogate"}[category]
            column = offset + 1
            why = "break lines with plain line breaks" if character == "\r" else "it can hide what the condition does"
            raise ConditionError(
                expression,
                f"{kind} U+{ord(character):04X} at column {column} is not allowed; delete it ({why})",
                column,
            )


def _tokens(expression: str) -> Iterator[Any]:
    """rule-engine's own lexer (a copy, so that parsing elsewhere is undisturbed): every token with its offset."""
    lexer = rule_engine.Rule.parser._lexer.clone()
    lexer.input(expression)
    while True:
        try:
            token = lexer.token()
        except rule_errors.RuleSyntaxError as exc:
            raise _lexing_error(expression, exc) from None
        if token is None:
            return
        yield token


def _lexing_error(expression: str, exc: rule_errors.RuleSyntaxError) -> ConditionError:
    if exc.token is not None:  # no token rule matched: the rest of the text starts with an illegal character
        column = exc.token.lexpos + 1
        character = str(exc.token.value)[:1]
        message = f"syntax error at column {column}: unexpected character '{character}'"
        return ConditionError(expression, message, column)
    reserved = _RESERVED_WORD.search(_mask_strings(expression))
    column = reserved.start() + 1 if reserved else 1
    word = reserved.group() if reserved else "a reserved word"
    return ConditionError(expression, f"'{word}' at column {column} is not allowed: {_NO_IF}", column)


def _check_token(expression: str, token: Any, previous: Any) -> None:
    kind, value, column = token.type, str(token.value), token.lexpos + 1
    after_operand = previous is not None and previous.type in _OPERAND_ENDS
    if kind in _REGEX:
        _refuse(expression, f"regex operator '{value}'", column, _NO_REGEX)
    elif kind in _REFUSED_TOKENS:
        _refuse(expression, _REFUSED_TOKENS[kind][0], column, _REFUSED_TOKENS[kind][1])
    elif kind == "ADD" and _beside_text(expression, token, previous):
        _refuse(expression, "'+'", column, _NO_JOINING)
    elif kind == "ATTR" and (previous is None or previous.type != "SYMBOL"):  # rule-engine folds "abc".length
        _refuse(expression, "'.'", column, "only the playbook's names have attributes, e.g. module.seconds")
    elif kind == "SYMBOL" and value.startswith("$"):
        _refuse(expression, f"built-in '{_clipped(value, 40)}'", column, "a condition uses only the playbook's names")
    elif kind == "LPAREN" and after_operand:
        callee = f"'{_clipped(previous.value, 40)}(…)'" if previous.type == "SYMBOL" else "'(…)'"
        called_at = previous.lexpos + 1 if previous.type == "SYMBOL" else column
        _refuse(expression, f"function call {callee}", called_at, "a condition compares values, it calls nothing")
    elif kind == "LBRACKET" and (after_operand or value != "["):
        _refuse(
            expression,
            f"indexing '{value}'",
            column,
            "name a value with a dot (attributes.department), or test membership with 'in'",
        )
    elif kind == "STRING" and value[0] in "rs":
        _refuse(expression, f"string prefix '{value[0]}'", column, "write a plain quoted string")
    elif kind == "FLOAT":
        _check_number(expression, value, column)


def _beside_text(expression: str, token: Any, previous: Any) -> bool:
    """A string literal just before or after this token."""
    string_before = previous is not None and previous.type == "STRING"
    return string_before or _STRING_NEXT.match(expression, token.lexpos + 1) is not None


def _check_number(expression: str, value: str, column: int) -> None:
    if not _DECIMAL.fullmatch(value):
        _refuse(expression, f"number '{_clipped(value, 40)}'", column, "write numbers in decimal, e.g. 16")
    number = float(value)
    mantissa = value.lower().partition("e")[0]
    if not math.isfinite(number) or (number == 0 and mantissa.strip("0.")):
        raise ConditionError(
            expression,
            f"number '{_clipped(value, 40)}' at column {column} is out of range: "
            "numbers are between about 1e-308 and 1.8e308",
            column,
        )


def _refuse(expression: str, what: str, column: int, why: str) -> None:
    raise ConditionError(expression, f"{what} at column {column} is not allowed: {why}", column)


# Save-time checks on the type-checked tree.


def _check_tree(expression: str, masked: str, root: ast.ExpressionBase, vocabulary: Vocabulary) -> None:
    """Every node is one the language documents; walked with a stack of its own, never recursively."""
    pending = [root]
    while pending:
        node = pending.pop()
        kind = type(node)  # exact: FuzzyComparisonExpression subclasses ComparisonExpression
        if kind in _LEAVES or (kind is ast.SymbolExpression and node.scope is None):
            continue
        if kind is ast.ArrayExpression:
            pending.extend(node.value)
        elif kind in _BINARY or (kind is ast.ArithmeticExpression and node.type in ("mul", "tdiv")):
            if kind is ast.AddExpression:
                _check_addition(expression, masked, node)
            pending.extend((node.left, node.right))
        elif kind is ast.UnaryExpression:
            pending.append(node.right)
        elif kind is ast.GetAttributeExpression and not node.safe:
            _check_owner(expression, masked, node, vocabulary)
            pending.append(node.object)
        elif kind is ast.ContainsExpression:
            _check_container(expression, masked, node)
            pending.extend((node.container, node.member))
        else:
            raise ConditionError(expression, f"{kind.__name__} is not part of the condition language", 1)


def _check_addition(expression: str, masked: str, node: ast.AddExpression) -> None:
    """A number on one side makes rule-engine refuse text on the other at run time: '+' never joins strings."""
    if _surely_number(node.left) or _surely_number(node.right):
        return
    left, right = _dotted(node.left), _dotted(node.right)
    match = re.search(rf"(?<![\w.]){re.escape(left)}\s*\+", masked) if left else None
    column = match.end() if match else max(1, masked.find("+") + 1)
    if DataType.STRING in (node.left.result_type, node.right.result_type):
        _refuse(expression, "'+'", column, _NO_JOINING)
    if left and right:
        why = f"neither {left} nor {right} is known to be a number; if they hold numbers, write {left} + 0 + {right}"
    else:
        why = "neither side is known to be a number"
    _refuse(expression, "'+'", column, f"{_NO_JOINING} ({why})")


def _surely_number(node: ast.ExpressionBase) -> bool:
    """Typed as a number, or arithmetic that rule-engine only runs on numbers (it raises on anything else)."""
    if node.result_type == NUMBER or type(node) in (ast.SubtractExpression, ast.ArithmeticExpression):
        return True
    if type(node) is ast.UnaryExpression:
        return node.type == "uminus"
    if type(node) is ast.AddExpression:
        return _surely_number(node.right) or _surely_number(node.left)
    return False


def _has_attributes(kind: Any) -> bool:
    return DataType.is_type(kind, DataType.OBJECT) or DataType.is_type(kind, DataType.MAPPING)


def _check_owner(expression: str, masked: str, node: ast.GetAttributeExpression, vocabulary: Vocabulary) -> None:
    """Dot access reads the vocabulary's objects, never a value's built-in attributes (``role.length``)."""
    owner = node.object.result_type
    if _has_attributes(owner):
        return
    described = _dotted(node.object)
    written = rf"(?<![\w.]){re.escape(described)}\.{re.escape(node.name)}\b" if described else None
    match = (written and re.search(written, masked)) or re.search(rf"\.{re.escape(node.name)}\b", masked)
    column = match.end() - len(node.name) + 1 if match else 1
    described = described or "the value before it"
    a_kind = _TYPE_WORDS.get(getattr(owner, "name", ""), "a single value")
    raise ConditionError(
        expression,
        f"attribute '{node.name}' at column {column} is not allowed: {described} is {a_kind}; "
        f"only {', '.join(_objects(vocabulary.types))} have attributes",
        column,
    )


def _check_container(expression: str, masked: str, node: ast.ContainsExpression) -> None:
    """'in' looks inside an array or a string; inside a mapping it would ask for keys, which absent ones fake."""
    if not _has_attributes(node.container.result_type):
        return
    container = _dotted(node.container) or "a mapping"
    match = re.search(rf"\bin\s+{re.escape(container)}(?![\w.])", masked) or re.search(r"\bin\b", masked)
    column = match.start() + 1 if match else 1
    raise ConditionError(
        expression,
        f"'in' at column {column} cannot look inside {container}: test an array (roles) or a string, "
        f"or compare a value, e.g. {container}.<name> != null",
        column,
    )


def _dotted(node: ast.ExpressionBase) -> str | None:
    """``event.properties`` for the node that reads it; None for anything but a name and its attributes."""
    if isinstance(node, ast.SymbolExpression):
        return node.name
    if isinstance(node, ast.GetAttributeExpression):
        owner = _dotted(node.object)
        return f"{owner}.{node.name}" if owner else None
    return None


def _objects(types: Mapping[str, Any], prefix: str = "") -> list[str]:
    """The names that have attributes: ``attributes, event, event.properties, module, now``."""
    names: list[str] = []
    for name, kind in sorted(types.items()):
        if _has_attributes(kind):
            names.append(prefix + name)
            names += _objects(getattr(kind, "attributes", None) or {}, f"{prefix}{name}.")
    return names


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


def _clipped(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


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
    return ConditionError(
        expression, f"syntax error at column {column}: unexpected '{_clipped(str(token.value), 40)}'", column
    )


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


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    """``"; did you mean 'x'?"`` for the closest candidate, or nothing when none is close."""
    close = difflib.get_close_matches(name, list(candidates), n=1)
    return f"; did you mean '{close[0]}'?" if close else ""


def referenced_keys(expression: str, mapping: str = "attributes") -> frozenset[str]:
    """The keys ``expression`` reads from ``mapping`` by dot access (``attributes.department`` → ``department``);
    for checks such as "which learner attributes do published conditions use". Never raises."""
    if not isinstance(expression, str):
        return frozenset()
    _rewritten, keys = _item_access(expression, _mask_strings(expression))
    return keys.get(mapping, frozenset())


_ROOT = re.compile(r"(?<![\w.])[A-Za-z_][A-Za-z0-9_]*")  # "$now" reads as now: a clock name
_KEYWORDS = frozenset({"and", "or", "not", "in", "if", "else", "for", "true", "false", "null", "inf", "nan"})


def root_names(expression: str) -> frozenset[str]:
    """The names ``expression`` reads at its root (``skips``, ``event`` of ``event.type``, ``attributes``), not
    attributes of them, words inside strings or keywords; for analyses of what a condition depends on."""
    if not isinstance(expression, str):
        return frozenset()
    return frozenset(_ROOT.findall(_mask_strings(expression))) - _KEYWORDS
