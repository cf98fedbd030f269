"""Admin building blocks with no domain, shared by every app's admin: large tables, history
pages, read-only admins and inlines, forms and actions that call one service."""

from __future__ import annotations

import datetime
from collections.abc import Callable
from functools import cached_property
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db import connections
from django.utils import timezone
from django.utils.translation import gettext as _
from simple_history.models import DeletedObject
from simple_history.template_utils import HistoricalRecordContextHelper

from config.common.errors import BusinessRuleError

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


# --- read-only pages, forms and actions that call services ----------------------------------


class ReadOnlyAdmin(admin.ModelAdmin):
    """The ledger is written by services only."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


def add_service_error(form: forms.Form, exc: ValidationError) -> None:
    """Put a service's ValidationError on the form: on the field it names if the form has that
    field, otherwise above the form."""
    if hasattr(exc, "error_dict"):
        for field, errors in exc.error_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, exc)


class ServiceForm(forms.ModelForm):
    """A model form whose save is one service call.

    The call runs at the end of validation (the admin wraps the whole request in a transaction),
    so what the service refuses shows on the form's fields instead of as a server error;
    ``save_model`` then only picks up ``result``. The model's own validation is skipped: the
    service is the arbiter, and the row may not exist yet (it is created by the service).
    The ModelAdmin sets ``actor`` on the form class per request (see ``ActorFormMixin``).
    """

    actor: Any = None
    result: Any = None

    def call_service(self, data: dict[str, Any]) -> Any:
        raise NotImplementedError

    def _post_clean(self) -> None:
        if self.errors:
            return
        try:
            self.result = self.call_service(self.cleaned_data)
        except ValidationError as exc:
            add_service_error(self, exc)
        except BusinessRuleError as exc:
            self.add_error(None, exc.message)


class ActorFormMixin:
    """Hands the request user to a ``ServiceForm`` (a fresh form class per request)."""

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        form.actor = request.user
        return form


def run_each(
    request,
    objects,
    call: Callable[[Any], Any],
    done_message: str,
    *,
    label: Callable[[Any], str] = str,
    log: Callable[[Any], Any] | None = None,
) -> None:
    """Run an admin action's service call per row; refusals become messages, never a 500.
    ``log(obj)`` records each success in the admin log (who did what, from where)."""
    done = 0
    for obj in objects:
        try:
            call(obj)
        except ValidationError as exc:
            messages.error(request, f"{label(obj)}: {' '.join(exc.messages)}")
        except BusinessRuleError as exc:
            messages.error(request, f"{label(obj)}: {exc.message}")
        else:
            done += 1
            if log is not None:
                log(obj)
    if done:
        messages.success(request, done_message % {"count": done})


class ReadOnlyFormSet(forms.BaseInlineFormSet):
    """A read-only inline posts no data, so there is nothing to validate when the parent page is
    saved, not even its management form: a page rendered before the inline existed, or a client
    that posts only the parent's fields, still saves."""

    def full_clean(self) -> None:
        self._errors = []
        self._non_form_errors = self.error_class(error_class="nonform", renderer=self.renderer)


class ReadOnlyInline(admin.TabularInline):
    """A read-only table on another model's page."""

    formset = ReadOnlyFormSet
    extra = 0
    max_num = 0
    can_delete = False

    def get_readonly_fields(self, request, obj=None):
        return self.fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class NewestRowsFormSet(ReadOnlyFormSet):
    """Only the parent's newest ``limit`` rows. An inline cannot slice its queryset (the formset
    filters it by the parent afterwards), so the newest rows' keys are picked in a subquery:
    one index range scan of this parent's rows, whatever the table's size."""

    newest_first: tuple[str, ...] = ("-pk",)
    limit = 20

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk is not None:
            newest = self.queryset.order_by(*self.newest_first).values("pk")[: self.limit]
            self.queryset = self.queryset.filter(pk__in=newest).order_by(*self.newest_first)


def newest_rows(*newest_first: str, limit: int = 20) -> type[NewestRowsFormSet]:
    return type("NewestRowsFormSet", (NewestRowsFormSet,), {"newest_first": newest_first, "limit": limit})


def local_date(moment) -> str:
    return f"{timezone.localtime(moment):%Y-%m-%d}" if moment else "-"
