"""What every identity source gives the sync: people as ``Entry`` values, before mapping.

A pull source (LDAP, a file) streams every person it holds, page by page, so a run never holds the whole directory
in memory; a push source (SCIM, the HR API) hands the sync the people it was told about. A person the source cannot
describe (an LDAP entry without its id attribute, a malformed CSV row) is an ``EntryProblem``: reported in the run
with what is wrong, while the rest of the run goes on.
"""

import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from django.core.exceptions import ImproperlyConfigured

AttributeValue = str | int | float | bool | None | list[str]


@dataclass(frozen=True)
class Entry:
    """One person as a source holds them."""

    remote_id: str  # stable in the source: an LDAP entryUUID, a SCIM id, a file's id column
    attributes: Mapping[str, AttributeValue]  # the source's own attribute names (mapped to learners by the sync)
    groups: tuple[str, ...] = ()  # groups the person belongs to, nested ones resolved (DNs or names)
    enabled: bool = True  # False: the source says the account is disabled (treated as a leaver)
    ref: str = ""  # how errors and the diff name the entry: a DN, "line 12", a SCIM userName


@dataclass(frozen=True)
class EntryProblem:
    """An entry the source could not turn into an ``Entry``; the run reports it and goes on."""

    ref: str
    field: str | None
    message: str


class PullSource(Protocol):
    """A source the platform reads from. ``entries`` yields every person the source holds, in any order.

    A source may also have ``read_only(names)``, which the sync calls before ``entries`` with the attributes its
    mapping reads: the source may then leave the others out of ``Entry.attributes`` (names compared ignoring case,
    as mapping compares them), and not decode what nobody reads."""

    def entries(self) -> Iterator[Entry | EntryProblem]: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class SourceConfig:
    """What a pull source is built from: the admin's settings for it and its secret, read from the environment."""

    name: str
    settings: Mapping[str, Any] = field(default_factory=dict)
    secret: str | None = None


def read_secret(variable: str) -> str | None:
    """The value of ``variable``, or of the file ``<variable>_FILE`` names (Docker and Kubernetes secrets)."""
    if not variable:
        return None
    path = os.environ.get(f"{variable}_FILE")
    if path:
        try:
            return Path(path).read_text().strip()
        except OSError as exc:
            raise ImproperlyConfigured(f"{variable}_FILE: cannot read {path!r}: {exc.strerror}") from exc
    value = os.environ.get(variable)
    if value is None:
        raise ImproperlyConfigured(f"the environment variable {variable} (or {variable}_FILE) is not set")
    return value
