"""Celery beat's scheduler: django-celery-beat's DatabaseScheduler, made to ride out a database outage.

The stock scheduler reads its whole schedule from the database again every 5 minutes and lets a database error out
of that read, which ends beat: about 4.5 minutes into an outage (whatever was left until its next full read), with
nothing sending the sweepers or the clock until someone restarts it. Its other database work (the change check, the
last-run times) already logs an error and tries again at the next tick.
"""

import contextlib
import logging
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.utils import DatabaseError, InterfaceError
from django_celery_beat import schedulers
from django_celery_beat.schedulers import DatabaseScheduler

logger = logging.getLogger(__name__)


class OutageTolerantDatabaseScheduler(DatabaseScheduler):
    """While the database is unreachable, keeps sending the schedule it last read (the tasks only need the broker),
    and tries the full read again at every tick (at most 5 s apart) until the database answers.

    It also reads the whole schedule every ``BEAT_SCHEDULE_RELOAD_SECONDS`` rather than the library's fixed 300 s,
    which the tests shorten to go through that read many times in one outage.
    """

    _full_read_pending = False

    @property
    def schedule(self) -> dict[str, Any]:
        self._bring_full_read_forward()
        try:
            return super().schedule
        except (DatabaseError, InterfaceError) as exc:
            return self._keep_last_schedule(exc)

    def _bring_full_read_forward(self) -> None:
        """Make the parent's next full read happen now when it is pending or due by our interval: the parent reads
        when its last one is SCHEDULE_SYNC_MAX_INTERVAL old, so its clock is set back that far."""
        if self._last_full_sync is None:
            return
        now = datetime.now()  # naive local time, as the parent keeps it
        due = (now - self._last_full_sync).total_seconds() >= settings.BEAT_SCHEDULE_RELOAD_SECONDS
        if self._full_read_pending or due:
            self._last_full_sync = now - timedelta(seconds=schedulers.SCHEDULE_SYNC_MAX_INTERVAL)

    def _keep_last_schedule(self, exc: Exception) -> dict[str, Any]:
        logger.warning("onboarding.beat.database_unavailable", extra={"error": repr(exc)})
        # A connection that failed is not reused: the next try opens a new one.
        with contextlib.suppress(DatabaseError, InterfaceError):
            connection.close()
        self._full_read_pending = True
        if self._schedule is None:  # the first read failed: read from scratch next time
            self._initial_read = True
            return {}
        return self._schedule

    def all_as_schedule(self) -> dict[str, Any]:
        schedule = super().all_as_schedule()
        if self._full_read_pending:
            logger.info("onboarding.beat.database_back", extra={"entries": len(schedule)})
        self._full_read_pending = False
        return schedule
