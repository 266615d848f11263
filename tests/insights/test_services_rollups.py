"""The fold keeps the rollups equal to a rebuild from the raw rows, whatever order changes and folds come in."""

import random
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from delivery.models import Message, MessageStatus
from identity.models import IdentitySource, Learner, RoleAssignment
from identity.services import learner_create, role_assign, role_unassign, role_upsert
from identity.services.sources import source_delete
from insights.models import ActivityRollup, EnrollmentRollup, FoldState, HistogramRollup, ModuleRollup
from insights.services import rollups_fold, rollups_rebuild
from playbooks.models import Enrollment, ModuleProgress
from signals_app.services import events_ingest, learner_evaluate_clock, learner_evaluate_pending
from tests.insights.conftest import T0

MODULES = ["welcome", "tools", "basics", "deep-dive"]
# Folds that look back no further than their last run: only the change detection keeps the rollups right.
NO_LAG = timedelta(0)


def _snapshot() -> dict:
    return {
        model.__name__: sorted(model.objects.values_list(*[f.attname for f in model._meta.concrete_fields][1:]))
        for model in (EnrollmentRollup, ModuleRollup, ActivityRollup, HistogramRollup)
    }


class Stream:
    """A random stream of what happens in production: events (some late), evaluation, the clock, deliveries, new
    roles, enrolments moved to another version."""

    def __init__(self, world, seed: int) -> None:
        self.world, self.rng, self.sent = world, random.Random(seed), 0
        roles = [role_upsert(slug=slug, name=slug) for slug in ("agent", "lead")]
        self.learners = [
            learner_create(external_id=f"l{i}", roles=[self.rng.choice(roles)], attributes={}) for i in range(6)
        ]

    def _pick(self, rows):
        """One of the rows, or None: chosen by the seed (the database's ``random()`` made a seed's stream differ
        from run to run, and once left a stream with no histogram rows to compare)."""
        rows = list(rows.order_by("pk"))
        return self.rng.choice(rows) if rows else None

    def step(self) -> None:
        action = self.rng.choice(["events", "events", "evaluate", "clock", "deliver", "role", "revoke", "migrate"])
        getattr(self, action)()

    def events(self) -> None:
        learner = self.rng.choice(self.learners)
        events = []
        for _ in range(self.rng.randrange(1, 4)):
            self.sent += 1
            minutes = self.rng.randrange(-120, 60) + self.sent * 30  # some happened before ones already sent
            kind = self.rng.choice(["module_completed", "module_skipped", "module_progress"])
            events.append(
                {
                    "id": f"e{self.sent}",
                    "learner": learner.external_id,
                    "type": kind,
                    "module": self.rng.choice(MODULES),
                    "occurred_at": (T0 + timedelta(minutes=max(minutes, 0))).isoformat(),
                    "properties": {"duration_seconds": self.rng.randrange(10, 900)}
                    if kind == "module_completed"
                    else {},
                }
            )
        events_ingest(body={"events": events}, source="key:1", now=T0 + timedelta(days=30))

    def evaluate(self) -> None:
        learner_evaluate_pending(learner_id=self.rng.choice(self.learners).pk)

    def clock(self) -> None:
        at = T0 + timedelta(minutes=self.sent * 30 + self.rng.randrange(24 * 60, 72 * 60))
        learner_evaluate_clock(learner_id=self.rng.choice(self.learners).pk, now=at)

    def deliver(self) -> None:
        message = self._pick(Message.objects.filter(status=MessageStatus.SCHEDULED))
        if message is not None:
            status = self.rng.choice([MessageStatus.SENT, MessageStatus.DEAD, MessageStatus.CANCELLED])
            Message.objects.filter(pk=message.pk).update(status=status, delivered_by="email", updated_at=timezone.now())

    def role(self) -> None:
        # A role added later never becomes the primary one (the oldest); the learner's rows are folded again anyway.
        role = role_upsert(slug=self.rng.choice(["mentor", "agent", "lead"]), name="r")
        role_assign(learner=self.rng.choice(self.learners), role=role, source="api")

    def revoke(self) -> None:
        # A learner's oldest role withdrawn: their primary role moves to the next one (or to none).
        assignment = self._pick(RoleAssignment.objects.filter(learner__in=self.learners))
        if assignment is not None:
            role_unassign(learner=assignment.learner, role=assignment.role, source=assignment.source)

    def migrate(self) -> None:
        enrollment = self._pick(Enrollment.objects.all())
        if enrollment is not None:
            version = self.world.v1 if enrollment.version_id == self.world.v2.pk else self.world.v2
            Enrollment.objects.filter(pk=enrollment.pk).update(version=version, updated_at=timezone.now())


