"""What the ledger admin exports: one row per points entry, labels in the exporting user's language."""

from __future__ import annotations

from config.common.exports import ExportResource, column
from points.models import Account, Entry


class EntryResource(ExportResource):
    """Entries as the ledger list shows them; amounts stay signed numbers (``-100`` is not quoted)."""

    point_type = column(Account, "point_type", "account__point_type__name")
    actor = column(Entry, "actor", "actor__username")

    select_related = ("account__member", "account__point_type", "actor")

    class Meta:
        model = Entry
        fields = (
            "id",
            "created_at",
            "account__member__member_number",
            "point_type",
            "kind",
            "amount",
            "balance_after",
            "source",
            "source_ref",
            "reason",
            "actor",
        )

    def dehydrate_kind(self, entry: Entry) -> str:
        return str(entry.get_kind_display())

    def dehydrate_source(self, entry: Entry) -> str:
        return str(entry.get_source_display())
