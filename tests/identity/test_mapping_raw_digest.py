"""The raw digest (what mapping reads of an entry, with the mapping's fingerprint) and what a Mapper works out once
per distinct value in a run: groups, roles, e-mail domains. Pure, no database."""

import pytest
from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator

from conditions.compiler import Condition
from identity import mapping
from identity.mapping import Mapper, MappingError, MappingRule, RoleRuleSpec
from identity.sources.base import Entry

MAPPINGS = [
    MappingRule("mail", "email", "lower"),
    MappingRule("cn", "display_name"),
    MappingRule("level", "attributes.level", "integer"),
]
RULES = [RoleRuleSpec('"support" in groups', "support"), RoleRuleSpec("attributes.level >= 3", "team_lead")]


def _mapper(mappings=MAPPINGS, rules=RULES, external_id_from="") -> Mapper:
    return Mapper(external_id_from=external_id_from, mappings=mappings, rules=rules)


def _entry(remote_id="r1", groups=("support",), enabled=True, **attributes) -> Entry:
    values = {"mail": "Ada@Example.com", "cn": "Ada", "level": "3", "phone": "+41 1"} | attributes
    return Entry(remote_id=remote_id, attributes=values, groups=tuple(groups), enabled=enabled, ref="cn=ada")


def test_the_raw_digest_covers_what_mapping_reads_and_nothing_else():
    mapper = _mapper()
    digest = mapper.raw_digest(_entry())

    assert len(digest) == 64 and mapper.raw_digest(_entry()) == digest
    assert mapper.raw_digest(_entry(phone="+41 2", title="new")) == digest  # not mapped
    changed = [
        _entry(cn="Ada L."),
        _entry(mail="ada@example.com"),  # the same once lowered: still a change as given
        _entry(level=3),  # '3' and 3 are told apart
        _entry(groups=("support", "ops")),
        _entry(groups=()),
        _entry(enabled=False),
        _entry(remote_id="r2"),
        Entry(remote_id="r1", attributes={"mail": "Ada@Example.com", "cn": "Ada"}, groups=("support",)),  # no level
    ]
    assert len({mapper.raw_digest(entry) for entry in changed} | {digest}) == len(changed) + 1


def test_the_raw_digest_reads_attributes_as_mapping_does_ignoring_case():
    mapper = _mapper()
    spelled = Entry(remote_id="r1", attributes={"MAIL": "Ada@Example.com", "CN": "Ada", "Level": "3"}, groups=())
    other = Entry(remote_id="r1", attributes={"MAIL": "Bob@Example.com", "CN": "Ada", "Level": "3"}, groups=())

    assert mapper.raw_values(spelled) == ("Ada@Example.com", "Ada", "3")
    assert mapper.raw_digest(spelled) != mapper.raw_digest(other)
    assert mapper.map(spelled).fields == {"email": "ada@example.com", "display_name": "Ada"}


def test_the_external_id_attribute_is_part_of_the_raw_digest():
    mapper = _mapper(external_id_from="employeeNumber")

    assert mapper.raw_digest(_entry(employeeNumber="E1")) != mapper.raw_digest(_entry(employeeNumber="E2"))
    assert mapper.attributes_read == {"mail", "cn", "level", "employeeNumber"}


@pytest.mark.parametrize(
    "other",
    [
        {"mappings": [*MAPPINGS[:2], MappingRule("level", "attributes.level")]},  # a transform
        {"mappings": MAPPINGS[:2]},  # a mapping removed
        {"mappings": [*MAPPINGS, MappingRule("phone", "attributes.phone")]},  # one added
        {"rules": [RULES[0], RoleRuleSpec("attributes.level >= 2", "team_lead")]},  # a condition
        {"rules": [RULES[0], RoleRuleSpec("attributes.level >= 3", "lead")]},  # the role it gives
        {"rules": RULES[:1]},
        {"external_id_from": "employeeNumber"},
    ],
)
def test_any_change_to_the_mapping_or_rules_changes_every_raw_digest(other):
    entry = _entry(employeeNumber="E1")

    assert _mapper(**other).fingerprint != _mapper().fingerprint
    assert _mapper(**other).raw_digest(entry) != _mapper().raw_digest(entry)


