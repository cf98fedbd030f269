"""Award lines in words, for the member page and the API: "金卡 ×1.5 +617 积分".

Lines store their numbers (rate, rounding, multiplier, campaign name, cap) rather than text,
so the words follow the reader's language.
"""

from __future__ import annotations

from collections.abc import Mapping

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from campaigns.models import Award, AwardLine, BehaviourRule, Campaign, Rounding

CAPS = {
    "member": gettext_lazy("capped: per-member limit"),
    "day": gettext_lazy("capped: daily limit"),
    "budget": gettext_lazy("capped: budget"),
    "budget_cny": gettext_lazy("capped: budget"),
}


def signed(amount: int) -> str:
    return f"{amount:+,}".replace("-", "−")


def describe(kind: str, amount: int, unit: str, params: Mapping[str, object], coupon: str = "") -> str:
    """One line: what gave it, how much, and the rule's numbers."""
    if coupon and kind == AwardLine.Kind.BENEFIT:
        return _("Upgrade to %(tier)s: coupon %(coupon)s") % {
            "tier": params.get("tier", ""),
            "coupon": coupon,
        }
    if coupon:
        return _("%(campaign)s: coupon %(coupon)s") % {
            "campaign": params.get("campaign", ""),
            "coupon": coupon,
        }
    values = {"amount": signed(amount), "unit": unit, **params}
    if kind == AwardLine.Kind.BASE:
        values["rounding"] = Rounding(str(params.get("rounding", "floor"))).label
        text = _("Base %(amount)s %(unit)s (%(rate)s per CNY of %(eligible)s CNY, %(rounding)s)") % values
    elif kind == AwardLine.Kind.TIER and params.get("benefit"):
        text = _("%(tier)s %(benefit)s ×%(multiplier)s %(amount)s %(unit)s") % values
    elif kind == AwardLine.Kind.TIER:
        text = _("%(tier)s ×%(multiplier)s %(amount)s %(unit)s") % values
    elif kind == AwardLine.Kind.BEHAVIOUR:
        if params.get("capped"):
            period = BehaviourRule.Period(str(params.get("period") or "day")).label
            return _("%(event)s: limit of %(cap)s %(period)s reached, nothing given") % {
                **values,
                "period": period,
            }
        text = _("%(event)s %(amount)s %(unit)s") % values
    else:
        text = _("%(campaign)s %(amount)s %(unit)s") % values
        if params.get("capped") in CAPS:
            text += f" ({CAPS[str(params['capped'])]})"
    if "refund_share" in params:
        text += " · " + _("refund of %(share)s%% of the purchase") % {
            "share": f"{float(str(params['refund_share'])) * 100:.0f}"
        }
    return text


def line_text(line: AwardLine) -> str:
    """``line`` needs ``point_type`` and ``coupon__benefit`` loaded (select_related)."""
    # a relation whose id is None reads as None without a query
    coupon = str(line.coupon.benefit) if line.coupon is not None else ""
    unit = line.point_type.name if line.point_type is not None else ""
    return describe(line.kind, line.amount, unit, line.params, coupon)


# --- what a ledger entry came from (see points.sources) --------------------------------------


def _tier_upgrades(refs: list[str]) -> dict[str, str]:
    """``tier_upgrade:<member>:<tier code>:<since>`` -> "Tier upgrade reward: 银卡"."""
    from tiers.models import Tier

    codes = {ref: parts[2] for ref in refs if len(parts := ref.split(":")) > 2}
    names = dict(Tier.objects.filter(code__in=set(codes.values())).values_list("code", "name"))
    words = _("Tier upgrade reward: %(tier)s")
    return {ref: words % {"tier": names.get(code, code)} for ref, code in codes.items()}


def _birthdays(refs: list[str]) -> dict[str, str]:
    """``birthday:<year>:<member>`` -> "Birthday reward 2026"."""
    return {ref: _("Birthday reward %(year)s") % {"year": ref.split(":")[1]} for ref in refs}


def _rewards(refs: list[str]) -> dict[str, str]:
    """``reward:<id>`` -> "Reward: 保温杯"."""
    from benefits.models import Reward

    ids = {ref: int(ref.split(":")[1]) for ref in refs if ref.split(":")[1].isdigit()}
    names = dict(Reward.objects.filter(pk__in=ids.values()).values_list("pk", "name"))
    return {ref: _("Reward: %(reward)s") % {"reward": names[pk]} for ref, pk in ids.items() if pk in names}


def _referrals(refs: list[str]) -> dict[str, str]:
    """``referral:<referee id>`` -> "Referral reward: first purchase of member 8…"."""
    from members.models import Member

    ids = {ref: int(ref.split(":")[1]) for ref in refs if ref.split(":")[1].isdigit()}
    numbers = dict(Member.objects.filter(pk__in=ids.values()).values_list("pk", "member_number"))
    words = _("Referral reward: first purchase of member %(number)s")
    return {ref: words % {"number": numbers[pk]} for ref, pk in ids.items() if pk in numbers}


def sources_register() -> None:
    """Name this app's ledger keys on the member page and the entry list (points sits below us)."""
    from points.sources import DESCRIBERS

    DESCRIBERS.update(
        {
            "tier_upgrade": _tier_upgrades,
            "birthday": _birthdays,
            "reward": _rewards,
            "referral": _referrals,
        }
    )


def lifecycle_text(key: str) -> str:
    """A birthday, tier upgrade or referral award, by its key, in words ("Tier upgrade reward: 银卡")."""
    prefix = key.split(":", 1)[0]
    describe = {"tier_upgrade": _tier_upgrades, "birthday": _birthdays, "referral": _referrals}.get(prefix)
    return describe([key]).get(key, "") if describe else ""


def award_text(award: Award) -> str:
    """The fact the award answers, in the reader's words: order number, event, lifecycle moment."""
    Kind = Award.Kind
    # a relation whose id is None reads as None without a query
    if award.kind == Kind.PURCHASE and award.purchase is not None:
        return str(_("Purchase %(order)s") % {"order": award.purchase.order_number})
    if award.kind == Kind.REFUND and award.refund is not None:
        return str(
            _("Refund %(refund)s of purchase %(order)s")
            % {
                "refund": award.refund.refund_number,
                "order": award.purchase.order_number if award.purchase is not None else "-",
            }
        )
    if award.kind == Kind.EVENT and award.event is not None:
        return str(_("Event: %(event)s") % {"event": award.event.event_type.name})
    trigger = award.key.split(":", 1)[0]
    if trigger in Campaign.Trigger.values:
        return lifecycle_text(award.key) or str(Campaign.Trigger(trigger).label)
    return award.reason or str(award.get_kind_display())
