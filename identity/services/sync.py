"""The sync of identity sources, whatever their kind: people in, learners, links and role claims out.

A pull source (a file, LDAP) is streamed whole by ``source_sync``; a push source (SCIM, the HR API) hands over the
people it was told about through ``entries_apply`` and ``entry_remove``. Both compare each entry with what the
source said last time, kept on its ``SourceLink``: first the raw digest (what mapping reads of the entry, and the
source's mapping and rules), so that an unchanged person is not even mapped; else the entry is mapped
(identity/mapping.py) and its mapped digest compared, so that a person whose mapped result is the same costs no
write beyond the new raw digest. Changes are written in chunks: learners created or updated, this source's links
upserted, this source's role claims added and removed (never another source's, never a manual one); on PostgreSQL
through COPY into temporary tables and one INSERT … SELECT per table. A person the source cannot describe, or whose
values cannot be mapped, is an error naming the entry and the field; nothing of that person is written and the run
goes on.

Leavers (pull runs only): a link not seen in a complete run is missing from then on; missing longer than the
source's grace period, or disabled in the source (``Entry.enabled`` false: at once, the source says so), the source
withdraws the person, and a learner no enabled source still vouches for is deactivated. A run that would withdraw
more than ``deactivation_brake`` percent of the source's people writes none of it and is HELD until an admin
confirms. See docs/identity.md.
"""

import gc
import json
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple

from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.db import DataError, IntegrityError, connection, transaction
from django.db.models.fields.json import KT
from django.utils import timezone
from django.utils.module_loading import import_string

from common.errors import ApplicationError
from identity import selectors
from identity.mapping import (
    MappedEntry,
    Mapper,
    MappingError,
    MappingRule,
    RoleRuleSpec,
    canonical_json,
    parse_grace_period,
)
from identity.models import (
    IdentitySource,
    Learner,
    Role,
    RoleAssignment,
    SourceLink,
    SyncRun,
    SyncRunStatus,
)
from identity.services import announce_reroute, learners_deactivate, learners_reactivate, roles_withdrawn
from identity.sources.base import Entry, EntryProblem, PullSource, SourceConfig, read_secret

logger = logging.getLogger(__name__)

# Pull sources by kind: a dotted path to (or a factory of) a class taking a SourceConfig. A new kind adds its module
# and one line here.
PULL_SOURCES: dict[str, str | Callable[[SourceConfig], PullSource]] = {
    "file": "identity.sources.files.FileSource",
    "ldap": "identity.sources.ldap.LdapSource",
}
# Changed people written per transaction (and per re-route task).
CHUNK = 1_000
# Chunks written with COPY on PostgreSQL (False: through the ORM, as on other databases; the tests compare the two).
COPY_WRITES = True
# What a run keeps for the admin: the first this many changes and errors.
MAX_DIFF = 1_000
MAX_ERRORS = 1_000
# A running run whose heartbeat is older than this lost its worker: it is marked failed and may start again.
STALE_RUN = timedelta(minutes=15)
HEARTBEAT_EVERY = timedelta(seconds=30)

# Checks run at the end of every sync, besides identity's own: ``check(source) -> [{"code", "message", "count",
# "examples"}]``. The layers above register theirs from their AppConfig.ready() (identity imports nothing above it),
# e.g. ``SYNC_CHECKS.append(missing_attributes_check(published_attribute_uses))`` from playbooks.
SYNC_CHECKS: list[Callable[[IdentitySource], list[dict[str, Any]]]] = []


class _Link(NamedTuple):
    """A link as the run knows it (loaded once: about 450 bytes a person, most of it the ids and the digests)."""

    remote_id: str
    pk: int
    learner_id: int
    entry_hash: str
    raw_hash: str
    external_id: str | None  # as last mapped: an entry skipped as unchanged still claims it in the run
    missing_since: datetime | None
    deactivated_at: datetime | None


@dataclass(frozen=True)
class EntryError:
    """An entry the sync could not apply: ``entry`` names it (a DN, "line 12", a SCIM userName)."""

    entry: str
    field: str | None
    message: str
    index: int | None = None  # its position in a pushed batch
    code: str = "invalid"

    def as_dict(self) -> dict[str, Any]:
        return {"entry": self.entry, "field": self.field, "message": self.message}


@dataclass
class _Report:
    diff_room: int = MAX_DIFF  # a chunk's report keeps only what the run's report still has room for
    counts: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(
            (
                "seen",
                "created",
                "linked",
                "updated",
                "unchanged",
                "missing",
                "deactivated",
                "reactivated",
                "roles_added",
                "roles_removed",
                "skipped",
                "errors",
            ),
            0,
        )
    )
    diff: list[dict[str, Any]] = field(default_factory=list)
    errors: list[EntryError] = field(default_factory=list)

    def error(self, problem: EntryError) -> None:
        self.counts["errors"] += 1
        if len(self.errors) < MAX_ERRORS:
            self.errors.append(problem)

    def change(self, entry: dict[str, Any]) -> None:
        if len(self.diff) < self.diff_room:
            self.diff.append(entry)

    @property
    def wants_diff(self) -> bool:
        """False once the diff is full: the caller need not build the entry."""
        return len(self.diff) < self.diff_room

    def merge(self, other: "_Report") -> None:
        for name, count in other.counts.items():
            self.counts[name] = self.counts.get(name, 0) + count
        for entry in other.diff:
            self.change(entry)
        for problem in other.errors:
            self.error(problem)
        self.counts["errors"] -= len(other.errors)  # counted twice: once in other, once by error()


@dataclass(frozen=True)
class _Item:
    index: int
    mapped: MappedEntry
    link: _Link | None
    raw_hash: str


class _Context:
    """One run's state: the source, its compiled mapping, its links (remote id → _Link) and the report."""

    def __init__(self, *, source: IdentitySource, now: datetime, links: dict[str, _Link]) -> None:
        self.source = source
        self.now = now
        self.mapper, self.role_ids = _compiled_mapping(source)
        self.links = links
        # Links whose mapped entry is unchanged but whose raw digest is not (a new rule that changed nothing for
        # them, the first run after an upgrade): (pk, raw digest), written in batches.
        self.stale_raw: list[tuple[int, str]] = []
        self.report = _Report()
        self.seen: set[str] = set()
        self.disabled: set[str] = set()
        self.external_ids: dict[str, str] = {}  # external id → the ref of the entry that carried it in this run
        self.outcomes: dict[str, str] | None = None  # remote id → what happened, kept for push requests only


