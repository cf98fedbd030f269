"""Form fields in the admin's theme (django-unfold).

Unfold styles the fields a ModelAdmin makes from model fields (its ``formfield_overrides``). A
field a form declares itself keeps the widget it was given, a plain Django one that the theme's
stylesheet leaves bare: the forms of our own pages (upload, redeem, adjust, simulate) and the
fields admin forms add (an import profile's statuses). ``theme_widgets`` gives each such field
the theme's widget of the same kind, keeping its attributes and choices.
"""

from __future__ import annotations

import re
from typing import Any

from django import forms
from django.contrib.admin import widgets as admin_widgets
from django.core.exceptions import ValidationError
from django.forms.boundfield import BoundField
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _
from unfold import widgets as unfold

#: Django's widget (exactly this class: a subclass is somebody's own) -> the theme's equivalent.
THEMED: dict[type[forms.Widget], type[forms.Widget]] = {
    forms.TextInput: unfold.UnfoldAdminTextInputWidget,
    forms.EmailInput: unfold.UnfoldAdminEmailInputWidget,
    forms.URLInput: unfold.UnfoldAdminURLInputWidget,
    forms.NumberInput: unfold.UnfoldAdminIntegerFieldWidget,
    forms.PasswordInput: unfold.UnfoldAdminPasswordWidget,
    forms.Textarea: unfold.UnfoldAdminTextareaWidget,
    forms.Select: unfold.UnfoldAdminSelectWidget,
    forms.SelectMultiple: unfold.UnfoldAdminSelectMultipleWidget,
    forms.NullBooleanSelect: unfold.UnfoldAdminNullBooleanSelectWidget,
    forms.RadioSelect: unfold.UnfoldAdminRadioSelectWidget,
    forms.CheckboxSelectMultiple: unfold.UnfoldAdminCheckboxSelectMultipleWidget,
    forms.CheckboxInput: unfold.UnfoldBooleanWidget,
    forms.FileInput: unfold.UnfoldAdminFileFieldWidget,
    forms.ClearableFileInput: unfold.UnfoldAdminFileFieldWidget,
    admin_widgets.AdminTextInputWidget: unfold.UnfoldAdminTextInputWidget,
    admin_widgets.AdminTextareaWidget: unfold.UnfoldAdminTextareaWidget,
    admin_widgets.AdminDateWidget: unfold.UnfoldAdminSingleDateWidget,
    admin_widgets.AdminSplitDateTime: unfold.UnfoldAdminSplitDateTimeWidget,
}


class MonthInput(unfold.UnfoldAdminTextInputWidget):
    """A month picker (``2026-12``) in the theme: the browser's own, as Django has none."""

    input_type = "month"


def themed(widget: forms.Widget) -> forms.Widget:
    """The theme's widget for ``widget``, or ``widget`` itself when the theme has none for it."""
    theirs = THEMED.get(type(widget))
    if theirs is None:
        return widget
    new: Any = theirs(attrs={key: value for key, value in widget.attrs.items() if key != "class"})
    if hasattr(widget, "choices"):
        new.choices = widget.choices
    new.is_required = widget.is_required
    new.is_localized = widget.is_localized
    return new


class ThemedForm(forms.BaseForm):
    """A form drawn in the theme: ``class F(ThemedForm, forms.Form)``. Each field takes the
    theme's widget when it is first drawn, so fields a form adds in its ``__init__`` (after
    Django's) are drawn in the theme too; its label starts with a capital, as the admin's
    labels of model fields do ("store" reads "Store")."""

    def __getitem__(self, name: str) -> BoundField:
        if name in self.fields:
            field = self.fields[name]  # the form's own copy: the class's field is left alone
            field.widget = themed(field.widget)
            if field.label:
                field.label = capfirst(field.label)
        return super().__getitem__(name)


def themed_form(form_class: type[forms.BaseForm]) -> type[forms.BaseForm]:
    """``form_class`` drawn in the theme (what a ModelAdmin's ``get_form`` hands out)."""
    if issubclass(form_class, ThemedForm):
        return form_class
    return type(form_class.__name__, (ThemedForm, form_class), {})


#: what separates items typed in a list field: commas (also the Chinese ones), 、, ; and new lines
SEPARATORS = re.compile(r"[,，、;；\n\r]+")


def split_list(text: str) -> list[str]:
    """``"食品, 烟酒\\n酒水"`` -> ``["食品", "烟酒", "酒水"]``: trimmed, no blanks, no repeats."""
    items: list[str] = []
    for item in SEPARATORS.split(text or ""):
        item = item.strip()
        if item and item not in items:
            items.append(item)
    return items


def join_list(items) -> str:
    return ", ".join(str(item) for item in items or [])


class ListField(forms.CharField):
    """A JSON list of strings, typed as text separated by commas or new lines."""

    widget = forms.Textarea(attrs={"rows": 2, "cols": 60})

    def __init__(self, *, max_item_length: int = 64, **kwargs: Any) -> None:
        self.max_item_length = max_item_length
        kwargs.setdefault("required", False)
        kwargs.setdefault("help_text", _("Separate them with commas or put one per line."))
        super().__init__(strip=True, **kwargs)

    def prepare_value(self, value: Any) -> str:
        if isinstance(value, list | tuple):
            return join_list(value)
        return super().prepare_value(value)

    def to_python(self, value: Any) -> list[str]:  # type: ignore[override]
        if isinstance(value, list | tuple):
            return [str(item) for item in value]
        items = split_list(super().to_python(value) or "")
        if too_long := [item for item in items if len(item) > self.max_item_length]:
            raise ValidationError(
                _("Too long to be one item: %(item)s. Separate items with commas."),
                params={"item": too_long[0]},
                code="item_too_long",
            )
        return items

    def has_changed(self, initial: Any, data: Any) -> bool:
        if self.disabled:
            return False
        try:
            return self.to_python(initial) != self.to_python(data)
        except ValidationError:
            return True


def ticks() -> forms.CheckboxSelectMultiple:
    """Checkboxes side by side, styled like the admin's horizontal radio buttons."""
    return forms.CheckboxSelectMultiple(attrs={"class": "radiolist inline"})
