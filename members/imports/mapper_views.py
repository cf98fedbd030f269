"""The column mapper: a new import profile (or a profile's columns again) from a sample file.

Two steps on one page: the sample's headers and first rows with a select per header, then the
profile saved with its columns (``members.imports.mapping`` turns the choices into columns) and
the change logged. Nothing is written while the sample is read.
"""

from __future__ import annotations

from django.contrib import messages
from django.core import signing
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.translation import gettext as _

from members.imports.forms import ColumnsForm, NewProfileForm, SampleForm, sample_from_token, sample_token
from members.imports.mapping import columns_from_mapping, member_match_for
from members.imports.models import ImportProfile
from members.imports.profiles import SHIPPED
from members.imports.views import page_context


def mapper_view(request: HttpRequest, model_admin, object_id: str | None = None) -> HttpResponse:
    """New profile (or a profile's columns again) from a sample file, in two steps on one page:
    the sample's headers and first rows, a select per header, then the profile saved."""
    profile = None
    if object_id is not None:
        profile = model_admin.get_object(request, object_id)
        if profile is None:
            raise Http404
        if not model_admin.has_change_permission(request, profile):
            raise PermissionDenied
    elif not model_admin.has_add_permission(request):
        raise PermissionDenied
    known = profile.columns if profile else None
    shipped = SHIPPED.get(profile.code) if profile is not None and profile.builtin else None
    required = shipped.required if shipped else None
    sample_form = columns_form = details_form = None
    step = request.POST.get("step")
    if request.method == "POST" and step == "2":
        try:
            sample = sample_from_token(request.POST.get("sample", ""))
            if profile is not None and sample["kind"] != profile.kind:
                raise signing.BadSignature("a sample of another page")
        except signing.BadSignature:
            sample_form = SampleForm(profile=profile)
            messages.error(request, _("The sample was lost; please upload it again."))
        else:
            columns_form = ColumnsForm(
                request.POST, sample=sample, token=request.POST["sample"], known=known, required=required
            )
            details_form = NewProfileForm(request.POST) if profile is None else None
            if columns_form.is_valid() and (details_form is None or details_form.is_valid()):
                saved = _save_mapping(
                    request, model_admin, profile, details_form, sample, columns_form.mapping
                )
                return HttpResponseRedirect(reverse("admin:imports_importprofile_change", args=[saved.pk]))
    elif request.method == "POST":
        sample_form = SampleForm(request.POST, request.FILES, profile=profile)
        if sample_form.is_valid():
            sample = sample_form.cleaned_data["sample"]
            columns_form = ColumnsForm(
                sample=sample, token=sample_token(sample), known=known, required=required
            )
            if profile is None:
                details_form = NewProfileForm(
                    initial={"channel": "store" if sample["kind"] == "purchases" else "import"}
                )
            sample_form = None
    else:
        sample_form = SampleForm(profile=profile)
    if profile is None:
        title = _("New import profile (map the columns of a file)")
    else:
        title = _("Map the columns of “%(profile)s” from a file") % {"profile": profile}
    context = page_context(
        request,
        model_admin,
        title,
        original=profile,
        sample_form=sample_form,
        columns_form=columns_form,
        details_form=details_form,
        kind_label=(ImportProfile.Kind(columns_form.kind).label if columns_form is not None else None),
        media=model_admin.media,
    )
    return TemplateResponse(request, "admin/imports/mapper.html", context)


def _save_mapping(request, model_admin, profile, details_form, sample, chosen) -> ImportProfile:
    if profile is None:
        profile = details_form.save(commit=False)
        profile.kind = sample["kind"]
        profile.file_format = sample["file_format"]
        profile.encoding = sample["encoding"]
        profile.delimiter = sample["delimiter"]
        profile.columns = columns_from_mapping(chosen)
        profile.member_match = member_match_for(profile.columns)
        profile.save()
        model_admin.log_addition(request, profile, [{"added": {}}])
        messages.success(
            request,
            _("The profile “%(profile)s” is saved and can be chosen for an import now.")
            % {"profile": profile},
        )
    else:
        profile.columns = columns_from_mapping(chosen, profile.columns)
        profile.member_match = member_match_for(profile.columns, profile.member_match)
        profile.save()
        model_admin.log_change(
            request,
            profile,
            _("Columns mapped from the file %(file)s.") % {"file": sample.get("file_name", "")},
        )
        messages.success(request, _("The columns of “%(profile)s” are saved.") % {"profile": profile})
    if "status" in profile.columns and not profile.statuses:
        messages.warning(
            request,
            " ".join(
                [
                    _("Say below which words of the file's status column mean a sale, a return and so on."),
                    _("Until then its rows are rejected as of unknown status."),
                ]
            ),
        )
    return profile
