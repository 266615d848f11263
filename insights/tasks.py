"""Celery tasks of insights: thin wrappers over services."""

from celery import shared_task
from django.db import InterfaceError, OperationalError


# Not acks_late: a fold lost with its worker is simply the next minute's fold, which looks back over the same rows.
@shared_task(name="insights.fold_rollups", autoretry_for=(OperationalError, InterfaceError), max_retries=2)
def fold_rollups() -> int:
    from insights.services import rollups_fold

    result = rollups_fold()
    return 0 if result is None else result.cohort_partitions + result.activity_partitions
