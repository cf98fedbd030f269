"""The campaigns' league table: each campaign's groups measured nightly, and the ROI read from them.

ROI = incremental sales ÷ cost. Incremental sales are the targeted group's sales per member less
the control group's, times the targeted members: what the campaign added over members like them
who got nothing. Cost is the CNY value of what the campaign gave (its award lines). Without a
control group there is no incremental figure and no ROI: the page says so rather than guess.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from decimal import Decimal

from django.db import transaction
from django.db.models import Q, Sum
from django.utils import timezone

from campaigns.insight.models import CampaignFigures
from campaigns.models import AwardLine, Campaign
from campaigns.results import GroupSales, Uplift, groups_sales, uplift

#: Campaigns are measured while they run and this long after they end (late refunds, imports).
SETTLE_DAYS = 30


def campaigns_measure(*, now: datetime.datetime | None = None) -> int:
    """Measure every campaign that started and ended less than ``SETTLE_DAYS`` ago (or was never
    measured); returns how many."""
    now = now or timezone.now()
    measured = CampaignFigures.objects.values("campaign_id")
    due = Campaign.objects.filter(starts_at__lte=now).filter(
        Q(ends_at__gte=now - datetime.timedelta(days=SETTLE_DAYS)) | ~Q(pk__in=measured)
    )
    count = 0
    for campaign in due.order_by("pk"):
        campaign_measure(campaign, now=now)
        count += 1
    return count


def campaign_measure(campaign: Campaign, *, now: datetime.datetime | None = None) -> None:
    now = now or timezone.now()
    groups = groups_sales(campaign, min(campaign.ends_at, now))
    cost = AwardLine.objects.filter(campaign=campaign).aggregate(cost=Sum("cny"))["cost"] or Decimal(0)
    with transaction.atomic():
        for control in (False, True):
            group = groups.get(control)
            CampaignFigures.objects.update_or_create(
                campaign=campaign,
                control=control,
                defaults={
                    "members": group.members if group else 0,
                    "buyers": group.buyers if group else 0,
                    "sales": group.sales if group else 0,
                    "sales_squares": group.squares if group else 0,
                    "cost": cost if not control else 0,
                    "measured_at": now,
                },
            )


@dataclass(frozen=True)
class LeagueRow:
    campaign: Campaign
    targeted: GroupSales
    control: GroupSales
    cost: Decimal
    uplift: Uplift
    measured_at: datetime.datetime

    @property
    def roi(self) -> Decimal | None:
        if self.uplift.incremental_sales is None or not self.cost:
            return None
        return self.uplift.incremental_sales / self.cost


def campaign_league() -> list[LeagueRow]:
    """Every measured campaign, best ROI first (campaigns without one last)."""
    figures: dict[int, dict[bool, CampaignFigures]] = {}
    for row in CampaignFigures.objects.select_related("campaign"):
        figures.setdefault(row.campaign_id, {})[row.control] = row
    rows = []
    for groups in figures.values():
        targeted, control = groups.get(False), groups.get(True)
        if targeted is None:
            continue
        t = GroupSales(targeted.members, targeted.buyers, targeted.sales, targeted.sales_squares)
        c = (
            GroupSales(control.members, control.buyers, control.sales, control.sales_squares)
            if control
            else GroupSales(0, 0, Decimal(0), Decimal(0))
        )
        rows.append(LeagueRow(targeted.campaign, t, c, targeted.cost, uplift(t, c), targeted.measured_at))
    rows.sort(key=lambda r: (r.roi is None, -(r.roi or 0), r.campaign.pk))
    return rows