def mapper_for(source: IdentitySource) -> Mapper:
    """The source's mapping and role rules, compiled."""
    return _compiled_mapping(source)[0]


def _compiled_mapping(source: IdentitySource) -> tuple[Mapper, dict[str, int]]:
    """The source's compiled mapping, and the ids of the roles its rules give by slug (read with the rules)."""
    mappings = [
        MappingRule(source_attribute, target, transform)
        for source_attribute, target, transform in source.attribute_mappings.order_by("position", "pk").values_list(
            "source_attribute", "target", "transform"
        )
    ]
    rows = list(source.role_rules.order_by("position", "pk").values_list("when", "role__slug", "role_id"))
    mapper = Mapper(
        external_id_from=source.external_id_from,
        mappings=mappings,
        rules=[RoleRuleSpec(when, slug) for when, slug, _role_id in rows],
        direct_fields=source.kind == "api",
    )
    return mapper, {slug: role_id for _when, slug, role_id in rows}


# Pull runs.


def source_sync(
    *,
    source: IdentitySource,
    dry_run: bool = False,
    confirm: bool = False,
    progress: Callable[[int], None] | None = None,
    now: datetime | None = None,
) -> SyncRun:
    """Sync a pull source: read every entry, apply the changes, then its leavers. One run of a source at a time: a
    second start returns the run in progress. ``dry_run``: the same run in a transaction rolled back at the end (the
    returned SyncRun, saved with ``dry_run`` set, is its report). ``confirm``: apply deactivations beyond the brake.
    ``progress(n)`` is called with the number of entries read so far."""
    return _pull_run(
        source=source,
        open_source=lambda: pull_source_for(source),
        dry_run=dry_run,
        confirm=confirm,
        progress=progress,
        now=now,
    )


def source_sync_file(
    *,
    source: IdentitySource,
    path: Path,
    dry_run: bool = False,
    confirm: bool = False,
    progress: Callable[[int], None] | None = None,
    now: datetime | None = None,
) -> SyncRun:
    """``source_sync`` of a file source with ``path`` in place of its configured file (an upload in the admin); the
    file is the complete list of the source's people, as the configured one would be."""
    if source.kind != "file":
        raise ApplicationError("not_a_file_source", f"Source '{source.name}' is of kind {source.kind}, not file.")
    config = SourceConfig(name=source.name, settings={**source.settings, "path": str(path)}, secret=None)
    return _pull_run(
        source=source,
        open_source=lambda: _build(source.kind, config),
        dry_run=dry_run,
        confirm=confirm,
        progress=progress,
        now=now,
    )


def pull_source_for(source: IdentitySource) -> PullSource:
    """The source's reader, from the registry by kind, with its secret read from the environment."""
    if source.kind not in PULL_SOURCES:
        raise ApplicationError("not_a_pull_source", f"Source '{source.name}' ({source.kind}) is not read by a sync.")
    secret = read_secret(source.secret_env) if source.secret_env else None
    return _build(source.kind, SourceConfig(name=source.name, settings=dict(source.settings), secret=secret))


def _build(kind: str, config: SourceConfig) -> PullSource:
    factory = PULL_SOURCES[kind]
    if isinstance(factory, str):
        try:
            factory = import_string(factory)
        except ImportError as exc:
            raise ImproperlyConfigured(f"the {kind} source is not available: {exc}") from exc
    return factory(config)


def _pull_run(
    *,
    source: IdentitySource,
    open_source: Callable[[], PullSource],
    dry_run: bool,
    confirm: bool,
    progress: Callable[[int], None] | None,
    now: datetime | None,
) -> SyncRun:
    if source.kind not in PULL_SOURCES:
        raise ApplicationError("not_a_pull_source", f"Source '{source.name}' ({source.kind}) is not read by a sync.")
    now = now or timezone.now()
    run = SyncRun(source=source, dry_run=dry_run, started_at=timezone.now(), heartbeat_at=timezone.now())
    if not dry_run:
        run, claimed = _claim(source)
        if not claimed:
            logger.info("identity.sync.already_running", extra={"source": source.name, "run": run.pk})
            return run
    status, held_reason, checks = SyncRunStatus.FAILED, "", []
    report = _Report()
    try:
        if dry_run:
            with transaction.atomic():
                status, held_reason, checks, report = _pull(source, open_source, now, confirm, progress, run)
                transaction.set_rollback(True)  # a dry run writes nothing; its on_commit work is dropped with it
        else:
            status, held_reason, checks, report = _pull(source, open_source, now, confirm, progress, run)
    except Exception as exc:  # the source failed mid-read (unreachable, misconfigured): the run says why
        logger.exception("identity.sync.failed", extra={"source": source.name})
        report.error(EntryError("", None, f"the run stopped: {_describe(exc)}"))
        status = SyncRunStatus.FAILED
    run.status, run.held_reason, run.checks = status, held_reason, checks
    run.counts, run.diff = report.counts, report.diff
    run.errors = [problem.as_dict() for problem in report.errors]
    run.finished_at = timezone.now()
    run.save()
    logger.info(
        "identity.sync.finished",
        extra={"source": source.name, "run": run.pk, "status": str(run.status), "dry_run": dry_run}
        | {f"count_{name}": count for name, count in report.counts.items() if count},
    )
    return run


