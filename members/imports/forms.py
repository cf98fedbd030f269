"""Forms of the imports admin: the upload, the column mapper and the profile form.

Operators never type JSON: statuses are typed per canonical status (the file's words, comma
separated), store codes as ``file code=our code`` lines, date formats one per line, the
identities a row names its member by are ticked, and columns are mapped by picking, for each
header of a sample file, what it is.
"""

from __future__ import annotations

import datetime
import re
from typing import Any, cast

from django import forms
from django.core import signing
from django.core.exceptions import ValidationError
from django.forms.models import ModelFormMetaclass
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from config.common.admin_widgets import ThemedForm
from members.imports import mapping
from members.imports.legacy import LEGACY
from members.imports.mapping import IDENTITIES, STATUSES
from members.imports.models import ImportProfile
from members.imports.parsing import FileFormat, is_blank, read_table
from members.imports.selectors import sees_every_run
from members.imports.targets import TARGETS
from members.models import Store
from members.selectors import stores_of

#: what separates the words of a list typed in one field: commas (also Chinese ones), 、, ; or lines
SEPARATORS = re.compile(r"[,，、;；\n\r]+")
SAMPLE_ROWS = 5
SAMPLE_SALT = "members.imports.mapper"


def split_words(text: str) -> list[str]:
    words: list[str] = []
    for word in SEPARATORS.split(text or ""):
        word = word.strip()
        if word and word not in words:
            words.append(word)
    return words


# --- upload ----------------------------------------------------------------------------------


#: The layouts one can upload with (store staff: those of purchases only).
ACTIVE_PROFILES = ImportProfile.objects.filter(active=True)


class UploadForm(ThemedForm, forms.Form):
    profile = forms.ModelChoiceField(
        label=_("File layout"),
        queryset=ACTIVE_PROFILES,
        help_text=_("Which system the file comes from; it says what the columns mean."),
    )
    store = forms.ModelChoiceField(
        label=_("Store"),
        queryset=Store.objects.none(),
        required=False,
        help_text=_("When set, rows of other stores are rejected."),
    )
    target = forms.TypedChoiceField(
        label=_("Static segment"),
        coerce=int,
        required=False,
        empty_value=None,
        help_text=_("For a list of members (member numbers or phones): the segment they are added to."),
    )
    file = forms.FileField(
        label=_("File"), help_text=_("CSV (UTF-8 or GBK), TSV or XLSX, as the system exported it.")
    )

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        store = self.fields["store"]
        assert isinstance(store, forms.ModelChoiceField)
        store.queryset = stores_of(user).order_by("code")
        target = TARGETS.get(ImportProfile.Kind.SEGMENT)
        choices = target.choices(user) if target is not None and sees_every_run(user) else []
        if choices:
            field = self.fields["target"]
            assert isinstance(field, forms.TypedChoiceField)
            field.choices = [("", "---------"), *choices]
        else:  # nothing this user may fill: no field
            del self.fields["target"]
        if not sees_every_run(user):
            profiles = self.fields["profile"]
            assert isinstance(profiles, forms.ModelChoiceField)
            # member lists and an old system's data are operators' (``import_preview`` says so too)
            profiles.queryset = ACTIVE_PROFILES.exclude(
                kind__in=[ImportProfile.Kind.MEMBERS, ImportProfile.Kind.SEGMENT, *LEGACY]
            )
            own = list(store.queryset[:2])
            if len(own) == 1:
                self.initial.setdefault("store", own[0].pk)
                store.help_text = _("Your store.")
            else:  # a file without a store column needs one (the preview says so)
                store.help_text = _("Your store the file is from, when its rows do not say.")


# --- the profile form ----------------------------------------------------------------------


class StoreCodesField(forms.Field):
    """{code in the file: our store code}, typed as ``file code=our code`` lines."""

    widget = forms.Textarea(attrs={"rows": 3, "cols": 40})

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)  # to_python strips each line

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, dict):
            return "\n".join(f"{theirs}={ours}" for theirs, ours in value.items())
        return value

    def to_python(self, value: Any) -> dict[str, str]:
        if isinstance(value, dict):
            return value
        codes: dict[str, str] = {}
        for number, line in enumerate(str(value or "").splitlines(), start=1):
            line = line.strip()
            if not line:
                continue
            theirs, sep, ours = line.replace("＝", "=").partition("=")
            if not sep or not theirs.strip() or not ours.strip():
                raise ValidationError(
                    _("Line %(line)d: write it as “code in the file=our store code”.") % {"line": number}
                )
            codes[theirs.strip()] = ours.strip()
        return codes

    def validate(self, value: dict[str, str]) -> None:
        super().validate(value)
        known = {code.upper() for code in Store.objects.values_list("code", flat=True)}
        unknown = sorted({ours for ours in value.values() if ours.upper() not in known})
        if unknown:
            raise ValidationError(_("No store has the code %(codes)s.") % {"codes": ", ".join(unknown)})


