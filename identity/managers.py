"""Managers, read from the identity systems: a learner's ``manager`` attribute names another learner (by external id
or e-mail, as SCIM's enterprise extension and LDAP's ``manager`` give it) or is a plain e-mail address of someone
outside the platform. Reads only; nothing here is stored beyond the attribute itself."""

from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db.models import Q, QuerySet
from django.db.models.fields.json import KT
from django.db.models.functions import Lower

from identity.models import Learner

MANAGER_ATTRIBUTE = "manager"


@dataclass(frozen=True)
class Manager:
    """Who to tell about a learner: a learner of the platform (who has a team page), or only an address."""

    email: str
    learner: Learner | None = None


def manager_of(*, learner: Learner) -> Manager | None:
    """The learner's manager, or None when the attribute is absent, empty, or names no one reachable."""
    value = learner.attributes.get(MANAGER_ATTRIBUTE)
    if not isinstance(value, str) or not value.strip():
        return None
    value = value.strip()
    found = (
        Learner.objects.filter(is_active=True)
        .filter(Q(external_id=value) | Q(email__iexact=value))
        .exclude(pk=learner.pk)
        .order_by("pk")
        .first()
    )
    if found is not None:
        return Manager(email=found.email, learner=found) if found.email or found.user_id else None
    try:
        validate_email(value)
    except ValidationError:
        return None
    return Manager(email=value)


def reports_of(*, manager: Learner) -> QuerySet[Learner]:
    """The active learners whose ``manager`` attribute names this learner (external id or e-mail, in any case)."""
    names = {manager.external_id.lower(), *([manager.email.lower()] if manager.email else [])}
    return (
        Learner.objects.alias(manager_name=Lower(KT(f"attributes__{MANAGER_ATTRIBUTE}")))
        .filter(manager_name__in=names, is_active=True)
        .exclude(pk=manager.pk)
        .order_by("display_name", "external_id")
    )
