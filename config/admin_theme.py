"""The admin's sidebar (django-unfold, ``UNFOLD["SIDEBAR"]`` in config/settings.py): the pages
grouped by what each role comes for, each link shown only to those who may open it.

A model's link asks the model's own admin what Django's app list asks (module permission, then
view or change), so a role sees exactly the lists it can open, and a permission a ModelAdmin
narrows (store staff lose the points accounts) narrows the sidebar too. A custom page names the
permission its view checks. Titles are the models' own plural names: one translation for both.

Unfold calls ``sidebar`` on every admin page, inside ``each_context``: permissions are read from
the user's cache, which the page has filled already, so building it costs no query.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlsplit

from django.apps import apps
from django.contrib import admin
from django.urls import reverse
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _

Item = dict[str, Any]


def model(label: str, icon: str) -> Item:
    """The changelist of ``app_label.model_name``, for whoever may open it."""
    model_class = apps.get_model(label)
    opts = model_class._meta

    def allowed(request) -> bool:
        model_admin = admin.site._registry.get(model_class)
        return (
            model_admin is not None
            and model_admin.has_module_permission(request)
            and model_admin.has_view_or_change_permission(request)
        )

    return {
        "title": capfirst(opts.verbose_name_plural),
        "icon": icon,
        "link": reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"),
        "permission": allowed,
    }


def page(title, url_name: str, icon: str, perm: str, query: str = "") -> Item:
    """A page of our own (redeem, liability, upload): shown to holders of the permission its
    view checks."""

    def allowed(request) -> bool:
        return request.user.has_perm(perm)

    return {"title": title, "icon": icon, "link": reverse(url_name) + query, "permission": allowed}


def insight(name: str, icon: str) -> Item:
    """One of the insight pages, for the roles its view lets in (``campaigns.insight.admin``)."""
    from campaigns.insight.admin import PAGES, may_open  # the admin is loaded by the first page

    title = next(title for page, title, _perms in PAGES if page == name)

    def allowed(request) -> bool:
        return may_open(request.user, name)

    return {"title": title, "icon": icon, "link": reverse(f"admin:insight_{name}"), "permission": allowed}


def mark_active(groups: list[dict[str, Any]], request) -> None:
    """Only the link that matches the page best is active: unfold would also light up the list
    whose path the page's path starts with (the import runs on the upload page, the campaigns
    on the campaigns to approve)."""
    best, best_score = None, (-1, -1)
    for item in (item for group in groups for item in group["items"]):
        item["active"] = False
        url = urlsplit(str(item["link"]))
        if not request.path.startswith(url.path):
            continue
        wanted = parse_qsl(url.query)
        if any(request.GET.get(key) != value for key, value in wanted):
            continue
        score = (len(url.path), len(wanted))
        if score > best_score and (url.path != reverse("admin:index") or request.path == url.path):
            best, best_score = item, score
    if best is not None:
        best["active"] = True


def sidebar(request) -> list[dict[str, Any]]:
    """The sidebar's groups; unfold hides a group when none of its links is for this user."""
    groups = groups_of_links()
    mark_active(groups, request)
    return groups


