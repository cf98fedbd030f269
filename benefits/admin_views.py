"""The counter's coupon redemption page (核销): type or scan a code, see what it is and what it
takes off the order, redeem it; and the store's redemptions of the last day, each undoable
within its benefit's window.

Step 1 asks for the store, the code and the order's amount (and, for a coupon limited to some
items, the amount of those items); step 2 shows the coupon (what, whose, until when), what it
takes off and, if it cannot be redeemed, why; its "Redeem" button posts the same fields back and
the view calls ``coupon_redeem``. The list's "Undo" buttons call ``coupon_redemption_void``.
Whatever is typed, the page answers with a message, never an error page.
"""

from __future__ import annotations

from decimal import Decimal

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from benefits.baskets import Terms, coupon_terms, items_of
from benefits.coupons import (
    coupon_find,
    coupon_miss_record,
    coupon_redeem,
    coupon_redemption_void,
    normalise_code,
    why_not_redeemable,
)
from benefits.errors import CouponNotRedeemable
from benefits.models import Benefit, Coupon, CouponRedemption
from benefits.selectors import counter_redemptions
from config.common.admin_widgets import ThemedForm
from config.common.errors import BusinessRuleError
from members import masking
from members.admin_helpers import member_label
from members.models import Channel, Store
from members.purchases.baskets import Basket
from members.selectors import stores_of

REDEEM_PERMISSION = "benefits.redeem_coupon"


def plain(value: Decimal) -> str:
    """``Decimal("20.00")`` -> ``20``, ``Decimal("1.50")`` -> ``1.5``."""
    return f"{value.normalize():f}"


def benefit_value(benefit: Benefit) -> str:
    """What the benefit is worth, in the words staff read out (by kind)."""
    kind = Benefit.Kind
    if benefit.kind == kind.AMOUNT_OFF:
        return str(_("¥%(value)s off") % {"value": plain(benefit.value)})
    if benefit.kind == kind.PERCENT_OFF:
        return str(_("%(value)s%% off") % {"value": plain(benefit.value)})
    if benefit.kind == kind.EARN_MULTIPLIER:
        return f"×{plain(benefit.value)}"
    return str(benefit.get_kind_display())


def benefit_conditions(benefit: Benefit) -> str:
    parts = []
    if benefit.min_spend:
        parts.append(str(_("minimum spend ¥%(amount)s") % {"amount": plain(benefit.min_spend)}))
    if benefit.max_discount is not None:
        parts.append(str(_("at most ¥%(amount)s off") % {"amount": plain(benefit.max_discount)}))
    if benefit.limits_lines:
        parts.append(str(_("for %(items)s") % {"items": items_of(benefit)}))
    if benefit.conditions:
        parts.append(benefit.conditions)
    return "; ".join(parts) or "-"


def yuan(amount: Decimal | None) -> str:
    return "-" if amount is None else f"¥{amount:,.2f}"


class RedeemForm(ThemedForm, forms.Form):
    store: forms.ModelChoiceField[Store] = forms.ModelChoiceField(label=_("store"), queryset=None)
    code = forms.CharField(
        label=_("coupon code"),
        max_length=40,
        widget=forms.TextInput(attrs={"autofocus": True, "autocomplete": "off", "size": 24}),
        help_text=_("Type or scan the code; spaces and dashes are ignored."),
    )
    amount = forms.DecimalField(
        label=_("order amount (CNY)"),
        required=False,
        min_value=Decimal(0),
        max_value=Decimal(1_000_000),
        max_digits=12,
        decimal_places=2,
        help_text=_("Needed for a coupon with a minimum spend: it shows what the coupon takes off."),
    )
    eligible_amount = forms.DecimalField(
        label=_("of which the items the coupon is for (CNY)"),
        required=False,
        min_value=Decimal(0),
        max_value=Decimal(1_000_000),
        max_digits=12,
        decimal_places=2,
        help_text=_(
            "Only for a coupon limited to some items (see its conditions): the amount of those items."
        ),
    )

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        stores = stores_of(user).filter(is_active=True).order_by("code")
        store = self.fields["store"]
        assert isinstance(store, forms.ModelChoiceField)
        store.queryset = stores
        if not self.is_bound and "store" not in self.initial:
            only = list(stores[:2])
            if len(only) == 1:
                self.initial["store"] = only[0].pk

    def clean_code(self) -> str:
        code = normalise_code(self.cleaned_data["code"])
        if not code:
            raise forms.ValidationError(_("Type or scan the coupon code."))
        return code

    def clean(self):
        super().clean()
        data = self.cleaned_data
        amount, eligible = data.get("amount"), data.get("eligible_amount")
        if eligible is not None and amount is None and "amount" not in self.errors:
            self.add_error("amount", _("Type the order's amount too."))
        elif eligible is not None and amount is not None and eligible > amount:
            self.add_error("eligible_amount", _("At most the order's amount."))
        return data

    def basket(self) -> Basket:
        data = self.cleaned_data
        return Basket(amount=data.get("amount"), eligible_amount=data.get("eligible_amount"))


def coupon_facts(coupon: Coupon, user) -> list[tuple[str, str]]:
    """What staff need to see before redeeming, the member masked unless they may see it."""
    member = coupon.member
    whose = member_label(member, user)
    if member.mobile:
        phone = member.mobile if masking.can_view_pii(user) else masking.mask_phone(member.mobile)
        whose = f"{whose} · {phone}"
    local = timezone.localtime
    return [
        (str(_("code")), coupon.display_code),
        (str(Coupon._meta.get_field("benefit").verbose_name), coupon.benefit.name),
        (str(_("value")), benefit_value(coupon.benefit)),
        (str(_("conditions")), benefit_conditions(coupon.benefit)),
        (
            str(Coupon._meta.get_field("valid_until").verbose_name),
            f"{local(coupon.valid_until):%Y-%m-%d %H:%M}",
        ),
        (str(Coupon._meta.get_field("member").verbose_name), whose),
        (str(Coupon._meta.get_field("status").verbose_name), str(coupon.get_status_display())),
    ]