@pytest.mark.parametrize("seed", range(6))
def test_folds_interleaved_with_a_random_stream_equal_a_rebuild(world, seed):
    stream = Stream(world, seed)
    for _ in range(60):
        stream.step()
        if stream.rng.random() < 0.25:
            rollups_fold(lag=NO_LAG)
    for learner in stream.learners:
        learner_evaluate_pending(learner_id=learner.pk)
    rollups_fold(lag=NO_LAG)
    folded = _snapshot()
    assert all(folded.values())  # every kind of rollup has rows to compare

    rollups_rebuild()

    assert _snapshot() == folded


def test_a_deleted_identity_source_moves_its_learners_primary_role_in_the_rollups(world):
    source = IdentitySource.objects.create(name="hr", kind="file", settings={"path": "people.csv"})
    learner = learner_create(external_id="sourced", roles=[], attributes={})
    RoleAssignment.objects.create(
        learner=learner, role=role_upsert(slug="agent", name="a"), source="file", identity_source=source
    )
    role_assign(learner=learner, role=role_upsert(slug="lead", name="l"), source="api")
    world.enrol(learner, at=T0)
    rollups_fold(lag=NO_LAG)
    assert set(EnrollmentRollup.objects.values_list("role", flat=True)) == {"agent"}

    source_delete(source=source)  # its claim goes: the learner's oldest role is now "lead"
    rollups_fold(lag=NO_LAG)

    assert set(EnrollmentRollup.objects.filter(enrolled__gt=0).values_list("role", flat=True)) == {"lead"}
    folded = _snapshot()
    rollups_rebuild()
    assert _snapshot() == folded


@pytest.mark.parametrize("lag, skipped", [(None, 1), (NO_LAG, 0)])
def test_a_change_stamped_before_the_last_fold_but_committed_after_it_is_folded(world, lag, skipped):
    enrollment = world.enrol(world.learner("agent"), at=T0)
    world.progress(enrollment, "welcome", "started")
    rollups_fold()
    long_ago = FoldState.objects.get().folded_until - timedelta(days=1)
    Enrollment.objects.update(updated_at=long_ago)
    Learner.objects.update(updated_at=long_ago)
    RoleAssignment.objects.update(created_at=long_ago)
    rollups_fold()
    folded_until = FoldState.objects.get().folded_until

    # A transaction that wrote its row just before the fold began and committed after it had read: found by the
    # look back (the default lag), missed without it (until a rebuild).
    ModuleProgress.objects.filter(enrollment=enrollment).update(
        status="skipped", updated_at=folded_until - timedelta(seconds=5)
    )
    rollups_fold(lag=lag)

    assert ModuleRollup.objects.get(module="welcome").skipped == skipped


def test_folding_again_with_nothing_new_changes_nothing(world):
    enrollment = world.enrol(world.learner("agent"), at=T0, done_after=timedelta(hours=5))
    world.decision(enrollment, "trigger", "trigger 'nudge': x", at=T0)
    rollups_fold()
    before = _snapshot()

    rollups_fold()
    rollups_fold()

    assert _snapshot() == before
    assert EnrollmentRollup.objects.get().completed == 1


def test_the_rebuild_command_replaces_rollups_that_went_wrong(world):
    world.enrol(world.learner("agent"), at=T0, done_after=timedelta(hours=5))
    rollups_fold()
    right = _snapshot()
    EnrollmentRollup.objects.update(completed=7)

    call_command("rebuild_insights")

    assert _snapshot() == right
