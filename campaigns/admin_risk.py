"""Admin of the risk controls: the rules (under maker-checker, with their simulation) and the
approvers' queue of cases. An interface only: deciding goes through ``campaigns.risk.cases``,
the figures come from ``campaigns.risk.scan``."""

from __future__ import annotations

import datetime
import re
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.models import CHANGE, LogEntry
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _

from campaigns.forms import SimulationForm
from campaigns.insight.charts import Chart
from campaigns.models import AwardReview, RiskCase, RiskRule
from campaigns.risk.cases import (
    DECIDE_PERMISSION,
    case_freeze,
    case_note,
    case_reject,
    case_release,
    member_risk_score,
)
from campaigns.risk.detectors import GUESSERS, measure_supports, related_members
from campaigns.risk.scan import simulate
from config.common.admin import ReadOnlyInline, newest_rows, run_each
from config.common.admin_governance import GovernedAdmin
from members.admin import MEMBER_PAGE_INLINES
from members.admin_helpers import HistoryAdmin, MemberColumnMixin, member_ids
from members.models import Member

#: What a coupon-guessing rule's cases may do (they have no member).
SUBJECT_ACTIONS = (RiskRule.Action.RECORD, RiskRule.Action.ALERT)


class RiskRuleForm(forms.ModelForm):
    class Meta:
        model = RiskRule
        fields = [
            "name",
            "kind",
            "threshold",
            "action",
            "score",
            "active",
            "measure",
            "scope",
            "window",
            "prefixes",
            "lookback_days",
            "new_member_days",
            "scarce_stock",
        ]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        kind, measure, scope = data.get("kind"), data.get("measure"), data.get("scope")
        if kind == RiskRule.Kind.VELOCITY:
            if not measure:
                self.add_error("measure", _("A velocity rule counts something: choose what."))
            if not scope:
                self.add_error("scope", _("A velocity rule counts per something: choose whose count."))
            if scope == RiskRule.Scope.STAFF:
                self.add_error("scope", _("Only coupon-guessing rules count per staff account."))
            elif measure and scope and not measure_supports(measure, scope):
                self.add_error(
                    "scope",
                    _("Redemptions have no store or partner: choose member, device, IP or number range."),
                )
        if kind == RiskRule.Kind.COUPON_GUESSING:
            if scope not in GUESSERS:
                self.add_error("scope", _("Count guessing per partner, per store or per staff account."))
            if data.get("action") not in SUBJECT_ACTIONS:
                self.add_error(
                    "action",
                    _("Guessing is not a member's: the rule can only record or alert the risk desk."),
                )
        if kind == RiskRule.Kind.VIRTUAL_PHONE:
            prefixes = [p.strip() for p in (data.get("prefixes") or "").split(",") if p.strip()]
            wrong = [p for p in prefixes if not re.fullmatch(r"1\d{2,6}", p)]
            if not prefixes:
                self.add_error("prefixes", _("List at least one number range, such as 170."))
            elif wrong:
                self.add_error(
                    "prefixes",
                    _("Not a mobile number range: %(wrong)s (3 to 7 digits starting with 1).")
                    % {"wrong": ", ".join(wrong)},
                )
        if (score := data.get("score")) is not None and score > 100:
            self.add_error("score", _("A score is at most 100."))
        return data


