"""The import benchmark's report (tests/benchmarks/imports.py): the side-by-side table, the aims,
the phases and the rest of what one run measured."""

from __future__ import annotations

import re
import sys
from collections import Counter
from pathlib import Path

# isort: off
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run as a script from anywhere
from tests.benchmarks.common import table
# isort: on

from campaigns.models import AwardLine
from members.imports.models import ImportRow, ImportRun
from members.imports.reasons import reason_text
from points.models import Entry

AIM_COPY, AIM_PLAIN, AIM_MB = 5, 50, 500


def report(n: dict[str, int], times: dict[str, float], got: dict, whole: dict | None, run: ImportRun) -> None:
    rows, copy_s, plain_s = n["rows"], times["copy"], times["plain"]
    ours_s = got["preview_s"] + got["job_s"]
    plain_rate = n["plain"] / plain_s
    projected = ours_s  # on a sample: the whole file's preview as measured + the sample's job, scaled
    if whole:
        projected = whole["preview_s"] + got["job_s"] * rows / n["ours"]

    def variant(label: str, count: int, seconds: float) -> list[str]:
        rate, whole = count / seconds, seconds * rows / count  # the time for all the rows, at this rate
        return [label, f"{count:,}", f"{seconds:,.2f} s", f"{rate:,.0f}", ratio(whole / copy_s),
                ratio(rate / plain_rate)]  # fmt: skip

    lines = [
        variant("(a) floor: COPY into a text table", rows, copy_s),
        variant("(b) django-import-export ModelResource", n["plain"], plain_s),
        variant(f"(c) ours end to end{', SAMPLE' if whole else ''}", n["ours"], ours_s),
    ]
    if whole:
        lines.append(variant(f"(c) ours, PROJECTED to {rows:,} rows", rows, projected))
    table(["variant", "rows", "time", "rows/s", f"time for {rows:,} rows ÷ COPY", "rows/s ÷ (b)"], lines)
    peak = got["peak_mib"]
    if whole:
        peak = max(peak, whole["peak_mib"])
        print(
            f"(c) ran end to end on a SAMPLE, the first {n['ours']:,} rows of the file. For all {rows:,}"
            f" rows, the preview was run on the whole file ({whole['preview_s']:,.1f} s, then cancelled)"
            f" and the job's time is PROJECTED linearly from the sample's: {projected:,.0f} s"
            f" ({projected / 3600:.1f} h) in all.\n"
        )
    peak_mb, slower, faster = peak * 1.048576, projected / copy_s, rows / projected / plain_rate
    table(
        ["aim", "target", "got", "met"],
        [
            ["time ÷ COPY", f"≤ ×{AIM_COPY}", ratio(slower), yes(slower <= AIM_COPY)],
            ["rows/s ÷ plain import", f"≥ ×{AIM_PLAIN}", ratio(faster), yes(faster >= AIM_PLAIN)],
            [
                f"peak RSS of (c) ({'whole-file preview, sample job' if whole else 'whole file'})",
                f"< {AIM_MB} MB",
                f"{peak_mb:,.0f} MB",
                yes(peak_mb < AIM_MB),
            ],
        ],
    )

    # The issue asks the bulk path to share the parser: its speed alone bounds any such path.
    parse_all = got["parse_s"] * rows / n["ours"]
    print(
        f"Bound: the shared parser alone (decode and parse every row, no database) takes {parse_all:,.1f} s"
        f" for {rows:,} rows: ×{parse_all / copy_s:,.0f} COPY and"
        f" ×{rows / parse_all / plain_rate:,.1f} the plain import's rows/s, before anything is matched,"
        f" checked or written. Ours end to end is ×{projected / parse_all:,.1f} the parser alone.\n"
    )

    def phase(seconds: float, queries: int | None = None, db: float | None = None) -> list[str]:
        return [
            f"{seconds:,.2f} s",
            f"{seconds / ours_s:.0%}",
            f"{seconds / n['ours'] * 1000:.2f} ms",
            "" if queries is None else f"{queries / n['ours']:.3g}",
            "" if db is None else f"{db / seconds:.0%}",
        ]

    table(
        ["phase of (c)", "time", "share", "per row", "queries/row", "in DB"],
        [
            [
                "preview: read, parse, judge, stage; confirm",
                *phase(got["preview_s"], got["preview_queries"], got["preview_db_s"]),
            ],
            [
                "  parsing alone (a separate pass, not in the total)",
                f"{got['parse_s']:,.2f} s",
                "",
                f"{got['parse_s'] / n['ours'] * 1000:.2f} ms",
                "",
                "",
            ],
            *(
                [
                    [
                        "  preview of the whole file (then cancelled)",
                        f"{whole['preview_s']:,.2f} s",
                        "",
                        f"{whole['preview_s'] / rows * 1000:.2f} ms",
                        f"{whole['preview_queries'] / rows:.3g}",
                        f"{whole['preview_db_s'] / whole['preview_s']:.0%}",
                    ]
                ]
                if whole
                else []
            ),
            ["job: import_run_execute", *phase(got["job_s"], got["job_queries"], got["job_db_s"])],
            ["  earning pipeline (PROCESSORS: points, balances)", *phase(got["pipeline_s"])],
            ["  the rest: rows, members, purchases, refunds", *phase(got["job_s"] - got["pipeline_s"])],
            [
                "total",
                *phase(
                    ours_s, got["preview_queries"] + got["job_queries"], got["preview_db_s"] + got["job_db_s"]
                ),
            ],
        ],
    )
    print(f"Job rows/s by fifth of its rows (does it slow down as the tables grow?): {drift(got['marks'])}\n")
    top = sorted(got["job_kinds"].items(), key=lambda item: -item[1][1])[:12]
    table(
        ["job's statements, by time in the database", "per row", "per row", "share of job"],
        [
            [kind, f"{q / n['ours']:.2f}", f"{s / n['ours'] * 1000:.2f} ms", f"{s / got['job_s']:.0%}"]
            for kind, (q, s) in top
        ],
    )
    print(
        f"Peak RSS (VmHWM) of (c)'s process: {got['peak_mib']:,.0f} MiB ({got['after_preview_mib']:,.0f} MiB"
        f" by the end of the preview, {got['baseline_mib']:,.0f} MiB after Django set-up)"
        + (f"; of the whole-file preview's: {whole['peak_mib']:,.0f} MiB.\n" if whole else ".\n")
    )

    points = ", ".join(f"{code} {amount:+,}" for code, amount in sorted(run.points_awarded.items()))
    done = f"{run.rows_ok:,} / {run.rows_rejected:,} / {run.rows_duplicate:,} / {run.rows_skipped:,}"
    table(
        ["what (c) did", "rows"],
        [
            ["rows staged", f"{run.rows_total:,}"],
            ["  to import / rejected / duplicate / skipped", done],
            ["purchases created", f"{run.purchases_created:,}"],
            ["refunds created", f"{run.refunds_created:,}"],
            ["members enrolled", f"{run.members_created:,}"],
            ["award lines (all runs)", f"{AwardLine.objects.count():,}"],
            ["ledger entries (all runs)", f"{Entry.objects.count():,}"],
            ["points awarded (net)", points],
        ],
    )
    if run.rows_rejected:
        table(["rejected rows: kind, field, reason", "rows"], rejected_reasons(run))
    if got["warnings"]:
        table(["warnings the import logged", "times"], [[m, f"{k:,}"] for m, k in got["warnings"].items()])


