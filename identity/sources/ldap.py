"""An LDAP directory (OpenLDAP, 389 Directory Server, Active Directory) as a pull source, with python-ldap.

Settings (``IdentitySource.settings``; docs/identity-ldap.md has examples for OpenLDAP and Active Directory):

``url``
    ``ldap://host:389`` or ``ldaps://host:636``; several, separated by spaces, are tried in turn. Required.
``start_tls``
    ``true``: upgrade an ``ldap://`` connection with StartTLS before binding (refused with ``ldaps://``).
``ca_file``
    The CA certificate(s) (PEM) that sign the server's certificate; the system's CAs when blank. Certificates are
    always verified (host name included) for ``ldaps://`` and StartTLS: there is no setting to turn that off.
``bind_dn``
    The account the platform binds as. Its password is the source's secret (``IdentitySource.secret_env``), read
    by the caller into ``SourceConfig.secret``. Blank: an anonymous bind. A bind DN without a password is refused
    (an LDAP "unauthenticated bind" would succeed without checking anything).
``base_dn``
    Where people are searched (the whole subtree). Required.
``filter``
    Which entries are people; default ``(objectClass=inetOrgPerson)``.
``attributes``
    The attributes to fetch; default every user attribute (``*``). The id attribute and ``memberOf`` (when
    ``groups`` is ``memberOf``) are always requested too: ``entryUUID`` and ``memberOf`` are operational attributes
    that ``*`` leaves out. Names come back spelled as listed here (otherwise as the server's schema spells them).
``id_attribute``
    The stable remote id; default ``entryUUID`` (a renamed or moved entry keeps it). An entry without it is reported
    as a problem of the run and left out.
``id_encoding``
    How the id's value becomes text: ``text`` (UTF-8, the default), or for binary ids such as Active Directory's
    ``objectGUID``: ``uuid`` (16 bytes in Microsoft's byte order, shown as AD tools show it:
    ``f8d764ff-…``), ``hex`` or ``base64``.
``page_size``
    Entries per page of the RFC 2696 paged search; default 500. Every search of a run is paged.
``groups``
    Where group membership comes from: ``memberOf`` (the default: the person's ``memberOf`` attribute), ``search``
    (the groups under ``group_base_dn`` matching ``group_filter`` are read once per run, listing their members in
    ``member_attribute``), or ``none``. Nested groups are resolved either way: a person in a group that is itself a
    member of another group is in both (cycles are harmless).
``group_base_dn``, ``group_filter``, ``member_attribute``
    For ``groups: search``: where groups are (default ``base_dn``), which entries are groups (default
    ``(|(objectClass=groupOfNames)(objectClass=groupOfUniqueNames))``), the attribute listing their members' DNs
    (default ``member``; ``uniqueMember`` for groupOfUniqueNames). Active Directory's ranged ``member;range=…``
    values are followed.
``disabled_filter``
    An LDAP filter matching disabled accounts, e.g. ``(pwdAccountLockedTime=*)``, ``(employeeType=disabled)`` or
    Active Directory's ``(userAccountControl:1.2.840.113556.1.4.803:=2)``. Matching entries come out with
    ``enabled=False`` (the sync treats them as leavers). Evaluated by the server in a second paged search.
``timeout``
    Seconds to wait for a connection and for each answer (a bind, a page); default 10.

Referrals are not chased; search continuation references are ignored. Groups are DNs in one normal form, so that
role rules can compare them as strings: lower case, no spaces around ``,`` ``=`` and ``+``, RFC 4514 escaping,
the parts of a multi-valued RDN sorted: ``"cn=support,ou=groups,dc=example,dc=com" in groups``.

Server errors (bind refused, server unreachable, timeout, size limit, a malformed filter) raise ``LdapSourceError``
naming the server and what failed; the password never appears in a message.
"""

import base64
import contextlib
import re
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import ldap
import ldap.dn
from ldap.controls import SimplePagedResultsControl