def test_the_fingerprint_includes_the_mapping_version(monkeypatch):
    before = _mapper().fingerprint
    monkeypatch.setattr(mapping, "MAPPING_VERSION", mapping.MAPPING_VERSION + 1)

    assert _mapper().fingerprint != before


def test_each_distinct_tuple_of_groups_is_checked_once_per_run(monkeypatch):
    checked = []
    original = mapping._checked_groups
    monkeypatch.setattr(mapping, "_checked_groups", lambda groups: checked.append(groups) or original(groups))
    mapper = _mapper()

    for n in range(5):
        mapper.map(_entry(remote_id=f"r{n}", groups=("support", "staff")))
    mapper.map(_entry(groups=("staff",)))

    assert checked == [("support", "staff"), ("staff",)]
    assert mapper.map(_entry(groups=("staff", "support"))).groups == ("staff", "support")


def test_a_bad_group_name_is_refused_each_time_it_is_met():
    mapper = _mapper()
    for _ in range(2):
        with pytest.raises(MappingError, match="a group name contains a NUL character"):
            mapper.map(_entry(groups=("ok", "bad\x00")))


def test_role_rules_run_once_per_distinct_attributes_and_groups(monkeypatch):
    evaluated = []
    original = Condition.evaluate

    def counting(self, values):
        evaluated.append(self.expression)
        return original(self, values)

    monkeypatch.setattr(Condition, "evaluate", counting)
    mapper = _mapper()

    roles = [mapper.map(_entry(remote_id=f"r{n}", cn=f"Person {n}")).roles for n in range(10)]

    assert roles == [("support", "team_lead")] * 10
    assert len(evaluated) == 2  # two rules, one distinct (attributes, groups)
    assert mapper.map(_entry(level="2")).roles == ("support",)
    assert len(evaluated) == 4


def test_role_rules_tell_apart_values_python_finds_equal():
    mapper = Mapper(
        mappings=[MappingRule("flag", "attributes.flag")],
        rules=[RoleRuleSpec("attributes.flag == true", "flagged")],
    )
    as_number = Entry(remote_id="a", attributes={"flag": 1})
    as_boolean = Entry(remote_id="b", attributes={"flag": True})

    assert mapper.map(as_number).roles == () and mapper.map(as_boolean).roles == ("flagged",)
    assert mapper.map(as_number).roles == ()


@pytest.mark.parametrize(
    ("attributes", "field", "message"),
    [
        ({"cn": "Ada\x00"}, "cn", "display_name contains a NUL character"),
        ({"cn": "Ada\ud800"}, "cn", "display_name contains a lone UTF-16 surrogate"),
        ({"mail": "ada\x00@example.com"}, "mail", "email contains a NUL character"),
        ({"dept": ["ok", "\udfff"]}, "dept", "attributes.dept contains a lone UTF-16 surrogate"),
    ],
)
def test_hostile_strings_are_still_refused(attributes, field, message):
    mapper = Mapper(mappings=[*MAPPINGS, MappingRule("dept", "attributes.dept")])

    with pytest.raises(MappingError, match=message) as caught:
        mapper.map(_entry(**attributes))
    assert caught.value.field == field


def test_a_hostile_external_id_is_refused():
    with pytest.raises(MappingError, match="contains a NUL character"):
        _mapper(external_id_from="uid").map(_entry(uid="ada\x00"))


@pytest.mark.parametrize(
    "address",
    [
        "a@b.com",
        "A.B+tag@Example.COM",
        "a@localhost",
        "a@[127.0.0.1]",
        "a@[::1]",
        "a@[999.1.1.1]",
        '"quoted x"@example.com',
        "a..b@c.com",
        "a@b",
        "a@-b.com",
        "a@b.c",
        "a@" + "b" * 64 + ".com",
        "x" * 310 + "@example.com",
        "üser@example.com",
        "user@exämple.com",
        "a@b@c.com",
        "@b.com",
        "a@",
        "a b@c.com",
        "a@xn--bcher-kva.ch",
        "a@1.2.3.4",
        "a@b.123",
    ],
)
def test_e_mail_addresses_are_judged_as_djangos_validator_judges_them(address):
    try:
        EmailValidator()(address)
        valid = True
    except ValidationError:
        valid = False

    assert mapping._is_email(address) is valid
    assert mapping._is_email(address) is valid  # the domain's verdict, remembered
