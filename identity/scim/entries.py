"""A SCIM user as the sync sees them: an ``Entry`` whose attributes are flat SCIM attribute paths.

The keys of ``Entry.attributes`` are what an admin writes as the *source attribute* of a mapping
(docs/identity-scim.md lists them):

- a simple attribute by its name: ``userName``, ``displayName``, ``externalId``, ``title``, ``locale``, ``active``…
- a sub-attribute with a dot: ``name.givenName``, ``name.familyName``;
- a multi-valued one by the entry marked primary (or the first): ``emails[primary].value``; by type:
  ``emails[work].value``, ``phoneNumbers[mobile].value``; and all its values as a list: ``emails.value``,
  ``roles.value``, ``entitlements.value``;
- an extension's attribute by its full name, schema URN then a colon: ``urn:ietf:params:scim:schemas:extension:
  enterprise:2.0:User:department``, ``…:User:manager.value``; the manager, when this source provisioned them too,
  also as ``…:User:manager.userName`` and ``…:User:manager.displayName``;
- attributes no schema declares, kept as the IdP sent them, by the same rules.

``password`` is never kept, so never mapped. The user's groups (their display names, nested groups included) are
``Entry.groups``, for role rules such as ``"Support" in groups``.
"""

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from identity.models import IdentitySource
from identity.scim.models import ScimGroupMember, ScimUser
from identity.scim.provider import ENTERPRISE_USER
from identity.sources.base import AttributeValue, Entry

MANAGER = f"{ENTERPRISE_USER}:manager"

# Not attributes of the person: SCIM's own bookkeeping, and what is computed (groups) or never kept (password).
_SKIPPED = frozenset({"schemas", "meta", "password", "groups"})
# A type usable inside the brackets of a key: emails[work].value.
_TYPE = re.compile(r"[A-Za-z0-9_.@+-]{1,64}")
_SCALARS = (str, int, float, bool)


@dataclass(frozen=True)
class GroupRef:
    """A group a user belongs to: directly, or through a group that is a member of it."""

    id: UUID
    name: str
    direct: bool


def user_entries(*, source: IdentitySource, users: list[ScimUser]) -> list[Entry]:
    """The entries of ``users`` (of ``source``), with their groups and managers looked up in a few queries."""
    groups = user_groups(source=source, user_ids=[user.pk for user in users])
    managers = _managers(source, users)
    return [
        Entry(
            remote_id=str(user.pk),
            attributes=user_attributes(user, managers),
            groups=tuple(sorted({group.name for group in groups.get(user.pk, [])})),
            enabled=user.active and user.deleted_at is None,
            ref=user.user_name,
        )
        for user in users
    ]


def user_attributes(user: ScimUser, managers: Mapping[str, ScimUser] | None = None) -> dict[str, AttributeValue]:
    attributes: dict[str, AttributeValue] = {"id": str(user.pk)}
    for key, value in user.document.items():
        if key in _SKIPPED:
            continue
        if key.lower().startswith("urn:") and isinstance(value, dict):
            for name, extension_value in value.items():
                _flatten(attributes, f"{key}:{name}", extension_value)
        else:
            _flatten(attributes, key, value)
    manager = (managers or {}).get(str(attributes.get(f"{MANAGER}.value") or ""))
    if manager is not None:
        attributes[f"{MANAGER}.userName"] = manager.user_name
        display = manager.document.get("displayName")
        if isinstance(display, str) and f"{MANAGER}.displayName" not in attributes:
            attributes[f"{MANAGER}.displayName"] = display
    return attributes


def _flatten(attributes: dict[str, AttributeValue], name: str, value: Any) -> None:
    if value is None:
        return
    if isinstance(value, _SCALARS):
        attributes[name] = value
    elif isinstance(value, dict):
        for sub, sub_value in value.items():
            _flatten(attributes, f"{name}.{sub}", sub_value)
    elif isinstance(value, list):
        if all(isinstance(item, _SCALARS) for item in value):
            attributes[name] = [str(item) for item in value]
        elif all(isinstance(item, dict) for item in value):
            _flatten_entries(attributes, name, value)


