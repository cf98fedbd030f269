"""``bulk_insert``: ``bulk_create`` for the few tables a job writes a row per row into (an
import's lines, entries and lots; a journey's messages and entries).

Django's ``bulk_create`` on PostgreSQL builds one INSERT … RETURNING id whose every value is
prepared, bound and quoted in Python; for the import's award lines, entries and lots that is
most of the job's time. ``bulk_insert`` takes the ids from the table's sequence in one query
and sends the rows with COPY, whose values psycopg writes in C. The rows, the ids on the objects
and the constraints checked are the same; like ``bulk_create`` it sends no signals and calls
no ``save()``. Other databases (SQLite for ``make run``) get ``bulk_create``.

``bulk_insert_new`` is the same for rows a unique constraint may already hold (skipped, and
counted out); ``bulk_set`` writes chosen fields of existing rows, each row its own values.
"""

from __future__ import annotations

import datetime
import functools
from collections.abc import Callable, Sequence
from operator import attrgetter
from typing import Any, TypeVar

from django.db import connections, models, router, transaction
from django.db.models.fields.related import RelatedField

M = TypeVar("M", bound=models.Model)

#: Below this many rows the statements of COPY cost more than one INSERT.
SMALL = 8

# Values of these fields go to COPY as the attribute holds them: their preparation for the
# database is the identity for the values our code puts there (ints, str, Decimal, bool).
# An aware datetime goes as it is too (``_moment``); a naive one, and anything else (JSON,
# files, custom fields), through Django's preparation, as save() would prepare it.
RAW = (
    models.AutoField,
    models.BigAutoField,
    models.IntegerField,
    models.BigIntegerField,
    models.PositiveIntegerField,
    models.SmallIntegerField,
    models.CharField,
    models.TextField,
    models.BooleanField,
    models.DecimalField,
    models.ForeignKey,
)


def bulk_insert(objs: Sequence[M]) -> Sequence[M]:
    """Insert new instances of one model and set their primary keys, as ``bulk_create`` does."""
    if not objs:
        return objs
    model = type(objs[0])
    alias = router.db_for_write(model)
    connection = connections[alias]
    if connection.vendor != "postgresql" or len(objs) < SMALL:
        return model._default_manager.bulk_create(objs)
    table, columns, getters = _plan(model, alias)
    relations = [f for f in model._meta.concrete_fields if isinstance(f, RelatedField)]
    with connection.cursor() as cursor:
        missing = [obj for obj in objs if obj.pk is None]
        if missing:
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
                [table, model._meta.pk.column, len(missing)],
            )
            # ascending, in the objects' order, as bulk_create's INSERT numbers them
            for obj, pk in zip(missing, sorted(pk for (pk,) in cursor.fetchall()), strict=True):
                obj.pk = pk
        for obj in objs:
            for field in relations:  # a parent assigned before it had its id (lot.entry = entry)
                parent = field.get_cached_value(obj, None)
                if getattr(obj, field.attname) is None and parent is not None:
                    setattr(obj, field.attname, parent.pk)
        # Django's error types (IntegrityError …), as its own cursor would raise them
        with (
            connection.wrap_database_errors,
            cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy,
        ):
            for obj in objs:
                copy.write_row([get(obj) for get in getters])
    for obj in objs:
        obj._state.adding, obj._state.db = False, alias
    return objs


def bulk_insert_new(objs: Sequence[models.Model]) -> int:
    """Insert the instances a unique constraint does not already hold; returns how many went in
    (``bulk_create(ignore_conflicts=True)`` cannot say, and prepares each value in Python). On
    PostgreSQL: COPY into a temporary table, then one INSERT … SELECT … ON CONFLICT DO NOTHING.
    Primary keys are not set on the objects."""
    if not objs:
        return 0
    model = type(objs[0])
    alias = router.db_for_write(model)
    connection = connections[alias]
    manager = model._default_manager.using(alias)
    if connection.vendor != "postgresql":
        with transaction.atomic(using=alias):
            before = manager.count()  # the demo's SQLite: small tables
            manager.bulk_create(objs, ignore_conflicts=True)
            return manager.count() - before
    fields = [f for f in model._meta.concrete_fields if f is not model._meta.pk]
    _table, _columns, getters = _plan(model, alias)
    getters = [get for f, get in zip(model._meta.concrete_fields, getters, strict=True) if f in fields]
    with transaction.atomic(using=alias), connection.cursor() as cursor:
        table, scratch, columns = _scratch(cursor, "bulk_new", fields, getters, objs)
        cursor.execute(
            f"INSERT INTO {table} ({columns}) SELECT {columns} FROM {scratch} ON CONFLICT DO NOTHING"
        )
        return cursor.rowcount


