"""Hostile conditions: refused when saved, with the column of the problem, quickly, and never with a traceback."""

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from playbooks.engine.conditions import (
    EVENT_FILTER,
    MAX_LENGTH,
    MAX_NESTING,
    MAX_OPERATORS,
    Condition,
    ConditionError,
    compile_condition,
    vocabulary_for,
)
from tests.utils import CpuSeconds

VOCABULARY = vocabulary_for((("tickets_7d", "count"), ("last_score", "last")))
ROOT = Path(__file__).resolve().parents[3]
QUICK = 1.0  # CPU seconds (see CpuSeconds): generous for any one check


def _error(expression: str) -> ConditionError:
    with pytest.raises(ConditionError) as caught:
        compile_condition(expression, VOCABULARY)
    return caught.value


def _quickly(call: Callable[[], Any]) -> Any:
    with CpuSeconds() as spent:
        result = call()
    assert spent.seconds < QUICK
    return result


# Everything rule-engine parses that the condition language leaves out, with the column the caret points at.
REFUSED = [
    ("$sum($range(30000000)) > 1", 1, "built-in '$sum' at column 1 is not allowed"),
    ("[x for x in roles] == []", 4, "comprehension 'for' at column 4 is not allowed: a condition cannot loop"),
    ("skips > 1 and [x for x in roles if x]", 18, "comprehension 'for' at column 18 is not allowed"),
    ('roles[0] == "a"', 6, "indexing '[' at column 6 is not allowed"),
    ("roles[0:1] == []", 6, "indexing '[' at column 6 is not allowed"),
    ('module&["slug"] == null', 7, "indexing '&[' at column 7 is not allowed"),
    ('role.as_lower() == "a"', 6, "function call 'as_lower(…)' at column 6 is not allowed"),
    ("x(1) == 1", 1, "function call 'x(…)' at column 1 is not allowed"),
    ("skips > 1 ? true : false", 11, "conditional '? :' at column 11 is not allowed: a condition has no if/else"),
    ("skips if true else 1", 7, "'if' at column 7 is not allowed: a condition has no if/else"),
    ("skips > 1 else 2", 11, "'else' at column 11 is not allowed: a condition has no if/else"),
    ("10 ** 10 ** 10 > 1", 4, "operator '**' at column 4 is not allowed: powers can build numbers of any size"),
    ("skips % 2 == 0", 7, "operator '%' at column 7 is not allowed: the arithmetic operators are + - * /"),
    ("skips // 2 == 0", 7, "operator '//' at column 7 is not allowed"),
    ("skips & 1 == 1", 7, "operator '&' at column 7 is not allowed: bitwise operators"),
    ("skips | 1 == 1", 7, "operator '|' at column 7 is not allowed: bitwise operators"),
    ("skips ^ 1 == 1", 7, "operator '^' at column 7 is not allowed: bitwise operators"),
    ("skips << 2 > 1", 7, "operator '<<' at column 7 is not allowed: bitwise operators"),
    ("skips >> 2 > 1", 7, "operator '>>' at column 7 is not allowed: bitwise operators"),
    ('role == "=~" and role =~ "a"', 23, "regex operator '=~' at column 23 is not allowed"),
    ('role ?? "x" == "x"', 6, "operator '??' at column 6 is not allowed"),
    ("module&.slug == null", 7, "operator '&.' at column 7 is not allowed"),
    ("{1, 2} == null", 1, "'{' at column 1 is not allowed: sets and mappings are not part of the condition language"),
    ('{"a": 1} == null', 1, "'{' at column 1 is not allowed"),
    ('b"x" == null', 1, "bytes literal at column 1 is not allowed"),
    ('d"2026-01-01" == null', 1, "date literal at column 1 is not allowed"),
    ('t"P1D" == null', 1, "duration literal at column 1 is not allowed"),
    ("skips > 1 # note", 11, "comment '#' at column 11 is not allowed"),
    ("skips < inf", 9, "'inf' at column 9 is not allowed: write a number"),
    ("skips == nan", 10, "'nan' at column 10 is not allowed: write a number"),
    ("skips > 0x10", 9, "number '0x10' at column 9 is not allowed: write numbers in decimal"),
    ("skips > 1e999999", 9, "number '1e999999' at column 9 is out of range"),
    ("skips > 1e-999", 9, "number '1e-999' at column 9 is out of range"),
    ('r"a" == role', 1, "string prefix 'r' at column 1 is not allowed"),
    ("role.length > 3", 6, "attribute 'length' at column 6 is not allowed: role is a string; only attributes, event,"),
    ("now.hour.to_str == 1", 10, "attribute 'to_str' at column 10 is not allowed: now.hour is a number"),
    ('attributes.manager.name == "x"', 20, "attribute 'name' at column 20 is not allowed: attributes.manager is a"),
    ('last_score.to_str == "1"', 12, "attribute 'to_str' at column 12 is not allowed: last_score is a single value"),
    ("event.properties.length > 1 and role.length > 1", 38, "attribute 'length' at column 38 is not allowed: role is"),
    ('"abc".length > 1', 6, "'.' at column 6 is not allowed: only the playbook's names have attributes"),
    ('"x" in attributes', 5, "'in' at column 5 cannot look inside attributes"),
    ('"x" not in event.properties', 9, "'in' at column 9 cannot look inside event.properties"),
    ('role + "x" == "ax"', 6, "'+' at column 6 is not allowed: '+' adds numbers, it does not join text"),
    ('"a" + "b" == role', 5, "'+' at column 5 is not allowed: '+' adds numbers"),
    ('role + event.type == "x"', 6, "'+' at column 6 is not allowed: '+' adds numbers"),
    (
        "last_score + event.properties.x > 1",
        12,
        "'+' at column 12 is not allowed: '+' adds numbers, it does not join text; compare text with == or test it "
        "with 'in' (neither last_score nor event.properties.x is known to be a number; if they hold numbers, write "
        "last_score + 0 + event.properties.x)",
    ),
    ("skips > 1\x00", 10, "control character U+0000 at column 10 is not allowed; delete it"),
    ('role == "a\u202eb"', 11, "invisible character U+202E at column 11 is not allowed"),
    ('role == "\ud800"', 10, "lone surrogate U+D800 at column 10 is not allowed"),
    ("skips > 1\r\n", 10, "control character U+000D at column 10 is not allowed"),
]