def _flatten_entries(attributes: dict[str, AttributeValue], name: str, entries: list[dict[str, Any]]) -> None:
    """emails → emails[primary].value, emails[work].value, emails.value (every value, as a list of strings)."""
    if not entries:
        return
    primary = next((entry for entry in entries if entry.get("primary") is True), entries[0])
    _flatten_scalars(attributes, f"{name}[primary]", primary)
    seen_types: set[str] = set()
    for entry in entries:
        kind = entry.get("type")
        if isinstance(kind, str) and _TYPE.fullmatch(kind) and kind not in seen_types and kind != "primary":
            seen_types.add(kind)
            _flatten_scalars(attributes, f"{name}[{kind}]", entry)
    lists: dict[str, list[str]] = defaultdict(list)
    for entry in entries:
        for sub, sub_value in entry.items():
            if isinstance(sub_value, str):
                lists[sub].append(sub_value)
    for sub, values in lists.items():
        if sub in ("value", "display", "type"):
            attributes[f"{name}.{sub}"] = values


def _flatten_scalars(attributes: dict[str, AttributeValue], prefix: str, entry: dict[str, Any]) -> None:
    for sub, sub_value in entry.items():
        if isinstance(sub_value, _SCALARS):
            attributes[f"{prefix}.{sub}"] = sub_value


def _managers(source: IdentitySource, users: Iterable[ScimUser]) -> dict[str, ScimUser]:
    ids = set()
    for user in users:
        manager = (user.document.get(ENTERPRISE_USER) or {}).get("manager")
        value = manager.get("value") if isinstance(manager, dict) else None
        if isinstance(value, str):
            try:
                ids.add(UUID(value))
            except ValueError:
                continue
    if not ids:
        return {}
    found = ScimUser.objects.filter(source=source, pk__in=ids, deleted_at__isnull=True).only(
        "id", "user_name", "document"
    )
    return {str(manager.pk): manager for manager in found}


def user_groups(*, source: IdentitySource, user_ids: list[UUID]) -> dict[UUID, list[GroupRef]]:
    """Each user's groups: those listing them, then the groups listing those, and so on (cycles are cut)."""
    if not user_ids:
        return {}
    direct: dict[UUID, list[tuple[UUID, str]]] = defaultdict(list)
    for user_id, group_id, name in ScimGroupMember.objects.filter(user_id__in=user_ids).values_list(
        "user_id", "group_id", "group__display_name"
    ):
        direct[user_id].append((group_id, name))
    if not direct:
        return {}
    parents = _parents(source)
    found: dict[UUID, list[GroupRef]] = {}
    for user_id, groups in direct.items():
        refs = {group_id: GroupRef(group_id, name, direct=True) for group_id, name in groups}
        queue = [group_id for group_id, _ in groups]
        while queue:
            for parent_id, name in parents.get(queue.pop(), ()):
                if parent_id not in refs:
                    refs[parent_id] = GroupRef(parent_id, name, direct=False)
                    queue.append(parent_id)
        found[user_id] = sorted(refs.values(), key=lambda ref: (not ref.direct, ref.name, str(ref.id)))
    return found


def _parents(source: IdentitySource) -> dict[UUID, list[tuple[UUID, str]]]:
    parents: dict[UUID, list[tuple[UUID, str]]] = defaultdict(list)
    nested = ScimGroupMember.objects.filter(group__source=source, member_group__isnull=False)
    for child_id, parent_id, name in nested.values_list("member_group_id", "group_id", "group__display_name"):
        parents[child_id].append((parent_id, name))
    return parents


def group_user_ids(*, source: IdentitySource, group_id: UUID) -> set[UUID]:
    """The users in a group, directly or through its member groups."""
    children: dict[UUID, list[UUID]] = defaultdict(list)
    nested = ScimGroupMember.objects.filter(group__source=source, member_group__isnull=False)
    for parent_id, child_id in nested.values_list("group_id", "member_group_id"):
        children[parent_id].append(child_id)
    closure, queue = {group_id}, [group_id]
    while queue:
        for child_id in children.get(queue.pop(), ()):
            if child_id not in closure:
                closure.add(child_id)
                queue.append(child_id)
    members = ScimGroupMember.objects.filter(group_id__in=closure, user__isnull=False)
    return set(members.values_list("user_id", flat=True))