from identity.sources.base import AttributeValue, Entry, EntryProblem, SourceConfig

DEFAULT_FILTER = "(objectClass=inetOrgPerson)"
DEFAULT_GROUP_FILTER = "(|(objectClass=groupOfNames)(objectClass=groupOfUniqueNames))"
DEFAULT_PAGE_SIZE = 500
DEFAULT_TIMEOUT = 10.0
GROUP_MODES = ("memberOf", "search", "none")
ID_ENCODINGS = ("text", "uuid", "hex", "base64")

# Never copied into a learner's attributes: binary values (photos, certificates, Windows ids and descriptors) and
# secrets a privileged bind DN may be able to read.
SKIPPED_ATTRIBUTES = frozenset(
    name.lower()
    for name in (
        "jpegPhoto",
        "photo",
        "audio",
        "thumbnailPhoto",
        "thumbnailLogo",
        "userCertificate",
        "cACertificate",
        "crossCertificatePair",
        "certificateRevocationList",
        "authorityRevocationList",
        "deltaRevocationList",
        "userSMIMECertificate",
        "userPKCS12",
        "objectGUID",
        "objectSid",
        "sIDHistory",
        "tokenGroups",
        "nTSecurityDescriptor",
        "msExchMailboxGuid",
        "msExchMailboxSecurityDescriptor",
        "mS-DS-ConsistencyGuid",
        "logonHours",
        "userPassword",
        "unicodePwd",
        "authPassword",
        "sambaNTPassword",
        "sambaLMPassword",
        "krbPrincipalKey",
        "pwdHistory",
    )
)
BINARY_ID_ATTRIBUTES = frozenset(name.lower() for name in ("objectGUID", "objectSid", "mS-DS-ConsistencyGuid"))
_OPTIONAL_UID = re.compile(r"#'[01]*'B$")  # uniqueMember: "cn=x,dc=example,dc=com#'0101'B"
_SPECIAL_IN_DN = re.compile(r'[\\"+#<>;\x00]')  # escapes, quotes, multi-valued RDNs, LDAPv2 separators
_RANGE = re.compile(r";range=(\d+)-(\d+|\*)$", re.IGNORECASE)


class LdapSourceError(Exception):
    """The directory could not be read: the sync records the run as failed with this message."""


def normalize_dn(dn: str) -> str:
    """One spelling per DN: lower case, no spaces around separators, RFC 4514 escaping, multi-valued RDNs sorted."""
    if not _SPECIAL_IN_DN.search(dn):  # the common case, without python-ldap's parser: the same result, 5x faster
        parts = []
        for rdn in dn.split(","):
            name, equals, value = rdn.partition("=")
            if not equals or not name.strip() or "=" in value:
                break
            parts.append(f"{name.strip()}={value.strip()}")
        else:
            return ",".join(parts).lower()
    return _normalize_parsed(dn)


def _normalize_parsed(dn: str) -> str:
    try:
        rdns = ldap.dn.str2dn(dn)
    except ldap.DECODING_ERROR:
        return dn.strip().lower()
    return ldap.dn.dn2str([sorted((name.lower(), value.lower(), flags) for name, value, flags in rdn) for rdn in rdns])


def _error_text(exc: ldap.LDAPError) -> str:
    """``desc: info`` from python-ldap's error dict (it never holds the bind password)."""
    details = exc.args[0] if exc.args and isinstance(exc.args[0], dict) else {}
    desc = details.get("desc") or type(exc).__name__
    info = details.get("info")
    if isinstance(info, bytes):
        info = info.decode("utf-8", "replace")
    return f"{desc}: {info}" if info else str(desc)


def _as_filter(text: str) -> str:
    text = text.strip()
    return text if text.startswith("(") else f"({text})"


