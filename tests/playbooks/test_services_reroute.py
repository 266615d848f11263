"""Joiners, movers, leavers and returners: ``playbooks.reroute_learners`` brings enrolments in line with who the
learners are now, on PostgreSQL, in batches, idempotently (the task function called directly)."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import IntegrityError, InterfaceError, OperationalError, connection
from django.test.utils import CaptureQueriesContext

from identity.models import Learner
from identity.services import (
    learner_create,
    learner_deactivate,
    learner_reactivate,
    learner_update,
    role_assign,
    role_unassign,
    role_upsert,
)
from onboarding.celery import app as celery_app
from playbooks.engine.signals import EventFact
from playbooks.models import Enrollment, EnrollmentStatus
from playbooks.selectors import next_module_for_learner
from playbooks.services import enrollment_evaluate, learner_enroll, learners_reroute, playbook_import
from playbooks.tasks import reroute_learners

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 2, 9, tzinfo=UTC)


def playbook_text(slug: str, role: str, *, extra: str = "", when: str | None = None) -> str:
    """A two-module playbook for ``role``, in the file's normal form: modules ``<slug>-1`` and ``<slug>-2``;
    ``extra`` adds top-level keys after the name."""
    audience = f"{{roles: [{role}]" + (f", when: '{when}'" if when else "") + "}"
    return (
        f"slug: {slug}\nname: {slug.title()} playbook\n{extra}audience: {audience}\n"
        f"modules: [{{slug: {slug}-1, title: {slug.title()} one, kind: article, minutes: 5}},"
        f" {{slug: {slug}-2, title: {slug.title()} two, kind: article, minutes: 5}}]\n"
        f"steps: [{{module: {slug}-1}}, {{module: {slug}-2}}]\n"
    )


def publish(slug: str, role: str, *, extra: str = "", when: str | None = None) -> None:
    playbook_import(text=playbook_text(slug, role, extra=extra, when=when), publish=True)


def newcomer(external_id: str, *roles: str, **fields) -> Learner:
    """A learner as an identity sync creates them (their enrolment is the re-route's job, not done here)."""
    return learner_create(
        external_id=external_id, roles=[role_upsert(slug=role, name=role) for role in roles], **fields
    )


def _enrollment(learner: Learner, playbook: str) -> Enrollment:
    return Enrollment.objects.get(learner=learner, playbook__slug=playbook)


def _complete_first_module(learner: Learner, playbook: str) -> Enrollment:
    enrollment = _enrollment(learner, playbook)
    event = EventFact("module_completed", T0 + timedelta(minutes=5), f"{playbook}-1", {})
    enrollment_evaluate(enrollment=enrollment, events=[event], event=event, now=event.occurred_at)
    return _enrollment(learner, playbook)


def test_a_joiner_is_enrolled_in_every_playbook_they_match_and_no_other():
    publish("support", "support_specialist")
    publish("tools", "support_specialist")
    publish("sales", "sales_rep")
    ada = newcomer("ada", "support_specialist")

    result = learners_reroute(learner_ids=[ada.pk], now=T0)

    assert (result.enrolled, result.ended, result.resumed, result.kept) == (2, 0, 0, 0)
    enrolled = Enrollment.objects.filter(learner=ada).values_list("playbook__slug", "status", "current_module__slug")
    assert sorted(enrolled) == [("support", "active", "support-1"), ("tools", "active", "tools-1")]
    assert next_module_for_learner(learner=ada).module.slug in ("support-1", "tools-1")


def test_a_mover_leaves_one_playbook_and_joins_another():
    publish("support", "support_specialist")
    publish("sales", "sales_rep")
    bo = newcomer("bo", "support_specialist")
    learners_reroute(learner_ids=[bo.pk], now=T0)
    support = role_upsert(slug="support_specialist", name="support_specialist")

    role_unassign(learner=bo, role=support)
    role_assign(learner=bo, role=role_upsert(slug="sales_rep", name="Sales"))
    result = learners_reroute(learner_ids=[bo.pk], now=T0 + timedelta(days=1))

    assert (result.enrolled, result.ended) == (1, 1)
    left = _enrollment(bo, "support")
    assert (left.status, left.ended_reason, left.ended_at) == ("ended", "left_audience", T0 + timedelta(days=1))
    assert _enrollment(bo, "sales").status == "active"
    assert next_module_for_learner(learner=bo).module.slug == "sales-1"


def test_an_attribute_change_moves_a_learner_out_of_a_conditional_audience():
    publish("emea", "support_specialist", when='attributes.region == "emea"')
    cy = newcomer("cy", "support_specialist", attributes={"region": "emea"})
    learners_reroute(learner_ids=[cy.pk], now=T0)
    assert _enrollment(cy, "emea").status == "active"

    learner_update(learner=cy, data={"attributes": {"region": "apac"}})
    learners_reroute(learner_ids=[cy.pk], now=T0 + timedelta(hours=1))

    assert (_enrollment(cy, "emea").status, _enrollment(cy, "emea").ended_reason) == ("ended", "left_audience")
    assert next_module_for_learner(learner=cy).status == "not_enrolled"


def test_a_playbook_that_keeps_its_learners_keeps_a_mover_where_they_are():
    publish("kept", "support_specialist", extra="on_audience_exit: keep\n")
    publish("ended", "support_specialist")
    di = newcomer("di", "support_specialist")
    learners_reroute(learner_ids=[di.pk], now=T0)
    _complete_first_module(di, "kept")

    role_unassign(learner=di, role=role_upsert(slug="support_specialist", name="support_specialist"))
    result = learners_reroute(learner_ids=[di.pk], now=T0 + timedelta(days=1))

    assert (result.ended, result.kept) == (1, 1)
    kept = _enrollment(di, "kept")
    assert (kept.status, kept.ended_at, kept.current_module.slug) == ("active", None, "kept-2")
    assert _enrollment(di, "ended").status == "ended"
    assert next_module_for_learner(learner=di).module.slug == "kept-2"


def test_a_leaver_has_every_active_enrolment_ended_and_a_completed_one_kept_as_a_record():
    publish("kept", "support_specialist", extra="on_audience_exit: keep\n")
    publish("done", "support_specialist")
    ed = newcomer("ed", "support_specialist")
    learners_reroute(learner_ids=[ed.pk], now=T0)
    Enrollment.objects.filter(learner=ed, playbook__slug="done").update(status=EnrollmentStatus.COMPLETED)

    learner_deactivate(learner=ed)
    result = learners_reroute(learner_ids=[ed.pk], now=T0 + timedelta(days=3))

    assert (result.ended, result.enrolled) == (1, 0)
    left = _enrollment(ed, "kept")  # "keep" is about leaving an audience, not the company
    assert (left.status, left.ended_reason, left.ended_at) == ("ended", "deactivated", T0 + timedelta(days=3))
    assert _enrollment(ed, "done").status == "completed"


def test_a_returning_learner_gets_their_enrolment_back_where_it_stood():
    publish("support", "support_specialist")
    fay = newcomer("fay", "support_specialist")
    learners_reroute(learner_ids=[fay.pk], now=T0)
    before = _complete_first_module(fay, "support")
    learner_deactivate(learner=fay)
    learners_reroute(learner_ids=[fay.pk], now=T0 + timedelta(days=1))

    learner_reactivate(learner=fay)
    result = learners_reroute(learner_ids=[fay.pk], now=T0 + timedelta(days=30))

    assert (result.resumed, result.enrolled) == (1, 0)
    back = Enrollment.objects.get(learner=fay)  # the same row: one enrolment per learner and playbook
    assert back.pk == before.pk
    assert (back.status, back.ended_at, back.ended_reason) == ("active", None, "")
    assert (back.version_id, back.state, back.steps_done) == (before.version_id, before.state, 1)
    assert (back.enrolled_at, back.current_module.slug) == (T0, "support-2")
    assert next_module_for_learner(learner=fay).module.slug == "support-2"


def test_a_mover_coming_back_to_the_role_resumes_their_ended_enrolment():
    publish("support", "support_specialist")
    gus = newcomer("gus", "support_specialist")
    support = role_upsert(slug="support_specialist", name="support_specialist")
    learners_reroute(learner_ids=[gus.pk], now=T0)
    _complete_first_module(gus, "support")
    role_unassign(learner=gus, role=support)
    learners_reroute(learner_ids=[gus.pk], now=T0 + timedelta(days=1))

    role_assign(learner=gus, role=support)
    learners_reroute(learner_ids=[gus.pk], now=T0 + timedelta(days=2))

    assert Enrollment.objects.filter(learner=gus).count() == 1
    assert next_module_for_learner(learner=gus).module.slug == "support-2"


def test_a_returner_who_no_longer_matches_stays_ended():
    publish("support", "support_specialist")
    hal = newcomer("hal", "support_specialist")
    learners_reroute(learner_ids=[hal.pk], now=T0)
    learner_deactivate(learner=hal)
    learners_reroute(learner_ids=[hal.pk], now=T0 + timedelta(days=1))
    role_unassign(learner=hal, role=role_upsert(slug="support_specialist", name="support_specialist"))

    learner_reactivate(learner=hal)
    result = learners_reroute(learner_ids=[hal.pk], now=T0 + timedelta(days=2))

    assert (result.resumed, result.enrolled) == (0, 0)
    assert (_enrollment(hal, "support").status, _enrollment(hal, "support").ended_reason) == ("ended", "deactivated")


def test_rerouting_again_changes_nothing():
    publish("support", "support_specialist")
    publish("sales", "sales_rep")
    stayer, leaver = newcomer("ivy", "support_specialist"), newcomer("jon", "support_specialist")
    learners_reroute(learner_ids=[stayer.pk, leaver.pk], now=T0)
    learner_deactivate(learner=leaver)
    learners_reroute(learner_ids=[stayer.pk, leaver.pk], now=T0 + timedelta(days=1))
    rows = list(Enrollment.objects.order_by("pk").values())

    again = learners_reroute(learner_ids=[stayer.pk, leaver.pk], now=T0 + timedelta(days=2))

    assert (again.enrolled, again.ended, again.resumed, again.kept) == (0, 0, 0, 0)
    assert list(Enrollment.objects.order_by("pk").values()) == rows


def test_a_learner_enrolled_by_their_first_event_or_the_old_task_is_not_enrolled_twice():
    publish("support", "support_specialist")
    kai = newcomer("kai", "support_specialist")
    learner_enroll(learner=kai, now=T0)

    assert learners_reroute(learner_ids=[kai.pk, 10**9], now=T0).enrolled == 0  # an unknown id is ignored
    assert Enrollment.objects.filter(learner=kai).count() == 1


def _joiners_movers_leavers(prefix: str, n: int) -> list[int]:
    """n enrolled learners of whom a third have left and a third moved to sales, and n joiners."""
    support, sales = role_upsert(slug="support_specialist", name="S"), role_upsert(slug="sales_rep", name="R")
    staff = [newcomer(f"{prefix}-{i}", "support_specialist") for i in range(n)]
    learners_reroute(learner_ids=[learner.pk for learner in staff], now=T0)
    for i, learner in enumerate(staff):
        if i % 3 == 0:
            learner_deactivate(learner=learner)
        elif i % 3 == 1:
            role_unassign(learner=learner, role=support)
            role_assign(learner=learner, role=sales)
    joiners = [newcomer(f"{prefix}-new-{i}", "support_specialist") for i in range(n)]
    return [learner.pk for learner in staff + joiners]


def test_a_reroute_costs_the_same_queries_for_6_learners_or_120():
    publish("support", "support_specialist")
    publish("tools", "support_specialist")
    publish("sales", "sales_rep")
    few, many = _joiners_movers_leavers("few", 3), _joiners_movers_leavers("many", 60)
    learners_reroute(learner_ids=[], now=T0)  # the published versions compiled once, as in a worker process

    with CaptureQueriesContext(connection) as for_few:
        small = learners_reroute(learner_ids=few, now=T0 + timedelta(days=1))
    with CaptureQueriesContext(connection) as for_many:
        large = learners_reroute(learner_ids=many, now=T0 + timedelta(days=1))

    assert (small.enrolled, small.ended) == (3 * 2 + 1, 1 * 2 + 1 * 2)  # joiners: 2 each, the mover: sales
    assert (large.enrolled, large.ended) == (60 * 2 + 20, 20 * 2 + 20 * 2)
    assert len(for_few) == len(for_many) <= 10


def test_the_task_is_found_by_name_acknowledged_late_and_retried_like_enrolment():
    publish("support", "support_specialist")
    lea = newcomer("lea", "support_specialist")
    task = celery_app.tasks["playbooks.reroute_learners"]

    assert task.name == reroute_learners.name
    assert (task.acks_late, task.reject_on_worker_lost) == (True, True)
    assert set(task.autoretry_for) == {OperationalError, InterfaceError, IntegrityError}
    assert reroute_learners(learner_ids=[lea.pk]) == {"enrolled": 1, "resumed": 0, "ended": 0, "kept": 0}
    assert reroute_learners(learner_ids=[lea.pk]) == {"enrolled": 0, "resumed": 0, "ended": 0, "kept": 0}
