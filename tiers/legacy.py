"""Tiers from an old CRM (数据迁移), as a kind of import file (``members.imports.legacy``): one
row per member with the tier held there, until when, and the qualifying value counted so far.

Rules:
- The tier becomes the member's earned tier until the file's date (a date alone: through that
  day), reviewed then as any tier is; the current period starts as the policy says. It is a tier
  change of its own reason ("moved in from the old system"), with no upgrade reward, coupon or
  webhook: nothing was earned today, and a programme's launch must not pay its members' tiers
  again or flood partners with 100,000 changes.
- The qualifying value is posted as an opening balance of growth value (成长值), which counts
  toward the tier in the current period (a rolling window keeps it 12 months from today).
- A member's tier is brought in once: the same file again finds it done; another tier for a
  member already brought in, a tier below the one the member earned here meanwhile, a tier that
  ended already, or an unknown tier name is a rejected row with the reason.
"""

from __future__ import annotations

import datetime
from collections import Counter
from collections.abc import Iterable
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from members.imports.legacy import Legacy, member_of, source_ref
from members.imports.models import ImportRow, ImportRun
from members.imports.parsing import parse_text
from members.imports.profiles import ParsedRow, capture
from members.imports.reasons import Reason, reason
from members.models import Member
from points import policy as points_policy
from points.legacy import day_or_moment, whole_points
from points.legacy import posted as points_posted
from points.models import PointType
from points.policy import last_valid_day
from points.services.opening import Opening, points_open_bulk
from tiers import periods, selectors
from tiers.models import Tier, TierChange, TierPolicy
from tiers.services import lock_statuses, settle, statuses_write

State = ImportRow.State
TIERED = "tiers"  # the report's count of members given a tier

FIELDS: dict[str, Any] = {
    "tier": _("Tier"),
    "valid_until": _("Tier valid until"),
    "qualifying": _("Qualifying value"),
}
COLUMNS: dict[str, tuple[str, ...]] = {
    "tier": ("会员等级", "等级", "当前等级", "tier", "member tier"),
    "valid_until": (
        "等级有效期",
        "等级有效期至",
        "等级到期日",
        "有效期至",
        "tier valid until",
        "valid until",
    ),
    "qualifying": ("成长值", "当前成长值", "定级成长值", "qualifying value", "growth"),
}
MESSAGES: dict[str, Any] = {
    "unknown_tier": _("Unknown tier “%(value)s”."),
    "tier_ended": _("The tier ended on %(date)s: nothing to bring in."),
    "tier_needed": _("The tier is empty."),
    "tier_brought_in": _("The member's tier was already brought in as %(tier)s."),
    "tier_lower": _("The member holds %(tier)s here already, a higher tier."),
    "no_growth_type": _("The programme has no growth value (成长值) to post the qualifying value to."),
}


def parse(row: ParsedRow, raw: dict[str, str], tz: datetime.tzinfo) -> None:
    values = row.values
    values["tier"] = capture(row, "tier", parse_text, raw.get("tier") or "", 30) or ""
    if not values["tier"] and "tier" not in row.errors:
        row.add_error("tier", "tier_needed")
    until = capture(row, "valid_until", day_or_moment, raw.get("valid_until", ""), tz, end_of_day=True)
    until_at, until_text = until or (None, "")
    if until_at is not None and until_at <= timezone.now():
        row.add_error("valid_until", "tier_ended", date=str(last_valid_day(until_at)))
    elif until_at is None and "valid_until" not in row.errors:
        row.add_error("valid_until", "empty_date")
    values["valid_until"] = until_text
    qualifying = capture(row, "qualifying", whole_points, raw.get("qualifying", ""))
    if qualifying is not None and qualifying < 0:
        row.add_error("qualifying", "not_points", value=str(qualifying))
    values["qualifying"] = qualifying or 0
    values["counts"] = {TIERED: 1, "growth": values["qualifying"]}
    member = values.get("member_number") or values.get("mobile") or values.get("card")
    values["key"] = f"tier|{member}"


def _reject(row: ImportRow, field: str, problem: Reason) -> None:
    row.state, row.errors = State.REJECTED, {field: [problem]}