@pytest.mark.parametrize(("expression", "column", "message"), REFUSED)
def test_what_the_language_leaves_out_is_refused_with_a_caret_at_it(expression, column, message):
    error = _error(expression)

    assert error.message.startswith(message), error.message
    assert error.column == column
    pointer = error.pointer()
    assert pointer.splitlines()[1] == " " * (column - 1) + "^"
    pointer.encode("utf-8")  # shown on an error page: no lone surrogate may reach the response


# Everything the language documents (docs/conditions.md) keeps working, on the closures or, for arithmetic, on
# rule-engine.
ALLOWED = [
    ('role in ["support_specialist", "sales"]', {"role": "sales"}, True),
    ('role not in ["support_specialist"]', {"role": "sales"}, True),
    ('"team_lead" in roles', {"roles": ["team_lead"]}, True),
    ('"sup" in attributes.department', {"attributes": {"department": "support"}}, True),
    ("skips + 1 >= 4 and skips - 1 < 3", {"skips": 3}, True),
    ("last_score + 0 + event.properties.x == 3", {"last_score": 1, "event": {"properties": {"x": 2}}}, True),
    ("module.seconds / 60 > 1.5 and module.seconds * 2 < 400", {"module": {"seconds": 120}}, True),
    ("-skips < 0", {"skips": 3}, True),
    ("now.hour >= 21 or now.hour < 8 or not (skips > 1e3)", {"now": {"hour": 12}, "skips": 0}, True),
    ('attributes.api_access == true and attributes.level != null and role == "x"', {"attributes": {}}, False),
    ('event.properties.plan in ["pro", "team"]', {"event": {"properties": {"plan": "pro"}}}, True),
    ("last_score == [1, 2]", {"last_score": [1, 2]}, True),
    ("skips >= 3 and\n  skip_streak >= 2", {"skips": 3, "skip_streak": 2}, True),
]


