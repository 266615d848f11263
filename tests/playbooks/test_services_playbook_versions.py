"""Learners stay on the version they started, unless the admin migrates them at their next step boundary."""

from datetime import UTC, datetime, timedelta

import pytest

from identity.services import learner_create, role_upsert
from playbooks.engine.signals import EventFact
from playbooks.models import Enrollment
from playbooks.selectors import next_module_for_learner
from playbooks.services import enrollment_evaluate, learner_enroll, playbook_import

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 2, 9, tzinfo=UTC)
V1 = """
slug: intro
name: Intro
audience: {roles: [new_hire]}
modules:
  - {slug: welcome, title: Welcome}
  - {slug: tools, title: Tools}
  - {slug: security, title: Security}
  - {slug: culture, title: Culture}
steps:
  - module: welcome
  - module: tools
  - module: culture
"""
# Version 2 adds a security module before culture.
V2 = V1.replace("  - module: culture\n", "  - module: security\n  - module: culture\n")


def _complete(learner, module: str, at: datetime, events: list) -> None:
    events.append(EventFact("module_completed", at, module, {"duration_seconds": 100}))
    enrollment_evaluate(enrollment=Enrollment.objects.get(learner=learner), events=events, event=events[-1], now=at)


@pytest.fixture
def learner_on_v1():
    playbook_import(text=V1, publish=True)
    learner = learner_create(external_id="ada", roles=[role_upsert(slug="new_hire", name="New hire")])
    learner_enroll(learner=learner, now=T0)
    events: list = []
    _complete(learner, "welcome", T0 + timedelta(minutes=5), events)
    return learner, events


def test_a_learner_enrolled_in_v1_keeps_v1_after_v2_is_published(learner_on_v1):
    learner, events = learner_on_v1

    playbook_import(text=V2, publish=True)
    _complete(learner, "tools", T0 + timedelta(minutes=10), events)

    enrollment = Enrollment.objects.select_related("version").get(learner=learner)
    assert enrollment.version.number == 1
    assert next_module_for_learner(learner=learner).module.slug == "culture"


def test_migrated_learners_move_at_their_next_step_keeping_progress(learner_on_v1):
    learner, events = learner_on_v1

    playbook_import(text=V2, publish=True, migrate=True)
    assert Enrollment.objects.get(learner=learner).version.number == 1  # not mid-step
    _complete(learner, "tools", T0 + timedelta(minutes=10), events)

    enrollment = Enrollment.objects.select_related("version").get(learner=learner)
    assert (enrollment.version.number, enrollment.migrate_to_id) == (2, None)
    assert next_module_for_learner(learner=learner).module.slug == "security"
    assert (enrollment.steps_done, enrollment.steps_total) == (2, 4)


def test_new_learners_start_on_the_published_version(learner_on_v1):
    playbook_import(text=V2, publish=True)
    newcomer = learner_create(external_id="bob", roles=[role_upsert(slug="new_hire", name="New hire")])

    learner_enroll(learner=newcomer, now=T0)

    assert Enrollment.objects.get(learner=newcomer).version.number == 2
