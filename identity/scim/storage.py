"""scim2-server's storage over our models, bound to one identity source: a token never sees another source's rows.

scim2-server validates each request, applies PUT and PATCH to the stored resource and builds the response; this
storage reads and writes rows, and hands every person a write touched to the sync (``apply``) in the same
transaction, so a refused person leaves nothing written.

Searches: without a filter or ``sortBy`` a page is read straight from the database (an IdP importing everyone pages
through ``GET /Users?startIndex=…&count=…``). With a filter, the rows it can only match are narrowed in SQL when the
filter compares ``id``, ``userName``, ``externalId`` or a group's ``displayName`` with ``eq`` (what Okta and Entra send
before creating someone), and scim2-models evaluates the filter itself on those rows: its case rules are the ones
that apply. Other filters (``emails co "@example.com"``, ``active eq false``) read the source's rows of that type.
"""

import contextlib
from datetime import datetime
from typing import Any, Union, cast
from uuid import UUID

from django.db import IntegrityError, transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone
from scim2_models import (
    InvalidValueException,
    NotFoundException,
    Path,
    PreconditionFailedException,
    Resource,
    ResourceType,
    ResponseParameters,
    ScimFilter,
    SearchRequest,
    UniquenessException,
)
from scim2_models.path import CompareOperator, Comparison, LogicalExpr, LogicalOperator
from scim2_server.storage import ScimStorage, SearchPage
from scim2_server.utils import parametrize

from identity.models import IdentitySource
from identity.scim.apply import user_remove, users_apply
from identity.scim.entries import GroupRef, group_user_ids, user_groups
from identity.scim.models import ScimGroup, ScimGroupMember, ScimUser
from identity.scim.provider import ENTERPRISE_USER, GROUP, POLICY, USER, scim_provider

MAX_TEXT = 255  # userName, externalId, a group's displayName, a member's display
# Never stored: write-only (returned never), and the platform has no use for an IdP's password.
_NOT_STORED = ("id", "meta", "password")


def etag(version: int) -> str:
    return f'W/"{version}"'


