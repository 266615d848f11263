"""Event ingestion: validate the whole batch, then store it in one transaction; acknowledged means durable."""

import json
import logging
from dataclasses import dataclass
from datetime import datetime
from itertools import pairwise
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from common.metrics import count_events_on_commit
from identity.models import Learner
from identity.services import learner_create
from playbooks.services import tallies_forget
from signals_app.event_input import EventInput, batch_items, validate_item
from signals_app.event_vocabulary import event_warnings
from signals_app.models import Event

logger = logging.getLogger(__name__)

# Learners per batch of a task draining the backlog (taking waiting learners along): enough to amortise a batch's
# round trips, few enough that two workers draining the same backlog share it (100 lowered the sustained rate).
LEARNERS_PER_TASK = 50


class BatchInvalid(Exception):
    """The batch was refused whole; nothing was written."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__(f"{len(errors)} invalid event field(s)")
        self.errors = errors


@dataclass(frozen=True)
class Conflict:
    """A retried id whose body differs from the event stored under it: the stored one is kept, this one dropped."""

    index: int
    client_id: str
    fields: tuple[str, ...]  # what differs

    def as_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "id": self.client_id,
            "fields": list(self.fields),
            "message": f"Event '{self.client_id}' was already received with a different {', '.join(self.fields)}; "
            "the first one is kept. Send a new id for a new event.",
        }


@dataclass(frozen=True)
class IngestResult:
    accepted: int
    duplicates: int  # ids already received (conflicts included)
    conflicts: tuple[Conflict, ...] = ()
    # Of the accepted, events of deactivated learners: stored (nothing is lost, the admin shows them) and marked
    # processed at once, never evaluated.
    not_evaluated: int = 0
    # Events stored whose type nothing reads, or whose module is not in the library (signals_app.event_vocabulary).
    warnings: tuple[dict[str, Any], ...] = ()


@transaction.atomic(durable=True)
def events_ingest(
    *, body: Any, source: str, can_create_learners: bool = False, now: datetime | None = None
) -> IngestResult:
    """Store one event or a batch, all or nothing, and commit: the API acknowledges only what is durable.

    A retried id (per ``source``) is a duplicate, not a new event. Evaluation is enqueued once the transaction has
    committed; if the broker is down then, the events wait for the sweeper, never lost.
    """
    return events_record(body=body, source=source, can_create_learners=can_create_learners, now=now)


@transaction.atomic
def events_record(
    *, body: Any, source: str, can_create_learners: bool = False, now: datetime | None = None
) -> IngestResult:
    """``events_ingest`` inside the caller's transaction (the simulator's throwaway one): validated and stored the
    same way, committed (and handed to the workers) only with the caller's transaction."""
    now = now or timezone.now()
    items, errors = batch_items(body)
    inputs: list[EventInput] = []
    for index, item in enumerate(items):
        event, item_errors = validate_item(index, item, now=now)
        errors.extend(item_errors)
        if event is not None:
            inputs.append(event)
    known = Learner.objects.filter(external_id__in={e.learner for e in inputs}).values_list(
        "external_id", "pk", "is_active"
    )
    learners = {external_id: pk for external_id, pk, _active in known}
    inactive = {pk for _external_id, pk, active in known if not active}
    for event in inputs:
        if event.learner not in learners and not can_create_learners:
            errors.append(
                _learner_error(
                    event,
                    "unknown_learner",
                    f"No learner '{event.learner}'; create them "
                    "first (identity sync, SCIM) or use a key allowed to create learners.",
                )
            )
    if errors:
        raise BatchInvalid(sorted(errors, key=lambda e: (e["index"] is not None, e["index"] or 0)))
    return _store(inputs, learners, inactive, source=source, now=now)


def _store(
    inputs: list[EventInput], learners: dict[str, int], inactive: set[int], *, source: str, now: datetime
) -> IngestResult:
    for external_id in sorted({e.learner for e in inputs} - set(learners)):
        learners[external_id] = learner_create(external_id=external_id).pk
    unique: dict[str, EventInput] = {}
    for event in inputs:
        unique.setdefault(event.client_id, event)  # the same id twice in one batch is a duplicate too
    rows = [
        (source, e.client_id, learners[e.learner], e.type, e.module, e.occurred_at, now, e.properties_json)
        for e in unique.values()
    ]
    inserted = _insert_new(rows)
    # A leaver's events (a connector catching up, a page left open) are kept, not evaluated: the evaluation would
    # skip them too, but marking them now spares a task and makes the count in the answer exact.
    not_evaluated = [client_id for client_id, learner_id in inserted if learner_id in inactive]
    if not_evaluated:
        Event.objects.filter(source=source, client_id__in=not_evaluated).update(processed_at=now)
        tallies_forget(learner_ids={learner_id for _client_id, learner_id in inserted if learner_id in inactive})
        logger.info("signals.ingest.not_evaluated", extra={"source": source, "events": len(not_evaluated)})
    learner_ids = sorted({learner_id for _client_id, learner_id in inserted if learner_id not in inactive})
    if learner_ids:
        transaction.on_commit(lambda: enqueue_evaluation(learner_ids), robust=True)
    new = {client_id for client_id, _learner_id in inserted}
    repeated = [e for e in inputs if e.client_id not in new or e is not unique[e.client_id]]
    conflicts = _conflicts(repeated, learners, source=source)
    if conflicts:
        _count_conflicts(conflicts, source=source, now=now)
    count_events_on_commit(
        source=source, accepted=len(inserted), duplicates=len(inputs) - len(inserted), conflicts=len(conflicts)
    )
    return IngestResult(
        accepted=len(inserted),
        duplicates=len(inputs) - len(inserted),
        conflicts=tuple(conflicts),
        not_evaluated=len(not_evaluated),
        warnings=tuple(event_warnings(inputs)),
    )


