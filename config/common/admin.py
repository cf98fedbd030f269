"""Admin building blocks with no domain, shared by every app's admin: large tables, history
pages, read-only admins and inlines, forms and actions that call one service.

Every admin and inline of the project derives from the theme's classes (django-unfold):
``ModelAdmin``, ``TabularInline`` and ``StackedInline`` are taken from here, so a page drawn
with Django's plain classes (unstyled widgets, no sidebar tabs) cannot slip in unnoticed
(tests/test_admin_theme.py checks every registered admin)."""

from __future__ import annotations

import datetime
from collections.abc import Callable
from functools import cached_property, wraps
from typing import TYPE_CHECKING, Any

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db import connections, router, transaction
from django.db.models import QuerySet
from django.forms.utils import ErrorDict
from django.utils import timezone
from django.utils.translation import gettext as _
from simple_history.models import DeletedObject
from simple_history.template_utils import HistoricalRecordContextHelper
from unfold import admin as unfold
from unfold.admin import StackedInline as StackedInline  # re-exported: the theme's, for every app
from unfold.admin import TabularInline as TabularInline

from config.common.admin_widgets import themed_form
from config.common.errors import BusinessRuleError

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

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
        if not isinstance(queryset, QuerySet):  # a list: its length is at hand
            return len(queryset)
        query = queryset.query
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


class ModelAdmin(unfold.ModelAdmin):
    """The theme's ModelAdmin, whose forms draw the fields they declare in the theme too (unfold
    themes only the fields it makes from model fields)."""

    def get_form(self, request, obj=None, change=False, **kwargs):
        return themed_form(super().get_form(request, obj, change=change, **kwargs))


class ReadableListsMixin(ModelAdmin):
    """On read-only pages (roles without the change permission, records past their draft) list
    fields, kept as JSON lists, show as words: ``readable`` maps each such field to the display
    method that says it."""

    readable: dict[str, str] = {}

    def get_fieldsets(self, request, obj=None):
        return self.readable_fieldsets(request, obj, super().get_fieldsets(request, obj))

    def get_readonly_fields(self, request, obj=None):
        # named here too, so a form built without ``change`` (a past version's page) leaves them out
        return [*super().get_readonly_fields(request, obj), *self.readable.values()]

    def readable_fieldsets(self, request, obj, fieldsets):
        if obj is None or self.has_change_permission(request, obj):
            return fieldsets
        return [
            (name, {**opts, "fields": [self.readable.get(f, f) for f in opts["fields"]]})
            for name, opts in fieldsets
        ]


# --- read-only pages, forms and actions that call services ----------------------------------


class ReadOnlyAdmin(ModelAdmin):
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
    """A model form whose fields are handed to one service call by a ``ServiceAdmin``.

    Validation checks the fields only: it writes nothing and locks nothing. The model's own
    validation is skipped too: the service is the arbiter (it validates under its lock), and the
    row may not exist yet (the service creates it).
    """

    def _post_clean(self) -> None:
        pass


class _Refused(Exception):
    """Unwinds a save the service refused, back to ``ServiceAdmin._changeform_view``."""

    def __init__(self, error: ValidationError) -> None:
        super().__init__(error)
        self.error = error


#: where the first attempt's refusal waits for the page drawn again (per request, never on the
#: admin instance, which every request shares)
REFUSAL = "_service_refusal"


def refused_form(form_class: type[forms.BaseForm], error: ValidationError) -> type[forms.BaseForm]:
    """``form_class`` that, once its own checks are done, shows ``error`` on the fields it names."""

    def _post_clean(self) -> None:
        # BaseForm._post_clean (the hook after the fields' checks) is missing from django-stubs
        form_class._post_clean(self)  # type: ignore[attr-defined]
        add_service_error(self, error)

    return type(form_class.__name__, (form_class,), {"_post_clean": _post_clean})


class ServiceAdmin(ModelAdmin):
    """An add/change page whose save is one service call, made after the form validated.

    The form only validates (no writes, no locks). Where Django would save the object,
    ``save_by_service`` calls the service and returns what it saved. What the service refuses
    (a ``ValidationError`` or a ``BusinessRuleError``) shows on the form: the attempt is rolled
    back to a savepoint (the admin runs the whole request in a transaction, so nothing of it is
    kept), and the page is drawn again by Django's own view from the same post, the refusal on
    the fields it names or above the form. Django's admin turns an exception from ``save_model``
    into a server error, hence the second pass.

    The service saves the whole object, many-to-many fields included: pages of this kind have no
    editable inlines.
    """

    def save_by_service(self, request, form, obj, change: bool) -> Any:
        raise NotImplementedError

    # ModelAdmin._changeform_view: what changeform_view runs in its transaction.
    def _changeform_view(self, request, object_id, form_url, extra_context):
        if request.method != "POST":
            return super()._changeform_view(request, object_id, form_url, extra_context)
        try:
            with transaction.atomic(using=router.db_for_write(self.model)):
                return super()._changeform_view(request, object_id, form_url, extra_context)
        except _Refused as refusal:
            setattr(request, REFUSAL, refusal.error)
            return super()._changeform_view(request, object_id, form_url, extra_context)

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        if (error := getattr(request, REFUSAL, None)) is not None:
            return refused_form(form, error)
        return form

    def save_model(self, request, obj, form, change: bool) -> None:
        try:
            saved = self.save_by_service(request, form, obj, change)
        except ValidationError as exc:
            raise _Refused(exc) from exc
        except BusinessRuleError as exc:
            raise _Refused(ValidationError(exc.message)) from exc
        if saved is not None and saved is not obj:
            # the page's object is what the admin logs and redirects to: the row the service saved
            obj.pk = saved.pk
            obj.refresh_from_db()
            obj._state.adding = False

    def save_related(self, request, form, formsets, change: bool) -> None:
        """Nothing else to save: the service saved the object and its relations."""


def run_each(
    request,
    objects,
    call: Callable[[Any], Any],
    done_message: StrOrPromise,
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
        self._errors: list[ErrorDict] = []
        # BaseFormSet.renderer (Django 4.0+) is missing from django-stubs
        self._non_form_errors = self.error_class(error_class="nonform", renderer=self.renderer)  # type: ignore[attr-defined]


class ReadOnlyInline(TabularInline):
    """A read-only table on another model's page."""

    formset = ReadOnlyFormSet
    extra = 0
    max_num = 0
    can_delete = False
    hide_title = True  # the theme heads each row with the object's name, which its cells already say

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
        if self.instance.pk is not None and self.queryset is not None:  # an inline's: never None
            newest = self.queryset.order_by(*self.newest_first).values("pk")[: self.limit]
            self.queryset = self.queryset.filter(pk__in=newest).order_by(*self.newest_first)


def newest_rows(*newest_first: str, limit: int = 20) -> type[NewestRowsFormSet]:
    return type("NewestRowsFormSet", (NewestRowsFormSet,), {"newest_first": newest_first, "limit": limit})


def once_per_row(method: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    """A display method that queries, run once per row however often the page draws its cell.

    django-unfold 0.91 looks a read-only field up each time it passes over a form (an inline
    row is passed over twice, and each pass looks the value up again): without this a column
    of balances' lots would ask the database several times per row. The answer is kept on the
    row's object, which lives as long as the request.
    """

    @wraps(method)
    def display(self, obj):
        answers = obj.__dict__.setdefault("_display_answers", {})
        if method.__name__ not in answers:
            answers[method.__name__] = method(self, obj)
        return answers[method.__name__]

    return display


def local_date(moment) -> str:
    return f"{timezone.localtime(moment):%Y-%m-%d}" if moment else "-"