@pytest.mark.parametrize(("expression", "values", "expected"), ALLOWED)
def test_the_documented_language_compiles_and_decides(expression, values, expected):
    condition = compile_condition(expression, VOCABULARY)

    assert condition.evaluate(values) == (expected, None)
    assert condition.evaluate_slowly(values) == (expected, None)


def _conditions_in(document: Any) -> list[str]:
    """Every ``when`` and ``where`` string anywhere in a YAML document."""
    found, pending = [], [document]
    while pending:
        item = pending.pop()
        if isinstance(item, dict):
            found += [value for key, value in item.items() if key in ("when", "where") and isinstance(value, str)]
            pending += item.values()
        elif isinstance(item, list):
            pending += item
    return found


def _shipped_documents() -> list[tuple[Path, Any]]:
    paths = [
        *ROOT.glob("playbooks/demo/*.yaml"),
        *ROOT.glob("tests/scenarios/**/*.yaml"),
        *ROOT.glob("docs/examples/*.yaml"),
    ]
    return [(path, yaml.safe_load(path.read_text())) for path in sorted(paths)]


def test_every_shipped_condition_still_compiles_and_runs_on_closures():
    conditions = 0
    for path, document in _shipped_documents():
        signals = (document.get("signals") or {}) if isinstance(document, dict) else {}
        vocabulary = vocabulary_for(tuple((name, spec.get("aggregate", "count")) for name, spec in signals.items()))
        for expression in _conditions_in(document):
            filtered = any(isinstance(s, dict) and s.get("where") == expression for s in signals.values())
            condition = compile_condition(expression, EVENT_FILTER if filtered else vocabulary)
            assert condition._fast is not None, (path, expression)
            conditions += 1
    assert conditions >= 6  # the demo playbook and its scenario copy at least


@pytest.mark.parametrize(
    ("expression", "column", "message"),
    [
        ("skips >= 1 and " * 2000 + "true", MAX_LENGTH + 1, "condition too long: 30,004 characters, at most 2,000"),
        ("not " * 500 + "true", MAX_LENGTH + 1, "condition too long"),
        (" and ".join(["true"] * 120), 906, f"too many operators: more than {MAX_OPERATORS} (the next one is at"),
        ("not " * 150 + "true", 401, f"too many operators: more than {MAX_OPERATORS} (the next one is at column 401)"),
        ("-" * 150 + "1 < skips", 101, "too many operators"),
        ("(" * 500 + "true" + ")" * 500, MAX_NESTING + 1, f"brackets nested more than {MAX_NESTING} deep at column 51"),
        ("[" * 60 + "1" + "]" * 60 + " == null", MAX_NESTING + 1, "brackets nested more than 50 deep"),
    ],
)
def test_too_long_or_too_deep_is_refused_quickly_before_rule_engine_recurses(expression, column, message):
    error = _quickly(lambda: _error(expression))

    assert error.message.startswith(message), error.message
    assert error.column == column
    assert len(error.pointer()) < 250  # a window around the caret, not the whole text


