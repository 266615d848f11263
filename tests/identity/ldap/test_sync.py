"""The sync of an LDAP source against the real slapd: joiners, movers, leavers, renames, returners, the brake."""

from datetime import timedelta

import ldap
import pytest
from django.utils import timezone

from identity.models import AttributeMapping, IdentitySource, Learner, Role, RoleRule, SourceLink, SyncRunStatus
from identity.services.sync import source_sync

T0 = timezone.now().replace(microsecond=0) - timedelta(days=30)


@pytest.fixture
def roles(db) -> dict[str, Role]:
    return {
        slug: Role.objects.create(slug=slug, name=slug.replace("_", " ").title())
        for slug in ("support_specialist", "sales_rep")
    }


def ldap_source(directory, roles, **fields) -> IdentitySource:
    """A source on the test directory, its password read from the variable bin/test exports."""
    source = IdentitySource.objects.create(
        name="corp-ldap",
        kind="ldap",
        settings=directory.settings(disabled_filter="(employeeType=disabled)"),
        secret_env="ONBOARDING_TEST_LDAP_BIND_PASSWORD",
        grace_period="7d",
        **fields,
    )
    for position, (attribute, target) in enumerate(
        [("mail", "email"), ("cn", "display_name"), ("departmentNumber", "attributes.department")]
    ):
        AttributeMapping.objects.create(source=source, position=position, source_attribute=attribute, target=target)
    for position, (group, role) in enumerate([("support", "support_specialist"), ("sales", "sales_rep")]):
        when = f'"cn={group},{directory.groups}" in groups'  # the nested groups resolved, DNs in lower case
        RoleRule.objects.create(source=source, position=position, when=when, role=roles[role])
    return source


def people() -> dict[str, tuple[bool, list[str]]]:
    """Every learner by display name: (active, roles)."""
    return {
        learner.display_name: (learner.is_active, sorted(a.role.slug for a in learner.role_assignments.all()))
        for learner in Learner.objects.prefetch_related("role_assignments__role")
    }


def link_of(display_name: str) -> SourceLink:
    return SourceLink.objects.get(learner__display_name=display_name)


def sync(source: IdentitySource, at, **options):
    run = source_sync(source=source, now=at, **options)
    assert run.errors == [], run.errors
    return run


def test_joiners_movers_leavers_renames_and_returners_over_several_runs(directory, roles):
    d = directory
    alice = d.person("alice", cn="Alice")
    bob = d.person("bob", cn="Bob")
    carol = d.person("carol", cn="Carol")
    dave = d.person("dave", cn="Dave")
    d.person("frank", cn="Frank")
    gina = d.person("gina", cn="Gina")
    hank = d.person("hank", cn="Hank")
    support_l2 = d.group("support-l2", [alice])
    support = d.group("support", [support_l2, bob, gina])
    sales = d.group("sales", [carol, dave, hank])
    former = d.add(f"ou=former,{d.dn}", objectClass="organizationalUnit", ou="former")
    source = ldap_source(d, roles, deactivation_brake=50)

    first = sync(source, T0)

    assert first.status == SyncRunStatus.SUCCEEDED
    assert first.counts["created"] == 7
    assert people() == {
        "Alice": (True, ["support_specialist"]),  # through support-l2, a member of support
        "Bob": (True, ["support_specialist"]),
        "Carol": (True, ["sales_rep"]),
        "Dave": (True, ["sales_rep"]),
        "Frank": (True, []),
        "Gina": (True, ["support_specialist"]),
        "Hank": (True, ["sales_rep"]),
    }
    bob_learner, bob_remote_id = Learner.objects.get(display_name="Bob"), link_of("Bob").remote_id
    assert link_of("Alice").remote_id == Learner.objects.get(display_name="Alice").external_id  # the entryUUID

    # A day later: Ivan joins support-l2; Carol moves from sales to support; Bob's uid becomes robert; Dave's
    # account is disabled; Hank leaves; Gina is moved out of the people subtree.
    ivan = d.person("ivan", cn="Ivan")
    d.add_values(support_l2, "member", [ivan])
    d.add_values(support, "member", [carol])
    d.conn.modify_s(sales, [(ldap.MOD_DELETE, "member", [carol.encode()])])
    d.rename(bob, "uid=robert")
    d.replace(dave, "employeeType", ["disabled"])
    d.delete(hank)
    gina = d.rename(gina, "uid=gina", new_superior=former)

    second = sync(source, T0 + timedelta(days=1))

    assert second.status == SyncRunStatus.SUCCEEDED
    assert people() == {
        "Alice": (True, ["support_specialist"]),
        "Bob": (True, ["support_specialist"]),  # the renamed uid: the same learner
        "Carol": (True, ["support_specialist"]),  # the mover: her roles follow her groups
        "Dave": (False, ["sales_rep"]),  # disabled in the directory: deactivated at once
        "Frank": (True, []),
        "Gina": (True, ["support_specialist"]),  # missing, within the grace period: still active
        "Hank": (True, ["sales_rep"]),
        "Ivan": (True, ["support_specialist"]),  # the joiner, through the nested group
    }
    assert Learner.objects.get(display_name="Bob").pk == bob_learner.pk
    assert Learner.objects.filter(display_name="Bob").count() == 1
    assert link_of("Bob").remote_id == bob_remote_id
    assert link_of("Hank").missing_since == T0 + timedelta(days=1)
    assert link_of("Gina").missing_since == T0 + timedelta(days=1)
    assert link_of("Frank").missing_since is None
    counted = ("created", "missing", "deactivated", "roles_added", "roles_removed")
    assert {key: second.counts[key] for key in counted} == {
        "created": 1,
        "missing": 2,
        "deactivated": 1,
        "roles_added": 2,  # Ivan's, Carol's new one
        "roles_removed": 1,  # Carol's sales_rep
    }

    # Eight days after they went missing, past the 7-day grace period; Dave's account is enabled again.
    d.conn.modify_s(dave, [(ldap.MOD_DELETE, "employeeType", None)])

    third = sync(source, T0 + timedelta(days=9))

    assert third.status == SyncRunStatus.SUCCEEDED
    state = people()
    assert state["Hank"] == (False, ["sales_rep"])  # past the grace period: deactivated
    assert state["Gina"] == (False, ["support_specialist"])
    assert state["Dave"] == (True, ["sales_rep"])  # the returning leaver, reactivated
    assert third.counts["deactivated"] == 2
    assert third.counts["reactivated"] == 1

    # Gina comes back into the people subtree: the same entry (entryUUID), the same learner, active again.
    d.rename(gina, "uid=gina", new_superior=d.people)

    fourth = sync(source, T0 + timedelta(days=10))

    assert fourth.counts["reactivated"] == 1
    assert people()["Gina"] == (True, ["support_specialist"])
    assert link_of("Gina").missing_since is None
    assert Learner.objects.count() == 8


