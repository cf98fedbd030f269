"""Import profiles as data, and the preview: one pass over a file that stages every row with
its verdict (``members.imports.verdicts``), so the confirmation never parses or judges the file
again.
"""

from __future__ import annotations

import datetime
import hashlib
import itertools
from collections import Counter
from collections.abc import Iterable, Iterator
from typing import Any, Literal, cast

from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.db import reset_queries, transaction
from django.db.models import Count
from django.utils import timezone
from django.utils.translation import gettext as _

from config.common.bulk import bulk_insert
from members.imports.legacy import LEGACY
from members.imports.legacy import MEMBER_MATCH as LEGACY_MATCH
from members.imports.models import ImportProfile, ImportRow, ImportRun
from members.imports.profiles import LISTED, SHIPPED, ParsedRow, Profile, parse_rows
from members.imports.targets import TARGETS
from members.imports.verdicts import Judge
from members.models import Store
from members.selectors import stores_of

CHUNK = 2000
State = ImportRow.State


# --- profiles ------------------------------------------------------------------------------

#: What a purchases layout needs at least, when an operator maps one (amounts, a number, a time).
CUSTOM_REQUIRED = ("order_number", "paid")


def profile_of(model: ImportProfile) -> Profile:
    """The parsing profile an ``ImportProfile`` row stands for."""
    shipped = SHIPPED.get(model.code) if model.builtin else None
    columns = {name: tuple(headers) for name, headers in model.columns.items() if headers}
    legacy = LEGACY.get(model.kind)
    if shipped is not None:
        required = shipped.required
    elif legacy is not None:
        required = legacy.required
    elif model.kind in (ImportProfile.Kind.MEMBERS, ImportProfile.Kind.SEGMENT):
        required = ()
    else:
        required = CUSTOM_REQUIRED + (("paid_at",) if "paid_at" in columns else ("occurred_at",))
    return Profile(
        code=model.code,
        name=model.name,
        # the model field's choices are these values
        kind=model.kind,
        columns=columns,
        required=required,
        source=model.source or model.code,
        channel=model.channel,
        file_format=cast(Literal["auto", "csv", "tsv", "xlsx"], model.file_format),
        encoding=model.encoding,
        delimiter=model.delimiter or None,
        date_formats=tuple(model.date_formats),
        statuses=dict(model.statuses),
        member_match=_member_match(model),
        # an old CRM's records are of members brought in first
        unknown_member="reject" if legacy else cast(Literal["enrol", "reject"], model.unknown_member),
        store_codes=dict(model.store_codes),
        gross_includes_shipping=model.gross_includes_shipping,
        reject_invalid_mobile=model.reject_invalid_mobile,
        return_match_days=model.return_match_days,
        earns=model.earns,
    )


def _member_match(model: ImportProfile) -> tuple[str, ...]:
    """How rows name members: a list by member number or phone and an old CRM's records by those
    or the card, whatever the mapper ticked; other files as the profile says."""
    if model.kind in LEGACY:
        return LEGACY_MATCH
    return LISTED if model.kind == ImportProfile.Kind.SEGMENT else tuple(model.member_match)


def shipped_profile_fields(profile: Profile) -> dict[str, Any]:
    return {
        "name": str(profile.name),
        "kind": profile.kind,
        "source": profile.source,
        "channel": profile.channel,
        "file_format": profile.file_format,
        "encoding": profile.encoding,
        "delimiter": profile.delimiter or "",
        "columns": {name: list(headers) for name, headers in profile.columns.items()},
        "statuses": dict(profile.statuses),
        "store_codes": dict(profile.store_codes),
        "date_formats": list(profile.date_formats),
        "member_match": list(profile.member_match),
        "unknown_member": profile.unknown_member,
        "gross_includes_shipping": profile.gross_includes_shipping,
        "reject_invalid_mobile": profile.reject_invalid_mobile,
        "return_match_days": profile.return_match_days,
        "earns": profile.earns,
    }


def shipped_profiles_ensure(*, using: str = "default", **_kwargs: Any) -> None:
    """Create the shipped profiles that are missing (post_migrate). Never overwrites: an
    operator may have added store codes or statuses to one."""
    for code, profile in SHIPPED.items():
        if not ImportProfile.objects.using(using).filter(code=code).exists():
            ImportProfile.objects.using(using).create(
                code=code, builtin=True, **shipped_profile_fields(profile)
            )


# --- preview -------------------------------------------------------------------------------


