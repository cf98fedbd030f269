"""Charts as data: what ``insight/charts.js`` draws, and the table of numbers under each."""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import Any

from django.utils.functional import Promise

from campaigns.insight.query import Query
from campaigns.insight.tables import CNY, COUNT, PERCENT, POINTS, TEXT, Table

__all__ = ["CNY", "COUNT", "PERCENT", "POINTS", "Chart", "bucket_label", "chart_table", "num"]


@dataclass(frozen=True)
class Chart:
    """What ``insight/charts.js`` draws, and the table the page shows under it."""

    key: str
    title: Promise | str
    kind: str  # line, bar, pie, heatmap, matrix
    categories: list[str]
    series: list[dict[str, Any]]
    unit: str = COUNT
    y_categories: list[str] = field(default_factory=list)
    target: float | None = None

    def spec(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "title": str(self.title),
            "kind": self.kind,
            "categories": self.categories,
            "series": [{**s, "name": str(s["name"])} for s in self.series],
            "unit": self.unit,
            "yCategories": self.y_categories,
            "target": self.target,
        }


def bucket_label(query: Query, day: datetime.date) -> str:
    if query.grain == "month":
        return f"{day:%Y-%m}"
    if query.grain == "year":
        return f"{day:%Y}"
    return f"{day:%m-%d}" if query.grain == "day" else f"{day:%Y-%m-%d}"


def num(value: Any) -> float | int:
    return value if isinstance(value, int) else float(value)


def chart_table(chart: Chart) -> Table:
    """The chart's numbers: one row per category, one column per series."""
    if chart.kind in ("heatmap", "matrix"):
        table = Table(str(chart.title), [("", TEXT), *((str(x), chart.unit) for x in chart.categories)])
        cells = {(c[0], c[1]): c[2] for c in chart.series[0]["data"]}
        for y, label in enumerate(chart.y_categories):
            table.rows.append([label, *(cells.get((x, y)) for x in range(len(chart.categories)))])
        return table
    columns = [("", TEXT), *((str(s["name"]), s.get("unit", chart.unit)) for s in chart.series)]
    table = Table(str(chart.title), columns)
    for index, label in enumerate(chart.categories):
        table.rows.append([label, *(s["data"][index] for s in chart.series)])
    return table
