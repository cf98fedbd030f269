"""Admin building blocks shared by every app's admin (large tables, read-only logs, the
counter's lookups)."""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from functools import cached_property

from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db import connections
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _
from simple_history.admin import SimpleHistoryAdmin
from simple_history.models import DeletedObject
from simple_history.template_utils import HistoricalRecordContextHelper

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


class HistoryAdmin(SimpleHistoryAdmin):
    """Version history to read, never to revert.

    simple-history saves a posted past version after checking only that the user may *view*
    history (the revert button is merely hidden), and a revert would skip the services: the
    approval of a campaign, a reward's stock, a member's identity checks. So nobody reverts;
    an operator who wants an old value back types it, and that change is recorded too.
    """

    def has_change_history_permission(self, request, obj=None) -> bool:
        return False

    def has_view_history_or_change_history_permission(self, request, obj=None) -> bool:
        # Both history pages ask this; without SIMPLE_HISTORY_ENFORCE_HISTORY_MODEL_PERMISSIONS
        # simple-history would skip ``has_view_history_permission``, which admins narrow.
        return self.has_view_history_permission(request, obj)

    def get_historical_record_context_helper(self, request, historical_record):
        return ReadableHistoryHelper(self.model, historical_record)

    def history_form_view(self, request, object_id, version_id, extra_context=None):
        if request.method == "POST":
            raise PermissionDenied
        self._may_read_history(request, object_id)
        # the model's own options (simple-history passes its "Historical …" model's)
        extra_context = {"opts": self.model._meta, **(extra_context or {})}
        return super().history_form_view(request, object_id, version_id, extra_context)

    def history_view(self, request, object_id, extra_context=None):
        self._may_read_history(request, object_id)
        return super().history_view(request, object_id, extra_context)

    def _may_read_history(self, request, object_id: str) -> None:
        """Only the history of an object the user may open now: simple-history falls back to
        the history table for an object outside ``get_queryset`` (another store's, for staff).
        A deleted object's history stays readable for roles that see every store."""
        from members.selectors import sees_every_store

        try:
            pk = self.model._meta.pk.to_python(unquote(object_id))
            if self.get_queryset(request).filter(pk=pk).exists():
                return
            if sees_every_store(request.user) and not self.model._default_manager.filter(pk=pk).exists():
                return
        except (ValidationError, ValueError):
            pass
        raise Http404


# --- the counter's lookups -------------------------------------------------------------------

#: Session key of the members store staff found by an exact lookup during this login.
LOOKED_UP = "members_looked_up"
#: A counter serves one customer at a time; the last few found are enough to move between pages.
LOOKED_UP_KEEP = 50


def remember_looked_up(request, member_ids: Iterable[int]) -> None:
    """Store staff may open the pages of a member of another store found by an exact lookup
    (the customer is at the counter): the session remembers whom, for as long as it lasts."""
    ids = [int(pk) for pk in member_ids]
    if not ids:
        return
    kept = [pk for pk in request.session.get(LOOKED_UP, []) if pk not in ids]
    request.session[LOOKED_UP] = (kept + ids)[-LOOKED_UP_KEEP:]


def looked_up(request) -> list[int]:
    return list(request.session.get(LOOKED_UP, []))


class ReadableHistoryHelper(HistoricalRecordContextHelper):
    """A history row's changes as people read them: choices by their label ("已批准 → 进行中",
    not "approved → active"), times local, yes/no, empty as "-", never "Deleted 用户 (pk=None)"
    for a field that was simply empty."""

    def prepare_delta_change_value(self, change, value):
        field = self.model._meta.get_field(change.field)
        if value is None or value == "" or (isinstance(value, DeletedObject) and value.pk is None):
            return "-"
        if isinstance(value, DeletedObject):
            return _("deleted %(what)s #%(pk)s") % {"what": value.model._meta.verbose_name, "pk": value.pk}
        if getattr(field, "flatchoices", None):
            return dict(field.flatchoices).get(value, value)
        if isinstance(value, bool):
            return _("yes") if value else _("no")
        if isinstance(value, datetime.datetime):
            return f"{timezone.localtime(value):%Y-%m-%d %H:%M:%S}"
        return super().prepare_delta_change_value(change, value)
