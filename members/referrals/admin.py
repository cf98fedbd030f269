"""Referrals in the admin: the list (会员 › 推荐关系) and the member page's two tables: who
referred the member, and whom they referred. Personal data masked for roles without it."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import Q
from django.utils.functional import lazystr
from django.utils.translation import gettext_lazy as _

from config.common.admin import LargeTablePaginator, ReadOnlyAdmin, ReadOnlyInline, local_date, newest_rows
from members import masking
from members.admin import MEMBER_PAGE_INLINES
from members.admin_helpers import MemberColumnMixin, member_ids
from members.models import Member
from members.referrals.models import Referral


def _full(member: Member) -> str:
    return f"{member.member_number} {member.name} {member.mobile or ''}".strip()


@admin.register(Referral)
class ReferralAdmin(MemberColumnMixin, ReadOnlyAdmin):
    """Who referred whom, newest first (the referrer's index gives one referrer's referees)."""

    list_display = [
        "created_at",
        "referrer",
        "referee",
        "code",
        "channel",
        "device_id",
        "first_purchase_handled",
    ]
    pii_columns = {
        "referrer": ("referrer_full", "referrer_masked"),
        "referee": ("referee_full", "referee_masked"),
        "device_id": ("device_full", "device_masked"),
    }
    list_filter = ["channel"]
    list_select_related = ["referrer", "referee"]
    search_fields = ["=code"]  # shows the search box; the search itself is get_search_results
    search_help_text = _("Referral code, or the member number of the referrer or the referee.")
    show_full_result_count = False
    paginator = LargeTablePaginator
    list_per_page = 50

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        ids = member_ids(term)
        found = Q(code=term.upper()) | Q(referrer_id__in=ids) | Q(referee_id__in=ids)
        return queryset.filter(found), False

    @admin.display(description=_("referrer"))
    def referrer_full(self, obj: Referral) -> str:
        return _full(obj.referrer)

    @admin.display(description=_("referrer"))
    def referrer_masked(self, obj: Referral) -> str:
        return f"{obj.referrer} {masking.mask_phone(obj.referrer.mobile)}".strip()

    @admin.display(description=_("referee"))
    def referee_full(self, obj: Referral) -> str:
        return _full(obj.referee)

    @admin.display(description=_("referee"))
    def referee_masked(self, obj: Referral) -> str:
        return f"{obj.referee} {masking.mask_phone(obj.referee.mobile)}".strip()

    @admin.display(description=_("device id"))
    def device_full(self, obj: Referral) -> str:
        return obj.device_id

    @admin.display(description=_("device id"))
    def device_masked(self, obj: Referral) -> str:
        return masking.mask_identifier(obj.device_id) if obj.device_id else ""

    @admin.display(description=_("first purchase handled"))
    def first_purchase_handled(self, obj: Referral) -> str:
        return local_date(obj.settled_at) if obj.settled_at else ""


class ReferredByInline(ReadOnlyInline):
    model = Referral
    fk_name = "referee"
    fields = ["referrer", "code", "channel", "created_at", "settled_at"]
    verbose_name_plural = _("Referred by")


class RefereesInline(ReadOnlyInline):
    model = Referral
    fk_name = "referrer"
    formset = newest_rows("-created_at", "-id")
    fields = ["referee", "code", "channel", "created_at", "settled_at"]
    verbose_name_plural = _("Members they referred")

    def get_formset(self, request, obj=None, **kwargs):
        if obj is not None:  # inline instances are made per request: the count is this page's
            count = Referral.objects.filter(referrer=obj).count()
            title = _("Members they referred: %(count)d (the newest 20 shown)") % {"count": count}
            self.verbose_name_plural = lazystr(title)
        return super().get_formset(request, obj, **kwargs)


MEMBER_PAGE_INLINES.extend([ReferredByInline, RefereesInline])
