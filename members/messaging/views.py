"""Public endpoints of the message centre: the unsubscribe page a message links to, and the
gateways' callbacks (SMS replies, delivery receipts), signed with MESSAGING_CALLBACK_SECRET.
Thin: each parses, checks, and calls one function of ``replies``."""

from __future__ import annotations

import json

from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from members.messaging import replies
from members.models import ConsentChannel


@require_http_methods(["GET", "POST"])
def unsubscribe_view(request: HttpRequest, token: str) -> HttpResponse:
    target = replies.unsubscribe_target(token)
    if target is None:
        raise Http404
    member, consent = target
    done = request.method == "POST"
    if done:
        replies.unsubscribe(member, consent, source="unsubscribe link")
    channel = ConsentChannel(consent).label
    return render(request, "messaging/unsubscribe.html", {"channel": channel, "done": done})


def _signed_json(request: HttpRequest, fields: tuple[str, ...]) -> dict[str, str] | JsonResponse:
    if not replies.signature_valid(
        request.body, request.headers.get("X-Timestamp", ""), request.headers.get("X-Signature", "")
    ):
        return JsonResponse({"error": _("The signature or its timestamp is not valid.")}, status=401)
    try:
        data = json.loads(request.body)
    except ValueError:
        return JsonResponse({"error": _("The body is not JSON.")}, status=400)
    if not isinstance(data, dict):
        return JsonResponse({"error": _("The body is not a JSON object.")}, status=400)
    for field in fields:
        if not isinstance(data.get(field), str) or not data[field]:
            return JsonResponse({"error": _("%(field)s: a text is needed.") % {"field": field}}, status=400)
    return data


@csrf_exempt
@require_POST
def sms_reply_view(request: HttpRequest) -> JsonResponse:
    data = _signed_json(request, ("phone", "text"))
    if isinstance(data, JsonResponse):
        return data
    return JsonResponse({"unsubscribed": replies.sms_reply(data["phone"], data["text"])})


@csrf_exempt
@require_POST
def receipt_view(request: HttpRequest) -> JsonResponse:
    data = _signed_json(request, ("reference", "status"))
    if isinstance(data, JsonResponse):
        return data
    if data["status"] not in ("delivered", "failed"):
        return JsonResponse({"error": _("status: “delivered” or “failed”.")}, status=400)
    return JsonResponse({"found": replies.receipt_record(data["reference"], data["status"] == "delivered")})