def import_preview(
    *,
    profile: ImportProfile,
    data: bytes,
    file_name: str,
    user: Any = None,
    store: Store | None = None,
    target_id: int | None = None,
    now: datetime.datetime | None = None,
) -> ImportRun:
    """Read and judge the whole file, stage its rows; nothing is imported yet. ``target_id``:
    the list a file of members for a list goes into (``members.imports.targets``).

    Raises ValidationError when the file as a whole cannot be read (not text, not a workbook,
    columns missing, a store the user does not work at, no list chosen); then nothing is saved.
    """
    now = now or timezone.now()
    spec = profile_of(profile)
    allowed = None
    lists = (ImportProfile.Kind.MEMBERS, ImportProfile.Kind.SEGMENT)
    if user is not None and not _sees_all_stores(user) and profile.kind in lists:
        # A member list is personal data in bulk: for roles that browse members, not the counter.
        raise ValidationError(_("Member lists are imported by operators."), code="profile")
    if user is not None and not _sees_all_stores(user) and profile.kind in LEGACY:
        raise ValidationError(_("An old system's data is imported by operators."), code="profile")
    target = TARGETS.get(profile.kind)
    if profile.kind == ImportProfile.Kind.SEGMENT:
        if target is None:
            raise ValidationError(_("Nothing receives this kind of file here."), code="profile")
        choices = {pk for pk, _name in target.choices(user)}
        if target_id not in choices:
            raise ValidationError(_("Choose the static segment the members go into."), code="target")
    else:
        target_id = None
    if user is not None and not _sees_all_stores(user):
        # Staff import for their own stores: a file with a store column may hold several of
        # them (other stores' rows are rejected); a file without one is for the store chosen.
        allowed = set(stores_of(user).values_list("pk", flat=True))
        if store is None and "store_code" not in spec.columns and len(allowed) == 1:
            store = Store.objects.get(pk=next(iter(allowed)))
        if store is not None and store.pk not in allowed:
            raise ValidationError(_("Store %(code)s is not one of your stores.") % {"code": store.code})
        if store is None and "store_code" not in spec.columns:
            raise ValidationError(_("Choose one of your stores for this import."), code="store")
    rows = parse_rows(spec, data, now=now)
    try:
        first = next(rows, None)
    except ValueError as exc:
        raise ValidationError(str(exc), code="unreadable") from None
    with transaction.atomic():
        run = ImportRun.objects.create(
            profile=profile,
            file=ContentFile(data, name=file_name),
            file_name=file_name[:255],
            file_sha256=hashlib.sha256(data).hexdigest(),
            store=store,
            target_id=target_id,
            allowed_stores=sorted(allowed) if allowed is not None else None,
            created_by=user if getattr(user, "pk", None) else None,
        )
        judge = Judge(run, spec)
        try:
            for chunk in _batched(itertools.chain([first] if first else [], rows), CHUNK):
                bulk_insert(judge.chunk(chunk))
                reset_queries()  # with DEBUG on, Django keeps every statement: a large file's inserts
        except ValueError as exc:  # undecodable bytes further down the file
            raise ValidationError(str(exc), code="unreadable") from None
        judge.settle()
        counts = Counter(
            dict(run.rows.values_list("state").annotate(n=Count("pk")).values_list("state", "n"))
        )
        run.rows_total = sum(counts.values())
        run.rows_ok = counts[State.PENDING]
        run.rows_duplicate = counts[State.DUPLICATE]
        run.rows_rejected = counts[State.REJECTED]
        run.rows_skipped = counts[State.SKIPPED]
        run.rows_review = run.rows.filter(state=State.PENDING, review__isnull=False).count()
        run.save()
    return run


def _sees_all_stores(user: Any) -> bool:
    return user.is_superuser or user.has_perm("members.browse_member")


def _batched(rows: Iterable[ParsedRow], size: int) -> Iterator[list[ParsedRow]]:
    iterator = iter(rows)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


# --- cancelling ------------------------------------------------------------------------------


def import_cancel(*, run: ImportRun, user: Any = None) -> ImportRun:
    """Drop a previewed import: nothing was imported, and now nothing will be. Its staged rows
    stay as the record of what the file held."""
    with transaction.atomic():
        run = ImportRun.objects.select_for_update().get(pk=run.pk)
        if not ImportRun.MOVES.allows(run.status, ImportRun.Status.CANCELLED):
            raise ValidationError(
                _("Only an import not confirmed yet can be cancelled."), code="not_previewed"
            )
        run.status = ImportRun.Status.CANCELLED
        run.finished_at = timezone.now()
        run.save(update_fields=["status", "finished_at"])
    return run
