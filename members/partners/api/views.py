"""Base classes of every partner endpoint: who is asking, what they may see, idempotent POSTs."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.db import transaction
from django.utils.translation import gettext as _
from rest_framework import exceptions, generics, serializers, viewsets
from rest_framework.pagination import CursorPagination
from rest_framework.parsers import JSONParser
from rest_framework.permissions import SAFE_METHODS
from rest_framework.response import Response
from rest_framework.views import APIView

from members.errors import MemberMerged
from members.models import Member
from members.partners.api import idempotency
from members.partners.api.auth import HasGrant, PartnerKeyAuthentication, PartnerKeyThrottle
from members.partners.api.errors import not_found, too_large
from members.partners.api.filters import StrictFilterBackend
from members.partners.models import Partner, PartnerKey
from members.partners.selectors import partner_members
from members.partners.services import idempotency_store

MEMBER_NUMBER = re.compile(r"[0-9A-Za-z]{1,16}")


#: Positions in cursors are row ids: a bigint, as PostgreSQL stores them.
_MAX_ID = 2**63 - 1


class Pages(CursorPagination):
    """Newest first, ``?cursor=`` links, no COUNT: the same cost on page 1 and page 10,000.

    Strict where DRF is lenient: a ``page_size`` outside 1..200 or not a number, and a cursor
    this server did not issue, are 400 naming the parameter (DRF silently used 50, answered 404,
    or, for a cursor whose position is not a number, crashed with a 500).
    """

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200
    ordering = "-id"

    def get_page_size(self, request) -> int:
        text = request.query_params.get(self.page_size_query_param)
        if text is None:
            return self.page_size
        if not re.fullmatch(r"[0-9]{1,3}", text) or not 1 <= int(text) <= self.max_page_size:
            raise serializers.ValidationError(
                {
                    self.page_size_query_param: [
                        _("A whole number from 1 to %(max)d.") % {"max": self.max_page_size}
                    ]
                }
            )
        return int(text)

    def decode_cursor(self, request):
        if request.query_params.get(self.cursor_query_param) == "":
            cursor, valid = None, False  # DRF reads it as the first page; no link has it
        else:
            cursor, valid = self._decode(request)
        if not valid:
            raise serializers.ValidationError(
                {self.cursor_query_param: [_("Not a cursor from this list's next or previous link.")]}
            )
        return cursor

    def _decode(self, request) -> tuple[object, bool]:
        """DRF's cursor and whether its position is a row id (ordering is by id)."""
        try:
            cursor = super().decode_cursor(request)
        except exceptions.NotFound:  # not base64, or not DRF's query string
            return None, False
        position = cursor.position if cursor else None
        valid = position is None or (re.fullmatch(r"[0-9]{1,19}", str(position)) and int(position) <= _MAX_ID)
        return cursor, bool(valid)

    def get_schema_operation_parameters(self, view) -> list[dict]:
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"] = {"type": "integer", "minimum": 1, "maximum": self.max_page_size}
                parameter["description"] = (
                    f"Results per page, 1 to {self.max_page_size} (default {self.page_size})."
                )
            elif parameter["name"] == self.cursor_query_param:
                # base64 of what encode_cursor writes: the server's own links are the only source
                parameter["schema"] = {"type": "string", "pattern": r"^[A-Za-z0-9+/=]+$"}
                parameter["description"] = "Copied from a `next` or `previous` link; never built by hand."
        return parameters


