"""Members endpoints: enrol-or-find by identity, look up, read, update profile and consents;
member codes (issued by the brand's own systems, redeemed by third-party partners at the till)."""

from __future__ import annotations

import django_filters
from django.db.models import Prefetch
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response

from members.api_serializers import (
    EnrolSerializer,
    LinkResultSerializer,
    LinkSerializer,
    MemberCodeSerializer,
    MemberSerializer,
    ReferralSerializer,
    UpdateSerializer,
)
from members.models import Identity, Member
from members.partners.api import idempotency
from members.partners.api.errors import APIError, not_found
from members.partners.api.filters import DateTimeFilter
from members.partners.api.trust import refusal
from members.partners.api.views import MEMBER_NUMBER, PartnerViewSet, merged_pointer
from members.partners.codes import (
    CODE_DIGITS,
    IssueKeyReused,
    TrustRefused,
    member_code_issue,
    member_code_redeem,
    partner_visit_until,
)
from members.partners.models import Grant
from members.partners.selectors import partner_members, partner_stores
from members.partners.services import partner_member_update, partner_member_upsert, registration_channel
from members.referrals.errors import ReferralRefused
from members.referrals.models import Referral
from members.referrals.services import referral_code_get
from members.selectors import member_resolve
from members.services import IdentityKey


class MemberFilter(django_filters.FilterSet):
    member_number = django_filters.CharFilter()
    created_after = DateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = DateTimeFilter(field_name="created_at", lookup_expr="lt")
    status = django_filters.ChoiceFilter(choices=Member.Status.choices)

    class Meta:
        model = Member
        fields = ["member_number", "status"]


def _identities_prefetch() -> Prefetch:
    return Prefetch("identities", queryset=Identity.objects.order_by("kind", "id"))


class LookupQuery(serializers.Serializer):
    """The lookup's query parameters (unknown ones are ignored, as query strings carry extras)."""

    member_number = serializers.CharField(max_length=16, required=False, allow_blank=True)
    phone = serializers.CharField(max_length=32, required=False, allow_blank=True)
    kind = serializers.ChoiceField(choices=Identity.Kind.choices, required=False, allow_blank=True)
    value = serializers.CharField(max_length=128, required=False, allow_blank=True)
    namespace = serializers.CharField(max_length=64, required=False, allow_blank=True, default="")


LOOKUP_PARAMETERS = [
    OpenApiParameter("member_number", str, description="Member number."),
    OpenApiParameter("phone", str, description="Mobile number, any common spelling."),
    OpenApiParameter("kind", str, enum=Identity.Kind.values, description="Identity kind (with value)."),
    OpenApiParameter("value", str, description="Identity value (with kind)."),
    OpenApiParameter("namespace", str, description="Identity namespace (WeChat app id, platform ...)."),
]


