"""Celery tasks of insights: thin wrappers over services."""

from celery import shared_task
from django.db import InterfaceError, OperationalError


# Not acks_late: a fold lost with its worker is simply the next minute's fold, which reads the same changes again.
@shared_task(name="insights.fold_rollups", autoretry_for=(OperationalError, InterfaceError), max_retries=2)
def fold_rollups() -> int:
    from insights.services import rollups_fold

    result = rollups_fold()
    return 0 if result is None else result.rollup_rows


# Not acks_late either: an allocation lost with its worker is the next run's, from the same (or a newer) posterior.
@shared_task(name="insights.allocate_bandits", autoretry_for=(OperationalError, InterfaceError), max_retries=2)
def allocate_bandits() -> int:
    from insights.services.bandits import bandits_allocate

    return bandits_allocate()
