"""Writes to learners and roles. The admin, the API, identity sources and commands all come through here."""

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from common.services import model_create, model_update
from identity.models import Learner, Role, RoleAssignment, RoleSource

ROLE_FIELDS = ("slug", "name", "description")
LEARNER_CREATE_FIELDS = ("external_id", "email", "display_name", "timezone", "locale", "attributes", "user")
LEARNER_UPDATE_FIELDS = LEARNER_CREATE_FIELDS[1:]  # external_id is the identity sources' key: never edited


def role_create(*, slug: str, name: str, description: str = "") -> Role:
    return model_create(model=Role, data={"slug": slug, "name": name, "description": description}, fields=ROLE_FIELDS)


def role_update(*, role: Role, data: dict[str, Any]) -> Role:
    return model_update(instance=role, data=data, fields=ROLE_FIELDS)[0]


def role_upsert(*, slug: str, name: str, description: str = "") -> Role:
    """Create the role, or bring its name and description up to date; writes nothing when unchanged."""
    role = Role.objects.filter(slug=slug).first()
    if role is None:
        return role_create(slug=slug, name=name, description=description)
    return role_update(role=role, data={"name": name, "description": description})


@transaction.atomic
def learner_create(
    *, external_id: str, roles: list[Role] | None = None, source: str = RoleSource.MANUAL, **fields: Any
) -> Learner:
    learner = model_create(model=Learner, data={"external_id": external_id, **fields}, fields=LEARNER_CREATE_FIELDS)
    for role in roles or []:
        role_assign(learner=learner, role=role, source=source)
    return learner


def learner_update(*, learner: Learner, data: dict[str, Any]) -> Learner:
    """Set the given editable fields; saves only what changed."""
    return model_update(instance=learner, data=data, fields=LEARNER_UPDATE_FIELDS)[0]


def learner_deactivate(*, learner: Learner) -> Learner:
    """Mark a leaver inactive. Deactivating twice is a no-op that keeps the first timestamp."""
    if not learner.is_active:
        return learner
    learner.is_active = False
    learner.deactivated_at = timezone.now()
    learner.save(update_fields=["is_active", "deactivated_at", "updated_at"])
    return learner


def learner_reactivate(*, learner: Learner) -> Learner:
    if learner.is_active:
        return learner
    learner.is_active = True
    learner.deactivated_at = None
    learner.save(update_fields=["is_active", "deactivated_at", "updated_at"])
    return learner


def role_assign(*, learner: Learner, role: Role, source: str = RoleSource.MANUAL) -> RoleAssignment:
    """Give ``learner`` the role on behalf of ``source``; idempotent, so a retried sync adds nothing."""
    _check_source(source)
    assignment, _created = RoleAssignment.objects.get_or_create(learner=learner, role=role, source=source)
    return assignment


def role_unassign(*, learner: Learner, role: Role, source: str = RoleSource.MANUAL) -> bool:
    """Withdraw ``source``'s claim; the learner keeps the role if another source also grants it."""
    _check_source(source)
    deleted, _ = RoleAssignment.objects.filter(learner=learner, role=role, source=source).delete()
    return bool(deleted)


def _check_source(source: str) -> None:
    if source not in RoleSource.values:
        raise ValidationError(
            {"source": f"{source!r} is not a role source; use one of: {', '.join(RoleSource.values)}."},
            code="unknown_source",
        )
