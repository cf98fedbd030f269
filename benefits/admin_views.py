"""The counter's coupon redemption page (核销): type or scan a code, see what it is, redeem it.

Step 1 asks for the store and the code; step 2 shows the coupon (what, whose, until when) and,
if it cannot be redeemed, why; its "Redeem" button posts the code and store back and the view
calls ``coupon_redeem``. Whatever is typed, the page answers with a message, never an error page.
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

from benefits.coupons import coupon_find, coupon_redeem, normalise_code, why_not_redeemable
from benefits.errors import CouponNotRedeemable
from benefits.models import Benefit, Coupon
from config.common.admin_widgets import ThemedForm
from members import masking
from members.admin_helpers import member_label
from members.models import Store
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
    if benefit.conditions:
        parts.append(benefit.conditions)
    return "; ".join(parts) or "-"


class RedeemForm(ThemedForm, forms.Form):
    store: forms.ModelChoiceField[Store] = forms.ModelChoiceField(label=_("store"), queryset=None)
    code = forms.CharField(
        label=_("coupon code"),
        max_length=40,
        widget=forms.TextInput(attrs={"autofocus": True, "autocomplete": "off", "size": 24}),
        help_text=_("Type or scan the code; spaces and dashes are ignored."),
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


def redeem_view(request: HttpRequest, admin_site) -> HttpResponse:
    if not request.user.has_perm(REDEEM_PERMISSION):
        raise PermissionDenied
    url = reverse("admin:benefits_coupon_redeem")
    initial = {}
    if request.method == "GET" and request.GET.get("store", "").isdigit():
        initial["store"] = int(request.GET["store"])  # the last store used (a ModelChoiceField checks it)
    form = RedeemForm(request.POST or None, user=request.user, initial=initial)
    coupon, reason = None, ""
    if request.method == "POST" and form.is_valid():
        store, code = form.cleaned_data["store"], form.cleaned_data["code"]
        if "redeem" in request.POST:
            try:
                coupon = coupon_redeem(code=code, store=store, user=request.user)
            except CouponNotRedeemable as exc:
                coupon, reason = coupon_find(code), exc.message
            except PermissionDenied as exc:
                form.add_error("store", str(exc))
            else:
                messages.success(
                    request,
                    _("Redeemed %(benefit)s (%(code)s) for %(member)s at %(store)s.")
                    % {
                        "benefit": coupon.benefit.name,
                        "code": coupon.display_code,
                        "member": member_label(coupon.member, request.user),
                        "store": store,
                    },
                )
                return HttpResponseRedirect(f"{url}?store={store.pk}")
        else:
            coupon = coupon_find(code)
            reason = why_not_redeemable(coupon, timezone.now())
    if coupon is not None and not reason:
        form.fields["code"].widget.attrs.pop("autofocus", None)  # Enter now redeems
    context = {
        **admin_site.each_context(request),
        "title": _("Redeem a coupon"),
        "opts": Coupon._meta,
        "form": form,
        "coupon": coupon,
        "facts": coupon_facts(coupon, request.user) if coupon is not None else [],
        "reason": reason,
        "checked": request.method == "POST" and form.is_valid(),
    }
    return TemplateResponse(request, "admin/benefits/coupon/redeem.html", context)
