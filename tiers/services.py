"""Tier status changes: upgrades at once, period-end reviews in batches, manual overrides.

Every change locks the member's ``MemberTier`` row (creating it on first need) inside one
transaction, so an upgrade, an override and the batch review never interleave on a member.
Paid plans (tiers/subscriptions.py) lock the same row.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any, NamedTuple

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import OuterRef, Subquery
from django.utils import timezone
from django.utils.translation import gettext as _

from members.models import Member
from tiers import periods, selectors
from tiers.models import MemberTier, Tier, TierChange, TierPolicy
from tiers.webhooks import changes_emit

REVIEW_BATCH = 2000


def lock_status(member: Member, at: datetime.datetime, policy: TierPolicy, entry_tier: Tier) -> MemberTier:
    """The member's tier status, locked; created in the entry tier on first need."""
    # One lock for both paths (found, or created then found), so one race test proves it.
    while (status := MemberTier.objects.select_for_update().filter(member=member).first()) is None:
        start, end = periods.current_period(policy, member, at)
        MemberTier.objects.bulk_create(
            [
                MemberTier(
                    member=member,
                    tier=entry_tier,
                    earned_tier=entry_tier,
                    since=member.created_at,
                    period_start=start,
                    valid_until=end,
                )
            ],
            ignore_conflicts=True,  # a concurrent first change created it: use theirs
        )
    return status


def lock_statuses(
    members: Iterable[Member], at: datetime.datetime, policy: TierPolicy, entry_tier: Tier
) -> dict[int, MemberTier]:
    """``lock_status`` for many members: their statuses locked in primary-key order, the missing
    ones created in the entry tier exactly as ``lock_status`` creates them. Member id -> status."""
    members = list(members)

    def locked() -> dict[int, MemberTier]:
        rows = MemberTier.objects.select_for_update().filter(member__in=members).order_by("pk")
        return {status.member_id: status for status in rows}

    statuses = locked()
    missing = [member for member in members if member.pk not in statuses]
    if missing:
        rows = []
        for member in missing:
            start, end = periods.current_period(policy, member, at)
            rows.append(
                MemberTier(
                    member=member,
                    tier=entry_tier,
                    earned_tier=entry_tier,
                    since=member.created_at,
                    period_start=start,
                    valid_until=end,
                )
            )
        MemberTier.objects.bulk_create(rows, ignore_conflicts=True)
        statuses = locked()
    return statuses


def settle(
    status: MemberTier,
    at: datetime.datetime,
    tiers: dict[int, Tier],
    *,
    earned_before: int,
    reason: str,
    metric: int | None = None,
    note: str = "",
    actor: Any = None,
    record: bool = False,
) -> TierChange | None:
    """Work out the effective tier again after a grant changed; the change record, if the
    effective or the earned tier moved (or ``record``: an operator's decision is always kept).

    The caller saves ``status`` (one row, or many at once in the review).
    """
    tier_before = status.tier_id
    tier, source = selectors.effective(status, at, tiers)
    status.source = source
    if tier.pk == tier_before and status.earned_tier_id == earned_before and not record:
        return None
    if tier.pk != tier_before:
        status.tier = tier
        status.since = at
    return TierChange(
        member_id=status.member_id,
        from_tier_id=tier_before,
        to_tier=tier,
        earned_tier_id=status.earned_tier_id,
        reason=reason,
        metric=metric,
        note=note,
        actor=actor if getattr(actor, "pk", None) else None,
        at=at,
    )


def tier_refresh(
    member: Member,
    *,
    at: datetime.datetime | None = None,
    actor: Any = None,
    policy: TierPolicy | None = None,
    tiers: list[Tier] | None = None,
) -> MemberTier:
    """Upgrade at once if the member now qualifies for a higher tier. Never downgrades.

    The earning pipeline calls this after posting growth. A member whose review is overdue
    (the scheduled job has not reached them yet) is reviewed first, so growth from two
    periods is never added up.
    """
    at = at or timezone.now()
    policy = policy or TierPolicy.current()  # a batch (the earning pipeline) passes them once
    tiers = tiers or selectors.ladder()
    by_id = {tier.pk: tier for tier in tiers}
    with transaction.atomic():
        status = lock_status(member, at, policy, tiers[0])
        while status.valid_until + periods.grace(policy) <= at:
            value = selectors.qualifying_between(
                policy, member.pk, status.period_start, status.valid_until + periods.grace(policy)
            )
            _review([Review(status, value, member.created_at)], policy, tiers, by_id, at)
            status.refresh_from_db()
        start = periods.upgrade_window_start(policy, status.period_start, at)
        value = selectors.qualifying_between(
            policy, member.pk, start, at + datetime.timedelta(microseconds=1)
        )
        target = selectors.qualified_for(tiers, value)
        if target.rank <= by_id[status.earned_tier_id].rank:
            return status
        earned_before = status.earned_tier_id
        status.earned_tier = target
        if policy.window == TierPolicy.Window.ROLLING:
            status.period_start, status.valid_until = periods.current_period(policy, member, at)
        change = settle(
            status,
            at,
            by_id,
            earned_before=earned_before,
            reason=TierChange.Reason.UPGRADE,
            metric=value,
            actor=actor,
        )
        status.save()
        if change:
            change.save()
            changes_emit([change], at)
    return status