class SourceStorage(ScimStorage):
    """The SCIM resources of ``source``. One instance per request; ``now`` is read once per write."""

    supports_cursors = False

    def __init__(self, source: IdentitySource) -> None:
        self.source = source
        self.provider = scim_provider()
        self.user_model = self.provider.model_for(USER)
        self.group_model = self.provider.model_for(GROUP)

    def operation(self) -> contextlib.AbstractContextManager[None]:
        """One SCIM operation, one transaction (a savepoint inside a caller's)."""
        return transaction.atomic()

    # -- Reads -------------------------------------------------------------------------------------------------------

    def get(
        self,
        resource_type: ResourceType,
        resource_id: str,
        *,
        response_parameters: ResponseParameters[Any] | None = None,
    ) -> Resource[Any]:
        # scim2-server asks for the whole resource (no response parameters) before it replaces, patches or deletes
        # it: the row is then locked until the write commits, so two writes to one resource queue rather than fail.
        lock = response_parameters is None and transaction.get_connection().in_atomic_block
        with self.provider:
            if resource_type.name == USER:
                user = self._user_row(resource_id, lock=lock)
                groups = self._groups_of([user]) if _wanted(response_parameters, "groups") else {}
                return self._user_resource(user, groups.get(user.pk, []))
            group = self._group_row(resource_id, lock=lock)
            members = self._members_of([group]) if _wanted(response_parameters, "members") else {}
            return self._group_resource(group, members.get(group.pk))

    def search(
        self,
        resource_types: list[ResourceType],
        search_request: SearchRequest[Any],
        *,
        position: Any = None,
    ) -> SearchPage:
        with self.provider:
            names = list(dict.fromkeys(rt.name for rt in resource_types))
            start = search_request.start_index_0 or 0
            count = search_request.count
            if len(names) == 1 and search_request.filter is None and search_request.sort_by is None:
                rows = self._rows(names[0])
                total = rows.count()
                page = list(rows[start : start + count] if count is not None else rows[start:])
                return SearchPage(total, self._resources(names[0], page, search_request))

            found = [
                resource
                for name in names
                for resource in self._resources(
                    name, list(self._candidates(name, search_request, single=len(names) == 1)), search_request
                )
            ]
            scim_filter = search_request.filter
            if scim_filter is not None:
                if not scim_filter.models and found:
                    models = tuple(dict.fromkeys(type(resource) for resource in found))
                    scim_filter = parametrize(ScimFilter, Union[models])(str(scim_filter))  # noqa: UP007
                found = [resource for resource in found if scim_filter.match(resource)]
            if search_request.sort_by is not None:
                descending = search_request.sort_order == SearchRequest.SortOrder.descending
                found.sort(key=lambda resource: _sort_key(search_request, resource), reverse=descending)
            stop = None if count is None else start + count
            return SearchPage(len(found), found[start:stop])

    # -- Writes ------------------------------------------------------------------------------------------------------

    def create(self, resource_type: ResourceType, resource: Resource[Any]) -> Resource[Any]:
        now = timezone.now()
        with self.provider:
            if resource_type.name == USER:
                user = ScimUser(source=self.source, created_at=now, last_modified=now, version=1)
                self._fill_user(user, resource)
                self._save_unique(user)
                users_apply(source=self.source, users=[user], now=now)
                self._reapply_reports(user, now=now)
                return self._user_resource(user, [])
            group = ScimGroup(source=self.source, created_at=now, last_modified=now, version=1)
            self._fill_group(group, resource)
            group.save()
            self._set_members(group, resource)
            self._apply_group_change(group, before=set(), renamed=True, now=now)
            return self._group_resource(group, self._members_of([group]).get(group.pk))

    def update(
        self,
        resource_type: ResourceType,
        resource: Resource[Any],
        *,
        expected_version: str | None = None,
    ) -> Resource[Any]:
        now = timezone.now()
        with self.provider:
            if resource_type.name == USER:
                user = self._user_row(resource.id, lock=True)
                self._check_version(user.version, expected_version)
                named = (user.user_name, user.document.get("displayName"))
                self._fill_user(user, resource)
                user.version += 1
                user.last_modified = now
                self._save_unique(user)
                users_apply(source=self.source, users=[user], now=now)
                if named != (user.user_name, user.document.get("displayName")):
                    self._reapply_reports(user, now=now)
                return self._user_resource(user, self._groups_of([user]).get(user.pk, []))
            group = self._group_row(resource.id, lock=True)
            self._check_version(group.version, expected_version)
            before = group_user_ids(source=self.source, group_id=group.pk)
            old_name = group.display_name
            self._fill_group(group, resource)
            group.version += 1
            group.last_modified = now
            group.save()
            self._set_members(group, resource)
            self._apply_group_change(group, before=before, renamed=group.display_name != old_name, now=now)
            return self._group_resource(group, self._members_of([group]).get(group.pk))

    def delete(self, resource_type: ResourceType, resource_id: str, *, expected_version: str | None = None) -> None:
        now = timezone.now()
        with self.provider:
            if resource_type.name == USER:
                user = self._user_row(resource_id, lock=True)
                self._check_version(user.version, expected_version)
                # Kept, so that the learner keeps its link and history; answered 404 from now on (RFC 7644 §3.6).
                user.deleted_at = now
                user.active = False
                user.document = {**user.document, "active": False}
                user.version += 1
                user.last_modified = now
                user.save()
                self._touch_groups(ScimGroupMember.objects.filter(user=user), now)
                ScimGroupMember.objects.filter(user=user).delete()
                user_remove(source=self.source, user=user, now=now)
                self._reapply_reports(user, now=now)
                return
            group = self._group_row(resource_id, lock=True)
            self._check_version(group.version, expected_version)
            before = group_user_ids(source=self.source, group_id=group.pk)
            self._touch_groups(ScimGroupMember.objects.filter(member_group=group), now)
            group.delete()
            self._reapply(before, now=now)

    # -- Rows --------------------------------------------------------------------------------------------------------

    def _rows(self, name: str) -> QuerySet[Any]:
        if name == USER:
            return ScimUser.objects.filter(source=self.source, deleted_at__isnull=True).order_by("created_at", "id")
        return ScimGroup.objects.filter(source=self.source).order_by("created_at", "id")

    def _user_row(self, resource_id: str | None, *, lock: bool) -> ScimUser:
        rows = self._rows(USER)
        user = (rows.select_for_update() if lock else rows).filter(pk=_uuid(resource_id)).first()
        if user is None:
            raise NotFoundException(detail=f"No User has the id {resource_id!r}")
        return user

    def _group_row(self, resource_id: str | None, *, lock: bool) -> ScimGroup:
        rows = self._rows(GROUP)
        group = (rows.select_for_update() if lock else rows).filter(pk=_uuid(resource_id)).first()
        if group is None:
            raise NotFoundException(detail=f"No Group has the id {resource_id!r}")
        return group

    def _candidates(self, name: str, search_request: SearchRequest[Any], *, single: bool) -> QuerySet[Any]:
        rows = self._rows(name)
        narrowed = _narrowing(search_request.filter, name) if single and search_request.filter is not None else None
        return rows.filter(narrowed) if narrowed is not None else rows

    @staticmethod
    def _check_version(version: int, expected: str | None) -> None:
        if expected is not None and expected != etag(version):
            raise PreconditionFailedException(detail="The resource changed since the version given (If-Match)")

    def _fill_user(self, user: ScimUser, resource: Resource[Any]) -> None:
        document = _document(resource, drop=("groups",))
        user_name = cast(str, resource.user_name)
        user.user_name = _bounded("userName", user_name)
        user.user_name_key = _comparison_key(self.user_model, "userName", user_name)
        user.external_id = _bounded("externalId", resource.external_id or "")
        user.active = resource.active is not False
        user.document = document
        manager = (document.get(ENTERPRISE_USER) or {}).get("manager") or {}
        user.manager_ref = str(manager.get("value") or "")[:MAX_TEXT] if isinstance(manager, dict) else ""

    def _fill_group(self, group: ScimGroup, resource: Resource[Any]) -> None:
        display_name = cast(str, resource.display_name)
        group.display_name = _bounded("displayName", display_name)
        group.display_name_key = _comparison_key(self.group_model, "displayName", display_name)
        group.external_id = _bounded("externalId", resource.external_id or "")
        group.document = _document(resource, drop=("members",))

    def _save_unique(self, user: ScimUser) -> None:
        taken = ScimUser.objects.filter(
            source=self.source, user_name_key=user.user_name_key, deleted_at__isnull=True
        ).exclude(pk=user.pk)
        if taken.exists():
            raise UniquenessException(detail=f"userName {user.user_name!r} is already taken by another User")
        try:
            with transaction.atomic():
                user.save()
        except IntegrityError:  # another request took it between the check and the write
            raise UniquenessException(detail=f"userName {user.user_name!r} is already taken by another User") from None

    def _set_members(self, group: ScimGroup, resource: Resource[Any]) -> None:
        """The group's members become those of ``resource``, in its order; each must be a user or group of ours."""
        wanted: list[tuple[UUID, str]] = []
        seen = set()
        for member in resource.members or []:
            value = member.value
            member_id = _uuid(value) if value else None
            if member_id is None:
                raise InvalidValueException(detail=f"members: {value!r} is not the id of a User or Group")
            if member_id not in seen:
                seen.add(member_id)
                wanted.append((member_id, member.display or ""))
        ids = [member_id for member_id, _ in wanted]
        users = set(self._rows(USER).filter(pk__in=ids).values_list("pk", flat=True))
        groups = set(self._rows(GROUP).filter(pk__in=ids).values_list("pk", flat=True))
        rows = []
        for position, (member_id, display) in enumerate(wanted):
            if member_id == group.pk:
                raise InvalidValueException(detail="members: a group cannot be a member of itself")
            if member_id not in users and member_id not in groups:
                raise InvalidValueException(
                    detail=f'members[value eq "{member_id}"]: no User or Group of this source has this id'
                )
            rows.append(
                ScimGroupMember(
                    group=group,
                    user_id=member_id if member_id in users else None,
                    member_group_id=member_id if member_id in groups else None,
                    display=_bounded("members.display", display),
                    position=position,
                )
            )
        ScimGroupMember.objects.filter(group=group).delete()
        ScimGroupMember.objects.bulk_create(rows)

    @staticmethod
    def _touch_groups(memberships: QuerySet[ScimGroupMember], now: datetime) -> None:
        """A group whose members change gets a new version (its ETag)."""
        ScimGroup.objects.filter(pk__in=memberships.values("group_id")).update(
            version=F("version") + 1, last_modified=now
        )

    def _apply_group_change(self, group: ScimGroup, *, before: set[UUID], renamed: bool, now: datetime) -> None:
        """Re-apply the users whose groups changed: those who joined or left, everyone in it when it was renamed."""
        after = group_user_ids(source=self.source, group_id=group.pk)
        self._reapply((before | after) if renamed else (before ^ after), now=now)

    def _reapply_reports(self, manager: ScimUser, *, now: datetime) -> None:
        """The people whose manager this is see their manager's userName and displayName (entries.py): re-applied
        when the manager arrives, is renamed or leaves."""
        reports = self._rows(USER).filter(manager_ref=str(manager.pk)).exclude(pk=manager.pk)
        self._reapply(set(reports.values_list("pk", flat=True)), now=now)

    def _reapply(self, user_ids: set[UUID], *, now: datetime) -> None:
        if user_ids:
            users = list(self._rows(USER).filter(pk__in=user_ids))
            users_apply(source=self.source, users=users, now=now, strict=False)

    # -- Resources ---------------------------------------------------------------------------------------------------

    def _resources(self, name: str, rows: list[Any], parameters: ResponseParameters[Any] | None) -> list[Any]:
        scim_filter = str(getattr(parameters, "filter", None) or "").casefold()
        sort_by = str(getattr(parameters, "sort_by", None) or "").casefold()
        if name == USER:
            wanted = _wanted(parameters, "groups") or "groups" in scim_filter or "groups" in sort_by
            groups = self._groups_of(rows) if wanted else {}
            return [self._user_resource(row, groups.get(row.pk, [])) for row in rows]
        wanted = _wanted(parameters, "members") or "members" in scim_filter or "members" in sort_by
        members = self._members_of(rows) if wanted else {}
        return [self._group_resource(row, members.get(row.pk)) for row in rows]

    def _groups_of(self, users: list[ScimUser]) -> dict[UUID, list[GroupRef]]:
        return user_groups(source=self.source, user_ids=[user.pk for user in users])

    @staticmethod
    def _members_of(groups: list[ScimGroup]) -> dict[UUID, list[dict[str, Any]]]:
        members: dict[UUID, list[dict[str, Any]]] = {group.pk: [] for group in groups}
        rows = ScimGroupMember.objects.filter(group__in=groups).order_by("group_id", "position", "pk")
        for group_id, user_id, member_group_id, display in rows.values_list(
            "group_id", "user_id", "member_group_id", "display"
        ):
            member_id, kind = (user_id, USER) if user_id else (member_group_id, GROUP)
            member = {"value": str(member_id), "$ref": f"{kind}s/{member_id}", "type": kind}
            if display:
                member["display"] = display
            members[group_id].append(member)
        return members

    def _user_resource(self, user: ScimUser, groups: list[GroupRef]) -> Resource[Any]:
        data = {**user.document, "id": str(user.pk), "meta": _meta(USER, user)}
        if groups:
            data["groups"] = [
                {
                    "value": str(group.id),
                    "$ref": f"Groups/{group.id}",
                    "display": group.name,
                    "type": "direct" if group.direct else "indirect",
                }
                for group in groups
            ]
        return self.user_model.model_validate(data)

    def _group_resource(self, group: ScimGroup, members: list[dict[str, Any]] | None) -> Resource[Any]:
        data = {**group.document, "id": str(group.pk), "meta": _meta(GROUP, group)}
        if members:
            data["members"] = members
        return self.group_model.model_validate(data)