class DateFormatsField(forms.Field):
    """strptime patterns, one per line."""

    widget = forms.Textarea(attrs={"rows": 2, "cols": 40})

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)  # to_python strips each line

    def prepare_value(self, value: Any) -> Any:
        return "\n".join(value) if isinstance(value, list | tuple) else value

    def to_python(self, value: Any) -> list[str]:
        if isinstance(value, list):
            return value
        return [line.strip() for line in str(value or "").splitlines() if line.strip()]

    def validate(self, value: list[str]) -> None:
        super().validate(value)
        moment = datetime.datetime(2026, 11, 28, 13, 45, 30)
        for pattern in value:
            try:
                ok = "%" in pattern and datetime.datetime.strptime(moment.strftime(pattern), pattern)
            except ValueError:
                ok = False
            if not ok:
                raise ValidationError(
                    _("“%(pattern)s” is not a date format (e.g. %%Y/%%m/%%d %%H:%%M).") % {"pattern": pattern}
                )


def status_field_name(status: str) -> str:
    return f"statuses_{status}"


STATUS_FIELDS = [status_field_name(status) for status in STATUSES]
#: Fields that mean nothing for a member list.
PURCHASES_ONLY = [
    "store_codes",
    "gross_includes_shipping",
    "reject_invalid_mobile",
    "unknown_member",
    "return_match_days",
    "earns",
]


class _ProfileFormBase(forms.ModelForm):
    member_match = forms.MultipleChoiceField(
        label=_("Match members by"),
        choices=[(name, mapping.PURCHASE_FIELDS[name]) for name in IDENTITIES],
        widget=forms.CheckboxSelectMultiple,
        help_text=_("The identities a row's member is looked up by; a row naming two members is rejected."),
    )
    store_codes = StoreCodesField(
        label=_("Store codes"),
        help_text=_("One per line, “code in the file=our store code”, for files that use other codes."),
    )
    date_formats = DateFormatsField(
        label=_("Date formats"),
        help_text=format_lazy(
            "{} {}",
            _("Only for unusual dates: one pattern per line, e.g. %d.%m.%Y %H:%M."),
            _("Dates like 2026-11-01 10:00, 2026/11/01 and 2026年11月1日 are read without one."),
        ),
    )

    class Meta:
        model = ImportProfile
        fields = [
            "name",
            "code",
            "source",
            "channel",
            "file_format",
            "encoding",
            "delimiter",
            "unknown_member",
            "gross_includes_shipping",
            "reject_invalid_mobile",
            "earns",
            "active",
            "member_match",
            "store_codes",
            "date_formats",
            "return_match_days",
        ]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.kind == ImportProfile.Kind.MEMBERS or self.instance.kind in LEGACY:
            # Declared fields are always on a model form: drop what a member list has not.
            for name in [*STATUS_FIELDS, *PURCHASES_ONLY]:
                self.fields.pop(name, None)
        if self.instance.kind in LEGACY:
            self.fields.pop("member_match")  # by member number, phone or card, always
        by_status: dict[str, list[str]] = {}
        for text, status in (self.instance.statuses or {}).items():
            by_status.setdefault(status, []).append(text)
        for status in STATUSES:
            name = status_field_name(status)
            if name in self.fields:
                self.initial.setdefault(name, ", ".join(by_status.get(status, [])))

    def clean_member_match(self) -> list[str]:
        ticked = self.cleaned_data["member_match"]
        previous = [name for name in self.instance.member_match or [] if name in ticked]
        chosen = previous + [name for name in IDENTITIES if name in ticked and name not in previous]
        columns = self.instance.columns or {}
        if self.instance.pk and not any(name in columns for name in chosen):
            raise ValidationError(_("Tick at least one that the profile has a column for."))
        return chosen

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        statuses: dict[str, str] = {}
        for status in STATUSES:
            name = status_field_name(status)
            if name not in self.fields:
                continue
            for text in split_words(data.get(name, "")):
                if text in statuses and statuses[text] != status:
                    self.add_error(
                        name,
                        _("“%(text)s” is already under %(other)s: a word means one status.")
                        % {"text": text, "other": STATUSES[statuses[text]]},
                    )
                statuses[text] = status
        self.statuses = statuses
        return data

    def save(self, commit: bool = True) -> ImportProfile:
        if any(status_field_name(status) in self.fields for status in STATUSES):
            self.instance.statuses = self.statuses
        return super().save(commit)


# The metaclass of every ModelForm, called as ``class`` would, with one field per status.
ProfileForm = ModelFormMetaclass(
    "ProfileForm",
    (_ProfileFormBase,),
    {
        "__module__": __name__,
        "__doc__": "An import profile; each canonical status gets a field of the file's words for it.",
        **{
            status_field_name(status): forms.CharField(
                label=label,
                required=False,
                help_text=_("The file's words for it, separated by commas."),
                widget=forms.TextInput(attrs={"size": 60}),
            )
            for status, label in STATUSES.items()
        },
    },
)


