"""Recomputing rollups for (playbook, day) partitions from the raw rows, exactly: the one computation behind both
the periodic fold and ``rebuild_insights``, so the two cannot disagree about what a figure means.

Each partition's rows are upserted and the partition's rows no longer produced are deleted, so folding a partition
again changes nothing: that is what lets the fold re-read a trailing window without counting anything twice.
"""

import json
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime

from django.db import connection, models
from django.db.models import QuerySet
from django.db.models.expressions import RawSQL

from identity.models import RoleAssignment
from insights.models import (
    KEY,
    ActivityMetric,
    ActivityRollup,
    EnrollmentRollup,
    HistogramMetric,
    HistogramRollup,
    ModuleRollup,
)
from insights.sketch import bucket_of
from playbooks.models import BranchOption, Enrollment, EnrollmentStatus, ModuleProgress, ProgressStatus, Step
from signals_app.models import Decision, Reminder, ReminderStatus

Partition = tuple[int, date]  # (playbook id, UTC day)
# Days read per query: bounds a rebuild's memory to about a month of one playbook at a time.
DAYS_PER_QUERY = 31
POLICY_RULE = "delivery policy"
_TRIGGER_NAME = re.compile(r"^trigger '(?P<name>.+?)': ")
_KEY_IDS = ("day", "playbook_id", "version_id", "role")


def utc_day(moment: datetime) -> date:
    return moment.astimezone(UTC).date()


def chunks(partitions: Iterable[Partition]) -> Iterator[tuple[int, list[date]]]:
    by_playbook: dict[int, set[date]] = defaultdict(set)
    for playbook_id, day in partitions:
        by_playbook[playbook_id].add(day)
    for playbook_id, days in sorted(by_playbook.items()):
        ordered = sorted(days)
        for start in range(0, len(ordered), DAYS_PER_QUERY):
            yield playbook_id, ordered[start : start + DAYS_PER_QUERY]


def any_of(model: type[models.Model], column: str, ids: Iterable[int]) -> RawSQL:
    """``column = ANY(array)``: one parameter for thousands of ids, where ``__in`` sends one each (and Django and
    psycopg then spend longer building the statement than PostgreSQL does running it)."""
    if connection.vendor != "postgresql":  # the embedded default (SQLite): the ids as one JSON array
        where = f'"{model._meta.db_table}"."{column}" IN (SELECT value FROM json_each(%s))'  # noqa: S608
        return RawSQL(where, (json.dumps(list(ids)),), output_field=models.BooleanField())  # noqa: S611
    where = f'"{model._meta.db_table}"."{column}" = ANY(%s::bigint[])'
    return RawSQL(where, (list(ids),), output_field=models.BooleanField())  # noqa: S611 (names from the model)


def primary_roles(learner_ids: Iterable[int]) -> dict[int, str]:
    """Each learner's primary role (their oldest role assignment), as conditions' ``role`` has it."""
    roles: dict[int, str] = {}
    rows = RoleAssignment.objects.filter(any_of(RoleAssignment, "learner_id", set(learner_ids))).order_by(
        "learner_id", "created_at", "pk"
    )
    for learner_id, slug in rows.values_list("learner_id", "role__slug"):
        roles.setdefault(learner_id, slug)
    return roles


def cohort_refold(*, playbook_id: int, days: list[date]) -> None:
    """Enrolment, module and time-to-competency rollups of the enrolments begun on ``days``."""
    enrollments = Enrollment.objects.filter(playbook_id=playbook_id, enrolled_at__date__in=days)
    rows = list(enrollments.values_list("pk", "learner_id", "version_id", "status", "enrolled_at", "completed_at"))
    roles = primary_roles(row[1] for row in rows)
    keys = {row[0]: (utc_day(row[4]), playbook_id, row[2], roles.get(row[1], "")) for row in rows}
    counts: dict[tuple, Counter] = defaultdict(Counter)
    ttc: Counter = Counter()
    for pk, _learner, _version, status, enrolled_at, completed_at in rows:
        counts[keys[pk]]["enrolled"] += 1
        counts[keys[pk]]["completed"] += status == EnrollmentStatus.COMPLETED
        counts[keys[pk]]["ended"] += status == EnrollmentStatus.ENDED
        if status == EnrollmentStatus.COMPLETED and completed_at:
            ttc[
                (*keys[pk], HistogramMetric.TIME_TO_COMPETENCY, bucket_of((completed_at - enrolled_at).total_seconds()))
            ] += 1
    _replace(EnrollmentRollup, playbook_id, days, counts)
    _replace(ModuleRollup, playbook_id, days, _modules(enrollments, keys), ("step", "module"))
    metric = HistogramMetric.TIME_TO_COMPETENCY
    histogram = {key: Counter(count=n) for key, n in ttc.items()}
    _replace(HistogramRollup, playbook_id, days, histogram, ("metric", "bucket"), metric=metric)


def _modules(enrollments: QuerySet, keys: dict[int, tuple]) -> dict[tuple, Counter]:
    progress = ModuleProgress.objects.filter(enrollment__in=enrollments)
    steps = step_keys({key[2] for key in keys.values()})
    counts: dict[tuple, Counter] = defaultdict(Counter)
    for enrollment_id, module, status, seconds in progress.values_list(
        "enrollment_id", "module__slug", "status", "seconds"
    ):
        key = keys[enrollment_id]
        row = counts[(*key, steps.get((key[2], module), ""), module)]
        row["reached"] += 1
        row["completed"] += status == ProgressStatus.COMPLETED
        row["skipped"] += status == ProgressStatus.SKIPPED
        if status == ProgressStatus.COMPLETED and seconds > 0:
            row["timed"] += 1
            row["seconds"] += seconds
    return counts


