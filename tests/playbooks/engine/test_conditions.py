import pytest

from playbooks.engine.conditions import ConditionError, compile_condition, vocabulary_for

VOCABULARY = vocabulary_for((("tickets_7d", "count"), ("last_score", "last")))


def _error(expression: str) -> ConditionError:
    with pytest.raises(ConditionError) as caught:
        compile_condition(expression, VOCABULARY)
    return caught.value


def test_unknown_name_points_at_it_and_suggests_the_closest():
    error = _error("skips >= 1 and avg_module_secs < 90")

    assert error.message == "unknown name 'avg_module_secs' at column 16; did you mean 'avg_module_seconds'?"
    assert error.pointer() == "skips >= 1 and avg_module_secs < 90\n               ^"


def test_a_playbook_signal_is_a_known_name():
    assert _error("tickets_7 >= 14").message == "unknown name 'tickets_7' at column 1; did you mean 'tickets_7d'?"
    assert compile_condition("tickets_7d >= 14", VOCABULARY).evaluate({"tickets_7d": 14}) == (True, None)


def test_unknown_attribute_of_module_is_caught():
    error = _error("module.secnds < 60")

    assert error.message == "unknown attribute 'secnds' of 'module' at column 8; did you mean 'seconds'?"


def test_type_errors_point_at_the_clause():
    error = _error("skips >= 3 and role >= 14")

    assert error.column == 16
    assert "type error at column 16 in 'role >= 14'" in error.message


@pytest.mark.parametrize("operator", ["=~", "!~", "=~~", "!~~"])
def test_regex_operators_are_refused(operator):
    error = _error(f'role {operator} "(a+)+$"')

    assert error.message.startswith(f"regex operator '{operator}' at column 6 is not allowed")


def test_regex_like_text_inside_a_string_is_fine():
    assert compile_condition('role == "=~"', VOCABULARY).evaluate({"role": "=~"}) == (True, None)


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("skips >= ", "incomplete expression"),
        ("skips >= 3 and )", "syntax error at column 16: unexpected ')'"),
        ("", "empty condition"),
    ],
)
def test_syntax_errors_say_where(expression, message):
    assert message in _error(expression).message


def test_a_missing_value_at_run_time_is_false_with_a_note():
    condition = compile_condition("event.properties.duration_seconds < 30", VOCABULARY)

    matched, note = condition.evaluate({"event": {"type": None, "module": None, "properties": {}}})

    assert matched is False and "could not evaluate" in note


def test_conditions_compile_once():
    assert compile_condition("skips >= 3", VOCABULARY) is compile_condition("skips >= 3", VOCABULARY)
