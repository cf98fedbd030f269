"""The campaign's own admin pages: lifecycle buttons, the simulation and the results.

Each is an interface only: a lifecycle button posts to ``transition_view``, which calls
``lifecycle_transition``; the simulation page calls ``campaign_simulate`` (it writes nothing);
the results page calls ``campaign_results``. Whatever the service refuses comes back as a
message on the page, never as an error page.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.contrib import messages
from django.core.exceptions import FieldDoesNotExist, PermissionDenied, ValidationError
from django.db import models
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from campaigns.forms import SimulationForm, TransitionForm, status_label
from campaigns.models import Campaign
from campaigns.results import campaign_results
from campaigns.services import ACTIONS, allowed_actions, lifecycle_transition
from campaigns.simulation import campaign_simulate
from config.common.admin import add_service_error
from config.common.formats import cny, percent, whole

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

#: the lifecycle buttons, in the order of ``ACTIONS``; the history keeps the services' labels
BUTTONS = {
    "submit": _("Submit for approval"),
    "approve": _("Approve"),
    "reject": _("Send back to draft"),
    "withdraw": _("Withdraw to draft"),
    "schedule": _("Schedule"),
    "pause": _("Pause"),
    "resume": _("Resume"),
    "end": _("End now"),
}


# --- figures in the words and units operators read ---------------------------------------------


def moment(value) -> str:
    return f"{timezone.localtime(value):%Y-%m-%d %H:%M}" if value else "-"


def window(campaign: Campaign) -> str:
    return f"{moment(campaign.starts_at)} – {moment(campaign.ends_at)}"


def budget_used(campaign: Campaign) -> str:
    """``2,500 / 10,000`` (points given of the budget), and the CNY budget's the same way."""
    parts = []
    if campaign.budget_points is not None:
        parts.append(f"{campaign.spent_points:,} / {campaign.budget_points:,}")
    if campaign.budget_cny is not None:
        parts.append(f"{cny(campaign.spent_cny)} / {cny(campaign.budget_cny)}")
    if not parts:
        return str(_("no budget"))  # only budgeted campaigns keep a running total
    return " · ".join(parts)


def service_refusal(exc: ValidationError, model: type[models.Model] = Campaign) -> str:
    """A service's ValidationError in one sentence, naming the fields (of ``model``) it is about."""
    if not hasattr(exc, "error_dict"):
        return " ".join(exc.messages)
    parts = []
    for name, errors in exc.message_dict.items():
        try:
            field = model._meta.get_field(name)
            label = str(field.verbose_name) if isinstance(field, models.Field) else ""
        except FieldDoesNotExist:  # e.g. "__all__": the message says it all
            label = ""
        text = " ".join(errors)
        parts.append(f"{label}: {text}" if label else text)
    return " ".join(parts)


# --- the change page's lifecycle panel ----------------------------------------------------------


FROZEN = _("Its settings are frozen now. To change them, withdraw it to draft; it then needs approval again.")
RAN = _("Its settings stay as they ran. To change what it does, end it and create a new one.")


def status_note(campaign: Campaign, can_change: bool) -> str:
    """What the operator can do about the campaign's settings in its status."""
    S = Campaign.Status
    if campaign.status == S.DRAFT:
        if can_change:
            return str(_("A draft: change it as needed, then submit it for approval."))
        return str(_("A draft: its author is still working on it."))
    if campaign.status in ACTIONS["withdraw"][0]:
        return str(FROZEN)
    return str(RAN)


def lifecycle_context(request: HttpRequest, campaign: Campaign, can_change: bool) -> dict[str, Any]:
    actions = allowed_actions(campaign, request.user)
    pk = campaign.pk
    return {
        "lifecycle_buttons": [(action, BUTTONS[action]) for action in actions],
        "campaign_status": status_label(campaign),
        "lifecycle_url": reverse("admin:campaigns_lifecycle_transition", args=[pk]),
        "status_note": status_note(campaign, can_change),
        "simulate_url": (
            reverse("admin:campaigns_campaign_simulate", args=[pk])
            if campaign.trigger == Campaign.Trigger.PURCHASE
            else None
        ),
        "results_url": reverse("admin:campaigns_campaign_results", args=[pk]),
    }


def _campaign_for(request: HttpRequest, model_admin, object_id: str) -> Campaign:
    """The campaign, for roles that may see campaigns (403 for the others, before any lookup)."""
    if not model_admin.has_view_permission(request):
        raise PermissionDenied
    campaign = model_admin.get_object(request, object_id)
    if campaign is None:
        raise Http404
    return campaign


