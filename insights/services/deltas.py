"""Differences to add to the rollups, gathered in memory and written with one statement per table and sign: the
Zulip pattern (``INSERT … ON CONFLICT … DO UPDATE SET n = t.n + excluded.n``) for rows that only grow; rows that
shrink are updated in place (their row exists: it holds what is taken away) and deleted when they reach zero, as a
rebuild would not have them."""

from collections import Counter, defaultdict

from django.db import connection, models
from django.db.models import F

from insights.models import KEY, ActivityRollup, EnrollmentRollup, HistogramMetric, HistogramRollup, ModuleRollup
from insights.services.ledger import DecisionFold, EnrollmentFold, ProgressFold, ReminderFold
from insights.services.partitions import trigger_metric
from insights.sketch import bucket_of

_EXTRA_KEY = {
    EnrollmentRollup: (),
    ModuleRollup: ("step", "module"),
    ActivityRollup: ("metric", "name"),
    HistogramRollup: ("metric", "bucket"),
}
_PRESENCE = {EnrollmentRollup: "enrolled", ModuleRollup: "reached", ActivityRollup: "count", HistogramRollup: "count"}


class Deltas:
    def __init__(self) -> None:
        self.rows: dict[type[models.Model], dict[tuple, Counter]] = defaultdict(lambda: defaultdict(Counter))

    def enrollment(self, fold: EnrollmentFold, sign: int) -> None:
        row = self.rows[EnrollmentRollup][fold.key]
        row["enrolled"] += sign
        row["completed"] += sign * fold.completed
        row["ended"] += sign * fold.ended
        if fold.ttc is not None:
            self.rows[HistogramRollup][(*fold.key, HistogramMetric.TIME_TO_COMPETENCY, fold.ttc)]["count"] += sign

    def progress(self, enrollment: EnrollmentFold, fold: ProgressFold, sign: int) -> None:
        row = self.rows[ModuleRollup][(*enrollment.key, fold.step, fold.module)]
        row["reached"] += sign
        row["completed"] += sign * fold.completed
        row["skipped"] += sign * fold.skipped
        row["timed"] += sign * (fold.seconds > 0)
        row["seconds"] += sign * fold.seconds

    def decision(self, enrollment: EnrollmentFold, fold: DecisionFold, sign: int) -> None:
        key = enrollment.activity_key(fold.day)
        trigger = trigger_metric(fold.kind, fold.rule)
        if trigger is not None:
            self.rows[ActivityRollup][(*key, *trigger)]["count"] += sign
        if fold.latency_ms is not None:
            self.rows[HistogramRollup][(*key, HistogramMetric.LATENCY, bucket_of(fold.latency_ms))]["count"] += sign

    def reminder(self, enrollment: EnrollmentFold, fold: ReminderFold, sign: int) -> None:
        self.rows[ActivityRollup][(*enrollment.activity_key(fold.day), fold.metric, fold.via)]["count"] += sign

    def flush(self) -> int:
        """Write the differences; returns the rollup rows touched."""
        touched = 0
        for model, rows in self.rows.items():
            changed = {key: row for key, row in rows.items() if any(row.values())}
            grow = {key: row for key, row in changed.items() if min(row.values()) >= 0}
            shrink = {key: row for key, row in changed.items() if key not in grow}
            if connection.vendor == "postgresql":
                _upsert(model, grow)
                _update(model, shrink)
            else:  # the embedded default (SQLite): row by row, its data is small
                _apply_by_row(model, changed)
            touched += len(changed)
        self.rows.clear()
        return touched


def _columns(model: type[models.Model]) -> tuple[list[models.Field], list[models.Field]]:
    names = (*KEY, *_EXTRA_KEY[model])
    keys = [model._meta.get_field(name) for name in names]
    values = [f for f in model._meta.concrete_fields if f.name not in ("id", *names)]
    return keys, values


def _values(model: type[models.Model], rows: dict[tuple, Counter]) -> tuple[str, list, list[str]]:
    """A VALUES list of the rows, typed, with its column names."""
    keys, values = _columns(model)
    fields = keys + values
    casts = "(" + ", ".join(f"%s::{f.db_type(connection)}" for f in fields) + ")"
    params = [p for key, row in rows.items() for p in (*key, *(row[f.name] for f in values))]
    return ", ".join([casts] * len(rows)), params, [f.column for f in fields]


def _apply_by_row(model: type[models.Model], rows: dict[tuple, Counter]) -> None:
    """What ``_upsert`` and ``_update`` do, portably: add each row's differences, create the rows that grow from
    nothing, and drop a row nothing counts in any more."""
    keys, values = _columns(model)
    presence = _PRESENCE[model]
    for key, row in rows.items():
        lookup = {field.attname: value for field, value in zip(keys, key, strict=True)}
        existing = model.objects.filter(**lookup)
        if not existing.update(**{f.attname: F(f.attname) + row[f.name] for f in values}):
            model.objects.create(**lookup, **{f.attname: row[f.name] for f in values})
        existing.filter(**{presence: 0}).delete()


def _upsert(model: type[models.Model], rows: dict[tuple, Counter]) -> None:
    if not rows:
        return
    table = model._meta.db_table
    keys, values = _columns(model)
    placeholders, params, columns = _values(model, rows)
    additions = ", ".join(f"{v.column} = {table}.{v.column} + excluded.{v.column}" for v in values)
    sql = (
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES {placeholders} "  # noqa: S608 (names from the models)
        f"ON CONFLICT ({', '.join(k.column for k in keys)}) DO UPDATE SET {additions}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def _update(model: type[models.Model], rows: dict[tuple, Counter]) -> None:
    if not rows:
        return
    table = model._meta.db_table
    keys, values = _columns(model)
    placeholders, params, columns = _values(model, rows)
    match = " AND ".join(f"t.{k.column} = d.{k.column}" for k in keys)
    additions = ", ".join(f"{v.column} = t.{v.column} + d.{v.column}" for v in values)
    presence = model._meta.get_field(_PRESENCE[model]).column
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} t SET {additions} FROM (VALUES {placeholders}) d ({', '.join(columns)}) "  # noqa: S608
            f"WHERE {match}",
            params,
        )
        # What a rebuild would not produce: a row nothing counts in any more.
        cursor.execute(
            f"DELETE FROM {table} t USING (VALUES {placeholders}) d ({', '.join(columns)}) "  # noqa: S608
            f"WHERE {match} AND t.{presence} = 0",
            params,
        )
