"""Export of purchases (CSV/XLSX) for operators and finance."""

from __future__ import annotations

from config.common.exports import ExportResource
from members.purchases.models import Purchase


class PurchaseResource(ExportResource):
    """One row per purchase; amounts stay numbers (XLSX cells are numeric, CSV plain ``12.50``)."""

    select_related = ("store", "member")

    class Meta:
        model = Purchase
        fields = (
            "source",
            "order_number",
            "channel",
            "store__code",
            "member__member_number",
            "occurred_at",
            "gross_amount",
            "paid_amount",
            "shipping_amount",
            "refunded_amount",
            "status",
        )

    def dehydrate_channel(self, purchase: Purchase) -> str:
        return str(purchase.get_channel_display())

    def dehydrate_status(self, purchase: Purchase) -> str:
        return str(purchase.get_status_display())