def _document(resource: Resource[Any], *, drop: tuple[str, ...]) -> dict[str, Any]:
    """The resource as stored: its SCIM JSON form, without what columns or other rows hold, or what is never kept."""
    document = resource.model_dump(mode="json")
    for key in (*_NOT_STORED, *drop):
        document.pop(key, None)
    return document


def _meta(kind: str, row: ScimUser | ScimGroup) -> dict[str, Any]:
    return {
        "resourceType": kind,
        "created": row.created_at.isoformat(),
        "lastModified": row.last_modified.isoformat(),
        "version": etag(row.version),
    }


def _uuid(value: Any) -> UUID | None:
    try:
        return UUID(str(value))
    except ValueError:
        return None


def _bounded(attribute: str, value: str) -> str:
    if len(value) > MAX_TEXT:
        raise InvalidValueException(detail=f"{attribute}: at most {MAX_TEXT} characters, this one has {len(value)}")
    return value


def _comparison_key(model: Any, attribute: str, value: str) -> str:
    binding = Path[model](attribute).resolve()
    try:
        return POLICY.comparison_key(binding, value)[:300]
    except ValueError as exc:
        raise InvalidValueException(detail=f"{attribute}: {exc}") from None


def _wanted(parameters: ResponseParameters[Any] | None, attribute: str) -> bool:
    """Whether a response keeps ``attribute`` (members, groups): a group's members are not read for
    ``excludedAttributes=members``, as Entra asks when it only looks a group up."""
    if parameters is None:
        return True
    if parameters.attributes:
        return attribute in _heads(parameters.attributes)
    if parameters.excluded_attributes:
        return attribute not in _heads(parameters.excluded_attributes, whole_only=True)
    return True


