"""Benefits admin: the catalogue (benefits, entitlements, rewards); coupons and the counter's
redemption page are ``benefits.admin_coupons``, the fulfilment queue ``benefits.admin_redemptions``. An
interface only: voiding and redeeming go through ``benefits.coupons``, reward changes through
``benefits.rewards``.

Adds to the tier and plan pages (entitlements, the ladder's benefits column) and to the member
page (latest coupons and redemptions) through the registries of the apps below.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypedDict

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import Count, OuterRef, Prefetch, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _

from benefits.admin_views import benefit_value
from benefits.models import Benefit, Coupon, Entitlement, Redemption, Reward
from benefits.rewards import reward_update
from config.common.admin import (
    ReadableListsMixin,
    ReadOnlyInline,
    TabularInline,
    newest_rows,
)
from config.common.admin_governance import GovernedAdmin
from config.common.admin_widgets import WEEKDAYS, ListField, join_list
from members.admin import MEMBER_PAGE_INLINES
from members.admin_helpers import HistoryAdmin, WhereAndWhenForm
from members.models import Channel
from tiers.admin import PLAN_PAGE_INLINES, TIER_LADDER_COLUMNS, TIER_PAGE_INLINES, LadderColumn
from tiers.models import Tier

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise, WithAnnotations


class _LadderColumns(TypedDict):
    active_entitlements: list[Entitlement]  # the Prefetch's to_attr (TIER_LADDER_COLUMNS)


class _RedeemedColumn(TypedDict):
    redeemed: int  # RewardAdmin.get_queryset's annotation


def local_time(moment) -> str:
    return f"{timezone.localtime(moment):%Y-%m-%d %H:%M}" if moment else "-"


# --- catalogue --------------------------------------------------------------------------------


class BenefitForm(WhereAndWhenForm):
    """Operators tick channels and weekdays and type categories and SKUs: never JSON."""

    categories = ListField(
        label=capfirst(_("categories")),
        help_text=_("It applies to lines in these categories (or of the SKUs below). Empty: every line."),
    )
    skus = ListField(
        label=capfirst(_("SKUs")),
        help_text=_("It applies to lines of these SKUs (or in the categories above). Empty: every line."),
    )
    excluded_categories = ListField(
        label=capfirst(_("excluded categories")),
        help_text=_(
            "Lines in these categories count for nothing: neither for the minimum spend nor the discount."
        ),
    )
    excluded_skus = ListField(
        label=capfirst(_("excluded SKUs")),
        help_text=_("Lines of these SKUs count for nothing. Separate them with commas or put one per line."),
    )

    class Meta:
        model = Benefit
        fields = [
            "name",
            "kind",
            "value",
            "max_discount",
            "valid_days",
            "conditions",
            "active",
            "stores",
            "channels",
            "weekdays",
            "hour_from",
            "hour_to",
            "min_spend",
            "categories",
            "skus",
            "excluded_categories",
            "excluded_skus",
            "void_window_minutes",
        ]
        help_texts = {
            "stores": _("Empty: every store."),
            "hour_from": _("0 to 23, the shop's local time. Empty: from midnight."),
        }


@admin.register(Benefit)
class BenefitAdmin(ReadableListsMixin, HistoryAdmin):
    form = BenefitForm
    readable = {
        "channels": "channels_display",
        "weekdays": "weekdays_display",
        "categories": "categories_display",
        "skus": "skus_display",
        "excluded_categories": "excluded_categories_display",
        "excluded_skus": "excluded_skus_display",
    }
    list_display = ["name", "kind", "value_display", "min_spend", "valid_days", "conditions", "active"]
    list_filter = ["kind", "active"]
    search_fields = ["name"]
    autocomplete_fields = ["stores"]
    fieldsets = [
        (None, {"fields": ["name", "kind", "value", "max_discount", "valid_days", "conditions", "active"]}),
        (
            _("Where and when"),
            {
                "fields": ["stores", "channels", "weekdays", "hour_from", "hour_to"],
                "description": _("Every condition that is set must hold; an empty one does not restrict."),
            },
        ),
        (
            _("The basket"),
            {
                "fields": ["min_spend", "categories", "skus", "excluded_categories", "excluded_skus"],
                "description": _(
                    "The minimum spend and the discount count only the lines the coupon applies to."
                ),
            },
        ),
        (_("Undoing a redemption"), {"fields": ["void_window_minutes"]}),
    ]

    @admin.display(description=_("value"), ordering="value")
    def value_display(self, benefit: Benefit) -> str:
        return benefit_value(benefit)

    @admin.display(description=_("channels"))
    def channels_display(self, benefit: Benefit) -> str:
        labels = dict(Channel.choices)
        return join_list(labels.get(c, c) for c in benefit.channels) or "-"

    @admin.display(description=_("weekdays"))
    def weekdays_display(self, benefit: Benefit) -> str:
        labels = dict(WEEKDAYS)
        return join_list(labels.get(int(d), d) for d in benefit.weekdays) or "-"

    @admin.display(description=_("categories"))
    def categories_display(self, benefit: Benefit) -> str:
        return join_list(benefit.categories) or "-"

    @admin.display(description=_("SKUs"))
    def skus_display(self, benefit: Benefit) -> str:
        return join_list(benefit.skus) or "-"

    @admin.display(description=_("excluded categories"))
    def excluded_categories_display(self, benefit: Benefit) -> str:
        return join_list(benefit.excluded_categories) or "-"

    @admin.display(description=_("excluded SKUs"))
    def excluded_skus_display(self, benefit: Benefit) -> str:
        return join_list(benefit.excluded_skus) or "-"


class EntitlementInline(TabularInline):
    model = Entitlement
    fields = ["benefit", "quantity", "period", "active"]
    extra = 0
    autocomplete_fields = ["benefit"]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("benefit")


class TierEntitlementInline(EntitlementInline):
    fk_name = "tier"


class PlanEntitlementInline(EntitlementInline):
    fk_name = "plan"


@admin.display(description=_("benefits"))
def tier_benefits(tier: WithAnnotations[Tier, _LadderColumns]) -> str:
    entitlements = tier.active_entitlements  # prefetched, see TIER_LADDER_COLUMNS below
    if not entitlements:
        return "-"
    return format_html_join(
        mark_safe("<br>"),
        "{} ×{} · {}",
        ((e.benefit.name, e.quantity, e.get_period_display()) for e in entitlements),
    )


TIER_PAGE_INLINES.append(TierEntitlementInline)
PLAN_PAGE_INLINES.append(PlanEntitlementInline)
TIER_LADDER_COLUMNS.append(
    LadderColumn(
        display=tier_benefits,
        prefetch=(
            Prefetch(
                "entitlements",
                queryset=Entitlement.objects.filter(active=True).select_related("benefit").order_by("id"),
                to_attr="active_entitlements",
            ),
        ),
    )
)


@admin.register(Entitlement)
class EntitlementAdmin(GovernedAdmin, HistoryAdmin):
    list_display = ["benefit", "tier", "plan", "quantity", "period", "active"]
    list_filter = ["tier", "plan", "period", "active"]
    list_select_related = ["benefit", "tier", "plan"]
    fields = ["benefit", "tier", "plan", "quantity", "period", "active"]
    autocomplete_fields = ["benefit"]


class RewardForm(forms.ModelForm):
    class Meta:
        model = Reward
        fields = [
            "name",
            "kind",
            "points_price",
            "benefit",
            "active",
            "stock",
            "per_member_limit",
            "min_tier",
            "valid_from",
            "valid_until",
        ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "stock" in self.fields:
            # the value the operator saw, posted back: see RewardAdmin.save_model
            self.fields["stock"].show_hidden_initial = True

    def stock_shown(self) -> int | None:
        raw = self.data.get(self.add_initial_prefix("stock"))
        try:
            return self.fields["stock"].to_python(raw)
        except ValidationError:
            return self.initial.get("stock")


@admin.register(Reward)
class RewardAdmin(GovernedAdmin, HistoryAdmin):
    form = RewardForm
    list_display = [
        "name",
        "kind",
        "price_display",
        "stock_display",
        "redeemed",
        "per_member_limit",
        "min_tier",
        "valid_from",
        "valid_until",
        "active",
    ]
    list_filter = ["kind", "active", "min_tier"]
    list_select_related = ["min_tier"]
    search_fields = ["name"]
    autocomplete_fields = ["benefit"]
    fieldsets = [
        (None, {"fields": ["name", "kind", "points_price", "benefit", "active"]}),
        (_("Stock and limits"), {"fields": ["stock", "per_member_limit", "min_tier"]}),
        (_("On offer"), {"fields": ["valid_from", "valid_until"]}),
    ]

    def get_queryset(self, request):
        # one indexed count per reward on the page (redemptions are looked up by reward id)
        taken = (
            Redemption.objects.filter(reward=OuterRef("pk"))
            .exclude(status=Redemption.Status.CANCELLED)
            .order_by()
            .values("reward")
            .annotate(n=Count("pk"))
            .values("n")
        )
        return super().get_queryset(request).annotate(redeemed=Coalesce(Subquery(taken), 0))

    @admin.display(description=_("price in points"), ordering="points_price")
    def price_display(self, reward: Reward) -> str:
        return f"{reward.points_price:,}"

    @admin.display(description=_("stock"), ordering="stock")
    def stock_display(self, reward: Reward) -> StrOrPromise:
        return _("unlimited") if reward.stock is None else f"{reward.stock:,}"

    @admin.display(description=_("redeemed"), ordering="redeemed")
    def redeemed(self, reward: WithAnnotations[Reward, _RedeemedColumn]) -> str:
        return f"{reward.redeemed:,}"

    def save_model(self, request, obj: Reward, form, change: bool) -> None:
        if not change:
            super().save_model(request, obj, form, change)
            return
        typed = obj.stock
        reward_update(obj, stock_shown=form.stock_shown(), actor=request.user)
        if "stock" in form.changed_data and obj.stock != typed:
            messages.warning(
                request,
                _("Units were redeemed while the form was open: the stock is now %(stock)s.")
                % {"stock": obj.stock},
            )


# --- the member page --------------------------------------------------------------------------


class CouponInline(ReadOnlyInline):
    model = Coupon
    formset = newest_rows("-issued_at", "-id")
    fields = ["display_code", "benefit", "status", "valid_until", "redeemed"]
    verbose_name_plural = _("coupons (latest 20)")
    show_change_link = True

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("benefit", "redeemed_store")

    @admin.display(description=_("code"))
    def display_code(self, coupon: Coupon) -> str:
        return coupon.display_code

    @admin.display(description=_("used"))
    def redeemed(self, coupon: Coupon) -> str:
        if coupon.redeemed_at is None:
            return "-"
        return format_html("{} · {}", local_time(coupon.redeemed_at), coupon.redeemed_store or "")


class RedemptionInline(ReadOnlyInline):
    model = Redemption
    formset = newest_rows("-created_at", "-id")
    fields = ["created_at", "reward", "points", "status", "tracking_number"]
    verbose_name_plural = _("redemptions (latest 20)")
    show_change_link = True

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("reward")


MEMBER_PAGE_INLINES.extend([CouponInline, RedemptionInline])

from benefits import admin_coupons, admin_redemptions  # noqa: E402, F401  (register coupons, the fulfilment queue)
