"""The LDAP source against a real slapd: what it streams, groups, paging, renames, problems, TLS, failures."""

import socket
import threading
import time
import uuid

import ldap
import ldap.ldapobject
import pytest
from ldap.controls import ManageDSAITControl

from identity.sources.base import Entry, EntryProblem, SourceConfig
from identity.sources.ldap import LdapSource, LdapSourceError, _normalize_parsed, normalize_dn


def by_uid(items) -> dict[str, Entry]:
    items = list(items)
    assert all(isinstance(item, Entry) for item in items), items
    return {item.attributes["uid"]: item for item in items}


def read(source: LdapSource) -> list:
    try:
        return list(source.entries())
    finally:
        source.close()


def group_dn(directory, cn: str) -> str:
    return normalize_dn(f"cn={cn},{directory.groups}")


def test_entries_stream_with_their_attributes(company):
    people = by_uid(read(company.source()))

    assert sorted(people) == ["alice", "bob", "carol", "dave", "erin"]
    alice = people["alice"]
    uuid.UUID(alice.remote_id)  # entryUUID, fetched although it is operational
    assert alice.attributes["entryUUID"] == alice.remote_id
    assert alice.ref == f"uid=alice,{company.people}"
    assert alice.attributes["mail"] == ["alice@example.com", "a.liddell@example.com"]  # several values: a list
    assert alice.attributes["givenName"] == "Alice"  # one value: a string
    assert alice.attributes["employeeNumber"] == "1001"
    assert alice.attributes["objectClass"] == "inetOrgPerson"
    assert "jpegPhoto" not in alice.attributes  # binary
    assert "userPassword" not in alice.attributes  # never copied, even when the bind DN may read it
    assert alice.enabled is True
    assert len({person.remote_id for person in people.values()}) == 5


def test_only_the_listed_attributes_spelled_as_listed(company):
    people = by_uid(read(company.source(attributes=["uid", "MAIL", "departmentnumber"])))

    alice = people["alice"]
    assert set(alice.attributes) == {"uid", "MAIL", "departmentnumber", "entryUUID", "memberOf"}
    assert alice.attributes["departmentnumber"] == "support"


def test_groups_from_memberof_resolve_nesting_and_survive_a_cycle(company):
    people = by_uid(read(company.source()))

    support, l2 = group_dn(company, "support"), group_dn(company, "support-l2")
    assert people["alice"].groups == tuple(sorted([support, l2]))  # in support-l2, which is in support
    assert people["bob"].groups == (support,)
    assert people["carol"].groups == tuple(sorted([group_dn(company, "cycle-a"), group_dn(company, "cycle-b")]))
    assert people["erin"].groups == ()
    # The normal form role rules compare with: lower case, no spaces.
    assert f"cn=support,ou=groups,{company.dn}" in people["alice"].groups


def test_groups_from_a_group_search_resolve_nesting_and_survive_a_cycle(company):
    people = by_uid(read(company.source(groups="search", group_base_dn=company.groups)))

    support, l2 = group_dn(company, "support"), group_dn(company, "support-l2")
    assert people["alice"].groups == tuple(sorted([support, l2]))
    assert people["bob"].groups == (support,)
    assert people["carol"].groups == tuple(sorted([group_dn(company, "cycle-a"), group_dn(company, "cycle-b")]))
    assert "memberOf" not in people["alice"].attributes  # not requested in this mode

    unique = by_uid(
        read(company.source(groups="search", group_base_dn=company.groups, member_attribute="uniqueMember"))
    )
    assert unique["dave"].groups == (group_dn(company, "partners"),)
    assert unique["alice"].groups == ()


def test_unique_member_with_an_optional_uid_and_dn_spelling(directory):
    frank = directory.person("frank")
    spelled = frank.replace("uid=frank,", "UID=Frank, ").replace("ou=people,", "OU=People , ")
    directory.group("team", [f"{spelled}#'0101'B"], unique=True)

    people = by_uid(
        read(directory.source(groups="search", group_base_dn=directory.groups, member_attribute="uniqueMember"))
    )

    assert people["frank"].groups == (group_dn(directory, "team"),)


def test_groups_none(company):
    people = by_uid(read(company.source(groups="none")))

    assert all(person.groups == () for person in people.values())


def test_a_search_per_page(directory, monkeypatch):
    for n in range(5):
        directory.person(f"user{n}")
    searches = []
    original = ldap.ldapobject.SimpleLDAPObject.search_ext

    def counting(self, *args, **kwargs):
        searches.append(args[0])
        return original(self, *args, **kwargs)

    monkeypatch.setattr(ldap.ldapobject.SimpleLDAPObject, "search_ext", counting)
    source = directory.source(page_size=2, groups="none")

    people = by_uid(read(source))

    assert sorted(people) == [f"user{n}" for n in range(5)]
    assert source.pages == 3
    assert searches == [directory.people] * 3


