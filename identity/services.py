"""Writes to learners and roles. The admin, the API, identity sources and commands all come through here."""

import logging
from dataclasses import dataclass
from typing import Any

from celery import current_app
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from common.services import model_create, model_update
from identity.keys import LEARNER, key_generate
from identity.models import ApiKey, ApiScope, Learner, LearnerToken, Role, RoleAssignment, RoleSource

logger = logging.getLogger(__name__)

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
        _assign(learner, role, source)
    _announce_identity_change(learner)  # once, for the learner and all their roles
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
    # Their reminders still to be sent are cancelled (delivery re-checks at send time too, if this task is lost).
    _send_on_commit("delivery.cancel_for_learner", learner_id=learner.pk, reason="the learner was deactivated")
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
    assignment, created = _assign(learner, role, source)
    if created:
        _announce_identity_change(learner)
    return assignment


def _assign(learner: Learner, role: Role, source: str) -> tuple[RoleAssignment, bool]:
    _check_source(source)
    return RoleAssignment.objects.get_or_create(learner=learner, role=role, source=source)


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


@dataclass(frozen=True)
class IssuedKey:
    api_key: ApiKey
    key: str  # shown once; only its hash is stored


def api_key_create(
    *, name: str, scopes: list[str], can_create_learners: bool = False, created_by: Any = None
) -> IssuedKey:
    unknown = sorted(set(scopes) - set(ApiScope.values))
    if unknown or not scopes:
        raise ValidationError(
            {"scopes": f"Unknown or missing scopes {unknown}; choose from: {', '.join(ApiScope.values)}."},
            code="unknown_scope",
        )
    key, prefix, hashed = key_generate()
    api_key = ApiKey(
        name=name,
        prefix=prefix,
        key_hash=hashed,
        scopes=sorted(set(scopes)),
        can_create_learners=can_create_learners,
        created_by=created_by,
    )
    api_key.full_clean()
    api_key.save()
    return IssuedKey(api_key, key)


def api_key_revoke(*, api_key: ApiKey) -> ApiKey:
    """Revoke at once; revoking twice keeps the first time."""
    if api_key.revoked_at is None:
        api_key.revoked_at = timezone.now()
        api_key.save(update_fields=["revoked_at"])
    return api_key


def _announce_identity_change(learner: Learner) -> None:
    """Ask the layers above to re-route the learner (enrol in newly matching playbooks), once committed."""
    _send_on_commit("playbooks.enroll_learner", learner_id=learner.pk)


def _send_on_commit(task: str, **kwargs: Any) -> None:
    """Enqueue a task of a layer above by its name, once committed: identity is the bottom layer and imports nothing
    above it. A broker outage is logged; each such task has a fallback that catches up."""

    def send() -> None:
        try:
            current_app.send_task(task, kwargs=kwargs)
        except Exception as exc:  # kombu raises many types; the caller's fallback catches up
            logger.warning("identity.enqueue_failed", extra={"task": task, **kwargs, "error": repr(exc)})

    transaction.on_commit(send)


@dataclass(frozen=True)
class IssuedToken:
    token: LearnerToken
    key: str  # shown once; only its hash is stored


def learner_token_create(*, learner: Learner, name: str) -> IssuedToken:
    key, prefix, hashed = key_generate(LEARNER)
    token = LearnerToken(learner=learner, name=name, prefix=prefix, key_hash=hashed)
    token.full_clean()
    token.save()
    return IssuedToken(token, key)


def learner_token_revoke(*, token: LearnerToken) -> LearnerToken:
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
    return token