def _describe(exc: Exception) -> str:
    if isinstance(exc, ImproperlyConfigured | ApplicationError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"[:500]


def _claim(source: IdentitySource) -> tuple[SyncRun, bool]:
    """Start a run of ``source``, or find the one in progress. A running run silent for ``STALE_RUN`` lost its
    worker: it is marked failed, so this start can go ahead."""
    real_now = timezone.now()
    SyncRun.objects.filter(
        source=source, status=SyncRunStatus.RUNNING, dry_run=False, heartbeat_at__lt=real_now - STALE_RUN
    ).update(
        status=SyncRunStatus.FAILED,
        finished_at=real_now,
        errors=[{"entry": "", "field": None, "message": "the worker running it was lost; a new run started"}],
    )
    try:
        with transaction.atomic():
            return SyncRun.objects.create(source=source, started_at=real_now, heartbeat_at=real_now), True
    except IntegrityError:
        running = SyncRun.objects.filter(source=source, status=SyncRunStatus.RUNNING, dry_run=False).first()
        if running is None:  # it finished between the two statements: try once more
            return _claim(source)
        return running, False


def _pull(
    source: IdentitySource,
    open_source: Callable[[], PullSource],
    now: datetime,
    confirm: bool,
    progress: Callable[[int], None] | None,
    run: SyncRun,
) -> tuple[str, str, list[dict[str, Any]], _Report]:
    with _long_lived_set_aside() as set_aside:
        context = _Context(source=source, now=now, links=_links_of(source))
        set_aside()
        grace = parse_grace_period(source.grace_period)
        pending: list[_Item] = []
        read = 0
        beat = timezone.now()
        reader = open_source()
        try:
            if callable(read_only := getattr(reader, "read_only", None)):
                read_only(context.mapper.attributes_read)
            for item in reader.entries():
                read += 1
                item_ready = _prepare(context, item, read)
                if item_ready is not None:
                    pending.append(item_ready)
                if len(pending) >= CHUNK:
                    _apply(context, pending)
                    pending = []
                if len(context.stale_raw) >= CHUNK:
                    _refresh_raw_hashes(context)
                if read % CHUNK == 0:
                    set_aside()
                    if progress:
                        progress(read)
                    if run.pk and timezone.now() - beat > HEARTBEAT_EVERY:
                        beat = timezone.now()
                        SyncRun.objects.filter(pk=run.pk).update(heartbeat_at=beat)
            if pending:
                _apply(context, pending)
            _refresh_raw_hashes(context)
        finally:
            reader.close()
        if progress:
            progress(read)
        _mark_missing(context)
        status, held_reason = _leavers(context, grace=grace, confirm=confirm)
        return status, held_reason, sync_checks(source=source), context.report


@contextmanager
def _long_lived_set_aside() -> Iterator[Callable[[], None]]:
    """A pull run holds every link, seen id and external id for its whole length (some 100 MB for 100,000 people)
    while it allocates and drops millions of small objects: the cyclic garbage collector scanned that heap again and
    again, a third of an unchanged re-sync's CPU. Calling the function given sets aside (``gc.freeze``) what exists
    so far; at the end it is handed back to the collector, unless the process had set objects aside itself (a
    pre-fork server), which it then keeps. Objects set aside are still freed as usual when no longer referenced."""
    frozen_before = gc.get_freeze_count()
    try:
        yield gc.freeze
    finally:
        if not frozen_before:
            gc.unfreeze()


def _links_of(source: IdentitySource, remote_ids: Sequence[str] | None = None) -> dict[str, _Link]:
    links = SourceLink.objects.filter(source=source)
    if remote_ids is not None:
        links = links.filter(remote_id__in=list(remote_ids))
    rows = links.values_list(
        "remote_id",
        "pk",
        "learner_id",
        "entry_hash",
        "raw_hash",
        KT("mapped__external_id"),
        "missing_since",
        "deactivated_at",
    )
    if connection.vendor != "postgresql":
        return {link.remote_id: link for link in map(_Link._make, rows.iterator(chunk_size=10_000))}
    # The queryset's own SQL on a plain cursor: these columns need no conversion on PostgreSQL, and Django's work per
    # row cost more than the query (0.8 s against 0.4 s for 100,000 links).
    sql, params = rows.query.sql_with_params()
    found: dict[str, _Link] = {}
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        while batch := cursor.fetchmany(10_000):
            found.update((link.remote_id, link) for link in map(_Link._make, batch))
    return found


def _prepare(context: _Context, item: Entry | EntryProblem, index: int) -> _Item | None:
    """Decide whether an entry needs a write, mapping it only when its raw digest changed; errors go to the report.
    The hot path: no query."""
    report = context.report
    if isinstance(item, EntryProblem):
        report.error(EntryError(item.ref, item.field, item.message, index=index))
        return None
    report.counts["seen"] += 1
    remote_id = item.remote_id
    ref = item.ref or remote_id
    if not remote_id:
        report.error(EntryError(ref, "remote id", "the entry has no remote id", index=index))
        return None
    if remote_id in context.seen:
        report.error(EntryError(ref, "remote id", f"the remote id {remote_id!r} is listed twice", index=index))
        return None
    context.seen.add(remote_id)
    mapper = context.mapper
    link = context.links.get(remote_id)
    values = mapper.raw_values(item)
    raw_hash = mapper.raw_digest(item, values)
    # Unchanged as the source gave it, under the same mapping and rules: the same mapped entry as last time, so
    # the person is not mapped again. The conditions are those of the mapped comparison below.
    if (
        link is not None
        and link.raw_hash == raw_hash
        and link.external_id is not None
        and link.missing_since is None
        and (link.deactivated_at is None or not item.enabled)
    ):
        if not _claim_external_id(context, link.external_id, ref, index):
            return None
        if not item.enabled:
            context.disabled.add(remote_id)
        report.counts["unchanged"] += 1
        return None
    try:
        mapped = mapper.mapped(item, values)
    except MappingError as exc:
        report.error(EntryError(ref, exc.field, exc.message, index=index))
        return None
    if not _claim_external_id(context, mapped.external_id, ref, index):
        return None
    if not mapped.enabled:
        context.disabled.add(remote_id)
    if (
        link is not None
        and link.entry_hash == mapped.digest
        and link.external_id is not None  # else its link is written again, with the mapped entry it lacks
        and link.missing_since is None
        and (link.deactivated_at is None or not mapped.enabled)
    ):
        report.counts["unchanged"] += 1
        if link.raw_hash != raw_hash:  # so that the next run need not map them
            context.stale_raw.append((link.pk, raw_hash))
        return None
    return _Item(index, mapped, link, raw_hash)


def _claim_external_id(context: _Context, external_id: str, ref: str, index: int) -> bool:
    """Each person of a run needs their own external id: False (and an error) when an earlier entry has it."""
    first = context.external_ids.setdefault(external_id, ref)
    if first == ref:
        return True
    field_name = context.source.external_id_from or "remote id"
    message = f"the external id {external_id!r} is also the entry {first}'s; each person needs their own"
    context.report.error(EntryError(ref, field_name, message, index=index))
    return False


def _refresh_raw_hashes(context: _Context) -> None:
    """Write the raw digests of people whose mapped entry was unchanged (nothing else of theirs is written)."""
    pending, context.stale_raw = context.stale_raw, []
    for start in range(0, len(pending), CHUNK):
        rows = [SourceLink(pk=pk, raw_hash=raw_hash) for pk, raw_hash in pending[start : start + CHUNK]]
        SourceLink.objects.bulk_update(rows, ["raw_hash"])


# Writing a chunk.


def _apply(context: _Context, items: list[_Item]) -> None:
    """Write a chunk in one transaction; if the database refuses it, each entry alone, so that one bad entry costs
    only itself (reported with the database's reason)."""
    try:
        with transaction.atomic():
            result = _write(context, items)
    except (IntegrityError, DataError, ValidationError) as exc:
        if len(items) == 1:
            item = items[0]
            context.report.error(
                EntryError(item.mapped.ref, None, f"could not be stored: {_describe(exc)}", index=item.index)
            )
            return
        for item in items:
            _apply(context, [item])
        return
    # Only a committed chunk changes what the run knows.
    context.report.merge(result.report)
    for remote_id in result.replaced:
        context.links.pop(remote_id, None)
    context.links.update(result.links)
    if context.outcomes is not None:
        context.outcomes.update(result.outcomes)


@dataclass
class _ChunkResult:
    report: _Report
    links: dict[str, _Link]
    replaced: list[str]  # remote ids whose link moved to a new remote id
    outcomes: dict[str, str]  # remote id → created, linked, updated, reactivated, unchanged, skipped


def _write(context: _Context, items: list[_Item]) -> _ChunkResult:
    source, now = context.source, context.now
    report = _Report(diff_room=max(0, MAX_DIFF - len(context.report.diff)))
    outcomes: dict[str, str] = {}
    # Learners: matched by their link, else by external id, else created.
    learner_of: dict[str, int] = {item.mapped.remote_id: item.link.learner_id for item in items if item.link}
    by_external_id = _learners_by_external_id([item.mapped.external_id for item in items if item.link is None])
    previous_links = {
        learner_id: (pk, remote_id)
        for learner_id, pk, remote_id in SourceLink.objects.filter(
            source=source, learner_id__in=list(by_external_id.values())
        ).values_list("learner_id", "pk", "remote_id")
    }
    relinked: dict[str, int] = {}  # remote id → the link (of this learner, under an older remote id) it takes over
    replaced: list[str] = []
    to_create: list[_Item] = []
    kept: list[_Item] = []
    for item in items:
        mapped = item.mapped
        if item.link is not None:
            kept.append(item)
            continue
        learner_id = by_external_id.get(mapped.external_id)
        if learner_id is None:
            if not mapped.enabled:  # a person we never knew, whom the source says is gone: nothing to do
                report.counts["skipped"] += 1
                outcomes[mapped.remote_id] = "skipped"
                continue
            to_create.append(item)
            continue
        old = previous_links.get(learner_id)
        if old is not None:
            old_pk, old_remote_id = old
            if old_remote_id in context.seen:
                message = f"the external id {mapped.external_id!r} belongs to this source's entry {old_remote_id!r}"
                report.error(EntryError(mapped.ref, source.external_id_from or "remote id", message, index=item.index))
                continue
            relinked[mapped.remote_id] = old_pk
            replaced.append(old_remote_id)
        learner_of[mapped.remote_id] = learner_id
        kept.append(item)
    created = _create_learners(to_create)
    for item, learner_id in zip(to_create, created, strict=True):
        learner_of[item.mapped.remote_id] = learner_id
        report.counts["created"] += 1
        outcomes[item.mapped.remote_id] = "created"
        if report.wants_diff:
            report.change(_diff_entry(item.mapped, "created", _created_changes(item.mapped)))
    rerouted: set[int] = set(created)
    changes: dict[int, dict[str, Any]] = {learner_of[item.mapped.remote_id]: {} for item in kept}
    reactivate = _update_learners(context, kept, learner_of, relinked, changes, rerouted)
    written = [*to_create, *kept]
    _update_roles(context, written, learner_of, changes, rerouted, report, fresh=set(created))
    links = _upsert_links(context, written, learner_of, relinked)
    if reactivate:
        done = learners_reactivate(learner_ids=reactivate, now=now, reroute=False)
        report.counts["reactivated"] += len(done)
        rerouted.update(done)
        for learner_id in done:
            changes[learner_id]["active"] = [False, True]
    for item in kept:
        learner_id = learner_of[item.mapped.remote_id]
        learner_changes = changes[learner_id]
        if "active" in learner_changes:
            kind = "reactivated"
        elif item.link is None:
            kind = "linked"
        else:
            kind = "updated" if learner_changes else "unchanged"
        if kind != "reactivated":  # counted as such when reactivated
            report.counts[kind] += 1
        outcomes[item.mapped.remote_id] = kind
        if kind != "unchanged":
            report.change(_diff_entry(item.mapped, kind, learner_changes))
    announce_reroute(learner_ids=rerouted)
    return _ChunkResult(report, links, replaced, outcomes)


def _learners_by_external_id(external_ids: list[str]) -> dict[str, int]:
    """The learners these external ids already name (another source's people, or people relinked)."""
    if not external_ids:
        return {}
    if connection.vendor != "postgresql":
        return dict(Learner.objects.filter(external_id__in=external_ids).values_list("external_id", "pk"))
    # One array parameter rather than a placeholder per id: building and quoting 1,000 placeholders per chunk
    # cost more than the lookup.
    with connection.cursor() as cursor:
        cursor.execute("SELECT external_id, id FROM identity_learner WHERE external_id = ANY(%s)", [external_ids])
        return dict(cursor.fetchall())


def _diff_entry(mapped: MappedEntry, change: str, changes: dict[str, Any]) -> dict[str, Any]:
    """One line of a run's diff: who (the entry and the learner), what happened, each change as [from, to]."""
    return {"entry": mapped.ref, "learner": mapped.external_id, "change": change, "changes": changes}


def _created_changes(mapped: MappedEntry) -> dict[str, Any]:
    changes: dict[str, Any] = {name: [None, value] for name, value in mapped.fields.items()}
    changes.update({f"attributes.{name}": [None, value] for name, value in mapped.attributes.items()})
    if mapped.roles:
        changes["roles"] = {"added": list(mapped.roles), "removed": []}
    return changes


def _update_learners(
    context: _Context,
    kept: list[_Item],
    learner_of: dict[str, int],
    relinked: dict[str, int],
    changes: dict[int, dict[str, Any]],
    rerouted: set[int],
) -> list[int]:
    """Bring existing learners in line with what this source says (only the fields and attributes it maps; an
    attribute it mapped before and no longer gives is removed). Returns the learners to reactivate."""
    if not kept:
        return []
    ids = [learner_of[item.mapped.remote_id] for item in kept]
    rows = {
        row["pk"]: row
        for row in Learner.objects.filter(pk__in=ids).values(
            "pk", "email", "display_name", "timezone", "locale", "attributes", "is_active"
        )
    }
    link_ids = [item.link.pk for item in kept if item.link] + list(relinked.values())
    previous = dict(SourceLink.objects.filter(pk__in=link_ids).values_list("pk", "mapped"))
    updated: list[Learner] = []
    reactivate: list[int] = []
    for item in kept:
        mapped, learner_id = item.mapped, learner_of[item.mapped.remote_id]
        row = rows[learner_id]
        link_pk = item.link.pk if item.link else relinked.get(mapped.remote_id)
        before = (previous.get(link_pk) or {}) if link_pk else {}
        seen_changes = changes[learner_id]
        values = {name: row[name] for name in ("email", "display_name", "timezone", "locale")}
        for name, value in mapped.fields.items():
            if values[name] != value:
                seen_changes[name] = [values[name], value]
                values[name] = value
        attributes = dict(row["attributes"] or {})
        dropped = set((before.get("attributes") or {}).keys()) - set(mapped.attributes)
        for name in sorted(dropped):
            if name in attributes:
                seen_changes[f"attributes.{name}"] = [attributes.pop(name), None]
        for name, value in mapped.attributes.items():
            if attributes.get(name, _ABSENT) != value or type(attributes.get(name)) is not type(value):
                seen_changes[f"attributes.{name}"] = [attributes.get(name), value]
                attributes[name] = value
        if any(name.startswith("attributes.") for name in seen_changes):
            rerouted.add(learner_id)
        if seen_changes:
            updated.append(Learner(pk=learner_id, attributes=attributes, updated_at=context.now, **values))
        returning = item.link is None or item.link.missing_since is not None or item.link.deactivated_at is not None
        if mapped.enabled and returning and not row["is_active"]:
            reactivate.append(learner_id)
    if updated:
        Learner.objects.bulk_update(
            updated, ["email", "display_name", "timezone", "locale", "attributes", "updated_at"], batch_size=CHUNK
        )
    return reactivate


_ABSENT = object()


def _update_roles(
    context: _Context,
    items: list[_Item],
    learner_of: dict[str, int],
    changes: dict[int, dict[str, Any]],
    rerouted: set[int],
    report: _Report,
    fresh: set[int],
) -> None:
    """This source's role claims, exactly what its rules give now: added and removed in two statements. ``fresh``:
    learners created in this chunk, who hold no claim yet (not looked up)."""
    source = context.source
    learner_ids = [learner_id for item in items if (learner_id := learner_of[item.mapped.remote_id]) not in fresh]
    current: dict[int, dict[int, int]] = {}
    for pk, learner_id, role_id in RoleAssignment.objects.filter(
        identity_source=source, learner_id__in=learner_ids
    ).values_list("pk", "learner_id", "role_id"):
        current.setdefault(learner_id, {})[role_id] = pk
    slug_of = {pk: slug for slug, pk in context.role_ids.items()}
    adding: list[tuple[int, int]] = []  # (learner, role), in the order they are added
    removing: list[int] = []
    losing: set[int] = set()  # learners with a claim removed
    for item in items:
        learner_id = learner_of[item.mapped.remote_id]
        wanted = {context.role_ids[slug] for slug in item.mapped.roles if slug in context.role_ids}
        held = current.get(learner_id, {})
        added, removed = wanted - held.keys(), held.keys() - wanted
        if not (added or removed):
            continue
        adding += [(learner_id, role_id) for role_id in sorted(added)]
        removing += [held[role_id] for role_id in removed]
        if removed:
            losing.add(learner_id)
        rerouted.add(learner_id)
        report.counts["roles_added"] += len(added)
        report.counts["roles_removed"] += len(removed)
        if learner_id in changes:  # a created learner's roles are in its "created" entry already
            changes[learner_id]["roles"] = {
                "added": sorted(slug_of.get(role_id, str(role_id)) for role_id in added),
                "removed": sorted(_role_slug(role_id, slug_of) for role_id in removed),
            }
    if removing:
        RoleAssignment.objects.filter(pk__in=removing).delete()
        roles_withdrawn(learner_ids=losing)
    if adding:
        _add_role_claims(source, adding)


def _role_slug(role_id: int, slug_of: dict[int, str]) -> str:
    if role_id not in slug_of:  # a role no rule gives any more
        slug_of[role_id] = Role.objects.filter(pk=role_id).values_list("slug", flat=True).first() or str(role_id)
    return slug_of[role_id]


def _upsert_links(
    context: _Context, items: list[_Item], learner_of: dict[str, int], relinked: dict[str, int]
) -> dict[str, _Link]:
    source, now = context.source, context.now
    if relinked:  # a person back under a new remote id (deleted and recreated in the source): same link, same learner
        for remote_id, link_pk in relinked.items():
            SourceLink.objects.filter(pk=link_pk).update(remote_id=remote_id)
    if not items:
        return {}
    # Withdrawn people stay withdrawn while the source says they are disabled; enabled again, they return.
    withdrawn = {
        item.mapped.remote_id: item.link.deactivated_at if item.link and not item.mapped.enabled else None
        for item in items
    }
    if _copy_writes():
        saved = _copy_links(source, now, items, learner_of, withdrawn)
    else:
        rows = [
            SourceLink(
                source=source,
                learner_id=learner_of[item.mapped.remote_id],
                remote_id=item.mapped.remote_id,
                entry_hash=item.mapped.digest,
                raw_hash=item.raw_hash,
                last_seen_at=now,
                missing_since=None,
                deactivated_at=withdrawn[item.mapped.remote_id],
                mapped=item.mapped.as_json(),
            )
            for item in items
        ]
        update_fields = ["learner", "entry_hash", "raw_hash", "last_seen_at", "missing_since", "deactivated_at"]
        created = SourceLink.objects.bulk_create(
            rows, update_conflicts=True, unique_fields=["source", "remote_id"], update_fields=[*update_fields, "mapped"]
        )
        saved = [(row.pk, row.remote_id, row.learner_id, row.deactivated_at) for row in created]
    by_remote_id = {item.mapped.remote_id: item for item in items}
    links = {}
    for pk, remote_id, learner_id, deactivated_at in saved:
        item = by_remote_id[remote_id]
        mapped = item.mapped
        links[remote_id] = _Link(
            remote_id, pk, learner_id, mapped.digest, item.raw_hash, mapped.external_id, None, deactivated_at
        )
    return links


# Writing through COPY (PostgreSQL): each chunk's rows go into a temporary table of the connection, then into the
# table with one INSERT … SELECT, ON CONFLICT as the ORM's bulk statements would do it. Rows are inserted in the
# chunk's order, so ids (and the order of a learner's roles) come out as through the ORM.

_LEARNER_COLUMNS = "external_id, email, display_name, timezone, locale, attributes"


def _copy_writes() -> bool:
    return COPY_WRITES and connection.vendor == "postgresql"


def _create_learners(items: list[_Item]) -> list[int]:
    """A learner for each item, with what its source maps; their ids, in the items' order."""
    if not items:
        return []
    if not _copy_writes():
        created = Learner.objects.bulk_create(
            [
                Learner(
                    external_id=item.mapped.external_id,
                    email=item.mapped.fields.get("email", ""),
                    display_name=item.mapped.fields.get("display_name", ""),
                    timezone=item.mapped.fields.get("timezone", "UTC"),
                    locale=item.mapped.fields.get("locale", "en"),
                    attributes=item.mapped.attributes,
                )
                for item in items
            ]
        )
        return [learner.pk for learner in created]
    rows = (
        (
            order,
            mapped.external_id,
            mapped.fields.get("email", ""),
            mapped.fields.get("display_name", ""),
            mapped.fields.get("timezone", "UTC"),
            mapped.fields.get("locale", "en"),
            json.dumps(mapped.attributes),
        )
        for order, mapped in enumerate(item.mapped for item in items)
    )
    stamp = timezone.now()  # what auto_now_add and auto_now write
    inserted = _copy_then(
        "identity_sync_learner",
        "ord integer, external_id text, email text, display_name text, timezone text, locale text, attributes jsonb",
        rows,
        f"INSERT INTO identity_learner ({_LEARNER_COLUMNS}, is_active, created_at, updated_at) "  # noqa: S608
        f"SELECT {_LEARNER_COLUMNS}, true, %s, %s FROM identity_sync_learner ORDER BY ord "
        "RETURNING id, external_id",
        [stamp, stamp],
    )
    id_of = {external_id: pk for pk, external_id in inserted}
    return [id_of[item.mapped.external_id] for item in items]


def _copy_links(
    source: IdentitySource,
    now: datetime,
    items: list[_Item],
    learner_of: dict[str, int],
    withdrawn: dict[str, datetime | None],
) -> list[tuple[int, str, int, datetime | None]]:
    """Upsert the items' links (by remote id); (id, remote id, learner, deactivated_at) of each."""
    rows = (
        (
            order,
            learner_of[item.mapped.remote_id],
            item.mapped.remote_id,
            item.mapped.digest,
            item.raw_hash,
            withdrawn[item.mapped.remote_id],
            item.mapped.json_text or canonical_json(item.mapped.as_json()),
        )
        for order, item in enumerate(items)
    )
    return _copy_then(
        "identity_sync_link",
        "ord integer, learner_id bigint, remote_id text, entry_hash text, raw_hash text, deactivated_at timestamptz, "
        "mapped jsonb",
        rows,
        "INSERT INTO identity_sourcelink (source_id, learner_id, remote_id, entry_hash, raw_hash, last_seen_at, "
        "missing_since, deactivated_at, mapped) "
        "SELECT %s, learner_id, remote_id, entry_hash, raw_hash, %s, NULL, deactivated_at, mapped "
        "FROM identity_sync_link ORDER BY ord "
        "ON CONFLICT (source_id, remote_id) DO UPDATE SET learner_id = EXCLUDED.learner_id, "
        "entry_hash = EXCLUDED.entry_hash, raw_hash = EXCLUDED.raw_hash, last_seen_at = EXCLUDED.last_seen_at, "
        "missing_since = EXCLUDED.missing_since, deactivated_at = EXCLUDED.deactivated_at, mapped = EXCLUDED.mapped "
        "RETURNING id, remote_id, learner_id, deactivated_at",
        [source.pk, now],
    )


def _add_role_claims(source: IdentitySource, claims: list[tuple[int, int]]) -> None:
    """The source claims these (learner, role) pairs; a claim it holds already is left as it is."""
    if not _copy_writes():
        RoleAssignment.objects.bulk_create(
            [
                RoleAssignment(learner_id=learner_id, role_id=role_id, source=source.kind, identity_source=source)
                for learner_id, role_id in claims
            ],
            ignore_conflicts=True,
        )
        return
    _copy_then(
        "identity_sync_role",
        "ord integer, learner_id bigint, role_id bigint",
        ((order, learner_id, role_id) for order, (learner_id, role_id) in enumerate(claims)),
        "INSERT INTO identity_roleassignment (learner_id, role_id, source, identity_source_id, created_at) "
        "SELECT learner_id, role_id, %s, %s, %s FROM identity_sync_role ORDER BY ord ON CONFLICT DO NOTHING",
        [source.kind, source.pk, timezone.now()],
        returning=False,
    )


def _copy_then(
    table: str, columns: str, rows: Iterable[Sequence[Any]], sql: str, params: list[Any], *, returning: bool = True
) -> list[tuple[Any, ...]]:
    """COPY ``rows`` into the connection's temporary ``table``, then run ``sql`` (which reads it); its rows."""
    with connection.cursor() as cursor:
        # Kept by the connection, emptied at each commit (a chunk is a transaction of its own). Inside a longer one
        # (a dry run, a push request's) the chunk is a savepoint and the last chunk's rows may still be there.
        cursor.execute(f"CREATE TEMP TABLE IF NOT EXISTS {table} ({columns}) ON COMMIT DELETE ROWS")
        if connection.savepoint_ids:
            cursor.execute(f"TRUNCATE {table}")
        with cursor.connection.cursor() as raw, raw.copy(f"COPY {table} FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        cursor.execute(sql, params)
        return cursor.fetchall() if returning else []


# Leavers.


def _mark_missing(context: _Context) -> None:
    """Links this complete run did not see are missing from now on (the grace period counts from here)."""
    newly = [
        (remote_id, link)
        for remote_id, link in context.links.items()
        if remote_id not in context.seen and link.missing_since is None
    ]
    if not newly:
        return
    ids = [link.pk for _remote_id, link in newly]
    for start in range(0, len(ids), 10_000):
        SourceLink.objects.filter(pk__in=ids[start : start + 10_000]).update(missing_since=context.now)
    context.report.counts["missing"] += len(newly)
    shown = newly[: max(0, MAX_DIFF - len(context.report.diff))]
    names = _external_ids([link.learner_id for _remote_id, link in shown])
    for remote_id, link in shown:
        context.report.change({"entry": remote_id, "learner": names.get(link.learner_id), "change": "missing"})
    for remote_id, link in newly:
        context.links[remote_id] = link._replace(missing_since=context.now)


def _external_ids(learner_ids: Sequence[int]) -> dict[int, str]:
    return dict(Learner.objects.filter(pk__in=list(learner_ids)).values_list("pk", "external_id"))


def _leavers(context: _Context, *, grace: timedelta, confirm: bool) -> tuple[str, str]:
    """Withdraw the people missing past the grace period or disabled in the source, unless that is more than the
    brake allows; returns the run's status and, when held, why."""
    cutoff = context.now - grace
    leaving = [
        (remote_id, link)
        for remote_id, link in context.links.items()
        if link.deactivated_at is None
        and (remote_id in context.disabled or (link.missing_since is not None and link.missing_since <= cutoff))
    ]
    if not leaving:
        return SyncRunStatus.SUCCEEDED, ""
    live = sum(1 for link in context.links.values() if link.deactivated_at is None)
    brake = context.source.deactivation_brake
    if not confirm and len(leaving) * 100 > brake * live:
        share = len(leaving) * 100 / live
        reason = (
            f"This run would deactivate {len(leaving):,} of the {live:,} people this source holds ({share:.0f}%), "
            f"more than its brake of {brake}%. No one was deactivated; check the source, then confirm to apply."
        )
        shown = leaving[: max(0, min(MAX_DIFF - len(context.report.diff), 100))]
        names = _external_ids([link.learner_id for _remote_id, link in shown])
        for remote_id, link in shown:
            context.report.change({"entry": remote_id, "learner": names.get(link.learner_id), "change": "held"})
        return SyncRunStatus.HELD, reason
    _withdraw(context, [link for _remote_id, link in leaving])
    return SyncRunStatus.SUCCEEDED, ""


def _withdraw(context: _Context, links: Sequence[_Link]) -> list[int]:
    """This source no longer vouches for these people: their links are marked, and each learner whom no enabled
    source still vouches for is deactivated. Returns the learners deactivated."""
    now = context.now
    link_ids = [link.pk for link in links]
    learner_ids = sorted({link.learner_id for link in links})
    for start in range(0, len(link_ids), 10_000):
        SourceLink.objects.filter(pk__in=link_ids[start : start + 10_000]).update(deactivated_at=now)
    vouched: set[int] = set()
    for start in range(0, len(learner_ids), 10_000):
        vouched.update(
            SourceLink.objects.filter(
                learner_id__in=learner_ids[start : start + 10_000], deactivated_at__isnull=True, source__enabled=True
            ).values_list("learner_id", flat=True)
        )
    leaving = [learner_id for learner_id in learner_ids if learner_id not in vouched]
    done: list[int] = []
    for start in range(0, len(leaving), CHUNK):
        done += learners_deactivate(learner_ids=leaving[start : start + CHUNK], now=now)
    context.report.counts["deactivated"] += len(done)
    shown = done[: max(0, MAX_DIFF - len(context.report.diff))]
    names = _external_ids(shown)
    remote_of = {link.learner_id: remote_id for remote_id, link in context.links.items() if link.learner_id in names}
    for learner_id in shown:
        context.report.change(
            {"entry": remote_of.get(learner_id, ""), "learner": names.get(learner_id), "change": "deactivated"}
        )
    withdrawn = set(link_ids)
    for remote_id, link in list(context.links.items()):
        if link.pk in withdrawn:
            context.links[remote_id] = link._replace(deactivated_at=now)
    return done


# Push sources (SCIM, the HR API).


@dataclass(frozen=True)
class EntryOutcome:
    index: int
    remote_id: str
    learner_id: int | None  # None: the entry was refused (see errors), or an unknown person disabled
    change: str  # created, linked, updated, unchanged, deactivated, reactivated, skipped, error


@dataclass(frozen=True)
class ApplyResult:
    """What ``entries_apply`` did, entry by entry (in the order given)."""

    outcomes: tuple[EntryOutcome, ...]
    errors: tuple[EntryError, ...]
    counts: Mapping[str, int]

    @property
    def learner_ids(self) -> list[int | None]:
        return [outcome.learner_id for outcome in self.outcomes]


def entries_check(*, source: IdentitySource, entries: Sequence[Entry]) -> list[EntryError]:
    """Every problem ``entries_apply`` would report before writing (mapping, duplicates), without writing."""
    context = _Context(source=source, now=timezone.now(), links={})
    for index, entry in enumerate(entries):
        _prepare(context, entry, index)
    return list(context.report.errors)


def entries_apply(*, source: IdentitySource, entries: Sequence[Entry], now: datetime | None = None) -> ApplyResult:
    """Create or update these people (a push source's request), mapped like any source's. Nobody else is marked
    missing; an entry with ``enabled=False`` withdraws the person at once (no brake: one request, its own people).
    An entry that cannot be applied is an error in the result and nothing of it is written; the others are applied.
    """
    now = now or timezone.now()
    context = _Context(source=source, now=now, links=_links_of(source, [entry.remote_id for entry in entries]))
    context.outcomes = {}
    items = [item for index, entry in enumerate(entries) if (item := _prepare(context, entry, index)) is not None]
    for start in range(0, len(items), CHUNK):
        _apply(context, items[start : start + CHUNK])
    leaving = [context.links[remote_id] for remote_id in sorted(context.disabled) if remote_id in context.links]
    withdrawn = set(_withdraw(context, [link for link in leaving if link.deactivated_at is None])) if leaving else set()
    failed = {problem.index for problem in context.report.errors}
    outcomes = []
    for index, entry in enumerate(entries):
        link = context.links.get(entry.remote_id)
        if index in failed or link is None:
            change = "error" if index in failed else context.outcomes.get(entry.remote_id, "skipped")
            outcomes.append(EntryOutcome(index, entry.remote_id, None, change))
        elif link.learner_id in withdrawn:
            outcomes.append(EntryOutcome(index, entry.remote_id, link.learner_id, "deactivated"))
        else:
            change = context.outcomes.get(entry.remote_id, "unchanged")
            outcomes.append(EntryOutcome(index, entry.remote_id, link.learner_id, change))
    return ApplyResult(tuple(outcomes), tuple(context.report.errors), dict(context.report.counts))


@transaction.atomic
def entry_remove(*, source: IdentitySource, remote_id: str, now: datetime | None = None) -> int | None:
    """The source deleted this person: it withdraws them at once (the learner is deactivated unless another enabled
    source still vouches for them). Returns the learner's id, or None when the source never linked this id."""
    now = now or timezone.now()
    context = _Context(source=source, now=now, links=_links_of(source, [remote_id]))
    link = context.links.get(remote_id)
    if link is None:
        return None
    SourceLink.objects.filter(pk=link.pk, missing_since__isnull=True).update(missing_since=now)
    if link.deactivated_at is None:
        _withdraw(context, [link])
    return link.learner_id


# Runs, held runs and checks.


def sync_run_confirm(*, run: SyncRun, user: Any = None) -> SyncRun:
    """An admin confirms a run held by the brake: it is marked confirmed, and a new run of the source applies the
    deactivations (started by the identity worker once committed)."""
    if run.status != SyncRunStatus.HELD or run.dry_run:
        raise ApplicationError("not_held", "Only a run held by the deactivation brake can be confirmed.")
    newer = SyncRun.objects.filter(source_id=run.source_id, dry_run=False, started_at__gt=run.started_at)
    if newer.exclude(status=SyncRunStatus.FAILED).exists():
        raise ApplicationError("superseded", "A later run of this source exists; confirm that one if it is held.")
    SyncRun.objects.filter(pk=run.pk).update(
        confirmed_by=user if getattr(user, "pk", None) else None, confirmed_at=timezone.now()
    )
    sync_start(source=run.source, confirm=True)
    run.refresh_from_db()
    return run


def sync_start(*, source: IdentitySource, dry_run: bool = False, confirm: bool = False) -> None:
    """Hand a run of the source to the identity worker, once committed."""
    from identity.services import _send_on_commit

    if source.kind not in PULL_SOURCES:
        raise ApplicationError("not_a_pull_source", f"Source '{source.name}' ({source.kind}) is not read by a sync.")
    _send_on_commit("identity.sync_source", source_id=source.pk, dry_run=dry_run, confirm=confirm)


def sync_runs_fail_stale(*, now: datetime | None = None) -> list[int]:
    """Mark failed the runs whose worker was lost (no heartbeat for ``STALE_RUN``); returns their sources' ids, for
    the sweeper to start again."""
    now = now or timezone.now()
    stale = SyncRun.objects.filter(status=SyncRunStatus.RUNNING, dry_run=False, heartbeat_at__lt=now - STALE_RUN)
    source_ids = sorted(set(stale.values_list("source_id", flat=True)))
    stale.update(
        status=SyncRunStatus.FAILED,
        finished_at=now,
        errors=[{"entry": "", "field": None, "message": "the worker running it was lost; started again"}],
    )
    return source_ids


def sync_checks(*, source: IdentitySource) -> list[dict[str, Any]]:
    """The checks stored on a run: people with no role, roles two sources disagree on, duplicate e-mails, and what
    the layers above registered in ``SYNC_CHECKS``. Only problems are listed."""
    found = [
        selectors.check_learners_without_role(source=source),
        selectors.check_role_disagreements(source=source),
        selectors.check_duplicate_emails(source=source),
    ]
    for check in SYNC_CHECKS:
        try:
            found += check(source)
        except Exception:  # a check of a layer above must not fail the sync it reports on
            logger.exception("identity.sync.check_failed", extra={"source": source.name, "check": repr(check)})
    return [check for check in found if check and check.get("count")]


def missing_attributes_check(
    uses: Callable[[], Mapping[str, Sequence[str]]],
) -> Callable[[IdentitySource], list[dict[str, Any]]]:
    """A sync check for ``SYNC_CHECKS``: ``uses()`` maps each learner attribute that published conditions read to
    where (e.g. ``{"department": ["support-specialist v3"]}``); the check lists those the source's active people
    lack."""

    def check(source: IdentitySource) -> list[dict[str, Any]]:
        wanted = uses()
        if not wanted:
            return []
        lacking = selectors.learners_lacking_attributes(source=source, names=sorted(wanted))
        return [
            {
                "code": "missing_attribute",
                "message": f"{count:,} active people of this source have no '{name}', which "
                f"{', '.join(list(wanted[name])[:3])} use{'s' if len(wanted[name]) == 1 else ''} in conditions",
                "count": count,
                "attribute": name,
                "examples": examples,
            }
            for name, (count, examples) in lacking.items()
            if count
        ]

    return check


__all__ = [
    "ApplyResult",
    "CHUNK",
    "EntryError",
    "EntryOutcome",
    "PULL_SOURCES",
    "STALE_RUN",
    "SYNC_CHECKS",
    "entries_apply",
    "entries_check",
    "entry_remove",
    "mapper_for",
    "missing_attributes_check",
    "pull_source_for",
    "source_sync",
    "source_sync_file",
    "sync_checks",
    "sync_run_confirm",
    "sync_runs_fail_stale",
    "sync_start",
]
