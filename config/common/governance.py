"""Maker-checker for the programme's configuration (治理).

Each app says which of its models are programme configuration, and which of their fields
(``govern`` in its ``AppConfig.ready``). In the admin a change to those fields is not saved: it
becomes a ``ConfigChange`` that another user with the approver's permission approves
(``config_change_approve``); it takes effect then, or at its ``effective_from`` (the job
``config_changes_apply_due``). Nobody approves their own change, so nobody raises their own
adjustment threshold.

A change that took effect keeps what it replaced, so the configuration at any past moment is the
rows of today with the later changes undone (``rows_as_of``): the earning engine earns a late
fact (last month's receipts imported today) by the rules of its time.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypeVar

from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import IntegrityError, models, transaction
from django.db.models import Max, ProtectedError
from django.utils import timezone
from django.utils.translation import gettext as _

from config.common.errors import BusinessRuleError
from config.common.models import ConfigChange

APPROVE_PERMISSION = "common.approve_configchange"

M = TypeVar("M", bound=models.Model)


class OwnChange(BusinessRuleError):
    code = "own_change"


class NotWaiting(BusinessRuleError):
    code = "change_not_waiting"


class NotApprover(BusinessRuleError):
    code = "not_approver"


@dataclass(frozen=True)
class Governed:
    """A configuration model: the fields a change waits for approval on, and how a row is saved
    and deleted (the app's own service where it has one: a tier keeps the ladder in order)."""

    model: type[models.Model]
    fields: tuple[str, ...]
    save: Callable[[Any], object]
    delete: Callable[[Any], object]


GOVERNED: dict[type[models.Model], Governed] = {}


def _save(obj: models.Model) -> None:
    obj.full_clean()
    obj.save()


def _delete(obj: models.Model) -> None:
    obj.delete()


def govern(
    model: type[models.Model],
    *,
    fields: Sequence[str] | None = None,
    save: Callable[[Any], object] = _save,
    delete: Callable[[Any], object] = _delete,
) -> None:
    """Put ``model`` under maker-checker: ``fields`` (default every editable field, many-to-many
    ones too) wait for approval."""
    names = tuple(fields) if fields is not None else tuple(f.name for f in editable_fields(model))
    GOVERNED[model] = Governed(model, names, save, delete)


def governed(model: type[models.Model]) -> Governed | None:
    return GOVERNED.get(model)


def editable_fields(model: type[models.Model]) -> list[models.Field]:
    """The fields a change records: the editable columns, then the editable many-to-many sets."""
    columns = [
        f
        for f in model._meta.concrete_fields
        if f.editable and not f.primary_key and not getattr(f, "auto_now", False)
    ]
    return [*columns, *(f for f in model._meta.many_to_many if f.editable)]


# --- values as stored in a change ------------------------------------------------------------


def stored(value: Any) -> Any:
    """A field's value as JSON keeps it: a decimal as text, a date or time in ISO 8601."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    return value


def loaded(field: models.Field, raw: Any) -> Any:
    if raw is None or field.is_relation:
        return raw
    return field.to_python(raw)


def value_of(obj: models.Model, name: str, sets: dict[str, list[int]] | None = None) -> Any:
    """``obj``'s value of the field ``name`` as a change stores it. A many-to-many set is the
    sorted ids of its rows: ``sets`` gives the ones a form proposes (not saved yet), else the
    row's as saved."""
    field = obj._meta.get_field(name)
    if field.many_to_many:
        if sets is not None and name in sets:
            return sorted(sets[name])
        return sorted(getattr(obj, name).values_list("pk", flat=True)) if obj.pk is not None else []
    value = getattr(obj, field.attname)  # type: ignore[union-attr]
    if isinstance(field, models.DecimalField) and isinstance(value, Decimal):
        value = value.quantize(Decimal(1).scaleb(-field.decimal_places))  # 2 and 2.0000 are one value
    return stored(value)


def put(obj: models.Model, name: str, raw: Any) -> None:
    """Set a column's stored value on ``obj`` (a many-to-many set is written after the row is
    saved: ``_apply``)."""
    field = obj._meta.get_field(name)
    assert isinstance(field, models.Field) and not field.many_to_many
    if isinstance(field, models.ForeignKey) and field.is_cached(obj) and getattr(obj, field.attname) != raw:
        field.delete_cached_value(obj)  # the related row read with the old id
    setattr(obj, field.attname, loaded(field, raw))


# --- making, deciding and applying changes ---------------------------------------------------


def config_change_propose(
    *,
    instance: models.Model,
    fields: Iterable[str] = (),
    action: str = ConfigChange.Action.UPDATE,
    actor: Any,
    effective_from: datetime.datetime | None = None,
    note: str = "",
    sets: dict[str, list[int]] | None = None,
    at: datetime.datetime | None = None,
) -> ConfigChange:
    """Record a change of ``instance`` (its unsaved values) as a draft waiting for approval.

    ``fields``: the ones changed (an update); a new row and a deletion keep every field.
    ``sets``: the ids proposed for its many-to-many fields (a form's), which an unsaved row
    cannot carry.
    """
    at = at or timezone.now()
    model = type(instance)
    if model not in GOVERNED:
        raise ValueError(f"{model.__name__} is not under maker-checker")
    if effective_from is not None and effective_from <= at:
        raise ValidationError({"effective_from": _("Give a time in the future, or leave it empty.")})
    every = [f.name for f in editable_fields(model)]
    if action == ConfigChange.Action.CREATE:
        changes = [{"field": name, "after": value_of(instance, name, sets)} for name in every]
    elif action == ConfigChange.Action.DELETE:
        changes = [{"field": name, "before": value_of(instance, name)} for name in every]
    else:
        current = model._default_manager.get(pk=instance.pk)
        changes = [
            {"field": name, "before": value_of(current, name), "after": value_of(instance, name, sets)}
            for name in fields
            if value_of(current, name) != value_of(instance, name, sets)
        ]
        if not changes:
            raise ValidationError(_("Nothing was changed."))
    return ConfigChange.objects.create(
        content_type=ContentType.objects.get_for_model(model),
        object_id=instance.pk,
        object_repr=str(instance)[:200],
        action=action,
        changes=changes,
        note=note.strip()[:300],
        effective_from=effective_from,
        made_by=actor,
        made_at=at,
    )


def config_change_approve(
    *, change: ConfigChange, actor: Any, at: datetime.datetime | None = None
) -> ConfigChange:
    """Approve someone else's change: it takes effect now, or at its ``effective_from``."""
    at = at or timezone.now()
    if not actor.has_perm(APPROVE_PERMISSION):
        raise NotApprover(_("Only an approver may approve a change to the programme."))
    with transaction.atomic():
        change = _waiting(change)
        if change.made_by_id == actor.pk:
            raise OwnChange(_("You made this change: another approver must approve it."))
        change.decided_by = actor
        change.decided_at = at
        if change.effective_from is not None and change.effective_from > at:
            change.status = ConfigChange.Status.SCHEDULED
            change.save(update_fields=["status", "decided_by", "decided_at"])
            return change
        _apply(change, at)
    return change


def config_change_reject(
    *, change: ConfigChange, actor: Any, at: datetime.datetime | None = None
) -> ConfigChange:
    """Refuse a change (an approver), or withdraw one's own (its maker): nothing takes effect."""
    at = at or timezone.now()
    own = change.made_by_id == actor.pk
    if not own and not actor.has_perm(APPROVE_PERMISSION):
        raise NotApprover(_("Only an approver may reject someone else's change; its maker may withdraw it."))
    with transaction.atomic():
        change = _waiting(change, scheduled=True)
        change.status = ConfigChange.Status.WITHDRAWN if own else ConfigChange.Status.REJECTED
        change.decided_by = actor
        change.decided_at = at
        change.save(update_fields=["status", "decided_by", "decided_at"])
    return change


def config_changes_apply_due(at: datetime.datetime | None = None) -> int:
    """Apply the approved changes whose time has come (the job); one that cannot take effect any
    more (its row changed or went since) is marked so, with the reason. Returns how many applied."""
    at = at or timezone.now()
    due = ConfigChange.objects.filter(status=ConfigChange.Status.SCHEDULED, effective_from__lte=at)
    applied = 0
    for pk in due.order_by("effective_from", "id").values_list("pk", flat=True):
        with transaction.atomic():
            change = ConfigChange.objects.select_for_update().get(pk=pk)
            if change.status != ConfigChange.Status.SCHEDULED:
                continue  # another run took it
            try:
                with transaction.atomic():
                    _apply(change, change.effective_from or at)
            except (ValidationError, BusinessRuleError) as exc:
                change.status = ConfigChange.Status.FAILED
                change.failure = _words(exc)[:300]
                change.save(update_fields=["status", "failure"])
            else:
                applied += 1
    return applied


def _waiting(change: ConfigChange, *, scheduled: bool = False) -> ConfigChange:
    change = ConfigChange.objects.select_for_update().get(pk=change.pk)
    open_ = {ConfigChange.Status.SUBMITTED} | ({ConfigChange.Status.SCHEDULED} if scheduled else set())
    if change.status not in open_:
        raise NotWaiting(
            _("This change is %(status)s: nothing to decide.") % {"status": change.get_status_display()}
        )
    return change


class Stale(BusinessRuleError):
    code = "change_stale"


def _apply(change: ConfigChange, effective_at: datetime.datetime) -> None:
    """Write the change to its row (locked), as its maker, dated when it takes effect."""
    model = change.content_type.model_class()
    assert model is not None
    rules = GOVERNED[model]
    obj: Any
    if change.action == ConfigChange.Action.CREATE:
        obj = model()
    else:
        # no ordering: a model ordered by a nullable relation would join it, and FOR UPDATE refuses
        obj = (
            model._default_manager.select_for_update(of=("self",))
            .filter(pk=change.object_id)
            .order_by()
            .first()
        )
        if obj is None:
            raise Stale(_("%(setting)s no longer exists.") % {"setting": change.object_repr})
    for item in change.changes:
        field = model._meta.get_field(item["field"])
        if change.action == ConfigChange.Action.UPDATE and value_of(obj, item["field"]) != item["before"]:
            raise Stale(
                _("%(field)s of %(setting)s was changed after this change was made: make it again.")
                % {"field": field.verbose_name, "setting": change.object_repr}  # type: ignore[union-attr]
            )
        if "after" in item and not field.many_to_many:
            put(obj, item["field"], item["after"])
    # what simple-history's save reads: the history row says who made it, who approved it, and
    # dates it from when it took effect
    obj._history_user = change.made_by
    obj._change_reason = _("Change #%(number)s, approved by %(user)s") % {
        "number": change.pk,
        "user": change.decided_by,
    }
    obj._history_date = effective_at
    try:
        with transaction.atomic():
            if change.action == ConfigChange.Action.DELETE:
                rules.delete(obj)
            else:
                rules.save(obj)
                for item in change.changes:
                    if "after" in item and model._meta.get_field(item["field"]).many_to_many:
                        getattr(obj, item["field"]).set(item["after"])
    except ProtectedError as exc:
        raise Stale(
            _("%(setting)s is in use and cannot be deleted.") % {"setting": change.object_repr}
        ) from exc
    except IntegrityError as exc:
        raise Stale(_("%(setting)s would clash with another row.") % {"setting": change.object_repr}) from exc
    change.object_id = obj.pk if change.action != ConfigChange.Action.DELETE else change.object_id
    change.status = ConfigChange.Status.APPLIED
    change.effective_at = effective_at
    change.save()


def _words(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return " ".join(exc.messages)
    return str(getattr(exc, "message", exc))


# --- the configuration at a past moment ------------------------------------------------------


def latest_effective(models_: Iterable[type[models.Model]]) -> datetime.datetime | None:
    """When the last change to these models took effect (None: never through a change)."""
    types = ContentType.objects.get_for_models(*models_).values()
    return ConfigChange.objects.filter(status=ConfigChange.Status.APPLIED, content_type__in=types).aggregate(
        at=Max("effective_at")
    )["at"]


def changes_after(models_: Iterable[type[models.Model]], at: datetime.datetime | None) -> list[ConfigChange]:
    """The changes to these models that took effect after ``at`` (None: all), the latest first."""
    types = ContentType.objects.get_for_models(*models_).values()
    changes = ConfigChange.objects.filter(status=ConfigChange.Status.APPLIED, content_type__in=types)
    if at is not None:
        changes = changes.filter(effective_at__gt=at)
    return list(changes.select_related("content_type").order_by("-effective_at", "-id"))


def rows_as_of(model: type[M], rows: Iterable[M], later: Sequence[ConfigChange]) -> list[M]:
    """``rows`` of ``model`` (today's) with ``later`` changes undone (the latest first): added
    rows gone, changed rows as they were, deleted rows back. The rows given are changed in place."""
    by_pk = {row.pk: row for row in rows}
    for change in later:
        if change.content_type.model_class() is not model:
            continue
        if change.action == ConfigChange.Action.CREATE:
            by_pk.pop(change.object_id, None)
            continue
        row = by_pk.get(change.object_id)
        if row is None:
            if change.action != ConfigChange.Action.DELETE:
                continue
            row = by_pk[change.object_id] = model(pk=change.object_id)
        for item in change.changes:
            # the columns only: the earning engine's settings have no many-to-many sets
            if "before" in item and not model._meta.get_field(item["field"]).many_to_many:
                put(row, item["field"], item["before"])
    return sorted(by_pk.values(), key=lambda row: row.pk)


def display(field: models.Field, raw: Any) -> str:
    """A stored value in the reader's words: a choice's label, a related row's name, 是/否."""
    if raw is None or raw == "" or raw == []:
        return "—"
    if field.many_to_many:
        rows = field.related_model._default_manager.filter(pk__in=raw)  # type: ignore[union-attr]
        return "、".join(sorted(str(row) for row in rows)) or "—"
    if field.is_relation:
        related = field.related_model._default_manager.filter(pk=raw).first()  # type: ignore[union-attr]
        return str(related) if related is not None else f"#{raw}"
    if field.choices:
        labels = dict(field.flatchoices)
        if isinstance(raw, list):
            return "、".join(str(labels.get(v, v)) for v in raw)
        return str(labels.get(raw, raw))
    if isinstance(raw, bool):
        return _("Yes") if raw else _("No")
    if isinstance(field, models.DecimalField):
        return f"{Decimal(raw).normalize():f}"
    if isinstance(raw, list):
        return "、".join(str(v) for v in raw)
    return str(raw)
