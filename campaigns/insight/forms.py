"""The filter bar of the insight pages: a period (presets or custom) and store, channel, tier."""

from __future__ import annotations

import datetime
from typing import Any

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from campaigns.insight.query import Query
from config.common.admin_widgets import MonthInput, ThemedForm
from members.models import Channel, Store
from members.scoring.models import Segment as RfmSegment
from tiers.models import Tier

PRESETS = [
    ("7", _("Last 7 days")),
    ("30", _("Last 30 days")),
    ("90", _("Last 90 days")),
    ("year", _("This year")),
    ("custom", _("Custom")),
]

#: The longest custom period a page accepts (the rollups keep more; the charts get unreadable).
MAX_DAYS = 3 * 366


class FilterForm(ThemedForm, forms.Form):
    period = forms.ChoiceField(label=_("period"), choices=PRESETS, initial="30", required=False)
    start = forms.DateField(
        label=_("first day"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    end = forms.DateField(label=_("last day"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    store = forms.ModelChoiceField(label=_("store"), queryset=Store.objects.none(), required=False)
    channel = forms.ChoiceField(
        label=_("channel"), choices=[("", _("All channels")), *Channel.choices], required=False
    )
    tier = forms.ModelChoiceField(
        label=_("tier"), queryset=Tier.objects.order_by("rank"), required=False, empty_label=_("All tiers")
    )

    def __init__(self, *args: Any, stores: Any, every_store: bool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.stores = stores
        self.every_store = every_store
        store = self.fields["store"]
        assert isinstance(store, forms.ModelChoiceField)
        store.queryset = stores.order_by("code")
        store.empty_label = _("All stores") if every_store else _("All my stores")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("period") == "custom":
            start, end = data.get("start"), data.get("end")
            if not start or not end:
                raise forms.ValidationError(_("A custom period needs a first and a last day."))
            if end < start:
                self.add_error("end", _("The last day is before the first."))
            elif (end - start).days >= MAX_DAYS:
                self.add_error("end", _("A period is at most three years."))
        return data

    def query(self) -> Query:
        """The query the page answers (the default period when the form is not valid)."""
        data = self.cleaned_data if self.is_valid() else {}
        today = timezone.localdate()
        period = data.get("period") or "30"
        if period == "custom":
            start, end = data["start"], data["end"]
        elif period == "year":
            start, end = today.replace(month=1, day=1), today
        else:
            start, end = today - datetime.timedelta(days=int(period) - 1), today
        store = data.get("store")
        if store is not None:
            stores: tuple[int, ...] | None = (store.pk,)
        elif self.every_store:
            stores = None
        else:
            stores = tuple(self.stores.values_list("pk", flat=True))
        tier = data.get("tier")
        return Query(start, end, stores, data.get("channel") or "", tier.pk if tier else None)


class MonthsForm(ThemedForm, forms.Form):
    """The roll-forward's months, drawn with the months the page shows (``from``, ``to``: the
    parameters are Python keywords, so the fields are added here)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["from"] = forms.CharField(label=_("first month"), widget=MonthInput(), required=False)
        self.fields["to"] = forms.CharField(label=_("last month"), widget=MonthInput(), required=False)


class SaveSegmentForm(forms.Form):
    """The RFM page's "save as segment": which RFM segment's members, under what name."""

    rfm = forms.ChoiceField(label=_("RFM segment"), choices=RfmSegment.choices)
    name = forms.CharField(label=_("segment name"), max_length=60, strip=True)
