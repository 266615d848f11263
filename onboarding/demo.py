"""Demo data for the embedded mode: the support-specialist playbook's roles and modules, learners, an admin."""

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractUser
from django.db import transaction

from identity import services as identity_services
from identity.models import Learner, Role
from identity.selectors import learner_get
from playbooks import services as playbook_services

DEMO_PLAYBOOK = Path(__file__).resolve().parent.parent / "playbooks" / "demo" / "support-specialist.yaml"

DEMO_ROLES = ("support_specialist",)
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


def demo_load(*, admin_username: str, password: str, playbook_path: Path = DEMO_PLAYBOOK) -> DemoSummary:
    """Load the demo; idempotent: a second run with the same arguments writes nothing."""
    summary = DemoSummary()
    result = playbook_services.playbook_import(text=playbook_path.read_text(), publish=True)
    summary.note(f"playbook {result.version}", result.changed)
    _people_load(admin_username=admin_username, password=password, summary=summary)
    return summary


@transaction.atomic(durable=True)
def _people_load(*, admin_username: str, password: str, summary: DemoSummary) -> None:
    roles = list(Role.objects.filter(slug__in=DEMO_ROLES))
    for person in DEMO_LEARNERS:
        user = _user_upsert(username=person["username"], password=password, summary=summary)
        learner = _learner_upsert(person=person, user=user, roles=roles, summary=summary)
        enrolled = playbook_services.learner_enroll(learner=learner)
        summary.note(f"enrolment of {person['external_id']}", bool(enrolled))
    _user_upsert(username=admin_username, password=password, summary=summary, superuser=True)


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
