"""Awards: what the earning pipeline gave for each fact, every line explained in the reader's
words. Read-only, for finance and support; adds the member's latest earnings to the member page.
"""

from __future__ import annotations

from django.contrib import admin
from django.db.models import Prefetch, Q
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy as _

from campaigns.earning.explain import award_text, line_text
from campaigns.models import Award, AwardLine
from config.common.admin import LargeTablePaginator, ReadOnlyAdmin, ReadOnlyInline, newest_rows
from members.admin import MEMBER_PAGE_INLINES
from members.admin_helpers import MemberColumnMixin, member_ids


def award_fact(award: Award) -> str:
    """The fact the award answers, in the reader's words (``campaigns.earning.explain.award_text``)."""
    return award_text(award)


def award_lines(award: Award) -> list[AwardLine]:
    """The lines, prefetched by the list that shows the award, else read here in one query."""
    if "lines" in getattr(award, "_prefetched_objects_cache", {}):
        return list(award.lines.all())
    return list(AwardLine.objects.filter(award=award).select_related("point_type", "coupon__benefit"))


def lines_prefetch(lookup: str = "lines") -> Prefetch:
    return Prefetch(
        lookup, queryset=AwardLine.objects.select_related("point_type", "coupon__benefit").order_by("id")
    )


def explanation(award: Award) -> str:
    lines = award_lines(award)
    if not lines:
        return "-"
    return format_html_join(mark_safe("<br>"), "{}", ((line_text(line),) for line in lines))


def signed_total(award: Award, code: str) -> str:
    """The award's lines of one point type (``points``, ``growth``) summed: ``+1,851``."""
    lines = award_lines(award)
    total = sum(line.amount for line in lines if line.point_type is not None and line.point_type.code == code)
    return f"{total:+,}" if total else "0"


@admin.register(Award)
class AwardAdmin(MemberColumnMixin, ReadOnlyAdmin):
    """Read-only, for finance and support: why a member got what they got."""

    list_display = ["key", "member", "kind", "occurred_at", "points_display", "growth_display"]
    list_filter = ["kind"]
    list_select_related = ["member"]
    search_fields = ["key"]  # shows the search box; the search itself is get_search_results
    search_help_text = _("Exact key or member number.")
    show_full_result_count = False
    paginator = LargeTablePaginator
    list_per_page = 100
    ordering = ["-id"]
    sortable_by = ()
    fields = readonly_fields = (
        "key",
        "kind",
        "member_link",
        "fact",
        "occurred_at",
        "created_at",
        "explanation_display",
    )

    def get_queryset(self, request):
        # the page's lines in one more query (not in the capped count, which stays on awards alone)
        return (
            super()
            .get_queryset(request)
            .select_related("member", "purchase", "refund", "event__event_type")
            .prefetch_related(lines_prefetch())
        )

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        return queryset.filter(Q(key=term) | Q(member_id__in=member_ids(term))), False

    @admin.display(description=_("points"))
    def points_display(self, award: Award) -> str:
        return signed_total(award, "points")

    @admin.display(description=_("growth value"))
    def growth_display(self, award: Award) -> str:
        return signed_total(award, "growth")

    @admin.display(description=_("member"))
    def member_link(self, award: Award) -> str:
        url = reverse("admin:members_member_change", args=[award.member_id])
        return format_html('<a href="{}">{}</a>', url, award.member)

    @admin.display(description=_("fact"))
    def fact(self, award: Award) -> str:
        return award_fact(award)

    @admin.display(description=_("explanation"))
    def explanation_display(self, award: Award) -> str:
        return explanation(award)


class AwardInline(ReadOnlyInline):
    """The member page's latest earnings, each line in words ("金卡 ×1.5 +617 积分")."""

    model = Award
    fk_name = "member"
    formset = newest_rows("-id")
    fields = ["occurred_at", "fact", "points", "explanation"]
    verbose_name_plural = _("earnings (latest 20)")
    show_change_link = True

    def get_queryset(self, request):
        # two queries whatever the number of awards and lines: awards with their facts, then lines
        return (
            super()
            .get_queryset(request)
            .select_related("purchase", "refund", "event__event_type")
            .prefetch_related(lines_prefetch())
        )

    @admin.display(description=_("fact"))
    def fact(self, award: Award) -> str:
        return award_fact(award)

    @admin.display(description=_("points"))
    def points(self, award: Award) -> str:
        return signed_total(award, "points")

    @admin.display(description=_("explanation"))
    def explanation(self, award: Award) -> str:
        return explanation(award)


MEMBER_PAGE_INLINES.append(AwardInline)
