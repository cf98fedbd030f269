"""OpenAPI details drf-spectacular cannot infer: the key scheme, the Idempotency-Key header
and the error responses every operation can give (so schema checks know them)."""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import get_doc
from drf_spectacular.utils import OpenApiParameter

from members.partners.services import IDEMPOTENCY_TTL

ERROR_STATUSES = {
    "400": "Invalid input: `fields` names each field and why (`parse_error`: the body is not JSON).",
    "401": "No key, or the key is not valid (revoked, expired).",
    "403": "The key's partner is not granted this operation.",
    "404": "No such object for this partner (other partners' objects look the same).",
    "406": "The request's `Accept` does not allow JSON.",
    "409": "Conflict: the number or Idempotency-Key was used for something else.",
    "422": "A business rule refuses it: not enough points, coupon already used, out of stock ...",
    "429": "Too many requests for this key: wait and retry.",
}
#: Only where there is a body.
BODY_ERROR_STATUSES = {
    "413": "The body is larger than the server takes.",
    "415": "The body is not `application/json`.",
}

#: How long a stored answer is replayed: the one figure the schema and docs/api.md state.
RETENTION_HOURS = int(IDEMPOTENCY_TTL.total_seconds() // 3600)

ERROR_SCHEMA = {
    "type": "object",
    "properties": {
        "code": {"type": "string", "description": "Stable, machine-readable: invalid, not_found ..."},
        "message": {"type": "string", "description": "For people, in the request's language."},
        "fields": {
            "type": "object",
            "additionalProperties": {"type": "array", "items": {"type": "string"}},
            "description": "Per field (`lines[0].amount`), what is wrong with it.",
        },
        "merged_into": {
            "type": "string",
            "description": "With `member_merged` only: the number of the member this one was merged into.",
        },
        "minimum_spend": {
            "type": "string",
            "format": "decimal",
            "description": "With `coupon_minimum_spend` only: the coupon's minimum spend, CNY.",
        },
        "eligible_amount": {
            "type": "string",
            "format": "decimal",
            "description": "With `coupon_minimum_spend` only: what of the basket counts for the coupon, CNY.",
        },
        "void_until": {
            "type": "string",
            "format": "date-time",
            "description": "With `coupon_void_window_passed` only: until when it could be undone.",
        },
    },
    "required": ["code", "message", "fields"],
}


class PartnerKeyScheme(OpenApiAuthenticationExtension):
    target_class = "members.partners.api.auth.PartnerKeyAuthentication"
    name = "PartnerKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Authorization: Api-Key <key>`; keys are created by the brand's operators.",
        }


class PartnerAutoSchema(AutoSchema):
    # drf-spectacular's AutoSchema redefines DRF's get_description(path, method) without
    # arguments; the DRF stubs know only DRF's.
    def get_description(self) -> str:  # type: ignore[override]
        """The handler's docstring, else the view's own: not one inherited from the framework's
        base classes, which is written for developers (drf-spectacular falls back on those)."""
        handler = getattr(self.view, getattr(self.view, "action", None) or self.method.lower(), None)
        own = type(self.view).__dict__.get("__doc__")
        return (get_doc(handler) if handler else "") or (get_doc(type(self.view)) if own else "")

    def get_override_parameters(self):
        parameters = super().get_override_parameters()
        if self.method == "POST" and getattr(self.view, "idempotent", False):
            parameters.append(
                OpenApiParameter(
                    "Idempotency-Key",
                    str,
                    OpenApiParameter.HEADER,
                    required=True,
                    pattern=r"^[\x21-\x7e]{1,255}$",
                    description=(
                        "One per operation (a UUID). A retry with the same key gets the first "
                        "response back with `Idempotent-Replayed: true`; the same key with "
                        f"another body is a 409. Answers are kept at least {RETENTION_HOURS} hours."
                    ),
                )
            )
        return parameters


def add_errors(result, generator, request, public):
    """Every operation may answer with the error body; say so, once, as a component. And text
    query parameters refuse NUL characters, as Django's forms and DRF do."""
    result.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    for path in result.get("paths", {}).values():
        for method, operation in path.items():
            for parameter in operation.get("parameters", []):
                schema = parameter.get("schema", {})
                if schema.get("type") == "string" and not {"enum", "pattern", "format"} & schema.keys():
                    schema["pattern"] = r"^[^\x00]*$"
            if method == "post" and "requestBody" in operation:
                # A POST without a body is read as `{}`, which no POST here accepts (a PATCH
                # without one changes nothing, and is a 200).
                operation["requestBody"]["required"] = True
            responses = operation.setdefault("responses", {})
            statuses = ERROR_STATUSES | (BODY_ERROR_STATUSES if "requestBody" in operation else {})
            for code, description in sorted(statuses.items()):
                responses.setdefault(
                    code,
                    {
                        "description": description,
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
                    },
                )
    return result