def ladder_lock() -> list[Tier]:
    """Lock the ladder for a change (every tier row, in primary-key order) and read it again.

    Two operators saving two tiers at once take turns, so each checks the ladder as the other
    left it and the pair cannot put it out of order. The second read is a new statement: it
    also sees a tier another transaction added while this one waited.
    """
    list(Tier.objects.select_for_update().order_by("pk").values_list("pk", flat=True))
    return list(Tier.objects.order_by("rank"))


def tier_check(tier: Tier) -> dict[str, str]:
    """The ladder's objections to ``tier`` as edited (``selectors.ladder_errors``), read under the
    ladder lock. Writes nothing; inside a caller's transaction the lock lasts until it ends
    (the admin checks the form and saves in one transaction)."""
    with transaction.atomic():
        return selectors.ladder_errors(tier, ladder_lock())


def tier_save(*, tier: Tier) -> Tier:
    """Save a tier (new or changed) if the ladder stays in order; else ValidationError naming
    the tier and the reason, and nothing is written."""
    with transaction.atomic():
        if errors := selectors.ladder_errors(tier, ladder_lock()):
            raise ValidationError(errors, code="ladder_order")
        tier.save()
    return tier


def tier_override(
    member: Member,
    *,
    tier: Tier,
    until: datetime.datetime,
    reason: str,
    actor: Any,
    at: datetime.datetime | None = None,
) -> MemberTier:
    """Hold a member at ``tier`` until ``until`` whatever they earn (a status match, a demotion)."""
    at = at or timezone.now()
    errors = {}
    if until <= at:
        errors["override_until"] = _("The override must end in the future.")
    if not reason.strip():
        errors["override_reason"] = _("Say why the tier is overridden.")
    if errors:
        raise ValidationError(errors)
    policy, tiers = TierPolicy.current(), selectors.ladder()
    by_id = {t.pk: t for t in tiers}
    with transaction.atomic():
        status = lock_status(member, at, policy, tiers[0])
        status.override_tier, status.override_until, status.override_reason = tier, until, reason.strip()
        change = settle(
            status,
            at,
            by_id,
            earned_before=status.earned_tier_id,
            reason=TierChange.Reason.OVERRIDE,
            note=reason.strip(),
            actor=actor,
            record=True,
        )
        status.save()
        if change:
            change.save()
            changes_emit([change], at)
    return status


def tier_override_end(
    member: Member, *, actor: Any, reason: str = "", at: datetime.datetime | None = None
) -> MemberTier:
    """End a manual override now (it also ends by itself at its end date)."""
    at = at or timezone.now()
    policy, tiers = TierPolicy.current(), selectors.ladder()
    with transaction.atomic():
        status = lock_status(member, at, policy, tiers[0])
        _end_override(status, {t.pk: t for t in tiers}, at, actor=actor, note=reason, record=True)
    return status


def _end_override(status: MemberTier, by_id: dict[int, Tier], at: datetime.datetime, **record: Any) -> None:
    status.override_tier, status.override_until, status.override_reason = None, None, ""
    change = settle(
        status,
        at,
        by_id,
        earned_before=status.earned_tier_id,
        reason=TierChange.Reason.OVERRIDE_ENDED,
        **record,
    )
    status.save()
    if change:
        change.save()
        changes_emit([change], at)


def overrides_end_due(now: datetime.datetime | None = None) -> int:
    """End the overrides whose end date has come. Idempotent; safe to run twice or at once."""
    now = now or timezone.now()
    by_id = {t.pk: t for t in selectors.ladder()}
    done = 0
    while True:
        with transaction.atomic():
            due = list(
                MemberTier.objects.select_for_update(skip_locked=True)
                .filter(override_until__lte=now)
                .order_by("member_id")[:REVIEW_BATCH]
            )
            for status in due:
                _end_override(status, by_id, now, note=_("End date reached"))
        done += len(due)
        if len(due) < REVIEW_BATCH:
            return done


