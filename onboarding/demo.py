"""Demo data for the embedded mode: the support-specialist playbook's roles and modules, learners, an admin."""

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractUser
from django.db import transaction

from identity import services as identity_services
from identity.models import Learner, Role
from identity.selectors import learner_get
from playbooks import services as playbook_services

DEMO_PLAYBOOK = Path(__file__).resolve().parent.parent / "playbooks" / "demo" / "support-specialist.yaml"

DEMO_LEARNERS = (
    {
        "external_id": "demo-alex",
        "username": "alex",
        "display_name": "Alex Rivera",
        "email": "alex@example.com",
        "timezone": "Europe/Berlin",
        "attributes": {"api_access": True, "department": "support"},
    },
    {
        "external_id": "demo-sam",
        "username": "sam",
        "display_name": "Sam Patel",
        "email": "sam@example.com",
        "timezone": "America/New_York",
        "attributes": {"api_access": False, "department": "support"},
    },
)


@dataclass
class DemoSummary:
    written: list[str] = field(default_factory=list)

    def note(self, what: str, changed: bool) -> None:
        if changed:
            self.written.append(what)


@transaction.atomic(durable=True)
def demo_load(*, admin_username: str, password: str, playbook_path: Path = DEMO_PLAYBOOK) -> DemoSummary:
    """Load the demo; idempotent: a second run with the same arguments writes nothing."""
    spec = yaml.safe_load(playbook_path.read_text())
    summary = DemoSummary()
    for module in spec["modules"]:
        _module, changed = playbook_services.module_upsert(**_module_fields(module))
        summary.note(f"module {module['slug']}", changed)
    roles = [_role_upsert(slug, summary) for slug in spec["audience"]["roles"]]
    for person in DEMO_LEARNERS:
        user = _user_upsert(username=person["username"], password=password, summary=summary)
        _learner_upsert(person=person, user=user, roles=roles, summary=summary)
    _user_upsert(username=admin_username, password=password, summary=summary, superuser=True)
    return summary


def _module_fields(module: dict[str, Any]) -> dict[str, Any]:
    return {
        "slug": module["slug"],
        "title": module["title"],
        "kind": module.get("kind", "article"),
        "url": module.get("url", ""),
        "minutes": module.get("minutes", 5),
        "tags": module.get("tags", []),
    }


def _role_upsert(slug: str, summary: DemoSummary) -> Role:
    existed = Role.objects.filter(slug=slug).exists()
    role = identity_services.role_upsert(slug=slug, name=slug.replace("_", " ").capitalize())
    summary.note(f"role {slug}", not existed)
    return role


def _user_upsert(*, username: str, password: str, summary: DemoSummary, superuser: bool = False) -> AbstractUser:
    user_model = get_user_model()
    user = user_model.objects.filter(username=username).first()
    if user is None:
        create = user_model.objects.create_superuser if superuser else user_model.objects.create_user
        summary.note(f"user {username}", True)
        return create(username=username, password=password, email=f"{username}@example.com")
    if not user.check_password(password):  # only rehash when the password really changed
        user.set_password(password)
        user.save(update_fields=["password"])
        summary.note(f"password of {username}", True)
    return user


def _learner_upsert(*, person: dict[str, Any], user: AbstractUser, roles: list[Role], summary: DemoSummary) -> Learner:
    fields = {k: person[k] for k in ("display_name", "email", "timezone", "attributes")}
    learner = learner_get(external_id=person["external_id"])
    if learner is None:
        summary.note(f"learner {person['external_id']}", True)
        return identity_services.learner_create(external_id=person["external_id"], user=user, roles=roles, **fields)
    before = learner.updated_at
    identity_services.learner_update(learner=learner, data={**fields, "user": user})
    summary.note(f"learner {person['external_id']}", learner.updated_at != before)
    for role in roles:
        identity_services.role_assign(learner=learner, role=role)
    return learner
