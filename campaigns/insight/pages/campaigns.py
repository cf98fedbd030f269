"""The campaigns' league table: cost, reach, uplift against the control group, ROI, and whether
the uplift can be told from chance (the method is written on the page)."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _

from campaigns.insight.campaigns import campaign_league
from campaigns.insight.charts import Chart
from campaigns.insight.tables import CNY, COUNT, PERCENT, TEXT, Table
from campaigns.results import MIN_GROUP


def _verdict(row: Any) -> str:
    if not row.control.members:
        return _("no control group")
    if row.uplift.p_value is None:
        return _("groups too small to tell (under %(n)s members)") % {"n": MIN_GROUP}
    if row.uplift.significant:
        return _("real (p = %(p)s)") % {"p": f"{row.uplift.p_value:.3f}"}
    return _("could be chance (p = %(p)s)") % {"p": f"{row.uplift.p_value:.3f}"}


def campaigns_page() -> dict[str, Any]:
    league = campaign_league()
    table = Table(
        _("Campaign league table"),
        [
            (_("campaign"), TEXT),
            (_("targeted members"), COUNT),
            (_("control members"), COUNT),
            (_("cost (CNY)"), CNY),
            (_("sales per targeted member (CNY)"), CNY),
            (_("sales per control member (CNY)"), CNY),
            (_("uplift"), PERCENT),
            (_("incremental sales (CNY)"), CNY),
            (_("ROI"), PERCENT),
            (_("is the uplift real?"), TEXT),
        ],
    )
    for row in league:
        table.rows.append(
            [
                row.campaign.name,
                row.targeted.members,
                row.control.members,
                row.cost,
                row.targeted.mean,
                row.control.mean,
                row.uplift.relative,
                row.uplift.incremental_sales,
                row.roi,
                _verdict(row),
            ]
        )
    with_roi = [row for row in league if row.roi is not None]
    chart = Chart(
        "roi",
        _("ROI: incremental sales ÷ cost"),
        "bar",
        [row.campaign.name for row in with_roi],
        [{"name": _("ROI"), "data": [round(float(row.roi or 0), 4) for row in with_roi], "type": "bar"}],
        PERCENT,
    )
    return {"charts": [chart], "tables": [table], "min_group": MIN_GROUP}