def groups_of_links() -> list[dict[str, Any]]:
    return [
        {
            "items": [
                {"title": _("Home"), "icon": "home", "link": reverse("admin:index")},
                page(
                    _("Redeem a coupon"),
                    "admin:benefits_coupon_redeem",
                    "qr_code_scanner",
                    "benefits.redeem_coupon",
                ),
            ],
        },
        {
            # what the programme is doing (数据洞察): above the daily work, as the first page is
            "title": _("Insight"),
            "separator": True,
            "items": [
                insight("dashboard", "monitoring"),
                insight("members", "groups"),
                insight("rfm", "scatter_plot"),
                model("scoring.MemberScore", "leaderboard"),
                insight("points", "toll"),
                insight("behaviour", "shopping_cart"),
                insight("tiers", "workspace_premium"),
                insight("campaigns", "campaign"),
                insight("stores", "storefront"),
                model("insight.StoreSalesDay", "point_of_sale"),
                insight("finance", "account_balance"),
                model("insight.InsightSettings", "tune"),
                model("scoring.ScoringSettings", "tune"),
            ],
        },
        {
            "title": _("Members"),
            "separator": True,
            "items": [
                model("members.Member", "group"),
                model("oneid.DuplicateCandidate", "join_inner"),
                model("oneid.MemberMerge", "merge"),
                model("privacy.ErasureRequest", "person_remove"),
                model("referrals.Referral", "handshake"),
                model("members.Store", "storefront"),
                model("members.Tag", "sell"),
                model("segments.Segment", "filter_alt"),
                model("segments.TagRule", "new_label"),
            ],
        },
        {
            "title": _("Purchases and imports"),
            "separator": True,
            "items": [
                model("purchases.Purchase", "receipt_long"),
                page(
                    _("Import a file"), "admin:imports_importrun_upload", "upload_file", "imports.import_file"
                ),
                model("imports.ImportRun", "history"),
                model("imports.ImportProfile", "view_column"),
            ],
        },
        {
            "title": _("Points"),
            "separator": True,
            "items": [
                model("points.Account", "account_balance_wallet"),
                model("points.Entry", "list_alt"),
                model("points.AdjustmentRequest", "tune"),
                model("households.Household", "family_restroom"),
                model("cash.Hold", "point_of_sale"),
                page(
                    _("Points liability report"),
                    "admin:points_account_liability",
                    "account_balance",
                    "points.view_liability",
                ),
                page(
                    _("Points as cash report"),
                    "admin:cash_hold_report",
                    "payments",
                    "cash.view_cash_report",
                ),
                model("cash.CashRule", "currency_exchange"),
                model("points.PointType", "category"),
            ],
        },
        {
            "title": _("Tiers and benefits"),
            "separator": True,
            "items": [
                model("tiers.Tier", "workspace_premium"),
                model("tiers.TierPolicy", "rule"),
                model("tiers.MemberTier", "military_tech"),
                model("tiers.Plan", "card_membership"),
                model("tiers.Subscription", "autorenew"),
                model("tiers.PlanOrder", "shopping_cart"),
                page(
                    _("Membership fee revenue"),
                    "admin:tiers_subscription_revenue",
                    "account_balance",
                    "tiers.view_deferred_revenue",
                ),
                model("benefits.Benefit", "featured_seasonal_and_gifts"),
                model("benefits.Entitlement", "link"),
                model("benefits.Reward", "shopping_bag"),
                model("benefits.Coupon", "confirmation_number"),
                model("benefits.Redemption", "local_shipping"),
            ],
        },
        {
            "title": _("Campaigns"),
            "separator": True,
            "items": [
                model("campaigns.Campaign", "campaign"),
                page(
                    _("Campaigns to approve"),
                    "admin:campaigns_campaign_changelist",
                    "approval",
                    "campaigns.approve_campaign",
                    query="?status=submitted",
                ),
                model("common.ConfigChange", "published_with_changes"),
                page(
                    _("Programme changes to approve"),
                    "admin:common_configchange_changelist",
                    "fact_check",
                    "common.approve_configchange",
                    query="?status__exact=submitted",
                ),
                model("campaigns.EarnRule", "calculate"),
                model("campaigns.BehaviourRule", "touch_app"),
                model("campaigns.Award", "stars"),
                model("campaigns.AwardReview", "pending_actions"),
                model("campaigns.ReviewLimit", "shield"),
                model("campaigns.RiskRule", "policy"),
                # the badge is the risk desk's alert: cases waiting that a rule wanted looked at
                {**model("campaigns.RiskCase", "gpp_maybe"), "badge": "campaigns.admin_risk.cases_waiting"},
            ],
        },
        {
            "title": _("Message centre"),
            "separator": True,
            "items": [
                model("journeys.Journey", "route"),
                page(
                    _("Journeys to approve"),
                    "admin:journeys_journey_changelist",
                    "approval",
                    "journeys.approve_journey",
                    query="?status=submitted",
                ),
                model("journeys.JourneyEntry", "directions_walk"),
                model("messaging.Template", "edit_note"),
                model("messaging.Message", "outbox"),
                model("messaging.RecordedMessage", "inbox"),
                model("messaging.MessagingSettings", "schedule"),
            ],
        },
        {
            "title": _("Partners and API"),
            "separator": True,
            "items": [
                model("partners.Partner", "handshake"),
                model("partners.PartnerKey", "key"),
                model("webhooks.WebhookEndpoint", "webhook"),
                model("webhooks.WebhookEvent", "send"),
            ],
        },
        {
            "title": _("System and jobs"),
            "separator": True,
            "items": [
                model("django_celery_beat.PeriodicTask", "schedule"),
                model("django_celery_beat.CrontabSchedule", "event_repeat"),
            ],
        },
        {
            "title": _("Users and roles"),
            "separator": True,
            "items": [
                model("auth.User", "person"),
                model("auth.Group", "badge"),
                model("privacy.AccessLog", "visibility"),
                model("privacy.PrivacySettings", "shield_person"),
            ],
        },
    ]
