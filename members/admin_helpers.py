"""Admin building blocks shared by every app's admin (large tables, read-only logs)."""

from __future__ import annotations

from functools import cached_property

from django.core.paginator import Paginator
from django.db import connections

#: Filtered lists count at most this many rows; past it the admin shows "10000+"-like totals.
COUNT_CAP = 10_000
#: Below this estimated size an exact COUNT(*) is cheap enough.
EXACT_COUNT_BELOW = 100_000


class LargeTablePaginator(Paginator):
    """Paginator that never runs an unbounded COUNT(*) over a big table.

    On PostgreSQL an unfiltered list takes the planner's row estimate (pg_class.reltuples),
    which is free; a filtered list counts at most COUNT_CAP + 1 rows. Page links therefore
    reach the first ~100 pages of a filtered list, which is what an operator pages through;
    beyond that they filter or search.
    """

    @cached_property
    def count(self) -> int:
        queryset = self.object_list
        query = getattr(queryset, "query", None)
        if query is None:
            return len(queryset)
        connection = connections[queryset.db]
        if not query.where and connection.vendor == "postgresql":
            estimate = self._estimate(connection, queryset.model._meta.db_table)
            if estimate >= EXACT_COUNT_BELOW:
                return estimate
        return queryset.order_by()[: COUNT_CAP + 1].count()

    @staticmethod
    def _estimate(connection, table: str) -> int:
        with connection.cursor() as cursor:
            cursor.execute("SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass", [table])
            row = cursor.fetchone()
        return max(int(row[0]), 0) if row else 0