class StrictJSONParser(JSONParser):
    """JSON, where a document nested too deep for Python's parser is a 400 ``parse_error``,
    not a crash (``[[[[…`` 1,000 deep was a 500)."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise exceptions.ParseError(_("JSON parse error: nested too deeply.")) from None


class _Partnered(APIView):
    """Authentication, grants, throttling and ``Idempotency-Key`` handling for a view.

    ``grant`` (or ``grants`` per method) names what the partner must be granted.
    ``idempotent`` is False for POSTs that change nothing (preview, validate).
    """

    authentication_classes = [PartnerKeyAuthentication]
    permission_classes = [HasGrant]
    throttle_classes = [PartnerKeyThrottle]
    parser_classes = [StrictJSONParser]
    # No OPTIONS: nothing here is called from a browser (no CORS preflight), and its metadata
    # answer is not part of the documented contract. HEAD follows GET (Django's View).
    http_method_names = ["get", "post", "patch", "head"]
    grant: str | None = None
    grants: dict[str, str] = {}
    idempotent = True
    # The Idempotency-Key this request claimed, and the savepoint taken right after the claim.
    _claim: tuple[str, str] | None = None
    queryset: Any  # set by the generic views this is mixed into

    @property
    def partner(self) -> Partner:
        key = self.request.auth
        assert isinstance(key, PartnerKey)  # PartnerKeyAuthentication's: every view here has it
        return key.partner

    def afterwards(self, record: Callable[[], None]) -> None:
        """Write ``record`` once the request's transaction is over, committed or rolled back: a
        trace a refusal must not undo (a coupon code that was not found)."""
        self._afterwards.append(record)

    def dispatch(self, request, *args, **kwargs):
        self._afterwards: list[Callable[[], None]] = []
        try:
            return self._dispatch(request, *args, **kwargs)
        finally:
            for record in self._afterwards:
                record()

    def _dispatch(self, request, *args, **kwargs):
        if request.method in SAFE_METHODS:
            return super().dispatch(request, *args, **kwargs)
        # One transaction per change: a refused request (4xx) or a crash (5xx) leaves no trace.
        with transaction.atomic():
            response = super().dispatch(request, *args, **kwargs)
            if self._claim is None:  # not idempotent, refused before the claim, or a replay
                if response.status_code >= 400:
                    transaction.set_rollback(True)
                return response
            key, savepoint = self._claim
            assert isinstance(response, Response)  # what APIView.dispatch answers with
            response.render()
            if response.status_code >= 500:
                transaction.set_rollback(True)  # no answer stored: the retry runs again
                return response
            if response.status_code >= 400:
                # Undo what the view wrote before it was refused, keeping the key's claim, so
                # the stored refusal matches the data.
                transaction.savepoint_rollback(savepoint)
                transaction.set_rollback(False)
            idempotency_store(
                partner=self.partner,
                key=key,
                status_code=response.status_code,
                content_type=response["Content-Type"],
                body=response.content,
            )
            return response

    def initial(self, request, *args, **kwargs) -> None:
        # A method the endpoint does not have is 405 (with ``Allow``) whoever asks: before this,
        # the grant check ran first and answered 403, and a POST without Idempotency-Key 400.
        method = request.method.lower()
        if method not in self.http_method_names or not hasattr(self, method):
            raise exceptions.MethodNotAllowed(request.method)
        if method not in ("get", "head"):
            try:
                request.body  # noqa: B018 -- read once here, so an oversized body is a 413
            except RequestDataTooBig:
                raise too_large() from None
        super().initial(request, *args, **kwargs)  # authentication, grant, throttle
        if request.method == "POST" and self.idempotent:
            key = idempotency.key_of(request)
            done = idempotency.claim(self.partner, request, key)
            if done is not None:
                raise _Replay(done)
            self._claim = (key, transaction.savepoint())

    def handle_exception(self, exc):
        if isinstance(exc, _Replay):
            return idempotency.replay(exc.done)
        return super().handle_exception(exc)

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # the schema generator has no partner
            return self.queryset
        return self.scoped_queryset()

    def scoped_queryset(self):
        """What this partner may see of the view's objects: the one place each view scopes."""
        raise NotImplementedError

    def validated(self, serializer_class) -> dict:
        """The request body through an input serializer: its values, or 400 naming the fields."""
        data = serializer_class(data=self.request.data, context={"partner": self.partner})
        data.is_valid(raise_exception=True)
        return dict(data.validated_data)

    def member(self, member_number: str) -> Member:
        """One of this partner's members, else 404 (whether or not the number exists); a member
        merged into one the partner may see is 422 ``member_merged`` naming the survivor."""
        if not MEMBER_NUMBER.fullmatch(member_number):  # e.g. a NUL byte, which PostgreSQL refuses
            raise not_found()
        member = partner_members(self.partner).filter(member_number=member_number).first()
        if member is None or member.merged_into_id:
            merged_pointer(self.partner, member_number)
        assert member is not None  # merged_pointer raised otherwise
        return member


def merged_pointer(partner: Partner, member_number: str) -> None:
    """Raise ``member_merged`` if the number is a merged member whose survivor the partner may
    see (a merge moves the partner's link to the survivor); else 404, as for any unknown number."""
    survivor = (
        Member.objects.filter(member_number=member_number, merged_into__isnull=False)
        .values_list("merged_into_id", "merged_into__member_number")
        .first()
    )
    if survivor and partner_members(partner).filter(pk=survivor[0]).exists():
        raise MemberMerged(
            _("Member %(number)s was merged into member %(into)s: use %(into)s.")
            % {"number": member_number, "into": survivor[1]},
            field="member_number",
            merged_into=survivor[1],
        )
    raise not_found()


class _Replay(Exception):
    def __init__(self, done) -> None:
        self.done = done


class PartnerAPIView(_Partnered, APIView):
    pass


class PartnerGenericView(_Partnered, generics.GenericAPIView):
    pagination_class = Pages
    filter_backends = [StrictFilterBackend]


class PartnerViewSet(_Partnered, viewsets.GenericViewSet):
    pagination_class = Pages
    filter_backends = [StrictFilterBackend]