def test_pages_with_nested_groups_read_on_the_side_are_all_read(directory):
    """The next page is asked for before a page is handed over, while groups met on the page are read: those reads
    go on a connection of their own, or the server ends the paged search early."""
    people = [directory.person(f"user{n}") for n in range(7)]
    outer = directory.group("outer", [f"cn=placeholder,{directory.groups}"])
    for n in range(3):
        inner = directory.group(f"inner{n}", [people[n], people[n + 3]])
        directory.add_values(outer, "member", [inner])
    source = directory.source(page_size=2)

    read_people = by_uid(read(source))

    assert sorted(read_people) == [f"user{n}" for n in range(7)]
    assert source.pages == 4
    assert read_people["user4"].groups == (group_dn(directory, "inner1"), group_dn(directory, "outer"))
    assert read_people["user6"].groups == ()


def test_a_reader_stopped_early_abandons_the_page_asked_for(directory):
    for n in range(5):
        directory.person(f"user{n}")
    source = directory.source(page_size=2, groups="none")
    entries = source.entries()

    first = [next(entries), next(entries), next(entries)]  # into the second page: the third is asked for

    entries.close()
    source.close()
    assert len({entry.remote_id for entry in first}) == 3


def test_read_only_leaves_out_what_the_sync_does_not_read(company):
    source = company.source(groups="none")
    source.read_only({"MAIL", "givenname", "employeeNumber"})  # compared ignoring case, as mapping does

    by_ref = {entry.ref.split(",")[0]: entry for entry in read(source)}

    assert by_ref["uid=alice"].attributes == {
        "mail": ["alice@example.com", "a.liddell@example.com"],
        "givenName": "Alice",
        "employeeNumber": "1001",
    }
    assert by_ref["uid=erin"].attributes == {"mail": "erin@example.com"}


def test_a_renamed_uid_keeps_its_remote_id(company):
    before = by_uid(read(company.source()))["alice"]
    company.rename(before.ref, "uid=alice.liddell")

    after = by_uid(read(company.source()))["alice.liddell"]

    assert after.remote_id == before.remote_id
    assert after.ref == f"uid=alice.liddell,{company.people}"
    assert after.groups == before.groups  # refint and memberOf follow the rename


def test_an_entry_without_its_id_attribute_is_a_problem_and_the_others_stream(company):
    items = read(company.source(id_attribute="employeeNumber"))

    problems = [item for item in items if isinstance(item, EntryProblem)]
    people = by_uid(item for item in items if isinstance(item, Entry))
    assert problems == [
        EntryProblem(
            ref=f"uid=erin,{company.people}", field="employeeNumber", message="the entry has no employeeNumber"
        )
    ]
    assert {uid: person.remote_id for uid, person in people.items()} == {
        "alice": "1001",
        "bob": "1002",
        "carol": "1003",
        "dave": "1004",
    }


def test_disabled_accounts_are_not_enabled(company):
    people = by_uid(read(company.source(disabled_filter="(employeeType=disabled)")))

    assert {uid for uid, person in people.items() if not person.enabled} == {"dave"}


def test_disabled_filter_by_presence(company):
    company.replace(f"uid=carol,{company.people}", "employeeType", ["locked"])

    people = by_uid(read(company.source(disabled_filter="employeeType=*")))  # parentheses added

    assert {uid for uid, person in people.items() if not person.enabled} == {"carol", "dave"}


def test_binary_ids_are_encoded(directory):
    raw = bytes(range(1, 17))
    directory.person("gus", jpegPhoto=raw)  # an octet string stands in for Active Directory's objectGUID

    def remote_id(encoding: str) -> Entry:
        return by_uid(read(directory.source(id_attribute="jpegPhoto", id_encoding=encoding)))["gus"]

    assert remote_id("uuid").remote_id == str(uuid.UUID(bytes_le=raw)) == "04030201-0605-0807-090a-0b0c0d0e0f10"
    assert remote_id("hex").remote_id == raw.hex()
    assert remote_id("base64").remote_id == "AQIDBAUGBwgJCgsMDQ4PEA=="
    assert remote_id("hex").attributes["jpegPhoto"] == raw.hex()  # the id, as text, for external_id_from


