"""Timestamps are parsed by psycopg's C parser (common/postgresql.py) and come out exactly as Django's own loader
gives them: the same instants, the same tzinfo object, on plain and server-side cursors."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.db.backends.postgresql.psycopg_any import BaseTzLoader

from signals_app.models import Event
from tests.factories import LearnerFactory

TIMESTAMPTZ = 1184  # the type's OID

# Offsets, fractions of a second, the ends of the supported range, a leap day, DST changes in the given zone.
SAMPLES_SQL = """
    SELECT v FROM (VALUES
        ('2026-12-01 10:00:00+00'::timestamptz), ('2026-06-01 10:00:00.5+02'), ('2026-03-29 01:59:59.999999-09:30'),
        ('0001-01-01 00:00:00+00'), ('9999-12-31 23:59:59.999999+00'), ('2024-02-29 12:00:00+14'),
        ('1969-12-31 23:59:59.000001+00'), ('2026-10-25 02:30:00 Europe/Paris'), ('1900-01-01 00:00:00-00:20')
    ) AS t(v)
    UNION ALL
    SELECT timestamptz '2026-01-01 00:00:00+00' + n * interval '37 minutes 13.000017 seconds'
    FROM generate_series(-20000, 20000) AS n
"""


def _read(sql: str) -> list[datetime]:
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return [row[0] for row in cursor.fetchall()]


@pytest.mark.django_db
def test_timestamps_are_parsed_in_c_and_equal_djangos_own():
    adapters = connection.connection.adapters
    ours = adapters.get_loader(TIMESTAMPTZ, 0)
    assert ours.__name__ == "CTimestamptzLoader"
    parsed = _read(SAMPLES_SQL)

    class DjangoLoader(BaseTzLoader):
        timezone = connection.timezone

    adapters.register_loader("timestamptz", DjangoLoader)
    try:
        expected = _read(SAMPLES_SQL)
    finally:
        adapters.register_loader("timestamptz", ours)

    assert len(parsed) == 40_010
    assert parsed == expected
    assert all(a.tzinfo is b.tzinfo is UTC for a, b in zip(parsed, expected, strict=True))
    assert parsed[:2] == [datetime(2026, 12, 1, 10, tzinfo=UTC), datetime(2026, 6, 1, 8, 0, 0, 500000, tzinfo=UTC)]


@pytest.mark.django_db
def test_model_timestamps_round_trip_on_plain_and_server_side_cursors():
    learner = LearnerFactory()
    moment = datetime(2026, 11, 30, 23, 59, 58, 123456, tzinfo=UTC)
    for number in range(3):
        Event.objects.create(
            source="test", client_id=f"e{number}", learner=learner, type="page_viewed",
            occurred_at=moment + timedelta(microseconds=number), received_at=moment,
        )  # fmt: skip

    plain = list(Event.objects.order_by("pk").values_list("occurred_at", flat=True))
    streamed = [event.occurred_at for event in Event.objects.order_by("pk").iterator(chunk_size=2)]

    expected = [moment + timedelta(microseconds=number) for number in range(3)]
    assert plain == streamed == expected
    assert all(value.tzinfo is UTC for value in plain + streamed)
