"""Writes to learners and roles. The admin, the API, identity sources and commands all come through here.

The sync of identity sources is ``identity.services.sync`` (source_sync, entries_apply, entry_remove); the
configuration of sources (their schedule) is ``identity.services.sources``.
"""

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from celery import current_app
from django.contrib.auth import get_user_model
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
    """Mark a leaver inactive (see ``learners_deactivate``). Deactivating twice is a no-op that keeps the first
    timestamp."""
    if not learner.is_active:
        return learner
    learners_deactivate(learner_ids=[learner.pk])
    learner.refresh_from_db(fields=["is_active", "deactivated_at", "updated_at"])
    return learner


def learner_reactivate(*, learner: Learner) -> Learner:
    if learner.is_active:
        return learner
    learners_reactivate(learner_ids=[learner.pk])
    learner.refresh_from_db(fields=["is_active", "deactivated_at", "updated_at"])
    return learner


@transaction.atomic
def learners_deactivate(*, learner_ids: Sequence[int], now: datetime | None = None) -> list[int]:
    """Deactivate these learners (those still active): their login is disabled and their personal tokens revoked,
    and, once committed, the layers above cancel their waiting reminders and end their enrolments. Returns the ids
    deactivated now; the others were inactive already and keep their first timestamp."""
    now = now or timezone.now()
    changed = list(
        Learner.objects.filter(pk__in=list(learner_ids), is_active=True).order_by("pk").values_list("pk", "user_id")
    )
    if not changed:
        return []
    ids = [pk for pk, _user in changed]
    Learner.objects.filter(pk__in=ids).update(is_active=False, deactivated_at=now, updated_at=now)
    user_ids = [user_id for _pk, user_id in changed if user_id is not None]
    if user_ids:
        get_user_model().objects.filter(pk__in=user_ids).update(is_active=False)
    LearnerToken.objects.filter(learner_id__in=ids, revoked_at__isnull=True).update(revoked_at=now)
    for learner_id in ids:
        # Their reminders still to be sent are cancelled (delivery re-checks at send time too, if this is lost).
        _send_on_commit("delivery.cancel_for_learner", learner_id=learner_id, reason="the learner was deactivated")
    announce_reroute(learner_ids=ids)
    return ids


@transaction.atomic
def learners_reactivate(*, learner_ids: Sequence[int], now: datetime | None = None, reroute: bool = True) -> list[int]:
    """Reactivate returning learners with their history: their login works again (revoked tokens stay revoked) and
    the playbooks they match are re-routed once committed (``reroute=False``: the caller announces them with its
    own). Returns the ids reactivated now."""
    now = now or timezone.now()
    changed = list(
        Learner.objects.filter(pk__in=list(learner_ids), is_active=False).order_by("pk").values_list("pk", "user_id")
    )
    if not changed:
        return []
    ids = [pk for pk, _user in changed]
    Learner.objects.filter(pk__in=ids).update(is_active=True, deactivated_at=None, updated_at=now)
    user_ids = [user_id for _pk, user_id in changed if user_id is not None]
    if user_ids:
        get_user_model().objects.filter(pk__in=user_ids).update(is_active=True)
    if reroute:
        announce_reroute(learner_ids=ids)
    return ids


def role_assign(*, learner: Learner, role: Role, source: str = RoleSource.MANUAL) -> RoleAssignment:
    """Give ``learner`` the role on behalf of ``source``; idempotent, so a retried sync adds nothing."""
    assignment, created = _assign(learner, role, source)
    if created:
        _announce_identity_change(learner)
    return assignment


def _assign(learner: Learner, role: Role, source: str) -> tuple[RoleAssignment, bool]:
    _check_source(source)
    # Claims of configured identity sources (identity_source set) are the sync's: never found or removed here.
    return RoleAssignment.objects.get_or_create(
        learner=learner, role=role, source=source, identity_source__isnull=True, defaults={"identity_source": None}
    )


def role_unassign(*, learner: Learner, role: Role, source: str = RoleSource.MANUAL) -> bool:
    """Withdraw ``source``'s claim; the learner keeps the role if another source also grants it."""
    _check_source(source)
    deleted, _ = RoleAssignment.objects.filter(
        learner=learner, role=role, source=source, identity_source__isnull=True
    ).delete()
    if deleted:
        roles_withdrawn(learner_ids=[learner.pk])
    return bool(deleted)


def roles_withdrawn(*, learner_ids: Iterable[int]) -> None:
    """Stamp learners who lost a role: a withdrawn assignment leaves no row behind, and what reads changes since a
    moment (the insights fold: a primary role may have moved) finds them by their ``updated_at``."""
    Learner.objects.filter(pk__in=list(learner_ids)).update(updated_at=timezone.now())


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


# Learners per re-route task: one task per sync chunk, never one per person.
REROUTE_CHUNK = 1_000


def announce_reroute(*, learner_ids: Iterable[int]) -> None:
    """Once committed, ask the playbooks layer to re-route these learners (joiners, movers, leavers, returners):
    enrol them where they now match, end what they no longer match or all of it for the inactive. One task per
    ``REROUTE_CHUNK`` learners."""
    ids = sorted(set(learner_ids))
    for start in range(0, len(ids), REROUTE_CHUNK):
        _send_on_commit("playbooks.reroute_learners", learner_ids=ids[start : start + REROUTE_CHUNK])


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
