"""Admin helpers: read-only pages for what only services write, and paging for tables that grow without bound
(events, decisions)."""

from django.core.paginator import Paginator
from django.db import connections
from django.http import HttpRequest
from django.utils.functional import cached_property


class ReadOnlyAdminMixin:
    """For a ModelAdmin or an inline whose rows only a service or a protocol writes: shown, never added, changed or
    deleted in the admin (its actions still run, through their services)."""

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


# Below this many rows an exact count is cheap enough.
ESTIMATE_ABOVE = 100_000


class LargeTablePaginator(Paginator):
    """Counts an unfiltered PostgreSQL table from the planner's estimate instead of a full scan."""

    @cached_property
    def count(self) -> int:
        queryset = self.object_list
        connection = connections[queryset.db]
        if connection.vendor == "postgresql" and not queryset.query.where:
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT reltuples::bigint FROM pg_class WHERE relname = %s", [queryset.model._meta.db_table]
                )
                row = cursor.fetchone()
            if row and row[0] > ESTIMATE_ABOVE:
                return row[0]
        return super().count
