"""The RFM page: the last scoring run's segments, their sales, the moves since the run before,
and the lifecycle stages. It reads the run's stored counts, never the million score rows."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from typing import Any

from django.urls import reverse
from django.utils.translation import gettext as _

from campaigns.insight.charts import CNY, COUNT, Chart
from campaigns.insight.tables import PERCENT, TEXT, Table
from members.scoring.models import SEGMENT_OF, ScoreRun, ScoringSettings, Segment, Stage


def rfm_page() -> dict[str, Any]:
    run = ScoreRun.objects.order_by("-at").first()
    counts = list(run.counts.all()) if run else []
    members: dict[str, int] = defaultdict(int)
    sales: dict[str, Decimal] = defaultdict(Decimal)
    stages: dict[str, int] = defaultdict(int)
    moves: dict[tuple[str, str], int] = defaultdict(int)
    for c in counts:
        members[c.segment] += c.members
        sales[c.segment] += c.sales
        stages[c.stage] += c.members
        moves[(c.previous_segment, c.segment)] += c.members
    everyone = sum(members.values())
    segments = [*SEGMENT_OF.values(), Segment.NONE]
    list_url = reverse("admin:scoring_memberscore_changelist")
    table = Table(
        _("Segments"),
        [
            (_("segment"), TEXT),
            (_("members"), COUNT),
            (_("share"), PERCENT),
            (_("sales in window (CNY)"), CNY),
        ],
    )
    rows = []
    for segment in segments:
        share = Decimal(members[segment]) / everyone if everyone else None
        table.rows.append([segment.label, members[segment], share, sales[segment]])
        rows.append(
            {
                "segment": segment,
                "members": members[segment],
                "share": share,
                "sales": sales[segment],
                "url": f"{list_url}?segment__exact={segment.value}",
            }
        )
    # the matrix: recency high/low across, frequency high/low down, monetary high above low
    matrix_x = [_("recent"), _("not recent")]
    matrix_y = [
        _("important: frequent"),
        _("important: not frequent"),
        _("general: frequent"),
        _("general: not frequent"),
    ]
    cells = []
    for (r, f, m), segment in SEGMENT_OF.items():
        x = 0 if r else 1
        y = (0 if f else 1) + (0 if m else 2)
        cells.append([x, y, members[segment], str(segment.label), float(sales[segment])])
    matrix = Chart(
        "matrix",
        _("Members per segment"),
        "matrix",
        [str(x) for x in matrix_x],
        [{"name": _("members"), "data": cells}],
        COUNT,
        [str(y) for y in matrix_y],
    )
    stage_chart = Chart(
        "stages",
        _("Lifecycle stages"),
        "pie",
        [str(s.label) for s in Stage],
        [{"name": _("members"), "data": [stages[s] for s in Stage]}],
    )
    sales_chart = Chart(
        "sales",
        _("Sales per segment (CNY)"),
        "bar",
        [str(s.label) for s in segments],
        [{"name": _("sales in window (CNY)"), "data": [float(sales[s]) for s in segments], "type": "bar"}],
        CNY,
    )
    labels = {s.value: str(s.label) for s in Segment}
    labels[""] = _("not scored before")
    move_rows = sorted(
        ((labels.get(a, a), labels.get(b, b), n) for (a, b), n in moves.items() if a != b and n),
        key=lambda t: -t[2],
    )
    charts = [matrix, sales_chart, stage_chart]
    settings = ScoringSettings.current()
    return {
        "run": run,
        "settings": settings,
        "segments": rows,
        "moves": move_rows[:30],
        "stayed": sum(n for (a, b), n in moves.items() if a == b),
        "charts": charts,
        "chart_specs": [c.spec() for c in charts],
        "chart_tables": {
            "matrix": table,
            "sales": table,
            "stages": Table(
                _("Lifecycle stages"),
                [(_("stage"), TEXT), (_("members"), COUNT)],
                [[s.label, stages[s]] for s in Stage],
            ),
        },
    }
