"""Import a file from a shell or a cron job, the same way the admin does (preview, then job)."""

from __future__ import annotations

import hashlib
import sys
import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.utils import translation

from members.imports.files import column_labels, row_message
from members.imports.legacy import Report
from members.imports.models import ImportProfile, ImportRow, ImportRun
from members.imports.parsing import error_messages
from members.imports.report import report_of
from members.imports.runner import CHUNK, import_confirm, import_run_execute
from members.imports.selectors import points_awarded
from members.imports.services import import_preview
from members.models import Store

UNFINISHED = (ImportRun.Status.QUEUED, ImportRun.Status.RUNNING, ImportRun.Status.FAILED)


class Command(BaseCommand):
    help = (
        "Import a POS, shop or member export through an import profile. Exits 1 when rows were "
        "rejected, 2 when the file could not be read. Running it again on a file whose import "
        "was interrupted finishes that import."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path)
        parser.add_argument("--profile", required=True, help="import profile code, e.g. pos_receipts_gbk")
        parser.add_argument("--store", help="store code: rows of other stores are rejected")
        parser.add_argument("--target", type=int, help="for a list of members: the static segment's id")
        parser.add_argument("--chunk-size", type=int, default=CHUNK, help="rows per transaction")
        parser.add_argument("--show-rejected", type=int, default=20, help="rejected rows to list")
        parser.add_argument(
            "--language",
            choices=[code for code, _name in settings.LANGUAGES],
            default=settings.LANGUAGE_CODE,
            help="language of the rejected rows' reasons (default: LANGUAGE_CODE)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        with translation.override(options["language"]):  # reasons are worded when shown
            self._handle(**options)

    def _handle(self, **options: Any) -> None:
        path: Path = options["file"]
        profile = ImportProfile.objects.filter(code=options["profile"], active=True).first()
        if profile is None:
            codes = ", ".join(ImportProfile.objects.filter(active=True).values_list("code", flat=True))
            raise CommandError(f"Unknown import profile {options['profile']!r}; known: {codes}")
        store = None
        if options["store"]:
            store = Store.objects.filter(code=options["store"]).first()
            if store is None:
                raise CommandError(f"Unknown store code {options['store']!r}")
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise CommandError(f"Cannot read {path}: {exc}") from exc

        run = self._unfinished(profile, data, store, options["target"])
        if run is not None:
            self.stdout.write(
                f"Resuming import #{run.pk}: {run.rows_done} of {run.rows_ok} rows already done."
            )
        else:
            started = time.monotonic()
            try:
                run = import_preview(
                    profile=profile, data=data, file_name=path.name, store=store, target_id=options["target"]
                )
            except ValidationError as exc:
                self.stderr.write("; ".join(error_messages(exc)))
                sys.exit(2)
            self.stdout.write(
                f"Import #{run.pk}: {run.rows_total} rows read in {time.monotonic() - started:.1f}s: "
                f"{run.rows_ok} to import, {run.rows_duplicate} already imported, "
                f"{run.rows_rejected} rejected, {run.rows_skipped} skipped."
            )
            import_confirm(run=run, start=False)
        run = import_run_execute(run.pk, chunk_size=options["chunk_size"], on_chunk=self._progress)
        self._result(run, options["show_rejected"])
        if run.rows_rejected:
            sys.exit(1)

    def _unfinished(
        self, profile: ImportProfile, data: bytes, store: Store | None, target: int | None
    ) -> ImportRun | None:
        digest = hashlib.sha256(data).hexdigest()
        runs = ImportRun.objects.filter(profile=profile, file_sha256=digest, store=store, target_id=target)
        return runs.filter(status__in=UNFINISHED).order_by("-pk").first()

    def _progress(self, run: ImportRun) -> None:
        progress = run.progress()
        rate = progress["rows_per_second"] or 0
        left = progress["seconds_left"]
        eta = f", {left}s left" if left is not None else ""
        self.stdout.write(
            f"  {progress['percent']:3d}%  {run.rows_done}/{run.rows_ok} rows  {rate:,.0f} rows/s{eta}"
        )

    def _result(self, run: ImportRun, show: int) -> None:
        if (report := report_of(run)) is not None:  # an old CRM's file: its totals, reconciled
            self._report(run, report)
        else:
            self._totals(run)
        rejected = run.rows.filter(state=ImportRow.State.REJECTED).order_by("number")
        if rejected.exists():
            labels = column_labels(run)
            self.stdout.write("Rejected rows:")
            for row in rejected[:show]:
                self.stdout.write(f"  row {row.number}: {row_message(row, labels)}")
            if run.rows_rejected > show:
                self.stdout.write(f"  … and {run.rows_rejected - show} more (download them in the admin).")

    def _totals(self, run: ImportRun) -> None:
        points = ", ".join(f"{name} {amount:+,}" for name, amount in points_awarded(run))
        self.stdout.write(
            f"{run.get_status_display()}: {run.purchases_created} purchases and "
            f"{run.refunds_created} refunds created, {run.members_created} members enrolled, "
            f"points {points or '0'}; "
            f"{run.rows_duplicate} already imported, {run.rows_rejected} rejected, "
            f"{run.rows_skipped} skipped."
        )

    def _report(self, run: ImportRun, report: Report) -> None:
        status = run.get_status_display()
        self.stdout.write(f"{status}: {run.rows_duplicate} already imported, {run.rows_rejected} rejected.")
        for line in report.lines:
            tied = "accounted for" if line.balanced else "NOT accounted for"
            self.stdout.write(
                f"  {line.label}: {line.in_file:,} in the file = {line.posted:,} brought in"
                f" + {line.already:,} before + {line.rejected:,} rejected + {line.waiting:,} not yet;"
                f" {line.held:,} held ({tied})"
            )
