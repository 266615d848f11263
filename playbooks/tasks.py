from dataclasses import asdict

from celery import shared_task
from django.db import IntegrityError, InterfaceError, OperationalError


# IntegrityError too: enrolment is idempotent, so a retry after losing a race finds the enrolment and adds nothing.
@shared_task(
    name="playbooks.enroll_learner",
    autoretry_for=(OperationalError, InterfaceError, IntegrityError),
    retry_backoff=True,
    max_retries=8,
)
def enroll_learner(*, learner_id: int) -> int:
    """Enrol a learner whose identity changed (created, given a role) in the playbooks they now match."""
    from identity.models import Learner
    from playbooks.services import learner_enroll

    learner = Learner.objects.filter(pk=learner_id, is_active=True).first()
    if learner is None:
        return 0
    return len(learner_enroll(learner=learner))


# Joiners, movers and leavers: the identity sync enqueues this by name, in chunks, after it has committed. Acknowledged
# late and idempotent: a task redelivered after a worker loss finds the enrolments already as they should be.
@shared_task(
    name="playbooks.reroute_learners",
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(OperationalError, InterfaceError, IntegrityError),
    retry_backoff=True,
    retry_backoff_max=60,
    max_retries=8,
)
def reroute_learners(*, learner_ids: list[int]) -> dict[str, int]:
    """Enrol, end, keep or give back the learners' enrolments to match who they are now."""
    from playbooks.services import learners_reroute

    return asdict(learners_reroute(learner_ids=learner_ids))
