"""Model fields shared by the apps."""

import json
from typing import Any

from django.db import models


class WholeJSONField(models.JSONField):
    """A JSONField that PostgreSQL stores as ``json`` rather than ``jsonb``.

    Meant for documents the application writes and reads whole, many times a second, and the database never looks
    inside (an enrolment's journey state and running tally). ``jsonb`` parses every value written into its binary
    form and formats every value read back. ``json`` keeps the text as written, only checked. Measured on 75
    enrolments: writing them took 5.5-8.7 ms as jsonb against 3.8-4.7 ms as json, reading them 1.6-1.8 ms against
    0.6 ms (docs/benchmarks.md).

    What is given up: SQL equality and containment (``json`` has no ``=`` operator), so filter on such a field only
    by path (``state__waits__0__isnull``, which PostgreSQL's ``#>`` answers for ``json`` too). Elsewhere (SQLite)
    it is a JSONField like any other.
    """

    def db_type(self, connection: Any) -> str | None:
        return "json" if connection.vendor == "postgresql" else super().db_type(connection)

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        if connection.vendor == "postgresql":
            return value  # psycopg decodes ``json`` itself (Django turns that off for ``jsonb`` only)
        return super().from_db_value(value, expression, connection)

    def get_db_prep_value(self, value: Any, connection: Any, prepared: bool = False) -> Any:
        if connection.vendor != "postgresql":
            return super().get_db_prep_value(value, connection, prepared)
        if not prepared:
            value = self.get_prep_value(value)
        if value is None or hasattr(value, "as_sql"):
            return value
        # The text, not psycopg's Jsonb wrapper: that would be sent as jsonb, parsed, then cast to json.
        return json.dumps(value, cls=self.encoder)
