"""Import profiles, import runs and their staged rows.

An import is two steps. The preview reads the whole file once and stages every row with its
checked values and its verdict (ok, duplicate, rejected, skipped). The confirmation then works
through the staged rows in chunks, each chunk one transaction that also marks its rows done, so
a job killed half-way resumes at the first row not done, and the file is never parsed twice.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import translation
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy
from simple_history.models import HistoricalRecords

from config.common.states import Transitions
from members.models import Channel, Store


class ImportProfile(models.Model):
    """One source layout (see ``members.imports.profiles.Profile``, which this row produces)."""

    class Kind(models.TextChoices):
        PURCHASES = "purchases", _("Purchases and returns")
        MEMBERS = "members", _("Members")
        #: rows name existing members (member number or phone) for a list an app above keeps
        #: (``members.imports.targets``: a static segment)
        SEGMENT = "segment", _("Members for a static segment")
        # Moving in from an old CRM (``members.imports.legacy``): what members held there.
        BALANCES = "balances", _("Opening points balances (migration)")
        TIERS = "tiers", _("Tiers (migration)")
        COUPONS = "coupons", _("Outstanding coupons (migration)")

    class FileFormat(models.TextChoices):
        AUTO = "auto", _("Detect from the file")
        CSV = "csv", "CSV"
        TSV = "tsv", "TSV"
        XLSX = "xlsx", "XLSX"

    class Encoding(models.TextChoices):
        AUTO = "auto", _("Detect (UTF-8, GBK, GB18030)")
        UTF8 = "utf-8", "UTF-8"
        GB18030 = "gb18030", "GBK / GB18030"
        BIG5 = "big5", "Big5"

    class Delimiter(models.TextChoices):
        AUTO = "", _("Detect")
        COMMA = ",", _("Comma")
        TAB = "\t", _("Tab")
        SEMICOLON = ";", _("Semicolon")

    class UnknownMember(models.TextChoices):
        ENROL = "enrol", _("Enrol them as new members")
        REJECT = "reject", _("Reject the row")

    code = models.SlugField(
        _("code"), max_length=40, unique=True, help_text=_("Used on the command line: --profile CODE.")
    )
    name = models.CharField(pgettext_lazy("thing", "name"), max_length=100)
    kind = models.CharField(_("rows are"), max_length=16, choices=Kind.choices, default=Kind.PURCHASES)
    source = models.SlugField(
        _("source"),
        max_length=40,
        blank=True,
        help_text=_("The system the file comes from: with the receipt number, what makes a receipt unique."),
    )
    channel = models.CharField(_("channel"), max_length=16, choices=Channel.choices, default=Channel.STORE)
    file_format = models.CharField(
        _("file format"), max_length=8, choices=FileFormat.choices, default=FileFormat.AUTO
    )
    encoding = models.CharField(_("encoding"), max_length=16, choices=Encoding.choices, default=Encoding.AUTO)
    delimiter = models.CharField(
        _("delimiter"), max_length=1, choices=Delimiter.choices, default=Delimiter.AUTO, blank=True
    )
    #: {canonical field: [header, ...]}; written by the column mapper, never typed.
    columns = models.JSONField(_("columns"), default=dict)
    #: {text in the file: canonical status}; written by the profile form.
    statuses = models.JSONField(_("statuses"), default=dict, blank=True)
    #: {store code in the file: our store code}
    store_codes = models.JSONField(_("store codes"), default=dict, blank=True)
    date_formats = models.JSONField(_("date formats"), default=list, blank=True)
    member_match = models.JSONField(_("match members by"), default=list)
    unknown_member = models.CharField(
        _("unknown members"), max_length=8, choices=UnknownMember.choices, default=UnknownMember.ENROL
    )
    gross_includes_shipping = models.BooleanField(_("gross amount includes shipping"), default=False)
    earns = models.BooleanField(
        _("award points"),
        default=True,
        help_text=_("Off for an old system's history: its purchases are recorded and earn nothing again."),
    )
    reject_invalid_mobile = models.BooleanField(
        _("reject rows with an invalid phone"),
        default=True,
        help_text=_("Off: a row whose member is named by a card keeps going without the phone."),
    )
    return_match_days = models.PositiveSmallIntegerField(
        _("match returns without a receipt number within (days)"),
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(366)],
        help_text=format_lazy(
            "{} {} {}",
            _("Empty: a return without its original receipt number is rejected."),
            _("N: it is matched to the member's latest sale at that store in the N days before it."),
            _("Only a sale with at least the returned amount not yet refunded is matched."),
        ),
    )
    builtin = models.BooleanField(_("shipped with the product"), default=False, editable=False)
    active = models.BooleanField(_("active"), default=True)
    history = HistoricalRecords(verbose_name=_("historical import profile"))

    class Meta:
        verbose_name = _("import profile")
        verbose_name_plural = _("import profiles")
        ordering = ["name"]

    def __str__(self) -> str:
        # A shipped profile was named in the language active when it was created; unless an
        # operator renamed it, it reads in the reader's language.
        from members.imports.profiles import SHIPPED

        shipped = SHIPPED.get(self.code) if self.builtin else None
        if shipped is not None:
            named = set()
            for language, _name in settings.LANGUAGES:
                with translation.override(language):
                    named.add(str(shipped.name))
            if self.name in named:
                return str(shipped.name)
        return self.name


class ImportRun(models.Model):
    class Status(models.TextChoices):
        PREVIEWED = "previewed", pgettext_lazy("import status", "Previewed")
        QUEUED = "queued", pgettext_lazy("import status", "Queued")
        RUNNING = "running", pgettext_lazy("import status", "Running")
        DONE = "done", pgettext_lazy("import status", "Done")
        FAILED = "failed", pgettext_lazy("import status", "Failed")
        CANCELLED = "cancelled", pgettext_lazy("import status", "Cancelled")

    #: Every move of an import run. A previewed file is confirmed (queued) or dropped; the job
    #: runs it to done or failed. A failed run, or one left running by a worker that died, runs
    #: again from where it stopped: the rows done stay done.
    MOVES = Transitions(
        {
            Status.PREVIEWED: (Status.QUEUED, Status.CANCELLED),
            Status.QUEUED: (Status.RUNNING,),
            Status.RUNNING: (Status.RUNNING, Status.DONE, Status.FAILED),
            Status.FAILED: (Status.RUNNING,),
        }
    )

    profile = models.ForeignKey(
        ImportProfile, verbose_name=_("import profile"), on_delete=models.PROTECT, related_name="runs"
    )
    file = models.FileField(_("file"), upload_to="imports/%Y/%m/")
    file_name = models.CharField(_("file name"), max_length=255)
    file_sha256 = models.CharField(_("file checksum"), max_length=64, db_index=True)
    store = models.ForeignKey(
        Store,
        verbose_name=_("store"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text=_("When set, rows of other stores are rejected."),
    )
    #: What a list of members goes into (a static segment's id, ``members.imports.targets``).
    target_id = models.BigIntegerField(null=True, blank=True, editable=False)
    #: Store ids the uploader may import for; null: every store.
    allowed_stores = models.JSONField(_("allowed stores"), null=True, blank=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("uploaded by"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(_("uploaded at"), auto_now_add=True)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.PREVIEWED)
    confirmed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("confirmed by"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    error = models.TextField(_("error"), blank=True)
    # The preview's verdict on the file.
    rows_total = models.PositiveIntegerField(_("rows"), default=0)
    rows_ok = models.PositiveIntegerField(_("rows to import"), default=0)
    rows_duplicate = models.PositiveIntegerField(_("already imported"), default=0)
    rows_rejected = models.PositiveIntegerField(_("rejected"), default=0)
    rows_skipped = models.PositiveIntegerField(_("skipped"), default=0)
    rows_review = models.PositiveIntegerField(
        _("rows needing review"), default=0, help_text=_("Their points wait for an approver.")
    )
    #: Identities the file shows to be one new person (``name:value`` strings), see services.
    enrol_groups = models.JSONField(default=list, blank=True, editable=False)
    # What the job did; updated in the transaction of each chunk, so always exact.
    rows_done = models.PositiveIntegerField(_("rows processed"), default=0)
    purchases_created = models.PositiveIntegerField(_("purchases created"), default=0)
    refunds_created = models.PositiveIntegerField(_("refunds created"), default=0)
    members_created = models.PositiveIntegerField(_("members enrolled"), default=0)
    members_listed = models.PositiveIntegerField(_("members added to the list"), default=0)
    #: {point type code: points}, net of what refunds took back
    points_awarded = models.JSONField(_("points awarded"), default=dict, blank=True)
    # Seconds the job spent working; a resumed job adds to it, so the rate stays honest.
    busy_seconds = models.FloatField(_("working time (s)"), default=0)

    class Meta:
        verbose_name = _("import")
        verbose_name_plural = _("imports")
        ordering = ["-created_at", "-id"]
        permissions = [("import_file", _("Can import files"))]

    def __str__(self) -> str:
        return f"#{self.pk} {self.file_name}"

    @property
    def percent(self) -> int:
        if self.status == self.Status.DONE:
            return 100
        return int(100 * self.rows_done / self.rows_ok) if self.rows_ok else 0

    @property
    def rate(self) -> float | None:
        """Rows per second of work so far (as of the last chunk)."""
        return self.rows_done / self.busy_seconds if self.busy_seconds > 0 and self.rows_done else None

    @property
    def seconds_left(self) -> float | None:
        if self.status != self.Status.RUNNING or not self.rate:
            return None
        return (self.rows_ok - self.rows_done) / self.rate

    def progress(self) -> dict[str, Any]:
        """What the progress bar shows, as JSON-ready values."""
        rate, left = self.rate, self.seconds_left
        return {
            "status": self.status,
            "status_label": str(self.get_status_display()),
            "percent": self.percent,
            "rows_done": self.rows_done,
            "rows_total": self.rows_ok,
            "rows_per_second": round(rate, 1) if rate else None,
            "seconds_left": round(left) if left is not None else None,
            "finished": self.status in (self.Status.DONE, self.Status.FAILED, self.Status.CANCELLED),
        }


class ImportRow(models.Model):
    """One row of a file as the preview judged it, and what the job did with it."""

    class State(models.TextChoices):
        PENDING = "pending", pgettext_lazy("import row", "To import")
        DONE = "done", pgettext_lazy("import row", "Imported")
        DUPLICATE = "duplicate", pgettext_lazy("import row", "Already imported")
        REJECTED = "rejected", pgettext_lazy("import row", "Rejected")
        SKIPPED = "skipped", pgettext_lazy("import row", "Skipped")

    run = models.ForeignKey(
        ImportRun, verbose_name=_("import"), on_delete=models.CASCADE, related_name="rows"
    )
    number = models.PositiveIntegerField(_("row"))
    kind = models.CharField(_("kind"), max_length=8)
    #: 0 first (sales, orders, members), then 1 (returns): a return finds its sale of the same file.
    phase = models.PositiveSmallIntegerField(default=0)
    state = models.CharField(_("state"), max_length=10, choices=State.choices)
    values = models.JSONField(_("values"), default=dict, encoder=DjangoJSONEncoder)
    #: {field: [reason, ...]} for rejected rows (the profile's field; "" or "member": the row),
    #: {"": [reason]} for skipped and duplicate ones. A reason is a code and its values, worded
    #: when read (``members.imports.reasons``); runs from before codes hold the words themselves.
    errors = models.JSONField(_("errors"), default=dict, blank=True)
    #: {"lines": [{"type": point type name, "points": n, "limit": n}]} when the preview expects
    #: the row's award to be held for review (see ``PREVIEW_MARKS``)
    review = models.JSONField(_("needs review"), null=True, blank=True, encoder=DjangoJSONEncoder)
    member_id = models.BigIntegerField(null=True, blank=True)
    purchase_id = models.BigIntegerField(null=True, blank=True)
    refund_id = models.BigIntegerField(null=True, blank=True)

    class Meta:
        verbose_name = _("import row")
        verbose_name_plural = _("import rows")
        constraints = [models.UniqueConstraint(fields=["run", "number"], name="import_row_once")]
        indexes = [models.Index(fields=["run", "state", "phase", "number"], name="import_row_todo")]

    def __str__(self) -> str:
        return f"{self.run_id}:{self.number}"

    @property
    def review_message(self) -> str:
        """Why the preview expects the row's points to wait for an approver, in the reader's language."""
        if not self.review:
            return ""
        return _("Needs review: %(over)s; its points wait for an approver.") % {
            "over": "; ".join(
                _("%(points)s %(type)s is above the review limit of %(limit)s")
                % {"points": f"{line['points']:,}", "type": line["type"], "limit": f"{line['limit']:,}"}
                for line in self.review["lines"]
            )
        }

    @property
    def message(self) -> str:
        """The reasons in the current language (field names in words: no file at hand here)."""
        from members.imports.reasons import errors_text

        return errors_text(self.errors)