def _check(rows: list[ImportRow]) -> list[tuple[ImportRow, Tier]]:
    """The preview's and the job's verdicts: the tier, the growth type, a tier brought in
    before (the same: a duplicate), a higher tier earned here meanwhile."""
    tiers = selectors.ladder()
    by_text = {tier.code.lower(): tier for tier in tiers} | {tier.name.lower(): tier for tier in tiers}
    growth = PointType.objects.filter(code=selectors.GROWTH).exists()
    members = [row.member_id for row in rows]
    brought = {
        change.member_id: change.to_tier
        for change in TierChange.objects.filter(
            member_id__in=members, reason=TierChange.Reason.MIGRATION
        ).select_related("to_tier")
    }
    earned = dict(
        Member.objects.filter(pk__in=members, tier_status__isnull=False).values_list(
            "pk", "tier_status__earned_tier__rank"
        )
    )
    by_rank = {tier.rank: tier for tier in tiers}
    out = []
    for row in rows:
        tier = by_text.get(row.values["tier"].lower())
        if tier is None:
            _reject(row, "tier", reason("unknown_tier", value=row.values["tier"]))
        elif row.values["qualifying"] and not growth:
            _reject(row, "qualifying", reason("no_growth_type"))
        elif (before := brought.get(member_of(row))) is not None:
            if before.pk == tier.pk:
                row.state, row.errors = State.DUPLICATE, {"": [reason("already_imported")]}
            else:
                _reject(row, "tier", reason("tier_brought_in", tier=before.name))
        elif earned.get(member_of(row), 0) > tier.rank:
            _reject(row, "tier", reason("tier_lower", tier=by_rank[earned[member_of(row)]].name))
        else:
            out.append((row, tier))
    return out


def judge(rows: list[ImportRow]) -> None:
    _check(rows)


def apply(run: ImportRun, rows: list[ImportRow]) -> Counter:
    """Post the chunk's qualifying values, then set the tiers (statuses locked in primary-key
    order, after the accounts: the order every writer takes)."""
    planned = _check(rows)
    if not planned:
        return Counter()
    at = timezone.now()
    posted: Counter = Counter()
    growth = PointType.objects.filter(code=selectors.GROWTH).first()
    if growth is not None:  # without it, ``_check`` let through only rows without a value
        openings = [
            Opening(
                member_id=member_of(row),
                point_type=growth,
                amount=row.values["qualifying"],
                key=f"migration:{growth.code}:{member_of(row)}:tier",
                source_ref=source_ref(run, row),
                available_at=at,
                expires_at=points_policy.expires_at(growth, at),
            )
            for row, _tier in planned
            if row.values["qualifying"]
        ]
        results = points_open_bulk(openings, actor=run.confirmed_by, at=at)
        for (_entry, created), opening in zip(results, openings, strict=True):
            if created:
                posted[opening.point_type.code] += opening.amount
    policy = TierPolicy.current()
    tiers = selectors.ladder()
    by_id = {tier.pk: tier for tier in tiers}
    members = Member.objects.in_bulk([member_of(row) for row, _tier in planned])
    statuses = lock_statuses(members.values(), at, policy, tiers[0])
    changes = []
    for row, tier in planned:
        status = statuses[member_of(row)]
        earned_before = status.earned_tier_id
        status.earned_tier = tier
        status.period_start = periods.current_period(policy, members[member_of(row)], at)[0]
        status.valid_until = datetime.datetime.fromisoformat(row.values["valid_until"])
        change = settle(
            status,
            at,
            by_id,
            earned_before=earned_before,
            reason=TierChange.Reason.MIGRATION,
            metric=row.values["qualifying"],
            actor=run.confirmed_by,
            record=True,
        )
        assert change is not None  # ``record``: a tier brought in is always on record
        changes.append(change)
    statuses_write([statuses[member_of(row)] for row, _tier in planned])
    TierChange.objects.bulk_create(changes)
    posted[TIERED] += len(changes)
    return posted


def posted(run: ImportRun) -> Counter:
    """What the database holds from a run: its members' tier changes and growth entries."""
    held = points_posted(run)
    members = run.rows.filter(state=State.DONE).values("member_id")
    held[TIERED] = TierChange.objects.filter(
        reason=TierChange.Reason.MIGRATION, member_id__in=members
    ).count()
    return held


def labels(keys: Iterable[str]) -> dict[str, str]:
    names = dict(PointType.objects.filter(code=selectors.GROWTH).values_list("code", "name"))
    return {TIERED: str(_("Members given their tier")), **names}


TIERS = Legacy(
    kind="tiers",
    name=_("Tiers (old CRM)"),
    fields=FIELDS,
    columns=COLUMNS,
    required=("tier", "valid_until"),
    parse=parse,
    judge=judge,
    apply=apply,
    posted=posted,
    labels=labels,
    messages=MESSAGES,
)