def tiers_review_due(now: datetime.datetime | None = None, *, batch: int = REVIEW_BATCH) -> int:
    """The period-end review: every member whose period (plus grace) has ended is re-qualified
    on the growth of that period; downgrades follow the policy's rule.

    Set-based in chunks of ``batch`` members (keyset on member id): one query reads a chunk
    with its growth sums, one statement writes it back. Each reviewed row moves to its next
    period, so a second run finds nothing; concurrent runs skip each other's locked rows.
    A member several periods behind is reviewed once per period, oldest first.
    """
    now = now or timezone.now()
    policy = TierPolicy.current()
    tiers = selectors.ladder()
    by_id = {tier.pk: tier for tier in tiers}
    grace = periods.grace(policy)
    # Registration dates only matter for membership years. A subquery, not a join: a join to
    # members made PostgreSQL scan the member index from the start for every chunk
    # (tests/benchmarks/tier_review.py measured 108 ms a chunk half-way through a million).
    joined = {}
    if policy.window == TierPolicy.Window.ANNIVERSARY:
        joined["joined"] = Subquery(Member.objects.filter(pk=OuterRef("member_id")).values("created_at"))
    reviewed = 0
    while True:  # passes: a member several periods behind is due again after one review
        last, in_pass = 0, 0
        while True:
            with transaction.atomic():
                chunk = list(
                    MemberTier.objects.select_for_update(skip_locked=True, of=("self",))
                    .filter(valid_until__lte=now - grace, member_id__gt=last)
                    .annotate(review_value=selectors.review_value(policy, grace))
                    .annotate(**joined)
                    .order_by("member_id")[:batch]
                )
                if not chunk:
                    break
                # ``joined`` is annotated only for anniversary windows
                rows = [Review(s, s.review_value, getattr(s, "joined", None)) for s in chunk]
                _review(rows, policy, tiers, by_id, now)
            last = chunk[-1].member_id
            in_pass += len(chunk)
        reviewed += in_pass
        if in_pass == 0:
            return reviewed


class Review(NamedTuple):
    """A member's tier status under review, the metric over its period, and when the member
    joined (for anniversary windows)."""

    status: MemberTier
    value: int | Decimal
    joined: datetime.datetime | None


def _review(
    rows: Sequence[Review],
    policy: TierPolicy,
    tiers: list[Tier],
    by_id: dict[int, Tier],
    now: datetime.datetime,
) -> None:
    """Apply one period-end review to each row."""
    changes = []
    for status, raw_value, joined in rows:
        value = int(raw_value)  # CNY spent counts in whole yuan
        earned_before = status.earned_tier_id
        earned = selectors.review_outcome(policy, tiers, by_id[earned_before], value)
        status.earned_tier_id = earned.pk
        reason = (
            TierChange.Reason.UPGRADE
            if earned.rank > by_id[earned_before].rank
            else TierChange.Reason.DOWNGRADE
        )
        status.period_start = status.valid_until
        status.valid_until = periods.next_period(policy, status.valid_until, joined)
        change = settle(status, now, by_id, earned_before=earned_before, reason=reason, metric=value)
        if change:
            changes.append(change)
    statuses_write([row.status for row in rows])
    TierChange.objects.bulk_create(changes)
    changes_emit(changes, now)


_REVIEWED_FIELDS = ["tier_id", "source", "since", "earned_tier_id", "period_start", "valid_until"]


def statuses_write(chunk: list[MemberTier]) -> None:
    """Write the tier fields of locked statuses (a review's chunk, a migration's)."""
    if connection.vendor != "postgresql":
        MemberTier.objects.bulk_update(
            chunk, [f.removesuffix("_id") for f in _REVIEWED_FIELDS], batch_size=500
        )
        return
    # One UPDATE ... FROM unnest(arrays) for the chunk: bulk_update's CASE per row grows
    # quadratically with the chunk size (see tests/benchmarks/tier_review.py).
    columns = ["member_id", *_REVIEWED_FIELDS]
    types = ["bigint", "bigint", "text", "timestamptz", "bigint", "timestamptz", "timestamptz"]
    arrays = [[getattr(status, column) for status in chunk] for column in columns]
    assignments = ", ".join(f"{column} = v.{column}" for column in _REVIEWED_FIELDS)
    unnest = ", ".join(f"%s::{kind}[]" for kind in types)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE tiers_membertier AS mt SET {assignments} "
            f"FROM unnest({unnest}) AS v({', '.join(columns)}) WHERE mt.member_id = v.member_id",
            arrays,
        )