# --- the column mapper ---------------------------------------------------------------------


class SampleForm(ThemedForm, forms.Form):
    """Step 1: a sample file, and for a new profile what kind of rows it has."""

    kind = forms.ChoiceField(label=_("The rows are"), choices=ImportProfile.Kind.choices)
    file_format = forms.ChoiceField(
        label=_("File format"), choices=ImportProfile.FileFormat.choices, initial="auto"
    )
    encoding = forms.ChoiceField(label=_("Encoding"), choices=ImportProfile.Encoding.choices, initial="auto")
    delimiter = forms.ChoiceField(
        label=_("Delimiter"), choices=ImportProfile.Delimiter.choices, required=False, initial=""
    )
    sample_file = forms.FileField(
        label=_("Sample file"), help_text=_("A file exported by the system, with its header row.")
    )

    def __init__(self, *args: Any, profile: ImportProfile | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.profile = profile
        if profile is not None:  # remapping: the profile says how its files are read
            for name in ("kind", "file_format", "encoding", "delimiter"):
                del self.fields[name]

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        upload = data.get("sample_file")
        if upload is None or self.errors:
            return data
        source = self.profile or ImportProfile(
            kind=data["kind"],
            file_format=data["file_format"],
            encoding=data["encoding"],
            delimiter=data.get("delimiter") or "",
        )
        data["sample"] = read_sample(upload.read(), source)
        data["sample"]["file_name"] = upload.name
        return data


def read_sample(data: bytes, profile: ImportProfile) -> dict[str, Any]:
    """The header and the first rows of a file, as its profile would read them."""
    table = read_table(
        data,
        file_format=cast(FileFormat, profile.file_format),
        encoding=profile.encoding,
        delimiter=profile.delimiter or None,
    )
    headers: list[str] | None = None
    rows: list[list[str]] = []
    try:
        for _number, cells in table:
            if is_blank(cells):
                continue
            if headers is None:
                headers = cells
                continue
            rows.append((cells + [""] * len(headers))[: len(headers)])
            if len(rows) == SAMPLE_ROWS:
                break
    except ValueError as exc:
        raise ValidationError(str(exc), code="unreadable") from None
    if not headers or not any(headers):
        raise ValidationError(_("The file is empty."), code="empty")
    return {
        "kind": profile.kind,
        "file_format": profile.file_format,
        "encoding": profile.encoding,
        "delimiter": profile.delimiter or "",
        "headers": headers,
        "rows": rows,
    }


def sample_token(sample: dict[str, Any]) -> str:
    """The sample travels with the mapping form (signed), so a form error needs no new upload."""
    return signing.dumps(sample, salt=SAMPLE_SALT, compress=True)


def sample_from_token(token: str) -> dict[str, Any]:
    return signing.loads(token, salt=SAMPLE_SALT)


class ColumnsForm(ThemedForm, forms.Form):
    """Step 2: for each header of the sample, which canonical field it is (or none)."""

    sample = forms.CharField(widget=forms.HiddenInput)

    def __init__(
        self,
        *args: Any,
        sample: dict[str, Any],
        token: str,
        known: dict[str, list[str]] | None = None,
        required: tuple[str, ...] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.sample_data, self.required = sample, required
        self.kind = sample["kind"]
        self.headers: list[str] = sample["headers"]
        self.initial["sample"] = token
        choices = [("", _("— not imported —"))] + [
            (field, mapping.field_label(self.kind, field)) for field in mapping.fields_of(self.kind)
        ]
        suggested = mapping.suggestions(self.kind, self.headers, known or {})
        for index, header in enumerate(self.headers):
            if not header:
                continue  # a column without a name cannot be found again in the next file
            self.fields[f"column_{index}"] = forms.ChoiceField(
                label=header, choices=choices, required=False, initial=suggested[index]
            )

    def columns(self) -> list[dict[str, Any]]:
        """Per column of the sample: its header, its select (or None), and its sample cells."""
        return [
            {
                "header": header,
                "field": self[f"column_{index}"] if f"column_{index}" in self.fields else None,
                "cells": [row[index] for row in self.sample_data["rows"]],
            }
            for index, header in enumerate(self.headers)
        ]

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        chosen: dict[str, str] = {}
        for index, header in enumerate(self.headers):
            field = data.get(f"column_{index}") or ""
            if header in chosen and (field or chosen[header]):
                raise ValidationError(
                    _("Two columns are named “%(header)s”: rename one in the file first.")
                    % {"header": header}
                )
            chosen[header] = field
        mapping.mapping_check(self.kind, chosen, self.required)
        self.mapping = chosen
        return data


class NewProfileForm(ThemedForm, forms.ModelForm):
    """Step 2 of a new profile: what to call it and where its rows come from."""

    class Meta:
        model = ImportProfile
        fields = ["name", "code", "source", "channel"]
        help_texts = {
            "code": _("Letters, digits, - and _; used on the command line: --profile CODE."),
        }