def _heads(paths: list[Any], *, whole_only: bool = False) -> set[str]:
    heads = set()
    for path in paths:
        text = str(path)
        if text.lower().startswith("urn:"):
            text = text.rsplit(":", 1)[-1]
        head, dot, _ = text.partition(".")
        if not (whole_only and dot):
            heads.add(head.casefold())
    return heads


# What an ``eq`` on these attributes narrows in SQL, with the value as stored in the column.
_NARROWABLE = {
    USER: {"id": "pk", "username": "user_name_key", "externalid": "external_id"},
    GROUP: {"id": "pk", "displayname": "display_name_key", "externalid": "external_id"},
}


def _narrowing(scim_filter: Any, name: str) -> Q | None:
    """A SQL condition every row the filter matches meets (maybe more rows), or None when there is none."""
    return _narrow(scim_filter.ast, name, scim_filter)


def _narrow(node: Any, name: str, scim_filter: Any) -> Q | None:
    if isinstance(node, LogicalExpr):
        parts = [_narrow(term, name, scim_filter) for term in node.terms]
        if node.op == LogicalOperator.and_:
            known = [part for part in parts if part is not None]
            return _combine(known, and_=True) if known else None
        return None if any(part is None for part in parts) else _combine(cast(list[Q], parts), and_=False)
    if not isinstance(node, Comparison) or node.op != CompareOperator.eq or not isinstance(node.value, str):
        return None
    path = node.attr_path
    if path.sub_attr is not None:
        return None
    column = _NARROWABLE[name].get(path.attr.casefold())
    if column is None:
        return None
    if column == "pk":
        value = _uuid(node.value)
        return Q(pk=value) if value is not None else Q(pk__in=[])
    try:
        binding = scim_filter.resolve_comparison(path)
    except Exception:  # a filter of several models or an unknown schema: no narrowing, the match decides
        return None
    if binding is None:
        return None
    try:
        key = POLICY.comparison_key(binding, node.value)
    except ValueError:
        return Q(pk__in=[])
    if column == "external_id":
        # Stored as sent; compared as the schema says (externalId is caseExact in RFC 7643).
        return Q(external_id=node.value) if binding.case_exact else Q(external_id__iexact=node.value)
    return Q(**{column: key[:300]})


def _combine(parts: list[Q], *, and_: bool) -> Q:
    combined = parts[0]
    for part in parts[1:]:
        combined = (combined & part) if and_ else (combined | part)
    return combined


def _sort_key(search_request: SearchRequest[Any], resource: Resource[Any]) -> tuple[bool, Any, str]:
    value = search_request.sort_value(resource)
    return value is None, value if value is not None else "", cast(str, resource.id)