def step_keys(version_ids: set[int]) -> dict[tuple[int, str], str]:
    """``(version id, module slug) → step key`` (the step's id, else its module) for the modules on each path."""
    keys: dict[tuple[int, str], str] = {}
    steps = Step.objects.filter(version_id__in=version_ids).order_by("version_id", "position")
    for version_id, step_id, module in steps.values_list("version_id", "step_id", "module__slug"):
        if module:
            keys.setdefault((version_id, module), step_id or module)
    options = BranchOption.objects.filter(step__version_id__in=version_ids, module__isnull=False)
    for version_id, step_id, module in options.values_list("step__version_id", "step__step_id", "module__slug"):
        keys.setdefault((version_id, module), step_id)
    return keys


def activity_refold(*, playbook_id: int, days: list[date]) -> None:
    """Trigger, reminder and latency rollups of the decisions taken for ``days``."""
    decisions = Decision.objects.filter(enrollment__playbook_id=playbook_id, decided_at__date__in=days)
    rows = list(
        decisions.order_by("pk").values_list(
            "enrollment_id",
            "learner_id",
            "enrollment__version_id",
            "decided_at",
            "kind",
            "rule",
            "event_id",
            "event__received_at",
            "event__processed_at",
        )
    )
    roles = primary_roles(row[1] for row in rows)
    counts: dict[tuple, Counter] = defaultdict(Counter)
    latency: Counter = Counter()
    events: set[tuple[int, int]] = set()
    for enrollment_id, learner_id, version_id, decided_at, kind, rule, event_id, received, processed in rows:
        key = (utc_day(decided_at), playbook_id, version_id, roles.get(learner_id, ""))
        trigger = trigger_metric(kind, rule)
        if trigger is not None:
            counts[(*key, *trigger)]["count"] += 1
        # An event counts once per enrolment, on its first decision there (rows are in id order).
        if event_id is not None and processed is not None and (event_id, enrollment_id) not in events:
            events.add((event_id, enrollment_id))
            milliseconds = (processed - received).total_seconds() * 1000
            latency[(*key, HistogramMetric.LATENCY, bucket_of(milliseconds))] += 1
    for key, count in _reminders(decisions, roles).items():
        counts[key]["count"] += count
    _replace(ActivityRollup, playbook_id, days, counts, ("metric", "name"))
    histogram = {key: Counter(count=n) for key, n in latency.items()}
    _replace(HistogramRollup, playbook_id, days, histogram, ("metric", "bucket"), metric=HistogramMetric.LATENCY)


def trigger_metric(kind: str, rule: str) -> tuple[str, str] | None:
    """(metric, trigger name) of a trigger fired or held back by its limit or cooldown; None for other decisions."""
    if kind == "trigger" or (kind == "suppressed" and not rule.startswith(POLICY_RULE)):
        name = _TRIGGER_NAME.match(rule)
        metric = ActivityMetric.TRIGGER_FIRED if kind == "trigger" else ActivityMetric.TRIGGER_HELD
        return metric, name["name"] if name else rule[:100]
    return None


def reminder_outcome(
    channel: str, status: str, message_status: str | None, delivered_by: str | None
) -> tuple[str, str]:
    """(metric, channel) of what became of a reminder: suppressed, else its message's status, under the channel that
    delivered it when sent."""
    outcome = ReminderStatus.SUPPRESSED if status == ReminderStatus.SUPPRESSED else message_status or status
    via = delivered_by if outcome == "sent" and delivered_by else channel
    return f"reminder_{outcome}", via


def _reminders(decisions: QuerySet, roles: dict[int, str]) -> Counter:
    reminders = Reminder.objects.filter(decision__in=decisions).values_list(
        "learner_id",
        "enrollment__playbook_id",
        "enrollment__version_id",
        "decision__decided_at",
        "channel",
        "status",
        "message__status",
        "message__delivered_by",
    )
    counts: Counter = Counter()
    for learner_id, playbook_id, version_id, decided_at, channel, status, message_status, delivered_by in reminders:
        key = (utc_day(decided_at), playbook_id, version_id, roles.get(learner_id, ""))
        counts[(*key, *reminder_outcome(channel, status, message_status, delivered_by))] += 1
    return counts


def _replace(
    model: type[models.Model],
    playbook_id: int,
    days: list[date],
    rows: dict[tuple, Counter],
    extra_key: tuple[str, ...] = (),
    **scope: str,
) -> None:
    """Upsert ``rows`` (key tuple → values) into the partitions and delete the partitions' rows not among them."""
    fields = (*_KEY_IDS, *extra_key)
    existing = model.objects.filter(playbook_id=playbook_id, day__in=days, **scope)
    stale = [pk for pk, *key in existing.values_list("pk", *fields) if tuple(key) not in rows]
    if stale:
        model.objects.filter(pk__in=stale).delete()
    values = [f.name for f in model._meta.concrete_fields if f.name not in ("id", *KEY, *extra_key)]
    model.objects.bulk_create(
        [model(**dict(zip(fields, key, strict=True)), **{v: row[v] for v in values}) for key, row in rows.items()],
        update_conflicts=True,
        unique_fields=fields,
        update_fields=values,
        batch_size=1000,
    )
