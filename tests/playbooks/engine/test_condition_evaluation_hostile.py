"""Evaluating a condition never raises: whatever the values (huge, inf, nan, of the wrong type, missing, deeply nested),
one that cannot be decided is false with a short note, on the closures and on rule-engine alike."""

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from playbooks.engine.conditions import ConditionError, compile_condition, vocabulary_for
from tests.utils import CpuSeconds

VOCABULARY = vocabulary_for((("tickets_7d", "count"), ("last_score", "last")))
NUMBERS = ["skips", "skip_streak", "idle_hours", "days_enrolled", "tickets_7d", "module.seconds", "now.hour"]
ANYTHING = ["last_score", "attributes.level", "attributes.department", "event.properties.duration_seconds"]
STRINGS = ["role", "event.type", "module.slug"]

# Every construct of the language, on the closures and (arithmetic) on rule-engine.
CONDITIONS = [
    "skips / tickets_7d > 1",
    "skips * 1e308 * 1e308 > 1",
    "module.seconds - skips + idle_hours * 2 >= -1.5",
    "-last_score < 0",
    "last_score + 0 + last_score == 2",
    "1 + event.properties.duration_seconds > last_score",
    "last_score in event.type",
    "last_score in roles",
    '"a" in last_score',
    "last_score in last_score",
    'event.properties.duration_seconds in [1, 2.5, "x", null, true]',
    "attributes.level < 3 or attributes.level >= 1e300",
    'attributes.department == "support" and not (attributes.level != null)',
    "last_score == [1, [2]]",
    "now.hour >= 21 or now.hour < 8",
    'role in ["support_specialist", "sales"] and "team_lead" not in roles',
    "module.completion_pct >= 75 or module.slug == null",
    'event.type == "module_completed" and event.properties.duration_seconds < 30',
]

EXTREMES = [2**63, 2**53 + 1, 1e308, -1e308, 5e-324, float("inf"), float("-inf"), float("nan"), 0, -0.0]
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=10)
    | st.sampled_from([*EXTREMES, "", "support", "module_completed"])
    | st.sampled_from([400, 5000]).map(lambda digits: -(10**digits))  # built, not listed: too long for repr()
    | st.integers(1, 100_000).map(lambda length: "x" * length)
)
VALUES = st.recursive(
    SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
)


class _Deep(list):
    """A list nested ``depth`` levels deep that says so when printed: Hypothesis pretty-prints every example it
    reports, recursively, and would itself hit the recursion limit on the 3,000 levels."""

    def __repr__(self) -> str:
        return f"<a list nested {self.depth} levels deep>"


def _deep(depth: int) -> list:
    value: list = []
    for _ in range(depth):
        value = [value]
    deep = _Deep(value)
    deep.depth = depth + 1
    return deep


def _mapping_or_anything(keys: list[str]) -> st.SearchStrategy:
    """A mapping with these keys (some missing), or a value that is not a mapping at all."""
    return st.dictionaries(st.sampled_from(keys), VALUES | st.builds(_deep, st.integers(0, 3000))) | VALUES


@st.composite
def hostile_contexts(draw: st.DrawFn) -> dict:
    names = ["roles", "role", "skips", "skip_streak", "idle_hours", "days_enrolled", "tickets_7d", "last_score"]
    context = {name: draw(VALUES) for name in names if draw(st.booleans())}
    if draw(st.booleans()):
        context["attributes"] = draw(_mapping_or_anything(["level", "department"]))
    if draw(st.booleans()):
        context["module"] = draw(_mapping_or_anything(["slug", "seconds", "completion_pct"]))
    if draw(st.booleans()):
        context["now"] = draw(_mapping_or_anything(["hour"]))
    if draw(st.booleans()):
        event = draw(_mapping_or_anything(["type"]))
        if isinstance(event, dict) and draw(st.booleans()):
            event["properties"] = draw(_mapping_or_anything(["duration_seconds"]))
        context["event"] = event
    return context


def _decides_with_a_short_note(result: tuple) -> None:
    matched, note = result
    assert isinstance(matched, bool)
    assert note is None or (not matched and note.startswith("could not evaluate (") and len(note) < 300)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(context=hostile_contexts(), index=st.integers(0, len(CONDITIONS) - 1))
def test_no_value_makes_evaluation_raise(context, index):
    condition = compile_condition(CONDITIONS[index], VOCABULARY)
    with CpuSeconds() as spent:
        _decides_with_a_short_note(condition.evaluate(context))
        _decides_with_a_short_note(condition.evaluate_slowly(context))

    assert spent.seconds < 1.0


@pytest.mark.parametrize(
    ("expression", "values", "note"),
    [
        ("skips / tickets_7d > 1", {"skips": 3, "tickets_7d": 0}, "arithmetic error: division by zero"),
        ("last_score in event.type", {"last_score": 3, "event": {"type": "abc"}}, "cannot look for 3 in a string"),
        ("skips >= 3", {"skips": float("nan")}, "cannot order nan and 3.0"),
        ("skips >= 3", {"skips": "x" * 100_000}, "cannot order 'xxxxxxxxxxxxxxxxx...xxxxxxxxxxxxxxxxxx' and 3.0"),
        ("skips >= 3", {"skips": 10**5000}, None),
        ("module.seconds > 1", {"module": "not a mapping"}, "no 'seconds' on 'not a mapping'"),
        ('last_score == "a"', {"last_score": _deep(5000)}, None),
        ("last_score + 1 > 1", {"last_score": _deep(5000)}, "a value nested too deeply"),
        (
            "last_score + 0 + last_score == 1",  # text is never joined: no string of any size is built
            {"last_score": "x" * 2_000_000},
            'TypeError: can only concatenate str (not "decimal.Decimal") to str',
        ),
    ],
)
def test_what_cannot_be_decided_is_false_with_a_note_that_says_why(expression, values, note):
    matched, said = compile_condition(expression, VOCABULARY).evaluate(values)

    if note is None:
        assert said is None
    else:
        assert matched is False and said == f"could not evaluate ({note}); taken as false"


def test_huge_arithmetic_is_fine():
    condition = compile_condition("skips * 1e308 * 1e308 > 1 and skips / 1e-300 > 1", VOCABULARY)

    assert condition.evaluate({"skips": 1e308}) == (True, None)
    assert condition.evaluate({"skips": 10**5000}) == (True, None)


# Conditions generated from the language itself, so that fuzzing reaches evaluation, not only the parser.
LEAVES = st.sampled_from(NUMBERS + ANYTHING + STRINGS + ["roles", "0", "-1.5", "1e308", '"a"', "true", "null"])
EXPRESSIONS = st.recursive(
    LEAVES,
    lambda inner: st.one_of(
        st.tuples(inner, st.sampled_from(["==", "!=", "<", ">=", "+", "-", "*", "/", "and", "or", "in"]), inner).map(
            " ".join
        ),
        inner.map(lambda text: f"not ({text})"),
        inner.map(lambda text: f"-({text})"),
        st.lists(inner, max_size=3).map(lambda items: f"[{', '.join(items)}]"),
    ),
    max_leaves=12,
)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(expression=EXPRESSIONS, context=hostile_contexts())
def test_generated_conditions_compile_or_are_refused_and_never_raise_when_run(expression, context):
    try:
        condition = compile_condition(expression, VOCABULARY)
    except ConditionError:
        event("refused")
        return
    event("compiled")
    _decides_with_a_short_note(condition.evaluate(context))
    _decides_with_a_short_note(condition.evaluate_slowly(context))