@pytest.mark.parametrize(
    "expression",
    [
        "not " * MAX_OPERATORS + "true",
        " and ".join(["skips >= 1"] * (MAX_OPERATORS // 2)),
        "(" * MAX_NESTING + "skips >= 1" + ")" * MAX_NESTING,
        "[" * MAX_NESTING + "1" + "]" * MAX_NESTING + " != null",
        "-" * (MAX_OPERATORS - 1) + "1 < skips",
    ],
)
def test_conditions_at_the_limits_compile_and_run(expression):
    condition = _quickly(lambda: compile_condition(expression, VOCABULARY))

    matched, note = condition.evaluate({"skips": 1})
    assert isinstance(matched, bool) and note is None


def _with_stack_left(frames: int, call: Callable[[], Any]) -> Any:
    """Run ``call`` with only about ``frames`` frames left before the recursion limit, as deep inside a request."""
    depth, frame = 0, sys._getframe()
    while frame is not None:
        depth, frame = depth + 1, frame.f_back

    def descend(remaining: int) -> Any:
        return call() if remaining <= 0 else descend(remaining - 1)

    return descend(sys.getrecursionlimit() - depth - frames)


def test_a_recursion_error_anywhere_becomes_a_condition_error():
    expression = "[" * MAX_NESTING + "skips" + "]" * MAX_NESTING + " != null and not not skips >= 1.25"

    error = _with_stack_left(120, lambda: _error(expression))

    assert error.message == "too deeply nested to check; simplify the condition"
    assert compile_condition(expression, VOCABULARY).evaluate({"skips": 2}) == (True, None)  # with room, it is fine


def test_long_errors_point_at_a_window_of_the_text():
    expression = "skips >= 1 and " * 20 + "skips % 2 == 0" + " and skips >= 1" * 20

    error = _error(expression)

    text, caret = error.pointer().splitlines()
    assert error.column == 307 and len(text) <= 102
    assert text[caret.index("^")] == "%"


# Fuzzing: any text at all gives a Condition or a ConditionError, quickly.
ANY_CHARACTER = st.characters(codec=None, exclude_categories=())
TOKENS = [
    *("skips", "role", "roles", "attributes", "attributes.department", "event.type", "event.properties.x"),
    *("module.seconds", "now.hour", "last_score", "tickets_7d", "$range", "$sum", "$map", "x", "length"),
    *("and", "or", "not", "in", "for", "if", "else", "true", "false", "null", "inf", "nan"),
    *("==", "!=", "<", "<=", ">", ">=", "+", "-", "*", "/", "//", "%", "**", "&", "|", "^", "<<", ">>"),
    *("=~", "!~", "??", "&.", "&[", "?", ":", ".", ",", "(", ")", "[", "]", "{", "}", "#"),
    *("0", "1", "3.5", "1e308", "1e999999", "0x1f", '"a"', "'b'", 'r"c"', 'd"2026-01-01"', 't"P1D"', 'b"x"'),
    *("\x00", "\ud800", "\u202e", "\r", "\n", "\t", " "),
]
NESTED = st.builds(
    lambda pattern, count: pattern[0] * count + pattern[1] + pattern[2] * count,
    st.sampled_from(
        [("(", "skips", ")"), ("[", "1", "]"), ("not ", "true", ""), ("-", "1", ""), ("", "true", " and true")]
        + [("", "module", ".slug"), ("$abs(", "1", ")"), ("[x for x in ", "roles", "]")]
    ),
    st.integers(0, 1500),
)
HOSTILE_TEXT = (
    st.text(ANY_CHARACTER, max_size=300)
    | st.lists(st.sampled_from(TOKENS), max_size=80).map(" ".join)
    | st.lists(st.sampled_from(TOKENS), max_size=80).map("".join)
    | NESTED
)


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(expression=HOSTILE_TEXT)
def test_any_text_gives_a_condition_or_a_condition_error_quickly(expression):
    try:
        condition = _quickly(lambda: compile_condition(expression, VOCABULARY))
    except ConditionError as error:
        assert 1 <= error.column <= max(len(expression), MAX_LENGTH) + 1
        (error.message + error.pointer()).encode("utf-8")
    else:
        assert isinstance(condition, Condition)
        matched, note = condition.evaluate({})
        assert isinstance(matched, bool) and (note is None or len(note) < 300)
