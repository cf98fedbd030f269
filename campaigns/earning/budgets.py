"""Campaign limits and budgets as the pipeline keeps them.

A budgeted campaign's row is locked (in primary-key order, after the member's) while a fact
spends from it, and keeps a running total of what it gave, so the end of a budget is given out
exactly when purchases race for it. Results never read these totals: they sum the award lines.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from django.db.models import F

from campaigns import selectors
from campaigns.earning import engine
from campaigns.models import Campaign


def has_limits(campaign: Campaign) -> bool:
    return any(
        limit is not None
        for limit in (
            campaign.member_max_times,
            campaign.member_max_points,
            campaign.member_daily_points,
            campaign.budget_points,
            campaign.budget_cny,
        )
    )


def lock_budgets(book: selectors.RuleBook, matched: list[int]) -> dict[int, Campaign]:
    """The matched campaigns, with the budgeted ones locked and re-read (the book may be older)."""
    campaigns = {pk: book.campaigns[pk] for pk in matched}
    budgeted = sorted({pk for pk in matched if book.offer(pk).budgeted})
    if budgeted:
        fresh = Campaign.objects.select_for_update().filter(pk__in=budgeted).order_by("pk")
        for row in fresh.only("pk", "budget_points", "budget_cny", "spent_points", "spent_cny"):
            campaigns[row.pk] = row
    return campaigns


def count_spent(lines: list[engine.Line], campaigns: dict[int, Campaign]) -> None:
    """Budgeted campaigns keep a running total (their rows are locked); results sum the lines."""
    spent: dict[int, list] = defaultdict(lambda: [0, Decimal(0)])
    for line in lines:
        if line.campaign_id in campaigns and line.point_type == engine.POINTS and line.amount:
            spent[line.campaign_id][0] += line.amount
            spent[line.campaign_id][1] += line.cny
    for pk, (points, cny) in spent.items():
        campaign = campaigns[pk]
        if campaign.budget_points is not None or campaign.budget_cny is not None:
            Campaign.objects.filter(pk=pk).update(
                spent_points=F("spent_points") + points, spent_cny=F("spent_cny") + cny
            )


#: The smallest CNY amount a campaign's running total keeps (its column's decimal places).
SPENT_CNY_STEP = Decimal(1).scaleb(-Campaign._meta.get_field("spent_cny").decimal_places)


def count_spent_in_order(given_back: list[list[engine.Line]], campaigns: dict[int, Campaign]) -> None:
    """``count_spent`` for each refund's lines, in order, with the wave's result.

    The database rounds a campaign's CNY total to its column's places after each UPDATE, so
    adding the wave's sum at once equals adding refund after refund only when every amount is
    a whole number of those places (the usual case: points x a CNY value per point). Then it
    is one UPDATE per campaign; otherwise one per refund and campaign.
    """
    lines = [line for each in given_back for line in each]
    if all(line.cny == line.cny.quantize(SPENT_CNY_STEP) for line in lines):
        count_spent(lines, campaigns)
    else:
        for each in given_back:
            count_spent(each, campaigns)
