"""Mapping an entry: transforms, the external id, role rules in the condition language (pure, no database)."""

import pytest

from identity.mapping import Mapper, MappingError, MappingRule, RoleRuleSpec, parse_grace_period, role_rule_problem
from identity.sources.base import Entry


def _map(attributes, *mappings, rules=(), external_id_from="", groups=()):
    mapper = Mapper(
        external_id_from=external_id_from,
        mappings=[MappingRule(*mapping) for mapping in mappings],
        rules=[RoleRuleSpec(*rule) for rule in rules],
    )
    return mapper.mapped(Entry(remote_id="r1", attributes=attributes, groups=tuple(groups), ref="cn=ada"))


@pytest.mark.parametrize(
    ("raw", "transform", "expected"),
    [
        ("Ada@Example.COM", "lower", "ada@example.com"),
        (["a", "B"], "upper", ["A", "B"]),
        (["first", "second"], "first", "first"),
        (["a", "b"], "join", "a,b"),
        ("Enabled", "boolean", True),
        ("0", "boolean", False),
        (" 42 ", "integer", 42),
        (["7"], "integer", 7),
    ],
)
def test_transforms(raw, transform, expected):
    assert _map({"x": raw}, ("x", "attributes.x", transform)).attributes == {"x": expected}


@pytest.mark.parametrize(
    ("raw", "transform", "message"),
    [
        ("maybe", "boolean", "'maybe' is not true or false"),
        ("4.5", "integer", "'4.5' is not a whole number"),
        (True, "integer", "True is not a whole number"),
    ],
)
def test_a_value_a_transform_cannot_read_names_the_source_attribute(raw, transform, message):
    with pytest.raises(MappingError) as error:
        _map({"level": raw}, ("level", "attributes.level", transform))

    assert error.value.field == "level" and message in error.value.message


def test_learner_fields_are_checked_and_absent_values_are_left_out():
    mapped = _map(
        {"Mail": "ada@example.com", "tz": "Europe/Berlin"},
        ("mail", "email", ""),  # directory attribute names are case-insensitive
        ("tz", "timezone", ""),
        ("dept", "attributes.department", ""),
    )
    assert mapped.fields == {"email": "ada@example.com", "timezone": "Europe/Berlin"}
    assert mapped.attributes == {}

    with pytest.raises(MappingError, match="'Mars/Olympus' is not an IANA time zone"):
        _map({"tz": "Mars/Olympus"}, ("tz", "timezone", ""))
    with pytest.raises(MappingError, match="takes one value, this is a list of 2; use transform 'first'"):
        _map({"mail": ["a@example.com", "b@example.com"]}, ("mail", "email", ""))


def test_the_external_id_comes_from_its_attribute_or_the_remote_id():
    assert _map({}).external_id == "r1"
    assert _map({"employeeNumber": ["E7"]}, external_id_from="employeeNumber").external_id == "E7"
    with pytest.raises(MappingError) as error:
        _map({}, external_id_from="employeeNumber")
    assert error.value.field == "employeeNumber" and "no external id" in error.value.message


def test_every_matching_role_rule_gives_its_role():
    rules = [('"cn=support" in groups', "support"), ("attributes.level >= 3", "team_lead"), ("false", "never")]
    mapped = _map({"level": "3"}, ("level", "attributes.level", "integer"), rules=rules, groups=["cn=support"])

    assert mapped.roles == ("support", "team_lead")


def test_the_hash_changes_only_with_what_is_mapped():
    first = _map({"dept": "x", "noise": "1"}, ("dept", "attributes.department", ""))
    same = _map({"dept": "x", "noise": "2"}, ("dept", "attributes.department", ""))
    moved = _map({"dept": "y"}, ("dept", "attributes.department", ""))

    assert first.digest == same.digest != moved.digest and len(first.digest) == 64


def test_a_role_rule_typo_is_a_condition_error_with_a_caret():
    error = role_rule_problem('attributes.level >= 3 and "x" in grups')

    assert error.message == "unknown name 'grups' at column 34; did you mean 'groups'?"
    assert error.pointer() == 'attributes.level >= 3 and "x" in grups\n' + " " * 33 + "^"
    assert "built-in '$len' at column 1 is not allowed" in role_rule_problem("$len(groups) > 1").message


def test_grace_periods():
    assert parse_grace_period("7d").days == 7 and parse_grace_period("0").total_seconds() == 0
    with pytest.raises(ValueError, match="is not a duration"):
        parse_grace_period("a week")