@admin.register(RiskRule)
class RiskRuleAdmin(GovernedAdmin, HistoryAdmin):
    form = RiskRuleForm
    list_display = ["name", "kind", "what", "action", "score", "active", "simulate_link"]
    list_filter = ["kind", "action", "active"]
    search_fields = ["name"]
    fieldsets = [
        (None, {"fields": ["name", "kind", "threshold", "action", "score", "active"]}),
        (_("Counted (velocity, guessing)"), {"fields": ["measure", "scope", "window"]}),
        (_("Patterns"), {"fields": ["lookback_days", "prefixes", "new_member_days", "scarce_stock"]}),
    ]

    @admin.display(description=_("watches"))
    def what(self, rule: RiskRule) -> str:
        if rule.kind == RiskRule.Kind.COUPON_GUESSING:
            return _("unknown codes %(scope)s %(window)s above %(threshold)s") % {
                "scope": rule.get_scope_display().lower(),
                "window": rule.get_window_display().lower(),
                "threshold": f"{rule.threshold:,}",
            }
        if rule.kind == RiskRule.Kind.VELOCITY:
            return _("%(measure)s %(scope)s %(window)s above %(threshold)s") % {
                "measure": rule.get_measure_display(),
                "scope": rule.get_scope_display().lower(),
                "window": rule.get_window_display().lower(),
                "threshold": f"{rule.threshold:,}",
            }
        return _("at %(threshold)s or more") % {"threshold": f"{rule.threshold:,}"}

    @admin.display(description=_("simulation"))
    def simulate_link(self, rule: RiskRule) -> str:
        url = reverse("admin:campaigns_riskrule_simulate", args=[rule.pk])
        return format_html('<a href="{}">{}</a>', url, _("Simulate"))

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("<path:object_id>/simulate/", view(self.simulate_view), name="campaigns_riskrule_simulate"),
            *super().get_urls(),
        ]

    def simulate_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """The rule over past days: how many members and awards it would have held, by day."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        rule = get_object_or_404(RiskRule, pk=object_id)
        bound = "start" in request.GET or "end" in request.GET
        form = SimulationForm(request.GET if bound else None, initial=SimulationForm.defaults())
        result, chart = None, None
        if bound and form.is_valid():
            result = simulate(rule, form.cleaned_data["start"], form.cleaned_data["end"])
            chart = Chart(
                key="cases",
                title=_("Members caught per day")
                if rule.on_members
                else _("Partners, stores or accounts caught per day"),
                kind="bar",
                categories=[f"{day:%m-%d}" for day, _count in result.by_day],
                series=[{"name": _("caught"), "data": [count for _day, count in result.by_day]}],
            )
        rows = []
        if result is not None and not rule.on_members:
            rows = [
                (_("partners, stores or accounts caught"), f"{result.subjects:,}"),
                (_("cases it would have opened"), f"{result.cases:,}"),
            ]
        elif result is not None:
            rows = [
                (_("members caught"), f"{len(result.members):,}"),
                (_("cases it would have opened"), f"{result.cases:,}"),
                (_("awards it would have held"), f"{result.awards_held:,}"),
                (_("points in those awards"), f"{result.points_held:,}"),
                (_("of the members caught, fine as far as is known"), f"{result.proved_fine:,}"),
            ]
        context = {
            **self.admin_site.each_context(request),
            "title": _("Simulate “%(rule)s”") % {"rule": rule.name},
            "opts": RiskRule._meta,
            "original": rule,
            "form": form,
            "result": result,
            "rows": rows,
            "chart_specs": [chart.spec()] if chart else [],
            "chart_title": chart.title if chart else "",
            "media": self.media + form.media,
        }
        return TemplateResponse(request, "admin/campaigns/riskrule/simulate.html", context)


class RiskCaseForm(forms.ModelForm):
    add_note = forms.CharField(
        label=_("Add a note"), required=False, widget=forms.Textarea(attrs={"rows": 3}), max_length=1000
    )

    class Meta:
        model = RiskCase
        fields: list[str] = []


@admin.register(RiskCase)
class RiskCaseAdmin(MemberColumnMixin, HistoryAdmin):
    """The approvers' queue: each case with its evidence; release, reject or freeze; notes."""

    form = RiskCaseForm
    list_display = [
        "found_at",
        "member",
        "subject",
        "rule",
        "summary",
        "score",
        "action",
        "status",
        "decided_by",
    ]
    list_filter = ["status", "rule__kind", "action", "rule"]
    list_select_related = ["member", "rule", "decided_by"]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("member", "rule")

    search_fields = ["key"]  # shows the search box; the search itself is get_search_results
    search_help_text = _("Exact member number.")
    actions = ["release", "reject", "freeze"]
    readonly_fields = (
        "status",
        "rule",
        "member_link",
        "subject",
        "risk_score",
        "summary",
        "facts",
        "related",
        "held_awards",
        "action",
        "found_at",
        "decided_by",
        "decided_at",
        "notes",
    )
    fields = (*readonly_fields, "add_note")

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        return queryset.filter(member_id__in=member_ids(term)), False

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return self.has_view_permission(request, obj)  # the notes; deciding asks for more

    def save_model(self, request, obj, form, change) -> None:
        case_note(obj, actor=request.user, text=form.cleaned_data.get("add_note", ""))

    def log_change(self, request, obj, message):
        return super().log_change(request, obj, _("Note added"))

    def get_actions(self, request):
        actions = super().get_actions(request)
        if not request.user.has_perm(DECIDE_PERMISSION):
            for name in ("release", "reject", "freeze"):
                actions.pop(name, None)
        return actions

    @admin.action(description=_("Release: proved fine, post what was held"))
    def release(self, request, queryset):
        self._decide(request, queryset, case_release, _("%(count)d cases released."))

    @admin.action(description=_("Reject: confirmed, post nothing of what was held"))
    def reject(self, request, queryset):
        self._decide(request, queryset, case_reject, _("%(count)d cases rejected."))

    @admin.action(description=_("Freeze the members: confirmed"))
    def freeze(self, request, queryset):
        self._decide(request, queryset, case_freeze, _("%(count)d members frozen."))

    def _decide(self, request, queryset, decide, done_message) -> None:
        if not request.user.has_perm(DECIDE_PERMISSION):
            raise PermissionDenied

        def log(case: RiskCase) -> None:
            LogEntry.objects.log_actions(request.user.pk, [case], CHANGE, change_message=str(done_message))

        run_each(
            request,
            queryset.filter(status=RiskCase.Status.OPEN).order_by("pk"),
            lambda case: decide(case, actor=request.user),
            done_message,
            log=log,
        )

    def response_change(self, request, obj):
        messages.success(request, _("The note was added."))
        return HttpResponseRedirect(request.path)

    # --- displays ------------------------------------------------------------------------------

    @admin.display(description=_("member"))
    def member_link(self, case: RiskCase) -> str:
        if case.member is None:
            return "-"
        url = reverse("admin:members_member_change", args=[case.member_id])
        return format_html(
            '<a href="{}">{}</a> · {}', url, str(case.member), case.member.get_status_display()
        )

    @admin.display(description=_("member's risk score"))
    def risk_score(self, case: RiskCase) -> int | str:
        return "-" if case.member_id is None else member_risk_score(case.member_id)

    @admin.display(description=_("what the rule saw"))
    def summary(self, case: RiskCase) -> str:
        labels = {
            "measure": _("measure"),
            "scope": _("counted"),
            "value": _("whose"),
            "window": _("window"),
            "from": _("window starts"),
            "count": _("count"),
            "threshold": _("fires above"),
            "prefix": _("number range"),
            "bonus": _("welcome bonus"),
            "cycles": _("refunds after spending"),
            "pattern": _("pattern"),
            "receiver": _("receiving member"),
            "senders": _("senders"),
            "members": _("members"),
            "stores": _("stores"),
            "purchases": _("purchases"),
            "reward": _("reward"),
            "since": _("window starts"),
            "until": _("window ends"),
        }
        summary = case.evidence.get("summary", {})
        return format_html_join(
            "; ", "{}: {}", ((labels.get(k, k), _shown(k, v)) for k, v in summary.items())
        )

    @admin.display(description=_("facts"))
    def facts(self, case: RiskCase) -> str:
        names = {
            "purchase": _("purchase"),
            "purchases": _("purchase"),
            "earned_points": _("points earned"),
            "refunds": _("refund"),
            "redemptions": _("redemption"),
            "redemption": _("redemption"),
            "enrolments": _("enrolment"),
            "welcome_bonus": _("welcome bonus"),
            "refund_after_spend": _("refund after the points were spent"),
            "transfer_in": _("transfer received"),
            "transfer_out": _("transfer sent"),
            "purchase_at_own_store": _("purchase at their own store"),
            "coupon_miss": _("unknown coupon code tried"),
        }
        rows = [
            (names.get(f["what"], f["what"]), f["ref"], _moment(f["at"]), f["amount"])
            for f in case.evidence.get("facts", [])
        ]
        if not rows:
            return "-"
        return format_html(
            '<table class="data-table"><thead><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr></thead>'
            "<tbody>{}</tbody></table>",
            _("fact"),
            _("reference"),
            _("when"),
            _("amount"),
            format_html_join("", "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>", rows),
        )

    @admin.display(description=_("related members (same device or identity)"))
    def related(self, case: RiskCase) -> str:
        ids = related_members(case.member_id) if case.member_id else []
        if not ids:
            return "-"
        members = Member.objects.filter(pk__in=ids).order_by("pk")
        return format_html_join(
            ", ",
            '<a href="{}">{}</a>',
            ((reverse("admin:members_member_change", args=[m.pk]), str(m)) for m in members),
        )

    @admin.display(description=_("awards held for risk"))
    def held_awards(self, case: RiskCase) -> str:
        if case.member_id is None:
            return "-"
        held = AwardReview.objects.filter(
            Q(member_id=case.member_id), reason=AwardReview.Reason.RISK, status=AwardReview.Status.HELD
        ).count()
        url = reverse("admin:campaigns_awardreview_changelist")
        return format_html('<a href="{}?reason=risk_rule&status=held">{}</a>', url, f"{held:,}")

    @admin.display(description=_("notes"))
    def notes(self, case: RiskCase) -> str:
        return format_html_join("", "<p>{}</p>", ((line,) for line in case.note.splitlines())) or "-"


