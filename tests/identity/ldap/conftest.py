"""A real slapd for the LDAP source: the one bin/test starts (ONBOARDING_TEST_LDAP_*), a fresh subtree per test.

Without the server these tests fail rather than skip: a missing directory must not pass for a working source.
"""

import os
import secrets
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import ldap
import ldap.modlist
import pytest
from ldap.controls import ManageDSAITControl

from identity.sources.base import SourceConfig
from identity.sources.ldap import LdapSource

ROOT = Path(__file__).resolve().parents[3]
SUFFIX = "dc=example,dc=com"


@dataclass(frozen=True)
class LdapServer:
    url: str
    bind_dn: str
    password: str
    dir: Path


def _services(script: str, env: dict[str, str] | None = None) -> None:
    """Run bin/_services.sh's functions (the same slapd set-up as bin/test's)."""
    subprocess.run(
        ["bash", "-c", f"set -e; source bin/_lib.sh; source bin/_services.sh; {script}"],
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        check=True,
        stdout=subprocess.DEVNULL,
        timeout=60,
    )


@pytest.fixture(scope="session")
def ldap_server() -> LdapServer:
    names = ("URL", "BIND_DN", "BIND_PASSWORD", "DIR")
    missing = [f"ONBOARDING_TEST_LDAP_{name}" for name in names if not os.environ.get(f"ONBOARDING_TEST_LDAP_{name}")]
    if missing:
        pytest.fail(f"{', '.join(missing)} not set: run the tests with bin/test, which starts a throwaway slapd")
    env = {name: os.environ[f"ONBOARDING_TEST_LDAP_{name}"] for name in names}
    return LdapServer(env["URL"], env["BIND_DN"], env["BIND_PASSWORD"], Path(env["DIR"]))


@dataclass
class Directory:
    """A per-test subtree ou=t<random>,dc=example,dc=com with ou=people and ou=groups, deleted afterwards."""

    server: LdapServer
    conn: ldap.ldapobject.LDAPObject
    dn: str
    added: list[str] = field(default_factory=list)

    @property
    def people(self) -> str:
        return f"ou=people,{self.dn}"

    @property
    def groups(self) -> str:
        return f"ou=groups,{self.dn}"

    def add(self, dn: str, **attributes: str | bytes | list) -> str:
        entry = {}
        for name, value in attributes.items():
            values = value if isinstance(value, list) else [value]
            entry[name] = [v if isinstance(v, bytes) else str(v).encode() for v in values]
        self.conn.add_s(dn, ldap.modlist.addModlist(entry))
        self.added.append(dn)
        return dn

    def person(self, uid: str, **attributes: str | bytes | list) -> str:
        defaults = {"cn": uid.title(), "sn": uid.title(), "mail": f"{uid}@example.com"}
        return self.add(
            f"uid={uid},{self.people}", objectClass=["inetOrgPerson"], uid=uid, **{**defaults, **attributes}
        )

    def group(self, cn: str, members: list[str], *, unique: bool = False) -> str:
        if unique:
            return self.add(f"cn={cn},{self.groups}", objectClass="groupOfUniqueNames", cn=cn, uniqueMember=members)
        return self.add(f"cn={cn},{self.groups}", objectClass="groupOfNames", cn=cn, member=members)

    def add_values(self, dn: str, attribute: str, values: list[str]) -> None:
        self.conn.modify_s(dn, [(ldap.MOD_ADD, attribute, [v.encode() for v in values])])

    def replace(self, dn: str, attribute: str, values: list[str]) -> None:
        self.conn.modify_s(dn, [(ldap.MOD_REPLACE, attribute, [v.encode() for v in values])])

    def rename(self, dn: str, new_rdn: str, new_superior: str | None = None) -> str:
        self.conn.rename_s(dn, new_rdn, new_superior)
        return f"{new_rdn},{new_superior or dn.split(',', 1)[1]}"

    def delete(self, dn: str) -> None:
        self.conn.delete_s(dn)

    def settings(self, **settings) -> dict:
        return {
            "url": self.server.url,
            "bind_dn": self.server.bind_dn,
            "base_dn": self.people,
            **settings,
        }

    def source(self, **settings) -> LdapSource:
        return LdapSource(
            SourceConfig(name="corp-ldap", settings=self.settings(**settings), secret=self.server.password)
        )


def _connect(server: LdapServer) -> ldap.ldapobject.LDAPObject:
    conn = ldap.initialize(server.url)
    conn.set_option(ldap.OPT_NETWORK_TIMEOUT, 5)
    conn.simple_bind_s(server.bind_dn, server.password)
    return conn


def _delete_subtree(conn: ldap.ldapobject.LDAPObject, dn: str) -> None:
    manage = [ManageDSAITControl()]  # referral objects are entries to delete, not references to follow
    try:
        found = conn.search_ext_s(dn, ldap.SCOPE_SUBTREE, "(objectClass=*)", ["1.1"], serverctrls=manage)
    except ldap.NO_SUCH_OBJECT:
        return
    for entry_dn, _ in sorted(found, key=lambda item: item[0].count(","), reverse=True):
        conn.delete_ext_s(entry_dn, serverctrls=manage)


