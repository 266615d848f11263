"""Celery tasks of identity: thin wrappers over the sync service, on the identity queue (routed by name)."""

import logging

from celery import shared_task
from django.db import InterfaceError, OperationalError

logger = logging.getLogger(__name__)

# A full sync of 100,000 people takes minutes; three hours is room for a slow directory. The task is acknowledged
# on receipt (acks_late=False): the broker would hand a task unacknowledged for longer than its visibility timeout
# (CELERY_VISIBILITY_TIMEOUT, minutes) to a second worker while the first still runs it. A worker lost mid-run
# leaves its run "running" with a stale heartbeat; the sweeper below marks it failed and starts the source again.
SYNC_TIME_LIMIT = 3 * 3600
SYNC_SOFT_TIME_LIMIT = SYNC_TIME_LIMIT - 300


@shared_task(
    name="identity.sync_source",
    acks_late=False,
    time_limit=SYNC_TIME_LIMIT,
    soft_time_limit=SYNC_SOFT_TIME_LIMIT,
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=True,
    max_retries=5,
)
def sync_source(*, source_id: int, dry_run: bool = False, confirm: bool = False) -> int | None:
    """Sync one pull source (beat's nightly entry, the admin's "Sync now"); a second start while one runs returns
    the running one. Returns the run's id, or None for a source gone or disabled."""
    from identity.models import IdentitySource
    from identity.services.sync import source_sync

    source = IdentitySource.objects.filter(pk=source_id, enabled=True).first()
    if source is None:
        logger.info("identity.sync.skipped", extra={"source_id": source_id, "reason": "missing or disabled"})
        return None
    return source_sync(source=source, dry_run=dry_run, confirm=confirm).pk


@shared_task(name="identity.sweep_sync_runs")
def sweep_sync_runs() -> int:
    """Runs whose worker was lost (no heartbeat for STALE_RUN) are marked failed and their sources synced again."""
    from identity.services.sync import sync_runs_fail_stale

    source_ids = sync_runs_fail_stale()
    for source_id in source_ids:
        sync_source.delay(source_id=source_id)
    if source_ids:
        logger.warning("identity.sync.restarted", extra={"sources": source_ids})
    return len(source_ids)