def basket_facts(basket: Basket, terms: Terms) -> list[tuple[str, str]]:
    if terms.discount is None:
        return []
    return [
        (str(_("order amount (CNY)")), yuan(basket.amount)),
        (str(_("counted for the coupon")), yuan(terms.eligible_amount)),
        (str(_("discount")), yuan(terms.discount)),
    ]


def recent_rows(user, now) -> list[dict]:
    """The counter's list: its stores' redemptions of the last day, each with whether it can be
    undone now (the member masked unless the user may see them)."""
    rows = []
    for redemption in counter_redemptions(user, now)[:20]:
        coupon = redemption.coupon
        if redemption.voided_at is not None:
            state = str(_("undone %(when)s")) % {"when": f"{timezone.localtime(redemption.voided_at):%H:%M}"}
        elif redemption.void_until is not None and now < redemption.void_until:
            state = str(_("can be undone until %(when)s")) % {
                "when": f"{timezone.localtime(redemption.void_until):%H:%M}"
            }
        else:
            state = ""
        rows.append(
            {
                "id": redemption.pk,
                "when": f"{timezone.localtime(redemption.redeemed_at):%m-%d %H:%M}",
                "store": redemption.store,
                "coupon": str(coupon),
                "member": member_label(coupon.member, user),
                "amount": yuan(redemption.amount),
                "discount": yuan(redemption.discount),
                "state": state,
                "undoable": redemption.voided_at is None
                and redemption.void_until is not None
                and now < redemption.void_until,
            }
        )
    return rows


def undo_view(request: HttpRequest, url: str) -> HttpResponse:
    """The "Undo" button of a redemption in the list: only one of the user's stores' (staff of
    another store are told it is not theirs, and nothing changes)."""
    typed = request.POST.get("void", "")
    redemption = counter_redemptions(request.user).filter(pk=int(typed)).first() if typed.isdigit() else None
    if redemption is None:
        messages.error(request, _("This is not a recent redemption at your stores."))
        return HttpResponseRedirect(url)
    try:
        coupon_redemption_void(redemption, actor=request.user, reason=CouponRedemption.VoidReason.UNDO)
    except BusinessRuleError as exc:
        messages.error(request, exc.message)
    except PermissionDenied as exc:
        messages.error(request, str(exc))
    else:
        messages.success(
            request,
            _("Undone: %(coupon)s can be used again.") % {"coupon": redemption.coupon},
        )
    return HttpResponseRedirect(f"{url}?store={redemption.store_id}")


def redeem_view(request: HttpRequest, admin_site) -> HttpResponse:
    if not request.user.has_perm(REDEEM_PERMISSION):
        raise PermissionDenied
    url = reverse("admin:benefits_coupon_redeem")
    if request.method == "POST" and "void" in request.POST:
        return undo_view(request, url)
    initial = {}
    if request.method == "GET" and request.GET.get("store", "").isdigit():
        initial["store"] = int(request.GET["store"])  # the last store used (a ModelChoiceField checks it)
    form = RedeemForm(request.POST or None, user=request.user, initial=initial)
    coupon, reason, facts = None, "", []
    now = timezone.now()
    if request.method == "POST" and form.is_valid():
        store, code, basket = form.cleaned_data["store"], form.cleaned_data["code"], form.basket()
        if "redeem" in request.POST:
            try:
                redemption = coupon_redeem(
                    code=code, store=store, user=request.user, basket=basket, channel=Channel.STORE
                )
            except CouponNotRedeemable as exc:
                coupon, reason = coupon_find(code), exc.message
            except PermissionDenied as exc:
                form.add_error("store", str(exc))
            else:
                coupon = redemption.coupon
                values = {
                    "benefit": coupon.benefit.name,
                    "code": coupon.display_code,
                    "member": member_label(coupon.member, request.user),
                    "store": store,
                    "discount": yuan(redemption.discount),
                }
                if redemption.discount is None:
                    done = _("Redeemed %(benefit)s (%(code)s) for %(member)s at %(store)s.")
                else:
                    done = _("Redeemed %(benefit)s (%(code)s) for %(member)s at %(store)s: %(discount)s off.")
                messages.success(request, str(done) % values)
                return HttpResponseRedirect(f"{url}?store={store.pk}")
        else:
            coupon = coupon_find(code)
            reason = why_not_redeemable(coupon, now)
            if coupon is not None and not reason:
                try:
                    terms = coupon_terms(
                        coupon.benefit, store=store, channel=Channel.STORE, basket=basket, at=now
                    )
                except CouponNotRedeemable as exc:
                    reason = exc.message
                else:
                    facts = basket_facts(basket, terms)
        if coupon is None and reason:  # no such code: counted against guessing
            coupon_miss_record(code, store=store, user=request.user, at=now)
    if coupon is not None and not reason:
        form.fields["code"].widget.attrs.pop("autofocus", None)  # Enter now redeems
    context = {
        **admin_site.each_context(request),
        "title": _("Redeem a coupon"),
        "opts": Coupon._meta,
        "form": form,
        "coupon": coupon,
        "facts": [*coupon_facts(coupon, request.user), *facts] if coupon is not None else [],
        "reason": reason,
        "checked": request.method == "POST" and form.is_valid(),
        "recent": recent_rows(request.user, now),
    }
    return TemplateResponse(request, "admin/benefits/coupon/redeem.html", context)
