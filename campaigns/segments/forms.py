"""The condition row of the segment form: one select of values for every field that takes a
choice (grouped by field; the page's script shows the chosen field's group only)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from campaigns.segments.conditions import FIELDS
from campaigns.segments.models import Condition, Field

_SEP = ":"


def choice_options() -> list[tuple[str, Any]]:
    """("", "---") then one group per field with choices; each value is "field:value", since two
    fields may share a value ("new" is a stage, "store" a channel)."""
    groups: list[tuple[str, Any]] = [("", "---------")]
    for field, spec in FIELDS.items():
        if spec.choices:
            groups.append(
                (str(Field(field).label), [(f"{field}{_SEP}{v}", label) for v, label in spec.choices])
            )
    return groups


def field_inputs() -> dict[str, list[str]]:
    """For the page's script: which value columns each field shows."""
    return {str(field): list(spec.inputs) for field, spec in FIELDS.items()}


class ConditionForm(forms.ModelForm):
    choice = forms.ChoiceField(label=_("value"), required=False, choices=choice_options)

    class Meta:
        model = Condition
        fields = ["group", "field", "operator", "choice", "number", "days", "tier", "store", "tag", "text"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk and self.instance.choice:
            self.initial["choice"] = f"{self.instance.field}{_SEP}{self.instance.choice}"

    def clean_choice(self) -> str:
        value: str = self.cleaned_data["choice"]
        field = self.cleaned_data.get("field") or self.data.get(self.add_prefix("field"), "")
        owner, _sep, choice = value.partition(_SEP)
        if value and owner != field:
            return ""  # a value left from another field: the model's check says one is needed
        return choice