def drift(marks: list[list[float]], parts: int = 5) -> str:
    """Rows per second in each ``parts``-th of the job's rows, from (time, rows done) per chunk."""
    total, rates, before = marks[-1][1], [], marks[0]
    for part in range(1, parts + 1):
        mark = next(m for m in marks if m[1] >= total * part / parts)
        if mark[0] > before[0]:
            rates.append(f"{(mark[1] - before[1]) / (mark[0] - before[0]):,.0f}")
            before = mark
    return ", ".join(rates)


def ratio(value: float) -> str:
    return f"×{value:,.0f}" if value >= 100 else f"×{value:.3g}"


def yes(met: bool) -> str:
    return "yes" if met else "NO"


def rejected_reasons(run: ImportRun) -> list[list[str]]:
    reasons: Counter = Counter()
    for kind, errors in ImportRow.objects.filter(run=run, state=ImportRow.State.REJECTED).values_list(
        "kind", "errors"
    ):
        for field, messages in errors.items():
            for message in map(reason_text, messages):
                reasons[(kind, field, re.sub(r"[+\d][\d:,. -]*\d|\d", "#", message)[:90])] += 1
    return [[f"{kind} {field}: {message}", f"{n:,}"] for (kind, field, message), n in reasons.most_common(8)]


# --- main ----------------------------------------------------------------------------------
