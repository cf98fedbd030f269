"""One error body everywhere under /api/: ``{"code", "message", "fields"}``, and the status for
each failure (the table of codes is docs/api.md's; tests/api/test_errors.py checks it is whole).

- 400 ``invalid``: the input is malformed; ``fields`` names each field and why;
  ``parse_error``: the body is not JSON;
- 401/403: no valid key / the key's partner lacks the grant;
- 404 ``not_found``: no such object *for this partner* (other partners' objects look the same),
  or no such URL;
- 405 ``method_not_allowed`` (with ``Allow``), 406 ``not_acceptable``, 413 ``too_large``,
  415 ``unsupported_media_type``: the HTTP request itself is not one the API takes;
- 409 ``conflict``: the same number or idempotency key was used for something else;
- 422 ``<rule>``: the input is fine but a business rule refuses it (not enough points ...);
- 429 ``throttled``; 500 ``server_error``.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist, RequestDataTooBig
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, JsonResponse
from django.utils.translation import gettext as _
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from config.common.errors import BusinessRuleError, Conflict


class APIError(exceptions.APIException):
    """An error with an explicit status and code, raised by views."""

    def __init__(self, message: str, *, code: str, status_code: int, fields: dict | None = None) -> None:
        super().__init__(message, code)
        self.status_code = status_code
        self.code = code
        self.fields = fields or {}


def not_found(what: str = "") -> APIError:
    return APIError(what or _("Not found."), code="not_found", status_code=404)


def too_large() -> APIError:
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    return APIError(
        _("The request body is larger than %(kb)d KB.") % {"kb": limit // 1024},
        code="too_large",
        status_code=413,
    )


def body(code: str, message: str, fields: dict[str, list[str]] | None = None) -> dict[str, Any]:
    return {"code": code, "message": str(message), "fields": fields or {}}


def _flatten(detail: Any, prefix: str = "") -> dict[str, list[str]]:
    """DRF's nested error detail as ``{"lines[0].amount": ["..."]}``."""
    out: dict[str, list[str]] = {}
    if isinstance(detail, dict):
        for name, value in detail.items():
            if isinstance(name, int):  # a list's errors by position
                key = f"{prefix}[{name}]"
            else:
                key = f"{prefix}.{name}" if prefix else str(name)
            for k, v in _flatten(value, key).items():
                out.setdefault(k, []).extend(v)
    elif isinstance(detail, list):
        if all(not isinstance(item, dict | list) for item in detail):
            out[prefix or "non_field_errors"] = [str(item) for item in detail]
        else:
            for i, item in enumerate(detail):
                for k, v in _flatten(item, f"{prefix}[{i}]").items():
                    out.setdefault(k, []).extend(v)
    else:
        out[prefix or "non_field_errors"] = [str(detail)]
    return out


def _django_validation(exc: DjangoValidationError) -> Response:
    if hasattr(exc, "error_dict"):
        fields = {
            name: [str(m) for e in errors for m in e.messages] for name, errors in exc.error_dict.items()
        }
        codes = {e.code for errors in exc.error_dict.values() for e in errors}
    else:
        fields = {"non_field_errors": [str(m) for m in exc.messages]}
        codes = {getattr(exc, "code", None)}
    if "conflict" in codes:
        return Response(body("conflict", _("This was already recorded differently."), fields), status=409)
    return Response(body("invalid", _("Some fields are invalid."), fields), status=400)


def _business_rule(exc: BusinessRuleError) -> Response:
    """422 with the rule's code; ``fields`` names the input the rule is about when it says."""
    field = exc.details.get("field")
    data = body(exc.code, exc.message, {str(field): [exc.message]} if field else None)
    if merged_into := exc.details.get("merged_into"):
        data["merged_into"] = merged_into  # member_merged: the member number to use now
    # the figures behind some refusals, beside the code (coupon_minimum_spend: the minimum and
    # the eligible amount); each is in the schema's Error component
    if isinstance(answer := exc.details.get("answer"), dict):
        data.update(answer)
    return Response(data, status=422)


def exception_handler(exc: Exception, context: dict) -> Response | None:
    """DRF's handler, with every error in our shape and services' errors given their status."""
    if isinstance(exc, DjangoValidationError):
        return _django_validation(exc)
    if isinstance(exc, RequestDataTooBig):
        exc = too_large()
    if isinstance(exc, Conflict):
        return Response(body("conflict", exc.message), status=409)
    if isinstance(exc, BusinessRuleError):
        return _business_rule(exc)
    if isinstance(exc, APIError):
        return Response(body(exc.code, str(exc.detail), exc.fields), status=exc.status_code)
    if isinstance(exc, Http404 | ObjectDoesNotExist):
        return Response(body("not_found", _("Not found.")), status=404)
    if isinstance(exc, DjangoPermissionDenied):
        return Response(body("permission_denied", str(exc) or _("Not allowed.")), status=403)
    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # a bug: Django's 500 handler answers (in our shape, see json_500)
    if isinstance(exc, exceptions.ValidationError):
        response.data = body("invalid", _("Some fields are invalid."), _flatten(exc.detail))
    elif isinstance(exc, exceptions.APIException):
        codes = exc.get_codes()
        code = codes if isinstance(codes, str) else "error"
        response.data = body(code, exc.detail if isinstance(exc.detail, str) else _("Request refused."))
    return response


def json_error(status_code: int, code: str, message: str) -> JsonResponse:
    """The error body outside DRF's views, written as DRF's renderer writes it."""
    return JsonResponse(
        body(code, message),
        status=status_code,
        json_dumps_params={"ensure_ascii": False, "separators": (",", ":")},
    )


def json_400(request, exception=None) -> JsonResponse:
    """Django refused the request before any view (e.g. a body over the limit, read by a
    middleware): the same answers as inside the API's views."""
    if isinstance(exception, RequestDataTooBig):
        return json_error(413, "too_large", str(too_large().detail))
    return json_error(status.HTTP_400_BAD_REQUEST, "invalid", _("The request is malformed."))


def json_404(request, exception=None) -> JsonResponse:
    return json_error(status.HTTP_404_NOT_FOUND, "not_found", _("Not found."))


def json_500(request) -> JsonResponse:
    return json_error(500, "server_error", _("Something went wrong on our side; it has been logged."))
