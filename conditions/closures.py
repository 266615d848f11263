"""Type-checked conditions compiled once into a tree of Python closures, for speed (no ``eval``: each node of
rule-engine's AST becomes a small function). rule-engine resolves and coerces every symbol on every evaluation,
about 12 µs per condition; the closures take about 1 µs.

Only the node kinds our vocabulary produces are compiled; anything else raises ``Unsupported`` at compile time and
the condition keeps running on rule-engine: arithmetic does, so that it computes in rule-engine's decimals, exactly
as the save-time check folded constants. A value that cannot be compared at run time (null < 30, 3 in "abc", nan)
raises ``NotComparable``, which the caller reads as false, as it does rule-engine's evaluation errors.

The work is bounded by construction: the condition language has no loops, calls or powers (compiler.py), so each
node runs once per evaluation and costs at most the size of the values it reads.
"""

import reprlib
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from rule_engine import ast

Closure = Callable[[Mapping[str, Any]], Any]


class Unsupported(Exception):
    pass


class NotComparable(Exception):
    pass


# Notes quote values, and values come from events: keep them short.
_SHORT = reprlib.Repr()
_SHORT.maxstring = _SHORT.maxother = _SHORT.maxlong = 40
_SHORT.maxlist = _SHORT.maxtuple = _SHORT.maxdict = _SHORT.maxset = 4
_SHORT.maxlevel = 2

_ORDER = {"lt": lambda a, b: a < b, "le": lambda a, b: a <= b, "gt": lambda a, b: a > b, "ge": lambda a, b: a >= b}


def shown(value: Any) -> str:
    """A short repr of a value for a note."""
    try:
        return _SHORT.repr(value)
    except ValueError:  # an int with more digits than Python prints (sys.get_int_max_str_digits)
        return f"a {type(value).__name__} too long to show"


def compile_closure(node: ast.ExpressionBase) -> Closure:
    compiler = _COMPILERS.get(type(node))
    if compiler is None:
        raise Unsupported(type(node).__name__)
    return compiler(node)


def _literal(node) -> Closure:
    value = float(node.value) if isinstance(node.value, Decimal) else node.value
    return lambda context: value


def _symbol(node: ast.SymbolExpression) -> Closure:
    name = node.name
    return lambda context: context.get(name)


def _attribute(node: ast.GetAttributeExpression) -> Closure:
    owner, name = compile_closure(node.object), node.name

    def get(context):
        value = owner(context)
        if not isinstance(value, Mapping):
            raise NotComparable(f"no '{name}' on {shown(value)}")
        return value.get(name)

    return get


def _item(node: ast.GetItemExpression) -> Closure:
    container, item = compile_closure(node.container), compile_closure(node.item)

    def get(context):
        value, key = container(context), item(context)
        if not isinstance(value, Mapping):
            raise NotComparable(f"no [{shown(key)}] on {shown(value)}")
        return value.get(key)

    return get


def _equality(node: ast.ComparisonExpression) -> Closure:
    if node.type not in ("eq", "ne"):
        raise Unsupported(f"comparison {node.type}")
    left, right, equal = compile_closure(node.left), compile_closure(node.right), node.type == "eq"
    return lambda context: (_same(left(context), right(context))) == equal


def _same(a: Any, b: Any) -> bool:
    # true == 1 is false in rule-engine, unlike Python.
    if isinstance(a, bool) != isinstance(b, bool):
        return False
    return a == b


def _order(node: ast.ArithmeticComparisonExpression) -> Closure:
    left, right, compare = compile_closure(node.left), compile_closure(node.right), _ORDER[node.type]

    def run(context):
        a, b = left(context), right(context)
        numbers = all(isinstance(v, int | float) and not isinstance(v, bool) for v in (a, b))
        if not (numbers or (isinstance(a, str) and isinstance(b, str))):
            raise NotComparable(f"cannot order {shown(a)} and {shown(b)}")
        if numbers and (a != a or b != b):  # nan: rule-engine's decimals refuse to order it
            raise NotComparable(f"cannot order {shown(a)} and {shown(b)}")
        return compare(a, b)

    return run


def _logic(node: ast.LogicExpression) -> Closure:
    left, right = compile_closure(node.left), compile_closure(node.right)
    if node.type == "and":
        return lambda context: bool(left(context)) and bool(right(context))
    if node.type == "or":
        return lambda context: bool(left(context)) or bool(right(context))
    raise Unsupported(f"logic {node.type}")


def _unary(node: ast.UnaryExpression) -> Closure:
    if node.type != "not":
        raise Unsupported(f"unary {node.type}")
    operand = compile_closure(node.right)
    return lambda context: not bool(operand(context))


def _contains(node: ast.ContainsExpression) -> Closure:
    container, member = compile_closure(node.container), compile_closure(node.member)

    def run(context):
        haystack = container(context)
        if not isinstance(haystack, list | tuple | str | set | frozenset | Mapping):  # a mapping: its keys
            raise NotComparable(f"cannot look inside {shown(haystack)}")
        needle = member(context)
        if isinstance(haystack, str) and not isinstance(needle, str):
            raise NotComparable(f"cannot look for {shown(needle)} in a string")
        try:
            return needle in haystack
        except TypeError:  # an unhashable value looked up in a set or among a mapping's keys
            raise NotComparable(f"cannot look for {shown(needle)} in {shown(haystack)}") from None

    return run


def _array(node: ast.ArrayExpression) -> Closure:
    # A list, like the values it is compared with (JSON arrays): [1] == [1.0] holds, as it does in rule-engine.
    members = [compile_closure(member) for member in node.value]
    if node.is_reduced:  # all literals: build it once (nothing mutates it)
        constant = [member({}) for member in members]
        return lambda context: constant
    return lambda context: [member(context) for member in members]


_COMPILERS: dict[type, Callable[[Any], Closure]] = {
    ast.FloatExpression: _literal,
    ast.StringExpression: _literal,
    ast.BooleanExpression: _literal,
    ast.NullExpression: _literal,
    ast.ArrayExpression: _array,
    ast.SymbolExpression: _symbol,
    ast.GetAttributeExpression: _attribute,
    ast.GetItemExpression: _item,
    ast.ComparisonExpression: _equality,
    ast.ArithmeticComparisonExpression: _order,
    ast.LogicExpression: _logic,
    ast.UnaryExpression: _unary,
    ast.ContainsExpression: _contains,
}