def transition_view(request: HttpRequest, model_admin, object_id: str) -> HttpResponse:
    """One lifecycle step of a campaign or journey from the change page's buttons; back to the
    page with the outcome."""
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    campaign = _campaign_for(request, model_admin, object_id)
    opts = model_admin.model._meta
    back = HttpResponseRedirect(
        reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[campaign.pk])
    )
    form = TransitionForm(request.POST)
    if not form.is_valid():
        for errors in form.errors.values():
            messages.error(request, " ".join(str(message) for message in errors))  # ErrorList: the texts
        return back
    action, note = form.cleaned_data["action"], form.cleaned_data["note"]
    try:
        campaign = lifecycle_transition(campaign, action, actor=request.user, note=note)
    except PermissionDenied as exc:
        messages.error(request, str(exc) or _("You may not do this."))
        return back
    except ValidationError as exc:
        messages.error(request, service_refusal(exc, model_admin.model))
        return back
    done = str(ACTIONS[action][1])
    model_admin.log_change(request, campaign, f"{done}: {note}" if note else done)
    messages.success(
        request,
        _("“%(campaign)s”: %(done)s. Status now: %(status)s.")
        % {"campaign": campaign.name, "done": done, "status": status_label(campaign)},
    )
    return back


# --- simulation ----------------------------------------------------------------------------------


def simulation_rows(result) -> list[tuple[StrOrPromise, StrOrPromise]]:
    ran_out = moment(result.budget_ran_out_at) if result.budget_ran_out_at else _("not within the range")
    return [
        (_("purchases scanned"), whole(result.purchases)),
        (_("sales"), cny(result.sales)),
        (_("points it would have given"), whole(result.points)),
        (_("growth value it would have given"), whole(result.growth)),
        (_("cost"), cny(result.cny)),
        (_("cost as a share of sales"), percent(result.cost_share)),
        (_("members reached"), whole(result.reached)),
        (_("held out (control group)"), whole(result.held_out)),
        (_("coupons"), whole(result.coupons)),
        (_("budget runs out"), str(ran_out)),
    ]


def simulate_view(request: HttpRequest, model_admin, object_id: str) -> HttpResponse:
    """The campaign over past purchases: the form asks for the dates, the figures follow."""
    campaign = _campaign_for(request, model_admin, object_id)
    bound = "start" in request.GET or "end" in request.GET
    form = SimulationForm(request.GET if bound else None, initial=SimulationForm.defaults())
    result = None
    if bound and form.is_valid():
        start, end = form.moments()
        try:
            result = campaign_simulate(campaign, start=start, end=end)
        except ValidationError as exc:
            add_service_error(form, exc)
    context = {
        **model_admin.admin_site.each_context(request),
        "title": _("Simulate “%(campaign)s”") % {"campaign": campaign.name},
        "opts": Campaign._meta,
        "original": campaign,
        "form": form,
        "result": result,
        "rows": simulation_rows(result) if result is not None else [],
        "is_purchase": campaign.trigger == Campaign.Trigger.PURCHASE,
        "media": model_admin.media + form.media,
    }
    return TemplateResponse(request, "admin/campaigns/campaign/simulate.html", context)


# --- results -------------------------------------------------------------------------------------


def results_rows(campaign: Campaign, results) -> list[tuple[StrOrPromise, StrOrPromise]]:
    no_budget = _("no budget")
    uplift: StrOrPromise
    if results.control == 0:
        uplift = _("no control group")
    elif results.uplift is None:
        uplift = _("the control group bought nothing")
    else:
        uplift = percent(results.uplift, signed=True)
    redeemed = whole(results.coupons_redeemed)
    if results.coupons:
        redeemed = f"{redeemed} ({percent(Decimal(results.coupons_redeemed) / results.coupons)})"
    return [
        (_("participants"), whole(results.participants)),
        (_("control group"), whole(results.control)),
        (_("points given (net of refunds)"), whole(results.points)),
        (_("cost (net of refunds)"), cny(results.cny)),
        (_("growth value given"), whole(results.growth)),
        (
            _("budget left (points)"),
            no_budget if results.budget_points_left is None else whole(results.budget_points_left),
        ),
        (
            _("budget left (CNY)"),
            no_budget if results.budget_cny_left is None else cny(results.budget_cny_left),
        ),
        (_("coupons granted"), whole(results.coupons)),
        (_("coupons redeemed"), redeemed),
        (_("sales per participant"), cny(results.sales_per_participant)),
        (_("sales per control group member"), cny(results.sales_per_control)),
        (_("uplift"), str(uplift)),
    ]


def results_view(request: HttpRequest, model_admin, object_id: str) -> HttpResponse:
    campaign = _campaign_for(request, model_admin, object_id)
    results = campaign_results(campaign)
    context = {
        **model_admin.admin_site.each_context(request),
        "title": _("Results of “%(campaign)s”") % {"campaign": campaign.name},
        "opts": Campaign._meta,
        "original": campaign,
        "window": window(campaign),
        "campaign_status": status_label(campaign),
        "rows": results_rows(campaign, results),
    }
    return TemplateResponse(request, "admin/campaigns/campaign/results.html", context)