class MemberViewSet(PartnerViewSet):
    """Members this partner enrolled or found by identity. Others are 404, as if absent."""

    lookup_field = "member_number"
    lookup_value_regex = MEMBER_NUMBER.pattern
    serializer_class = MemberSerializer
    filterset_class = MemberFilter
    grants = {"GET": Grant.MEMBERS_READ, "POST": Grant.MEMBERS_WRITE, "PATCH": Grant.MEMBERS_WRITE}

    queryset = Member.objects.none()  # for the schema; requests use scoped_queryset()

    @property
    def idempotent(self) -> bool:  # type: ignore[override]
        # Issuing a code checks its Idempotency-Key itself: a stored response would hold the code.
        return getattr(self, "action", None) != "codes"

    def scoped_queryset(self):
        return (
            partner_members(self.partner)
            .select_related("registration_store")
            .prefetch_related(_identities_prefetch())
        )

    def get_serializer_context(self):
        return {**super().get_serializer_context(), "partner": self.partner}

    @extend_schema(summary="List this partner's members")
    def list(self, request):
        queryset = self.filter_queryset(self.get_queryset())
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    def get_object(self):
        member = self.get_queryset().filter(member_number=self.kwargs["member_number"]).first()
        if member is None or member.merged_into_id:
            merged_pointer(self.partner, self.kwargs["member_number"])
        return member

    @extend_schema(summary="One member")
    def retrieve(self, request, member_number: str):
        return Response(self.get_serializer(self.get_object()).data)

    @extend_schema(
        summary="Enrol a member, or find them by identity",
        description=(
            "Resolves the mobile and identities. An unknown person is enrolled, 201, and this "
            "partner may read the member afterwards. A first-party partner finding a known member "
            "gets 200, and the member gets the identities they lacked (their profile is not "
            "changed: use PATCH). A third-party partner gets 200 only for a member it already "
            "sees, and adds no identities (403 first_party_only); details of any other member are "
            "refused with 403 member_code_required, which says nothing about the member: "
            "redeem the member code the customer shows with POST /members/link/. Identities of "
            "different members are a 409."
        ),
        request=EnrolSerializer,
        responses={200: MemberSerializer, 201: MemberSerializer},
    )
    def create(self, request):
        v = self.validated(EnrolSerializer)
        keys = [IdentityKey(i["kind"], i["value"], i["namespace"]) for i in v["identities"]]
        if v.get("mobile"):
            keys.insert(0, IdentityKey(Identity.Kind.PHONE, v["mobile"]))
        store = None
        if v.get("registration_store"):
            store = partner_stores(self.partner).filter(code=v["registration_store"]).first()
            if store is None:
                raise APIError(
                    _("Not one of this partner's stores."),
                    code="invalid",
                    status_code=400,
                    fields={"registration_store": [_("Not one of this partner's stores.")]},
                )
        channel = v.get("channel") or registration_channel(self.partner, store)
        profile = {name: v[name] for name in ("name", "email", "gender", "birthday", "province", "city")} | {
            "registration_store": store,
            "registration_channel": channel,
        }
        consents = dict(v["consents"])
        try:
            member, created = partner_member_upsert(
                partner=self.partner,
                keys=keys,
                profile=profile,
                consents=consents,
                referral_code=v["referral_code"],
                device_id=v["device_id"],
                ip=v["ip"],
            )
        except TrustRefused as exc:
            raise refusal(exc) from None
        except ReferralRefused:
            if self.partner.is_first_party:
                raise
            # A third party gets one answer for every refusal: "self-referral" would tell it that
            # the phone it sent is the code's member's
            message = _("This referral code cannot be used for this member.")
            raise APIError(
                message, code="referral_code_invalid", status_code=422, fields={"referral_code": [message]}
            ) from None
        member = self.get_queryset().get(pk=member.pk)
        return Response(
            self.get_serializer(member).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )

    @extend_schema(
        summary="Update profile and consents",
        description=(
            "Only a first-party partner changes the mobile number (it says who the member is): "
            "a third-party partner sending another one gets 403 first_party_only naming `mobile`."
        ),
        request=UpdateSerializer,
        responses=MemberSerializer,
    )
    def partial_update(self, request, member_number: str):
        member = self.get_object()
        changes = self.validated(UpdateSerializer)
        consents = changes.pop("consents", {})
        try:
            member = partner_member_update(
                partner=self.partner, member=member, changes=changes, consents=consents
            )
        except TrustRefused as exc:
            raise refusal(exc) from None
        return Response(self.get_serializer(self.get_queryset().get(pk=member.pk)).data)

    @extend_schema(
        summary="Issue a member code (first-party partners: the brand's app)",
        description=(
            f"A new {CODE_DIGITS}-digit code for the member's app to show at a till, valid about 2 "
            "minutes and once. A third-party partner redeems it with POST /members/link/. A retry "
            "with the same Idempotency-Key gets the same code back (the code itself is never "
            "stored). Third-party partners get 403 first_party_only."
        ),
        parameters=[
            OpenApiParameter(
                idempotency.HEADER,
                str,
                OpenApiParameter.HEADER,
                required=True,
                pattern=r"^[\x21-\x7e]{1,255}$",
                description="One per code: a retry with the same key gets the same code back.",
            )
        ],
        request=None,
        responses={201: MemberCodeSerializer},
    )
    @action(detail=True, methods=["post"])
    def codes(self, request, member_number: str):
        if not self.partner.is_first_party:  # before the member: the answer says nothing about them
            raise APIError(
                _("Only the brand's own systems issue member codes."),
                code="first_party_only",
                status_code=403,
            )
        key = idempotency.key_of(request)
        member = self.member(member_number)
        try:
            code, expires_at, first = member_code_issue(partner=self.partner, member=member, request_key=key)
        except IssueKeyReused:
            raise APIError(
                _("This Idempotency-Key was already used with a different request."),
                code="idempotency_conflict",
                status_code=409,
            ) from None
        response = Response(
            MemberCodeSerializer({"code": code, "expires_at": expires_at}).data,
            status=status.HTTP_201_CREATED,
        )
        response["Cache-Control"] = "no-store"  # a credential: no proxy or browser cache keeps it
        if not first:
            response[idempotency.REPLAYED] = "true"
        return response

    @extend_schema(
        summary="Redeem a member code: reach the customer at the till",
        description=(
            "The customer shows the member code of the brand's app; the till scans it. The "
            "member is linked to this partner (it may read them and post their purchases from now "
            "on) and a visit opens until `visit_until` (about 15 minutes), during which it may "
            "spend their points (rewards, coupons). A code that is unknown, expired or already "
            "used is 422 member_code_invalid, the same answer for each."
        ),
        request=LinkSerializer,
        responses={200: LinkResultSerializer},
    )
    @action(detail=False, methods=["post"])
    def link(self, request):
        data = self.validated(LinkSerializer)
        member = member_code_redeem(partner=self.partner, code=data["member_code"])
        if member is None:
            message = _("This member code is not valid: ask the customer to show a new one.")
            raise APIError(
                message, code="member_code_invalid", status_code=422, fields={"member_code": [message]}
            )
        visit_until = None if self.partner.is_first_party else partner_visit_until(self.partner, member)
        member = self.get_queryset().get(pk=member.pk)
        return Response({"member": self.get_serializer(member).data, "visit_until": visit_until})

    @extend_schema(
        summary="The member's referral code (以老带新)",
        description=(
            "The code the member shares with friends (made the first time it is asked for), "
            "whether they were referred themselves, and how many members they referred. Nothing "
            "about the referrer or the referees: they may be members this partner does not see."
        ),
        responses=ReferralSerializer,
    )
    @action(detail=True, methods=["get"])
    def referral(self, request, member_number: str):
        member = self.member(member_number)
        return Response(
            ReferralSerializer(
                {
                    "code": referral_code_get(member),
                    "referred": Referral.objects.filter(referee=member).exists(),
                    "referees": Referral.objects.filter(referrer=member).count(),
                }
            ).data
        )

    @extend_schema(
        summary="Find one member by number, phone or identity",
        description=(
            "The member if exactly one of this partner's members matches; 404 otherwise. "
            "A member of the brand this partner has not served yet is 404 too: when the customer "
            "is at your counter, redeem the member code their app shows with POST /members/link/."
        ),
        parameters=LOOKUP_PARAMETERS,
        responses=MemberSerializer,
    )
    @action(detail=False, methods=["get"])
    def lookup(self, request):
        query = LookupQuery(data=request.query_params)
        query.is_valid(raise_exception=True)  # lengths, no NUL characters (PostgreSQL refuses them)
        params = query.validated_data
        if params.get("member_number"):
            found = self.get_queryset().filter(member_number=params["member_number"]).first()
            if found is None:
                raise not_found()
            return Response(self.get_serializer(found).data)
        keys = []
        if params.get("phone"):
            keys.append(IdentityKey(Identity.Kind.PHONE, params["phone"]))
        if params.get("kind") or params.get("value"):
            if not params.get("kind") or not params.get("value"):
                raise APIError(
                    _("Give kind and value together."),
                    code="invalid",
                    status_code=400,
                    fields={"kind": [_("One of: %(kinds)s.") % {"kinds": ", ".join(Identity.Kind.values)}]},
                )
            keys.append(IdentityKey(params["kind"], params["value"], params.get("namespace", "")))
        if not keys:
            raise APIError(
                _("Give member_number, phone, or kind and value."),
                code="invalid",
                status_code=400,
                fields={"member_number": [_("A lookup needs one of these parameters.")]},
            )
        resolution = member_resolve(keys)
        if resolution.member is None:  # not found (only a found resolution has its member)
            raise not_found()
        found = self.get_queryset().filter(pk=resolution.member.pk).first()
        if found is None:
            raise not_found()
        return Response(self.get_serializer(found).data)