def _conflicts(repeated: list[EventInput], learners: dict[str, int], *, source: str) -> list[Conflict]:
    """The repeated ids whose body differs from the one stored (compared field by field, properties as JSON)."""
    if not repeated:
        return []
    rows = Event.objects.filter(source=source, client_id__in={e.client_id for e in repeated}).values_list(
        "client_id", "learner_id", "type", "module", "occurred_at", "properties"
    )
    stored = {client_id: values for client_id, *values in rows}
    conflicts = []
    for event in repeated:
        sent = (learners[event.learner], event.type, event.module, event.occurred_at, json.loads(event.properties_json))
        differing = tuple(name for name, a, b in zip(_COMPARED, stored[event.client_id], sent, strict=True) if a != b)
        if differing:
            conflicts.append(Conflict(event.index, event.client_id, differing))
    return conflicts


_COMPARED = ("learner", "type", "module", "occurred_at", "properties")


def _count_conflicts(conflicts: list[Conflict], *, source: str, now: datetime) -> None:
    """Counted on the stored event, for the admin; in the same transaction as the batch."""
    Event.objects.filter(source=source, client_id__in={c.client_id for c in conflicts}).update(
        conflicting_retries=F("conflicting_retries") + 1, last_conflict_at=now
    )
    logger.warning("signals.ingest.conflicting_retries", extra={"source": source, "conflicts": len(conflicts)})


_COLUMNS = ("source", "client_id", "learner_id", "type", "module", "occurred_at", "received_at", "properties")


def _insert_new(rows: list[tuple]) -> list[tuple[str, int]]:
    """Insert the rows whose (source, client_id) is new; returns the client id and learner id of each row inserted.

    ON CONFLICT DO NOTHING makes a concurrent retry of the same batch harmless. On PostgreSQL the rows go through
    COPY into a temporary table first: about 3x faster than a multi-row INSERT built by the ORM.
    """
    if connection.vendor == "postgresql":
        return _insert_by_copy(rows)
    columns = ", ".join(_COLUMNS)
    placeholders = ", ".join(["%s"] * len(_COLUMNS))
    inserted = []
    with connection.cursor() as cursor:
        for row in rows:
            cursor.execute(
                f"INSERT INTO signals_app_event ({columns}) VALUES ({placeholders}) "  # noqa: S608
                "ON CONFLICT (source, client_id) DO NOTHING RETURNING client_id, learner_id",
                row,
            )
            inserted.extend(cursor.fetchall())
    return inserted


def _insert_by_copy(rows: list[tuple]) -> list[tuple[str, int]]:
    columns = ", ".join(_COLUMNS)
    with connection.cursor() as cursor:
        # Per connection, emptied at every commit; persistent connections create it once.
        cursor.execute(
            "CREATE TEMP TABLE IF NOT EXISTS event_ingest ON COMMIT DELETE ROWS AS "  # noqa: S608
            f"SELECT {columns} FROM signals_app_event WITH NO DATA"
        )
        with cursor.connection.cursor().copy(f"COPY event_ingest ({columns}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        cursor.execute(
            f"INSERT INTO signals_app_event ({columns}) SELECT {columns} FROM event_ingest "  # noqa: S608
            "ON CONFLICT (source, client_id) DO NOTHING RETURNING client_id, learner_id"
        )
        return cursor.fetchall()


def enqueue_evaluation(learner_ids: list[int]) -> None:
    """Hand learners with new events to the workers, in the fewest tasks of at most ``EVALUATION_TASK_LEARNERS``,
    evenly sized (135 learners: 68 and 67, evaluated side by side, not 50, 50 and a third task waiting for a free
    process); a broker outage leaves them to the sweeper."""
    from signals_app.tasks import evaluate_learners as evaluate_learners_task

    for start, chunk in _even_chunks(learner_ids, settings.EVALUATION_TASK_LEARNERS):
        try:
            evaluate_learners_task.delay(learner_ids=chunk)
        except Exception as exc:  # kombu raises many types; any of them means "not enqueued now"
            # Committed and safe: the sweeper enqueues them within a minute or two.
            waiting = learner_ids[start:]
            logger.warning(
                "signals.ingest.enqueue_failed",
                extra={"learners": len(waiting), "learner_ids": waiting[:100], "error": repr(exc)},
            )
            return


def events_requeue_stale(*, older_than: datetime, limit: int = 10_000) -> int:
    """Enqueue learners whose events were stored before ``older_than`` and are still unprocessed (the sweeper)."""
    from signals_app.selectors import learners_with_stale_events

    learner_ids = learners_with_stale_events(older_than=older_than, limit=limit)
    if learner_ids:
        logger.warning("signals.sweep.requeued", extra={"learners": len(learner_ids), "learner_ids": learner_ids[:100]})
        enqueue_evaluation(learner_ids)
    return len(learner_ids)


def _learner_error(event: EventInput, code: str, message: str) -> dict[str, Any]:
    return {"index": event.index, "field": "learner", "code": code, "message": message}


def _even_chunks(items: list[int], most: int) -> list[tuple[int, list[int]]]:
    """The fewest chunks of at most ``most`` items, their sizes one apart at most, each with where it starts."""
    count = -(-len(items) // most)
    bounds = [index * len(items) // count for index in range(count + 1)] if count else []
    return [(start, items[start:end]) for start, end in pairwise(bounds)]
