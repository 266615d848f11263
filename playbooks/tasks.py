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
