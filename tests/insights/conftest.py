"""A synthetic world for the insights tests: a playbook in two versions, learners in two roles, and rows written
directly with chosen times, so each test can compute the right figures itself from what it wrote."""

import itertools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import Permission

from delivery.models import Message, MessageKind, MessageStatus
from identity.models import Learner
from playbooks.models import ContentModule, Enrollment, EnrollmentStatus, ModuleProgress, PlaybookVersion
from playbooks.services import playbook_import
from signals_app.models import Decision, Event, Reminder, ReminderStatus
from tests.factories import LearnerFactory, UserFactory

T0 = datetime(2026, 3, 2, 9, tzinfo=UTC)

PLAYBOOK = """
slug: insights-demo
name: Insights demo
audience: {roles: [agent, lead]}
modules:
  - {slug: welcome, title: Welcome, minutes: 5}
  - {slug: tools, title: Tools, minutes: 10}
  - {slug: deep-dive, title: Deep dive, minutes: 20}
  - {slug: basics, title: Basics, minutes: 15}
steps:
  - module: welcome
  - module: tools
  - id: track
    branch:
      - {when: 'skips >= 1', module: basics}
      - {otherwise: deep-dive}
triggers:
  - {name: nudge, when: 'idle_hours >= 24', then: [{remind: {channel: email, template: drop_off}}]}
  - {name: review, when: 'skips >= 2', then: [{flag: supervisor_review}], limit: {per_learner: 1}}
"""
_counter = itertools.count()


@dataclass
class World:
    v1: PlaybookVersion
    v2: PlaybookVersion

    @property
    def playbook(self):
        return self.v2.playbook

    def learner(self, role: str) -> Learner:
        return LearnerFactory(roles=[role])

    def enrol(
        self, learner: Learner, *, at: datetime, version=None, done_after: timedelta | None = None, ended: bool = False
    ) -> Enrollment:
        return Enrollment.objects.create(
            learner=learner,
            playbook=self.playbook,
            version=version or self.v2,
            enrolled_at=at,
            status=EnrollmentStatus.COMPLETED if done_after else EnrollmentStatus.ENDED if ended else "active",
            completed_at=at + done_after if done_after else None,
            ended_at=at if ended else None,
            ended_reason="left_audience" if ended else "",
        )

    def progress(self, enrollment: Enrollment, module: str, status: str, seconds: int = 0) -> ModuleProgress:
        return ModuleProgress.objects.create(
            enrollment=enrollment,
            module=ContentModule.objects.get(slug=module),
            status=status,
            seconds=seconds,
            started_at=enrollment.enrolled_at,
        )

    def decision(self, enrollment: Enrollment, kind: str, rule: str, *, at: datetime, event=None, action=None):
        return Decision.objects.create(
            learner=enrollment.learner,
            enrollment=enrollment,
            event=event,
            dedupe_key=f"test:{next(_counter)}",
            kind=kind,
            rule=rule,
            explanation="",
            action=action,
            decided_at=at,
        )

    def event(self, learner: Learner, *, at: datetime, latency_ms: float) -> Event:
        return Event.objects.create(
            source="key:1",
            client_id=f"e{next(_counter)}",
            learner=learner,
            type="module_completed",
            occurred_at=at,
            received_at=at,
            processed_at=at + timedelta(milliseconds=latency_ms),
        )

    def reminder(self, enrollment: Enrollment, *, at: datetime, channel: str, outcome: str, via: str = "") -> Reminder:
        """A reminder decided at ``at``: ``outcome`` is suppressed, or its message's status."""
        decision = self.decision(
            enrollment, "trigger", "trigger 'nudge': idle_hours >= 24", at=at, action={"remind": {"channel": channel}}
        )
        message = None
        if outcome != ReminderStatus.SUPPRESSED:
            message = Message.objects.create(
                kind=MessageKind.REMINDER,
                learner=enrollment.learner,
                enrollment=enrollment,
                channels=[channel],
                status=outcome,
                due_at=at,
                next_attempt_at=at,
                delivered_by=via if outcome == MessageStatus.SENT else "",
            )
        return Reminder.objects.create(
            learner=enrollment.learner,
            enrollment=enrollment,
            decision=decision,
            channel=channel,
            due_at=at,
            status=ReminderStatus.SUPPRESSED if outcome == ReminderStatus.SUPPRESSED else ReminderStatus.SCHEDULED,
            message=message,
        )


@pytest.fixture
def world(db) -> World:
    v1 = playbook_import(text=PLAYBOOK, publish=True).version
    v2 = playbook_import(text=PLAYBOOK.replace("minutes: 20", "minutes: 25"), publish=True).version
    v1.refresh_from_db()
    return World(v1, v2)


@pytest.fixture
def analyst(db):
    """Staff who may view the dashboards (and the playbooks), nothing else."""
    user = UserFactory(username="analyst", is_staff=True)
    user.user_permissions.set(
        Permission.objects.filter(codename__in=["view_dashboard", "view_playbook", "view_enrollment"])
    )
    return user