class LdapSource:
    """People in an LDAP directory, streamed page by page (see the module's docstring for the settings)."""

    def __init__(self, config: SourceConfig) -> None:
        settings: Mapping[str, Any] = config.settings or {}
        self.name = config.name
        self._secret = config.secret or ""

        self.url = self._urls(settings.get("url"))
        self.start_tls = self._bool(settings, "start_tls")
        if self.start_tls and any(url.lower().startswith("ldaps://") for url in self.url.split()):
            raise self._config_error("start_tls: not with ldaps:// (already TLS); use ldap:// or drop start_tls")
        self.ca_file = str(settings.get("ca_file") or "")
        if self.ca_file and not Path(self.ca_file).is_file():
            raise self._config_error(f"ca_file: {self.ca_file} is not a readable file")
        self.bind_dn = str(settings.get("bind_dn") or "")
        if self.bind_dn and not self._secret:
            raise self._config_error(
                f"bind_dn {self.bind_dn} has no password: set the source's secret variable (an LDAP bind with an "
                "empty password is unauthenticated and checks nothing)"
            )
        self.base_dn = str(settings.get("base_dn") or "")
        if not self.base_dn:
            raise self._config_error("base_dn: required (where people are searched)")
        self.filter = _as_filter(str(settings.get("filter") or DEFAULT_FILTER))
        self.id_attribute = str(settings.get("id_attribute") or "entryUUID")
        self.id_encoding = str(settings.get("id_encoding") or "text")
        if self.id_encoding not in ID_ENCODINGS:
            raise self._config_error(f"id_encoding: {self.id_encoding!r}; expected one of {', '.join(ID_ENCODINGS)}")
        if self.id_encoding == "text" and self.id_attribute.lower() in BINARY_ID_ATTRIBUTES:
            raise self._config_error(
                f"id_attribute {self.id_attribute} is binary: set id_encoding to uuid, hex or base64"
            )
        self.page_size = self._number(settings, "page_size", DEFAULT_PAGE_SIZE, integer=True)
        self.timeout = self._number(settings, "timeout", DEFAULT_TIMEOUT)
        self.groups = str(settings.get("groups") or "memberOf")
        matching = [mode for mode in GROUP_MODES if mode.lower() == self.groups.lower()]
        if not matching:
            raise self._config_error(f"groups: {self.groups!r}; expected one of {', '.join(GROUP_MODES)}")
        self.groups = matching[0]
        self.group_base_dn = str(settings.get("group_base_dn") or self.base_dn)
        self.group_filter = _as_filter(str(settings.get("group_filter") or DEFAULT_GROUP_FILTER))
        self.member_attribute = str(settings.get("member_attribute") or "member")
        disabled = settings.get("disabled_filter")
        self.disabled_filter = _as_filter(str(disabled)) if disabled else ""

        requested = settings.get("attributes")
        if isinstance(requested, str):
            requested = [part for part in re.split(r"[,\s]+", requested) if part]
        requested = list(requested or ["*"])
        for extra in (self.id_attribute, "memberOf" if self.groups == "memberOf" else None):
            if extra and extra.lower() not in {name.lower() for name in requested}:
                requested.append(extra)
        self.attributes = requested
        self._spelling = {name.lower(): name for name in requested if name not in ("*", "+")}

        self.pages = 0  # pages read by the last run's people search (one search request each)
        self._conn: Any = None  # paged searches only
        # Single entries (a group's memberOf, a large group's next range of members) are read on a connection of
        # their own: they happen while a paged search's next page is being asked for, and another operation on
        # that connection makes the server end the paged search early.
        self._lookup_conn: Any = None
        self._group_parents: dict[str, frozenset[str]] = {}
        self._group_closure: dict[str, frozenset[str]] = {}
        self._groups_by_memberof: dict[tuple[bytes, ...], tuple[str, ...]] = {}
        # For each set of attribute names the server sends: (its name, the name shown) of those kept, in order.
        self._plans: dict[tuple[str, ...], tuple[tuple[str, str], ...]] = {}
        self._only: frozenset[str] | None = None  # read_only(): the attributes wanted, lower case

    def read_only(self, names: Iterable[str]) -> None:
        """Only these attributes (compared ignoring case) go into ``Entry.attributes``: the sync decodes the few its
        mapping reads, not every attribute the search returns."""
        self._only = frozenset(name.lower() for name in names)
        self._plans.clear()

    def __repr__(self) -> str:
        return f"<LdapSource {self.name} {self.url} base={self.base_dn}>"

    # -- settings --------------------------------------------------------------------------------------------------

    def _config_error(self, message: str) -> LdapSourceError:
        return LdapSourceError(f"LDAP source {self.name}: {message}")

    def _urls(self, value: Any) -> str:
        urls = value.split() if isinstance(value, str) else list(value or [])
        if not urls:
            raise self._config_error("url: required, e.g. ldaps://ldap.example.com")
        for url in urls:
            if not re.match(r"ldaps?://", str(url), re.IGNORECASE):
                raise self._config_error(f"url: {url!r} is not an ldap:// or ldaps:// URL")
        return " ".join(str(url) for url in urls)

    def _bool(self, settings: Mapping[str, Any], key: str) -> bool:
        value = settings.get(key, False)
        if isinstance(value, bool):
            return value
        if str(value).strip().lower() in ("true", "yes", "1", "on"):
            return True
        if str(value).strip().lower() in ("false", "no", "0", "off", ""):
            return False
        raise self._config_error(f"{key}: {value!r} is not true or false")

    def _number(self, settings: Mapping[str, Any], key: str, default: float, *, integer: bool = False) -> Any:
        value = settings.get(key)
        if value in (None, ""):
            return default
        try:
            number = int(value) if integer else float(value)
        except (TypeError, ValueError):
            number = 0
        if number <= 0:
            raise self._config_error(f"{key}: {value!r} is not a positive {'whole ' if integer else ''}number")
        return number

    # -- connection ------------------------------------------------------------------------------------------------

    def _fail(self, what: str, exc: ldap.LDAPError) -> LdapSourceError:
        if isinstance(exc, ldap.TIMEOUT):
            reason = f"no answer within {self.timeout:g} s"
        elif isinstance(exc, ldap.SIZELIMIT_EXCEEDED | ldap.ADMINLIMIT_EXCEEDED):
            reason = (
                f"{_error_text(exc)} (the server's limit for this bind DN is below the page size, or paging is off)"
            )
        elif isinstance(exc, ldap.CONNECT_ERROR | ldap.SERVER_DOWN) and (
            self.start_tls or "ldaps://" in self.url.lower()
        ):
            reason = (
                f"{_error_text(exc)} (the server is down, or its TLS certificate was refused: it must be signed by "
                f"{'the CA in ' + self.ca_file if self.ca_file else 'a CA the system trusts (or set ca_file)'} and "
                "name the host of the URL)"
            )
        elif isinstance(exc, ldap.REFERRAL):
            reason = f"{_error_text(exc)} (the server refers this search elsewhere; referrals are not followed)"
        else:
            reason = _error_text(exc)
        return LdapSourceError(f"LDAP source {self.name} ({self.url}): {what} failed: {reason}")

    def _connection(self) -> Any:
        if self._conn is None:
            self._conn = self._connect()
        return self._conn

    def _lookup_connection(self) -> Any:
        if self._lookup_conn is None:
            self._lookup_conn = self._connect()
        return self._lookup_conn

    def _connect(self) -> Any:
        try:
            conn = ldap.initialize(self.url)
        except ldap.LDAPError as exc:
            raise self._fail("connecting", exc) from None
        conn.set_option(ldap.OPT_PROTOCOL_VERSION, ldap.VERSION3)
        conn.set_option(ldap.OPT_REFERRALS, 0)
        conn.set_option(ldap.OPT_NETWORK_TIMEOUT, self.timeout)
        conn.set_option(ldap.OPT_TIMEOUT, self.timeout)
        conn.timeout = self.timeout  # python-ldap's own wait in the synchronous calls (bind, StartTLS)
        conn.set_option(ldap.OPT_X_TLS_REQUIRE_CERT, ldap.OPT_X_TLS_DEMAND)
        conn.set_option(ldap.OPT_X_TLS_PROTOCOL_MIN, ldap.OPT_X_TLS_PROTOCOL_TLS1_2)
        if self.ca_file:
            conn.set_option(ldap.OPT_X_TLS_CACERTFILE, self.ca_file)
        conn.set_option(ldap.OPT_X_TLS_NEWCTX, 0)  # last: the TLS options above take effect in a new context
        try:
            if self.start_tls:
                try:
                    conn.start_tls_s()
                except ldap.LDAPError as exc:
                    raise self._fail("StartTLS", exc) from None
            try:
                conn.simple_bind_s(self.bind_dn, self._secret)
            except ldap.LDAPError as exc:
                raise self._fail(f"binding as {self.bind_dn or 'anonymous'}", exc) from None
        except LdapSourceError:
            self._unbind(conn)
            raise
        return conn

    @staticmethod
    def _unbind(conn: Any) -> None:
        with contextlib.suppress(ldap.LDAPError):
            conn.unbind_s()

    def close(self) -> None:
        for conn in (self._conn, self._lookup_conn):
            if conn is not None:
                self._unbind(conn)
        self._conn = self._lookup_conn = None

    def __enter__(self) -> "LdapSource":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- searches --------------------------------------------------------------------------------------------------

    def _paged_search(
        self, base: str, filterstr: str, attrlist: list[str], *, what: str
    ) -> Iterator[list[tuple[str, dict[str, list[bytes]]]]]:
        """The entries under ``base`` matching ``filterstr``, a page at a time; references are dropped.

        The next page is asked for as soon as a page's cookie is in, before the page is handed over: the server
        prepares it while this process decodes and stores the current one."""
        conn = self._connection()
        control = SimplePagedResultsControl(True, size=self.page_size, cookie=b"")
        failed = f"searching {what} under {base} with {filterstr}"
        try:
            msgid: int | None = conn.search_ext(base, ldap.SCOPE_SUBTREE, filterstr, attrlist, serverctrls=[control])
        except ldap.LDAPError as exc:
            raise self._fail(failed, exc) from None
        try:
            while msgid is not None:
                try:
                    _, data, _, controls = conn.result3(msgid, all=1, timeout=self.timeout)
                    cookie = next(
                        (c.cookie for c in controls or () if c.controlType == SimplePagedResultsControl.controlType),
                        b"",
                    )
                    msgid = None
                    if cookie:
                        control.cookie = cookie
                        msgid = conn.search_ext(base, ldap.SCOPE_SUBTREE, filterstr, attrlist, serverctrls=[control])
                except ldap.LDAPError as exc:
                    raise self._fail(failed, exc) from None
                yield [(dn, attrs) for dn, attrs in data if dn is not None and isinstance(attrs, dict)]
        finally:
            if msgid is not None:  # the reader stopped early: the page asked for is not wanted
                with contextlib.suppress(ldap.LDAPError):
                    conn.abandon(msgid)

    def _read_base(self, dn: str, attrlist: list[str], *, what: str) -> dict[str, list[bytes]]:
        """One entry's attributes, {} when it does not exist, cannot be read or is on another server."""
        conn = self._lookup_connection()
        try:
            msgid = conn.search_ext(dn, ldap.SCOPE_BASE, "(objectClass=*)", attrlist)
            _, data, _, _ = conn.result3(msgid, all=1, timeout=self.timeout)
        except (ldap.NO_SUCH_OBJECT, ldap.INSUFFICIENT_ACCESS, ldap.REFERRAL):
            return {}  # e.g. a group of another domain in memberOf: its own nesting is not followed
        except ldap.LDAPError as exc:
            raise self._fail(f"reading {what} {dn}", exc) from None
        return next((attrs for entry_dn, attrs in data if entry_dn is not None), {})

    # -- the run ---------------------------------------------------------------------------------------------------

    def entries(self) -> Iterator[Entry | EntryProblem]:
        """Every person under ``base_dn``: an ``Entry``, or an ``EntryProblem`` for one that lacks its id."""
        self.pages = 0
        self._group_parents.clear()
        self._group_closure.clear()
        self._groups_by_memberof.clear()
        disabled = self._disabled_dns() if self.disabled_filter else frozenset()
        if self.groups == "search":
            self._group_parents = self._read_groups()
        for page in self._paged_search(self.base_dn, self.filter, self.attributes, what="people"):
            self.pages += 1
            for dn, raw in page:
                yield self._entry(dn, raw, disabled)

    def _disabled_dns(self) -> frozenset[str]:
        found: set[str] = set()
        query = f"(&{self.filter}{self.disabled_filter})"
        for page in self._paged_search(self.base_dn, query, ["1.1"], what="disabled accounts"):
            found.update(normalize_dn(dn) for dn, _ in page)
        return frozenset(found)

    def _entry(self, dn: str, raw: dict[str, list[bytes]], disabled: frozenset[str]) -> Entry | EntryProblem:
        values = raw.get(self.id_attribute)
        if values is None:  # attribute names are case-insensitive: the server may spell it its own way
            values = next((v for name, v in raw.items() if name.lower() == self.id_attribute.lower()), None)
        if not values:
            return EntryProblem(ref=dn, field=self.id_attribute, message=f"the entry has no {self.id_attribute}")
        if len(values) > 1:
            return EntryProblem(
                ref=dn, field=self.id_attribute, message=f"the entry has {len(values)} values of {self.id_attribute}"
            )
        remote_id = self._encode_id(values[0])
        if remote_id is None:
            return EntryProblem(
                ref=dn,
                field=self.id_attribute,
                message=f"{self.id_attribute} is not UTF-8 text: set id_encoding to uuid, hex or base64",
            )
        if not remote_id.strip() or len(remote_id) > 255:
            return EntryProblem(
                ref=dn, field=self.id_attribute, message=f"{self.id_attribute} is empty or longer than 255 characters"
            )

        attributes = self._decoded(raw)
        if self.id_encoding != "text":
            attributes[self._spelling.get(self.id_attribute.lower(), self.id_attribute)] = remote_id

        if self.groups == "memberOf":
            member_of = raw.get("memberOf")
            if member_of is None:
                member_of = next((v for name, v in raw.items() if name.lower() == "memberof"), [])
            groups = self._memberof_groups(member_of)
        elif self.groups == "search":
            groups = self._resolve(self._group_parents.get(normalize_dn(dn), ()), self._parents_by_search)
        else:
            groups = ()
        return Entry(
            remote_id=remote_id,
            attributes=attributes,
            groups=groups,
            enabled=not disabled or normalize_dn(dn) not in disabled,
            ref=dn,
        )

    def _decoded(self, raw: dict[str, list[bytes]]) -> dict[str, AttributeValue]:
        """The entry's attributes as text, under the names they are shown by; binary values are left out."""
        keys = tuple(raw)
        plan = self._plans.get(keys)
        if plan is None:  # once per distinct set of attribute names (a directory has a handful)
            if len(self._plans) >= 1_000:
                self._plans.clear()
            only = self._only
            plan = self._plans[keys] = tuple(
                (name, shown)
                for name in keys
                if (shown := self._shown_name(name)) is not None and (only is None or shown.lower() in only)
            )
        try:
            return {
                shown: values[0].decode() if len(values) == 1 else [value.decode() for value in values]
                for name, shown in plan
                if (values := raw[name])
            }
        except UnicodeDecodeError:  # a binary value (a photo, a certificate): the entry again, without it
            pass
        attributes: dict[str, AttributeValue] = {}
        for name, shown in plan:
            if values := raw[name]:
                with contextlib.suppress(UnicodeDecodeError):
                    attributes[shown] = values[0].decode() if len(values) == 1 else [value.decode() for value in values]
        return attributes

    def _shown_name(self, name: str) -> str | None:
        """How attribute ``name`` (as the server spells it) appears in ``Entry.attributes``; None: left out."""
        lowered = name.lower()
        if lowered.split(";", 1)[0] in SKIPPED_ATTRIBUTES or ";binary" in lowered:
            return None
        return self._spelling.get(lowered, name)

    def _memberof_groups(self, member_of: list[bytes]) -> tuple[str, ...]:
        key = tuple(member_of)
        groups = self._groups_by_memberof.get(key)
        if groups is None:
            if len(self._groups_by_memberof) >= 10_000:  # distinct combinations kept per run; usually a handful
                self._groups_by_memberof.clear()
            direct = [normalize_dn(value.decode("utf-8", "replace")) for value in member_of]
            groups = self._groups_by_memberof[key] = self._resolve(direct, self._parents_by_memberof)
        return groups

    def _encode_id(self, value: bytes) -> str | None:
        if self.id_encoding == "hex":
            return value.hex()
        if self.id_encoding == "base64":
            return base64.b64encode(value).decode("ascii")
        if self.id_encoding == "uuid":
            return str(uuid.UUID(bytes_le=value)) if len(value) == 16 else None
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return None

    # -- groups ----------------------------------------------------------------------------------------------------

    def _resolve(self, direct: Iterable[str], parents: Callable[[str], Iterable[str]]) -> tuple[str, ...]:
        """The direct groups and every group they are members of, transitively; each group's closure is kept for
        the run, and a cycle ends where a group is met again."""
        found: set[str] = set()
        for group in direct:
            closure = self._group_closure.get(group)
            if closure is None:
                seen, todo = {group}, [group]
                while todo:
                    for parent in parents(todo.pop()):
                        if parent not in seen:
                            seen.add(parent)
                            todo.append(parent)
                closure = self._group_closure[group] = frozenset(seen)
            found |= closure
        return tuple(sorted(found))

    def _parents_by_memberof(self, group: str) -> frozenset[str]:
        """The groups ``group`` is a direct member of, from its own ``memberOf`` (read once per run)."""
        parents = self._group_parents.get(group)
        if parents is None:
            attrs = self._read_base(group, ["memberOf"], what="group")
            values = next((v for name, v in attrs.items() if name.lower() == "memberof"), [])
            parents = self._group_parents[group] = frozenset(normalize_dn(v.decode("utf-8", "replace")) for v in values)
        return parents

    def _parents_by_search(self, group: str) -> frozenset[str]:
        return self._group_parents.get(group, frozenset())

    def _read_groups(self) -> dict[str, frozenset[str]]:
        """Every group under ``group_base_dn``, read once: {member DN: the groups it is a direct member of}."""
        attribute = self.member_attribute
        memberships: dict[str, set[str]] = {}
        for page in self._paged_search(self.group_base_dn, self.group_filter, [attribute], what="groups"):
            for group_dn, attrs in page:
                group = normalize_dn(group_dn)
                for member in self._members(group_dn, attrs):
                    memberships.setdefault(member, set()).add(group)
        return {member: frozenset(groups) for member, groups in memberships.items()}

    def _members(self, group_dn: str, attrs: dict[str, list[bytes]]) -> Iterator[str]:
        """A group's member DNs, normalised, following Active Directory's ranged values (``member;range=0-1499``)."""
        wanted = self.member_attribute.lower()
        while True:
            next_range = None
            for name, values in attrs.items():
                base_name, _, option = name.partition(";")
                if base_name.lower() != wanted:
                    continue
                for value in values:
                    text = _OPTIONAL_UID.sub("", value.decode("utf-8", "replace"))
                    yield normalize_dn(text)
                match = _RANGE.search(name) if option else None
                if match and match.group(2) != "*":
                    next_range = int(match.group(2)) + 1
            if next_range is None:
                return
            attrs = self._read_base(
                group_dn, [f"{self.member_attribute};range={next_range}-*"], what="the members of group"
            )