def test_unchanged_directory_writes_nothing(directory, roles):
    for uid in ("alice", "bob", "carol"):
        directory.person(uid)
    source = ldap_source(directory, roles)
    sync(source, T0)
    before = {link.pk: (link.entry_hash, link.last_seen_at) for link in SourceLink.objects.all()}

    again = sync(source, T0 + timedelta(days=1))

    assert again.counts["unchanged"] == 3
    assert again.counts["updated"] == again.counts["created"] == 0
    assert {link.pk: (link.entry_hash, link.last_seen_at) for link in SourceLink.objects.all()} == before


def test_the_brake_stops_a_run_that_would_deactivate_half_the_directory(directory, roles):
    dns = [directory.person(f"user{n}", cn=f"User {n}") for n in range(6)]
    source = ldap_source(directory, roles)  # the default brake: 10 %
    sync(source, T0)
    for dn in dns[:3]:
        directory.delete(dn)
    sync(source, T0 + timedelta(days=1))  # marked missing

    held = sync(source, T0 + timedelta(days=9))

    assert held.status == SyncRunStatus.HELD
    assert "would deactivate 3 of the 6 people" in held.held_reason
    assert Learner.objects.filter(is_active=True).count() == 6
    assert held.counts["deactivated"] == 0

    confirmed = sync(source, T0 + timedelta(days=9), confirm=True)

    assert confirmed.status == SyncRunStatus.SUCCEEDED
    assert confirmed.counts["deactivated"] == 3
    assert sorted(Learner.objects.filter(is_active=False).values_list("display_name", flat=True)) == [
        "User 0",
        "User 1",
        "User 2",
    ]


def test_a_directory_that_refuses_the_bind_fails_the_run_and_marks_no_one_missing(directory, roles, monkeypatch):
    for uid in ("alice", "bob"):
        directory.person(uid)
    source = ldap_source(directory, roles)
    sync(source, T0)
    monkeypatch.setenv("ONBOARDING_TEST_LDAP_BIND_PASSWORD", "not-the-password")

    failed = source_sync(source=source, now=T0 + timedelta(days=30))

    assert failed.status == SyncRunStatus.FAILED
    [error] = failed.errors
    assert "corp-ldap" in error["message"]
    assert directory.server.url in error["message"]
    assert "Invalid credentials" in error["message"]
    assert "not-the-password" not in str(failed.errors)
    assert not SourceLink.objects.filter(missing_since__isnull=False).exists()
    assert Learner.objects.filter(is_active=True).count() == 2


def test_an_entry_without_its_id_is_reported_and_the_others_are_synced(directory, roles):
    directory.person("alice", employeeNumber="1001")
    directory.person("erin")
    source = ldap_source(directory, roles)
    source.settings = {**source.settings, "id_attribute": "employeeNumber"}
    source.save()

    run = source_sync(source=source, now=T0)

    assert run.status == SyncRunStatus.SUCCEEDED
    erin = f"uid=erin,{directory.people}"
    assert run.errors == [{"entry": erin, "field": "employeeNumber", "message": "the entry has no employeeNumber"}]
    assert list(Learner.objects.values_list("external_id", flat=True)) == ["1001"]
