"""Base classes of every partner endpoint: who is asking, what they may see, idempotent POSTs."""

from __future__ import annotations

import re

from django.db import transaction
from django.shortcuts import get_object_or_404
from rest_framework import generics, viewsets
from rest_framework.pagination import CursorPagination
from rest_framework.permissions import SAFE_METHODS
from rest_framework.views import APIView

from members.api import idempotency
from members.api.auth import HasGrant, PartnerKeyAuthentication, PartnerKeyThrottle
from members.api.errors import not_found
from members.models import Member
from members.partners.models import Partner
from members.partners.selectors import partner_members
from members.partners.services import idempotency_store

MEMBER_NUMBER = re.compile(r"[0-9A-Za-z]{1,16}")


class Pages(CursorPagination):
    """Newest first, ``?cursor=`` links, no COUNT: the same cost on page 1 and page 10,000."""

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200
    ordering = "-id"


class _Partnered:
    """Authentication, grants, throttling and ``Idempotency-Key`` handling for a view.

    ``grant`` (or ``grants`` per method) names what the partner must be granted.
    ``idempotent`` is False for POSTs that change nothing (preview, validate).
    """

    authentication_classes = [PartnerKeyAuthentication]
    permission_classes = [HasGrant]
    throttle_classes = [PartnerKeyThrottle]
    grant: str | None = None
    grants: dict[str, str] = {}
    idempotent = True
    _idempotency_key: str | None = None
    _savepoint: str | None = None

    @property
    def partner(self) -> Partner:
        return self.request.auth.partner

    def dispatch(self, request, *args, **kwargs):
        if request.method in SAFE_METHODS:
            return super().dispatch(request, *args, **kwargs)
        # One transaction per change: a refused request (4xx) or a crash (5xx) leaves no trace.
        with transaction.atomic():
            response = super().dispatch(request, *args, **kwargs)
            if self._idempotency_key is None:  # not idempotent, refused before the claim, or a replay
                if response.status_code >= 400:
                    transaction.set_rollback(True)
                return response
            response.render()
            if response.status_code >= 500:
                transaction.set_rollback(True)  # no answer stored: the retry runs again
                return response
            if response.status_code >= 400:
                # Undo what the view wrote before it was refused, keeping the key's claim, so
                # the stored refusal matches the data.
                transaction.savepoint_rollback(self._savepoint)
                transaction.set_rollback(False)
            idempotency_store(
                partner=self.partner, key=self._idempotency_key, status_code=response.status_code,
                content_type=response["Content-Type"], body=response.content,
            )  # fmt: skip
            return response

    def initial(self, request, *args, **kwargs) -> None:
        super().initial(request, *args, **kwargs)  # authentication, grant, throttle
        if request.method == "POST" and self.idempotent:
            key = idempotency.key_of(request)
            done = idempotency.claim(self.partner, request, key)
            if done is not None:
                raise _Replay(done)
            self._idempotency_key = key
            self._savepoint = transaction.savepoint()

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
        """One of this partner's members, else 404 (whether or not the number exists)."""
        if not MEMBER_NUMBER.fullmatch(member_number):  # e.g. a NUL byte, which PostgreSQL refuses
            raise not_found()
        return get_object_or_404(partner_members(self.partner), member_number=member_number)


class _Replay(Exception):
    def __init__(self, done) -> None:
        self.done = done


class PartnerAPIView(_Partnered, APIView):
    pass


class PartnerGenericView(_Partnered, generics.GenericAPIView):
    pagination_class = Pages


class PartnerViewSet(_Partnered, viewsets.GenericViewSet):
    pagination_class = Pages
