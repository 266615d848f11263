"""``playbooks.reroute_learners`` sent by name over Redis, as the identity sync sends it, run by a real worker:
joiners are enrolled, a mover and a leaver have their enrolments ended, a returner gets theirs back."""

import pytest
from celery import current_app
from django.utils import timezone

from identity.models import Learner, Role, RoleAssignment
from playbooks.models import Enrollment
from tests.factories import LearnerFactory
from tests.pipeline.conftest import wait_until
from tests.playbooks.test_services_reroute import publish

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]


def _reroute(*learners: Learner) -> None:
    current_app.send_task("playbooks.reroute_learners", kwargs={"learner_ids": [learner.pk for learner in learners]})


def _statuses(learner: Learner) -> dict[str, str]:
    return dict(Enrollment.objects.filter(learner=learner).values_list("playbook__slug", "status"))


def test_joiners_movers_leavers_and_returners_through_the_worker(celery_worker_process):
    publish("support", "support_specialist")
    publish("sales", "sales_rep")
    # Created as rows only: nothing is enqueued for them but the re-routes below.
    ada, bo, cy = (LearnerFactory(external_id=name, roles=["support_specialist"]) for name in ("ada", "bo", "cy"))

    _reroute(ada, bo, cy)  # joiners
    wait_until(lambda: Enrollment.objects.count() == 3, what="the joiners' enrolments")

    RoleAssignment.objects.filter(learner=bo).delete()  # bo moves to sales
    RoleAssignment.objects.create(learner=bo, role=Role.objects.get(slug="sales_rep"))
    Learner.objects.filter(pk=cy.pk).update(is_active=False, deactivated_at=timezone.now())  # cy leaves
    _reroute(bo, cy)
    wait_until(lambda: _statuses(bo) == {"support": "ended", "sales": "active"}, what="the mover's enrolments")
    wait_until(lambda: _statuses(cy) == {"support": "ended"}, what="the leaver's enrolment")
    ended = Enrollment.objects.get(learner=cy)

    Learner.objects.filter(pk=cy.pk).update(is_active=True, deactivated_at=None)  # cy comes back
    _reroute(cy)
    _reroute(cy)  # delivered twice: no second effect
    wait_until(lambda: _statuses(cy) == {"support": "active"}, what="the returner's enrolment")

    back = Enrollment.objects.get(learner=cy)
    assert (back.pk, back.enrolled_at, back.ended_reason) == (ended.pk, ended.enrolled_at, "")
    assert ended.ended_reason == "deactivated"
    assert _statuses(ada) == {"support": "active"}