def test_search_references_are_ignored(company):
    company.conn.add_ext_s(
        f"ou=elsewhere,{company.people}",
        [
            ("objectClass", [b"referral", b"extensibleObject"]),
            ("ou", [b"elsewhere"]),
            ("ref", [b"ldap://ldap.elsewhere.example/ou=people,dc=elsewhere"]),
        ],
        serverctrls=[ManageDSAITControl()],
    )

    people = by_uid(read(company.source(filter="(|(objectClass=inetOrgPerson)(objectClass=referral))")))

    assert sorted(people) == ["alice", "bob", "carol", "dave", "erin"]


def test_a_second_run_on_the_same_source_reads_again(company):
    source = company.source()
    try:
        first = by_uid(source.entries())
        company.person("zoe")
        second = by_uid(source.entries())
    finally:
        source.close()

    assert len(first) == 5
    assert len(second) == 6


# Failures ----------------------------------------------------------------------------------------------------------


def test_a_wrong_password_fails_quickly_with_a_clear_message(ldap_server, directory):
    source = LdapSource(SourceConfig("corp-ldap", directory.settings(), secret="not-the-password"))

    started = time.monotonic()
    with pytest.raises(LdapSourceError) as error:
        read(source)

    assert time.monotonic() - started < 5
    message = str(error.value)
    assert ldap_server.url in message
    assert f"binding as {ldap_server.bind_dn} failed: Invalid credentials" in message
    assert "not-the-password" not in message + repr(source)


def test_an_unreachable_server_fails_quickly(directory):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens there once closed
    url = f"ldap://127.0.0.1:{port}/"
    source = LdapSource(SourceConfig("corp-ldap", directory.settings(url=url, timeout=2), secret="x"))

    started = time.monotonic()
    with pytest.raises(LdapSourceError, match=r"corp-ldap \(ldap://127\.0\.0\.1:\d+/\): binding as .* failed: "):
        read(source)

    assert time.monotonic() - started < 5
    assert "Can't contact LDAP server" in str(_error_of(source))


def test_a_server_that_never_answers_times_out(directory):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(5)  # the kernel accepts the connection; nobody answers the bind
    accepted = []
    thread = threading.Thread(target=lambda: accepted.append(listener.accept()), daemon=True)
    thread.start()
    url = f"ldap://127.0.0.1:{listener.getsockname()[1]}/"
    source = LdapSource(SourceConfig("corp-ldap", directory.settings(url=url, timeout=1), secret="x"))
    try:
        started = time.monotonic()
        with pytest.raises(LdapSourceError, match="no answer within 1 s"):
            read(source)
        assert time.monotonic() - started < 4
    finally:
        for conn, _ in accepted:
            conn.close()
        listener.close()


def test_a_malformed_filter_is_a_clear_error(company):
    with pytest.raises(LdapSourceError, match=r"searching people under .* with \(\(uid=alice\) failed: Bad search"):
        read(company.source(filter="((uid=alice)"))


def test_a_missing_base_dn_is_a_clear_error(company):
    with pytest.raises(LdapSourceError, match="No such object"):
        read(company.source(base_dn=f"ou=nowhere,{company.dn}"))


def _error_of(source: LdapSource) -> LdapSourceError:
    try:
        read(source)
    except LdapSourceError as exc:
        return exc
    raise AssertionError("no error")


@pytest.mark.parametrize(
    ("settings", "secret", "message"),
    [
        ({"base_dn": "dc=example,dc=com"}, "x", "url: required"),
        ({"url": "http://ldap.example.com", "base_dn": "dc=x"}, "x", "not an ldap:// or ldaps:// URL"),
        ({"url": "ldaps://ldap.example.com", "base_dn": "dc=x", "start_tls": True}, "x", "start_tls: not with ldaps"),
        ({"url": "ldap://ldap.example.com"}, "x", "base_dn: required"),
        ({"url": "ldap://l", "base_dn": "dc=x", "bind_dn": "cn=admin,dc=x"}, "", "has no password"),
        ({"url": "ldap://l", "base_dn": "dc=x", "id_attribute": "objectGUID"}, "x", "objectGUID is binary"),
        ({"url": "ldap://l", "base_dn": "dc=x", "id_encoding": "rot13"}, "x", "id_encoding: 'rot13'"),
        ({"url": "ldap://l", "base_dn": "dc=x", "page_size": 0}, "x", "page_size: 0 is not a positive whole"),
        ({"url": "ldap://l", "base_dn": "dc=x", "groups": "nested"}, "x", "groups: 'nested'"),
        ({"url": "ldap://l", "base_dn": "dc=x", "ca_file": "/nonexistent/ca.pem"}, "x", "not a readable file"),
        ({"url": "ldap://l", "base_dn": "dc=x", "start_tls": "maybe"}, "x", "start_tls: 'maybe' is not true or"),
    ],
)
def test_settings_are_checked_when_the_source_is_built(settings, secret, message):
    with pytest.raises(LdapSourceError, match=message) as error:
        LdapSource(SourceConfig("corp-ldap", settings, secret=secret))
    assert str(error.value).startswith("LDAP source corp-ldap: ")