@pytest.fixture
def directory(ldap_server) -> Iterator[Directory]:
    conn = _connect(ldap_server)
    dn = f"ou=t{secrets.token_hex(4)},{SUFFIX}"
    _delete_subtree(conn, dn)
    directory = Directory(ldap_server, conn, dn)
    directory.add(dn, objectClass="organizationalUnit", ou=dn.split(",")[0][3:])
    directory.add(directory.people, objectClass="organizationalUnit", ou="people")
    directory.add(directory.groups, objectClass="organizationalUnit", ou="groups")
    try:
        yield directory
    finally:
        _delete_subtree(conn, dn)
        conn.unbind_s()


@pytest.fixture
def company(directory) -> Directory:
    """Five people and nested groups: support-l2 inside support, cycle-a and cycle-b inside each other.

    alice: support-l2 (so support too); bob: support; carol: cycle-a (so cycle-b too); dave: disabled, partners
    (a groupOfUniqueNames); erin: no employeeNumber.
    """
    d = directory
    alice = d.person(
        "alice",
        mail=["alice@example.com", "a.liddell@example.com"],
        givenName="Alice",
        employeeNumber="1001",
        departmentNumber="support",
        jpegPhoto=b"\xff\xd8\xff\xe0 not utf-8 \xff",
        userPassword="{SSHA}not-for-learners",
    )
    bob = d.person("bob", employeeNumber="1002", departmentNumber="support")
    carol = d.person("carol", employeeNumber="1003", departmentNumber="research")
    dave = d.person("dave", employeeNumber="1004", employeeType="disabled")
    d.person("erin")
    l2 = d.group("support-l2", [alice])
    d.group("support", [l2, bob])
    cycle_a = d.group("cycle-a", [carol])
    cycle_b = d.group("cycle-b", [cycle_a])
    d.add_values(cycle_a, "member", [cycle_b])
    d.group("partners", [dave], unique=True)
    return d


# TLS ---------------------------------------------------------------------------------------------------------------


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def _make_ca(dir: Path, name: str) -> None:
    _openssl(
        "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", f"{name}.key", "-out", f"{name}.crt", "-days", "2", "-subj", f"/CN={name}",
        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        cwd=dir,
    )  # fmt: skip


@dataclass(frozen=True)
class TlsServer:
    starttls_url: str  # ldap://127.0.0.1:PORT/
    ldaps_url: str  # ldaps://127.0.0.1:PORT/
    by_other_name: str  # ldap://localhost:PORT/: libldap checks the machine's name for localhost, not in the cert
    ca_file: Path
    other_ca_file: Path
    bind_dn: str
    password: str


@pytest.fixture(scope="session")
def tls_server(ldap_server) -> Iterator[TlsServer]:
    """A second slapd whose certificate (for 127.0.0.1 only) is signed by a CA made here; another CA signs
    nothing it serves."""
    assert shutil.which("openssl"), "openssl is missing (Debian's openssl package)"
    # Beside the main slapd: bin/test's clean-up stops it too if this process dies before its own.
    dir = Path(tempfile.mkdtemp(prefix="onboarding-ldap-tls-", dir=ldap_server.dir.parent))
    dir.chmod(0o755)
    try:
        _make_ca(dir, "ca")
        _make_ca(dir, "other-ca")
        (dir / "server.ext").write_text(
            "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n"
            "keyUsage=critical,digitalSignature,keyEncipherment\n"
        )
        _openssl(
            "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", "server.key",
            "-out", "server.csr", "-subj", "/CN=onboarding test directory", cwd=dir,
        )  # fmt: skip
        _openssl(
            "x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", "server.crt", "-days", "2", "-extfile", "server.ext", cwd=dir,
        )  # fmt: skip
        port, ldaps_port = _free_port(), _free_port()
        _services(
            f"slapd_start {dir}/slapd {port}",
            env={
                "SLAPD_TLS_CERT_FILE": str(dir / "server.crt"),
                "SLAPD_TLS_KEY_FILE": str(dir / "server.key"),
                "SLAPD_LDAPS_PORT": str(ldaps_port),
            },
        )
        try:
            yield TlsServer(
                starttls_url=f"ldap://127.0.0.1:{port}/",
                ldaps_url=f"ldaps://127.0.0.1:{ldaps_port}/",
                by_other_name=f"ldap://localhost:{port}/",
                ca_file=dir / "ca.crt",
                other_ca_file=dir / "other-ca.crt",
                bind_dn=f"cn=admin,{SUFFIX}",
                password=(dir / "slapd" / "rootpw").read_text(),
            )
        finally:
            _services(f"slapd_stop {dir}/slapd")
    finally:
        shutil.rmtree(dir, ignore_errors=True)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