def _scratch(
    cursor: Any,
    prefix: str,
    fields: Sequence[models.Field],
    getters: Sequence[Callable[[Any], Any]],
    objs: Sequence[models.Model],
) -> tuple[str, str, str]:
    """A temporary table (dropped at commit) of the model's ``fields``, filled with ``objs`` by
    COPY; returns the model's table, the scratch table and the columns, quoted."""
    connection = cursor.db
    quote = connection.ops.quote_name
    model = type(objs[0])
    table, name = quote(model._meta.db_table), quote(f"{prefix}_{model._meta.db_table}")
    scratch = f"pg_temp.{name}"  # DROP … IF EXISTS must never find a real table
    columns = ", ".join(quote(field.column) for field in fields)
    cursor.execute(f"DROP TABLE IF EXISTS {scratch}")  # one of an earlier call in this transaction
    cursor.execute(f"CREATE TEMPORARY TABLE {name} ON COMMIT DROP AS SELECT {columns} FROM {table} LIMIT 0")
    with (
        connection.wrap_database_errors,
        cursor.cursor.copy(f"COPY {scratch} ({columns}) FROM STDIN") as copy,
    ):
        for obj in objs:
            copy.write_row([get(obj) for get in getters])
    return table, scratch, columns


@functools.cache
def _plan(model: type[models.Model], alias: str) -> tuple[str, str, list[Callable[[Any], Any]]]:
    connection = connections[alias]
    quote = connection.ops.quote_name
    getters: list[Callable[[Any], Any]] = []
    for field in model._meta.concrete_fields:
        if type(field) in RAW or (isinstance(field, RAW) and not _prepares(field)):
            getters.append(attrgetter(field.attname))
        elif type(field) is models.DateTimeField and not (field.auto_now or field.auto_now_add):
            getters.append(functools.partial(_moment, field, connection))
        else:
            getters.append(functools.partial(_prepared, field, connection))
    columns = ", ".join(quote(field.column) for field in model._meta.concrete_fields)
    return quote(model._meta.db_table), columns, getters


def _column(model: type[models.Model], name: str) -> models.Field:
    """The model's field called ``name``: one with a column (not a reverse relation)."""
    field = model._meta.get_field(name)
    if not isinstance(field, models.Field):
        raise TypeError(f"{model.__name__}.{name} has no column to set")
    return field


def _prepares(field: models.Field) -> bool:
    """Whether a subclass of a raw field type changes how values are prepared or stamped."""
    base = next(cls for cls in RAW if isinstance(field, cls))
    return any(
        getattr(type(field), name) is not getattr(base, name)
        for name in ("pre_save", "get_prep_value", "get_db_prep_value", "get_db_prep_save")
    )


def _prepared(field: models.Field, connection: Any, obj: models.Model) -> Any:
    return field.get_db_prep_save(field.pre_save(obj, True), connection)


def _moment(field: models.DateTimeField, connection: Any, obj: models.Model) -> Any:
    """An aware datetime as it is (what Django's preparation returns for it, at a tenth of the
    cost); anything else (naive, a date, None, a string) through Django's preparation."""
    value = getattr(obj, field.attname)
    if isinstance(value, datetime.datetime) and value.tzinfo is not None:
        return value
    return field.get_db_prep_save(value, connection)


def bulk_set(objs: Sequence[M], names: Sequence[str]) -> None:
    """Write these fields of existing rows, each row its own values (a chunk's outcome).

    On PostgreSQL: COPY into a temporary table, then one UPDATE … FROM it; ``bulk_update``'s
    CASE expressions and one UPDATE per row both cost more than importing the rows did. Values
    are written as they are (no ``pre_save``: an ``auto_now`` field is set by the caller).
    """
    if not objs:
        return
    model = type(objs[0])
    alias = router.db_for_write(model)
    connection = connections[alias]
    if connection.vendor != "postgresql" or len(objs) < SMALL:
        model._default_manager.bulk_update(objs, names)
        return
    fields = [model._meta.pk, *(_column(model, name) for name in names)]
    quote = connection.ops.quote_name
    getters: list[Callable[[Any], Any]] = [
        attrgetter(field.attname)
        if isinstance(field, RAW) and not _prepares(field)
        else functools.partial(_value, field, connection)
        for field in fields
    ]
    with transaction.atomic(using=alias), connection.cursor() as cursor:
        table, scratch, _columns = _scratch(cursor, "bulk_set", fields, getters, objs)
        pk = quote(model._meta.pk.column)
        assignments = ", ".join(f"{quote(f.column)} = s.{quote(f.column)}" for f in fields[1:])
        cursor.execute(f"UPDATE {table} t SET {assignments} FROM {scratch} s WHERE t.{pk} = s.{pk}")


def _value(field: models.Field, connection: Any, obj: models.Model) -> Any:
    return field.get_db_prep_save(getattr(obj, field.attname), connection)
