"""Writes to the configuration of identity sources: the source itself (and its nightly schedule), its attribute
mappings and role rules. The admin saves through here."""

import json
from collections.abc import Sequence

from celery.schedules import crontab
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django_celery_beat.models import CrontabSchedule, PeriodicTask

from identity.mapping import parse_grace_period, role_rule_problem, target_problem
from identity.models import AttributeMapping, IdentitySource, RoleAssignment, RoleRule
from identity.services import roles_withdrawn
from identity.services.sync import PULL_SOURCES

SYNC_TASK = "identity.sync_source"


def schedule_problem(schedule: str) -> str | None:
    """Why ``schedule`` is not a cron line (minute hour day month day-of-week), or None."""
    parts = (schedule or "").split()
    if len(parts) != 5:
        return f"{schedule!r} is not a cron line: write five fields, minute hour day month day-of-week, e.g. 0 2 * * *"
    minute, hour, day, month, weekday = parts
    try:
        crontab(minute=minute, hour=hour, day_of_month=day, month_of_year=month, day_of_week=weekday)
    except (ValueError, TypeError) as exc:
        return f"{schedule!r} is not a cron line: {exc}"
    return None


def source_problems(source: IdentitySource) -> dict[str, str]:
    """What is wrong with the source's own fields, by field."""
    problems: dict[str, str] = {}
    if problem := schedule_problem(source.schedule):
        problems["schedule"] = problem
    try:
        parse_grace_period(source.grace_period)
    except ValueError as exc:
        problems["grace_period"] = str(exc)
    if source.deactivation_brake > 100:
        problems["deactivation_brake"] = "a percentage: 0 to 100 (100: never hold a run)"
    if not isinstance(source.settings, dict):
        problems["settings"] = "an object of name: value"
    elif source.kind == "file":
        from identity.sources.files import path_problem

        if problem := path_problem(str(source.settings.get("path") or "")):
            problems["settings"] = f"path: {problem}"
    if source.kind == "api" and source.api_key_id is None and source.enabled:
        problems["api_key"] = "an HR system pushes with an API key: choose the key (with the learners:write scope)"
    return problems


@transaction.atomic
def source_save(*, source: IdentitySource) -> IdentitySource:
    """Validate and save the source, then create, update or remove its nightly sync (enabled pull sources only)."""
    problems = source_problems(source)
    if problems:
        raise ValidationError(problems)
    source.full_clean()
    source.save()
    source_schedule(source=source)
    return source


@transaction.atomic
def source_delete(*, source: IdentitySource) -> None:
    """Remove the source and its schedule; its links and role claims go with it (the learners stay, stamped as
    having lost roles)."""
    PeriodicTask.objects.filter(name=schedule_name(source)).delete()
    losing = set(RoleAssignment.objects.filter(identity_source=source).values_list("learner_id", flat=True))
    source.delete()
    roles_withdrawn(learner_ids=losing)


def schedule_name(source: IdentitySource) -> str:
    return f"identity: sync source {source.pk}"


def source_schedule(*, source: IdentitySource) -> PeriodicTask | None:
    """Beat's entry for the source (django-celery-beat): its cron line in the site's time zone, the sync task by
    name; none for a disabled or push source."""
    name = schedule_name(source)
    if not (source.enabled and source.kind in PULL_SOURCES):
        PeriodicTask.objects.filter(name=name).delete()
        return None
    minute, hour, day, month, weekday = source.schedule.split()
    schedule, _ = CrontabSchedule.objects.get_or_create(
        minute=minute,
        hour=hour,
        day_of_month=day,
        month_of_year=month,
        day_of_week=weekday,
        timezone=settings.TIME_ZONE,
    )
    task, _ = PeriodicTask.objects.update_or_create(
        name=name,
        defaults={
            "task": SYNC_TASK,
            "crontab": schedule,
            "interval": None,
            "kwargs": json.dumps({"source_id": source.pk}),
            "enabled": True,
            "description": f"Nightly sync of the identity source {source.name} (set in the source's schedule).",
        },
    )
    return task


@transaction.atomic
def source_rows_save(
    *,
    source: IdentitySource,
    mappings: Sequence[AttributeMapping] = (),
    rules: Sequence[RoleRule] = (),
    deleted: Sequence[AttributeMapping | RoleRule] = (),
) -> None:
    """Save the source's mappings and role rules (new or edited) and delete others, all checked first: a target
    that is not one, a condition that does not compile (its ConditionError's message), nothing written."""
    problems: list[str] = []
    for mapping in mappings:
        if problem := target_problem(mapping.target):
            problems.append(f"{mapping.source_attribute} → {mapping.target}: {problem}")
    for rule in rules:
        if error := role_rule_problem(rule.when):
            problems.append(f"role rule {rule.when!r}: {error.message}")
    if problems:
        raise ValidationError(problems)
    for row in deleted:
        if row.pk and row.source_id == source.pk:
            row.delete()
    for row in [*mappings, *rules]:
        row.source = source
        row.full_clean()
        row.save()