@pytest.mark.parametrize(
    "dn",
    [
        "CN=Support, OU=Groups ,DC=Example,DC=com",
        "uid=alice,ou=people,dc=example,dc=com",
        " uid = Alice Liddell , ou=People",
        "cn=Zoë Ünal,ou=Gruppen,dc=example,dc=de",
        "cn=a=b,dc=x",
    ],
)
def test_normalize_dn_fast_path_agrees_with_the_parser(dn):
    assert normalize_dn(dn) == _normalize_parsed(dn)


def test_ranged_members_are_followed():
    """Active Directory lists a large group's members 1,500 at a time: member;range=0-1499, then 1500-*."""
    source = LdapSource(SourceConfig("corp-ad", {"url": "ldap://dc1", "base_dn": "dc=x"}, secret="x"))
    pages = {"member;range=2-*": {"member;range=2-3": [b"CN=C,DC=x", b"CN=D,DC=x"]}}
    pages["member;range=4-*"] = {"member;range=4-*": [b"CN=E,DC=x"]}
    asked = []

    def read_base(dn, attrlist, *, what):
        asked.append((dn, attrlist))
        return pages[attrlist[0]]

    source._read_base = read_base
    members = list(source._members("CN=Big,DC=x", {"member;range=0-1": [b"CN=A,DC=x", b"CN=B,DC=x"]}))

    assert members == ["cn=a,dc=x", "cn=b,dc=x", "cn=c,dc=x", "cn=d,dc=x", "cn=e,dc=x"]
    assert asked == [("CN=Big,DC=x", ["member;range=2-*"]), ("CN=Big,DC=x", ["member;range=4-*"])]


def test_normalize_dn():
    assert normalize_dn("CN=Support, OU=Groups ,DC=Example,DC=com") == "cn=support,ou=groups,dc=example,dc=com"
    assert normalize_dn("uid=B+cn=A,dc=x") == normalize_dn("cn=a+uid=b,dc=x") == "cn=a+uid=b,dc=x"
    assert normalize_dn(r"cn=Smith\, John,dc=x") == r"cn=smith\, john,dc=x"


# TLS ---------------------------------------------------------------------------------------------------------------


def tls_source(tls_server, **settings) -> LdapSource:
    return LdapSource(
        SourceConfig(
            "corp-ldap",
            {
                "bind_dn": tls_server.bind_dn,
                "base_dn": "dc=example,dc=com",
                "filter": "(objectClass=organization)",
                "groups": "none",
                "timeout": 5,
                **settings,
            },
            secret=tls_server.password,
        )
    )


def test_start_tls_with_the_ca(tls_server):
    items = read(tls_source(tls_server, url=tls_server.starttls_url, start_tls=True, ca_file=str(tls_server.ca_file)))

    assert [item.attributes["dc"] for item in items] == ["example"]


def test_ldaps_with_the_ca(tls_server):
    items = read(tls_source(tls_server, url=tls_server.ldaps_url, ca_file=str(tls_server.ca_file)))

    assert [item.attributes["dc"] for item in items] == ["example"]


@pytest.mark.parametrize(
    ("url", "ca", "what"),
    [
        ("starttls_url", None, "StartTLS failed"),  # the system's CAs do not know ours
        ("starttls_url", "other_ca_file", "StartTLS failed"),
        ("by_other_name", "ca_file", "StartTLS failed"),  # the certificate names 127.0.0.1 only
    ],
)
def test_start_tls_refuses_an_untrusted_certificate(tls_server, url, ca, what):
    settings = {"url": getattr(tls_server, url), "start_tls": True}
    if ca:
        settings["ca_file"] = str(getattr(tls_server, ca))

    started = time.monotonic()
    with pytest.raises(LdapSourceError, match=what) as error:
        read(tls_source(tls_server, **settings))
    assert time.monotonic() - started < 5
    assert "or its TLS certificate was refused: it must be signed by" in str(error.value)


def test_ldaps_refuses_an_untrusted_certificate(tls_server):
    with pytest.raises(LdapSourceError, match=r"binding as .* failed: Can't contact LDAP server"):
        read(tls_source(tls_server, url=tls_server.ldaps_url, ca_file=str(tls_server.other_ca_file)))