class RiskCaseInline(ReadOnlyInline):
    """The member page's risk cases, newest first (the score and evidence are on each case)."""

    model = RiskCase
    fk_name = "member"
    formset = newest_rows("-found_at", "-id")
    fields = ["found_at", "rule", "score", "action", "status"]
    verbose_name_plural = _("risk cases (latest 20)")
    show_change_link = True

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("rule", "member")


MEMBER_PAGE_INLINES.append(RiskCaseInline)


def cases_waiting(request: HttpRequest) -> str:
    """The sidebar's badge on the risk cases: how many wait for a decision (a record-only rule's
    cases are for reference and do not count); nothing when none."""
    waiting = (
        RiskCase.objects.filter(status=RiskCase.Status.OPEN).exclude(action=RiskRule.Action.RECORD).count()
    )
    return f"{waiting:,}" if waiting else ""


def _shown(key: str, value: Any) -> Any:
    """A value of a case's summary as a reader takes it: choices by their labels, moments to the
    minute, lists joined. Whose count it was (``value``: a device, an address, a partner, an
    account's name) is shown as it is, even when it reads like a choice."""
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    if isinstance(value, str) and re.match(r"\d{4}-\d\d-\d\dT", value):
        return _moment(value)
    if key == "value":
        return value
    labels = {
        **dict(RiskRule.Measure.choices),
        **dict(RiskRule.Scope.choices),
        **dict(RiskRule.Window.choices),
        "fan": _("fan-in toward one account"),
        "ring": _("ring"),
    }
    return labels.get(str(value), value)


def _moment(value: str) -> str:
    """A stored moment (ISO 8601) in the programme's time zone, to the minute."""
    return f"{timezone.localtime(datetime.datetime.fromisoformat(value)):%Y-%m-%d %H:%M}"
