"""``field__any=[…]``: ``field IN (…)`` with the list sent as one array on PostgreSQL.

``__in`` writes a placeholder per value, and psycopg parses a statement that long afresh every
time (it caches only short ones): a thousand ids cost a few milliseconds before the query is
sent. The batch paths (journeys, messaging, expiry) ask that for every thousand members, so they
say ``__any``; ``= ANY(%s)`` with one array parameter is the same filter to PostgreSQL. Other
databases get the ``IN`` list.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Field, ForeignObject
from django.db.models.fields.related_lookups import RelatedIn
from django.db.models.lookups import In


class _OneArray:
    lookup_name = "any"

    def as_postgresql(self: Any, compiler: Any, connection: Any) -> tuple[str, Any]:
        if not self.rhs_is_direct_value():  # a subquery: as ``__in``
            return self.as_sql(compiler, connection)
        lhs, lhs_params = self.process_lhs(compiler, connection)
        _placeholders, values = self.process_rhs(compiler, connection)  # prepared, deduplicated
        return f"{lhs} = ANY(%s)", (*lhs_params, list(values))


@Field.register_lookup
class AnyOf(_OneArray, In):
    pass


@ForeignObject.register_lookup
class RelatedAnyOf(_OneArray, RelatedIn):
    pass
