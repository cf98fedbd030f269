"""The members endpoints' bodies and answers (``members.api``): what a partner sends and gets back."""

from __future__ import annotations

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from members.masking import mask_birthday, mask_email, mask_phone
from members.models import Channel, ConsentChannel, Gender, Identity, Member
from members.partners.api.serializers import Strict
from members.partners.codes import CODE_DIGITS
from members.partners.models import Grant


class IdentitySerializer(Strict):
    kind = serializers.ChoiceField(choices=Identity.Kind.choices)
    value = serializers.CharField(max_length=128)
    namespace = serializers.CharField(max_length=64, required=False, default="", allow_blank=True)


class ConsentsSerializer(Strict):
    sms = serializers.BooleanField(required=False)
    email = serializers.BooleanField(required=False)
    wechat = serializers.BooleanField(required=False)


class IdentityOutSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=Identity.Kind.choices)
    namespace = serializers.CharField()
    value = serializers.CharField(help_text="Masked without the members.contact grant (cards excepted).")


class ConsentsOutSerializer(serializers.Serializer):
    sms = serializers.BooleanField()
    email = serializers.BooleanField()
    wechat = serializers.BooleanField()


class MemberSerializer(serializers.Serializer):
    """A member as partners see it. Contact details are masked without `members.contact`."""

    member_number = serializers.CharField()
    name = serializers.CharField()
    mobile = serializers.SerializerMethodField()
    email = serializers.SerializerMethodField()
    gender = serializers.ChoiceField(choices=Gender.choices)
    birthday = serializers.SerializerMethodField()
    province = serializers.CharField()
    city = serializers.CharField()
    status = serializers.ChoiceField(choices=Member.Status.choices)
    registration_channel = serializers.ChoiceField(choices=Channel.choices)
    registration_store = serializers.CharField(source="registration_store.code", allow_null=True)
    consents = serializers.SerializerMethodField()
    identities = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()

    @property
    def _contact(self) -> bool:
        return self.context["partner"].has_grant(Grant.MEMBERS_CONTACT)

    def get_mobile(self, member: Member) -> str | None:
        if not member.mobile:
            return None
        return member.mobile.as_e164 if self._contact else mask_phone(member.mobile)

    def get_email(self, member: Member) -> str:
        return member.email if self._contact else mask_email(member.email)

    def get_birthday(self, member: Member) -> str | None:
        """`YYYY-MM-DD`, or `****-MM-DD` without the contact grant."""
        if not member.birthday:
            return None
        return member.birthday.isoformat() if self._contact else mask_birthday(member.birthday)

    @extend_schema_field(ConsentsOutSerializer)
    def get_consents(self, member: Member) -> dict[str, bool]:
        return {c: getattr(member, f"{c}_consent") for c in ConsentChannel.values}

    @extend_schema_field(IdentityOutSerializer(many=True))
    def get_identities(self, member: Member) -> list[dict[str, str]]:
        return [
            {
                "kind": i.kind,
                "namespace": i.namespace,
                "value": i.value if self._contact else i.masked_value(),
            }
            for i in member.identities.all()
        ]


@extend_schema_field(
    {
        "anyOf": [
            {"type": "string", "format": "ipv4"},
            {"type": "string", "format": "ipv6"},
            {"type": "string", "maxLength": 0},
        ]
    }
)
class IpField(serializers.IPAddressField):
    """An IPv4 or IPv6 address (or nothing), said so in the schema: DRF's field publishes a bare string."""


class EnrolSerializer(Strict):
    required_any = (("mobile", "identities"),)  # the schema's anyOf; validate() refuses the same
    identities = IdentitySerializer(many=True, required=False, default=list)
    mobile = serializers.CharField(max_length=32, required=False, allow_blank=True)
    name = serializers.CharField(max_length=50, required=False, allow_blank=True, default="")
    email = serializers.EmailField(required=False, allow_blank=True, default="")
    gender = serializers.ChoiceField(choices=Gender.choices, required=False, default=Gender.UNKNOWN)
    birthday = serializers.DateField(required=False, allow_null=True, default=None)
    province = serializers.CharField(max_length=30, required=False, allow_blank=True, default="")
    city = serializers.CharField(max_length=30, required=False, allow_blank=True, default="")
    registration_store = serializers.CharField(max_length=32, required=False, allow_blank=True)
    channel = serializers.ChoiceField(
        choices=Channel.choices,
        required=False,
        help_text="Where they join: one of this partner's channels. Default: store when a "
        "registration_store is given, else the partner's channel if it has one, else partner.",
    )
    consents = ConsentsSerializer(required=False, default=dict)
    referral_code = serializers.CharField(
        max_length=16,
        required=False,
        allow_blank=True,
        default="",
        help_text="The referral code of the member who referred this new member (以老带新). Used only "
        "when the member is enrolled now (201); a member found is answered as found.",
    )
    device_id = serializers.CharField(
        max_length=128,
        required=False,
        allow_blank=True,
        default="",
        help_text="The brand app's id of the device the member enrols on: remembered as theirs, so "
        "that nobody enrolling on it again counts as their referee.",
    )
    ip = IpField(
        required=False,
        allow_blank=True,
        default="",
        help_text="The IP address the member's request came from, as your app or till saw it "
        "(IPv4 or IPv6), if you know it: the brand's risk rules count enrolments per address.",
    )

    def validate(self, data):
        if data.get("channel") and data["channel"] not in self.context["partner"].channels:
            raise serializers.ValidationError({"channel": [_("Not one of this partner's channels.")]})
        if not data.get("mobile") and not data.get("identities"):
            raise serializers.ValidationError(
                {"mobile": [_("Give a mobile number or at least one identity.")]}
            )
        return data


class UpdateSerializer(Strict):
    """What a partner may change. Status, tier, balances and numbers are the server's."""

    name = serializers.CharField(max_length=50, required=False, allow_blank=True)
    mobile = serializers.CharField(max_length=32, required=False, allow_blank=True, allow_null=True)
    email = serializers.EmailField(required=False, allow_blank=True)
    gender = serializers.ChoiceField(choices=Gender.choices, required=False)
    birthday = serializers.DateField(required=False, allow_null=True)
    province = serializers.CharField(max_length=30, required=False, allow_blank=True)
    city = serializers.CharField(max_length=30, required=False, allow_blank=True)
    consents = ConsentsSerializer(required=False)


class LinkSerializer(Strict):
    member_code = serializers.RegexField(
        rf"^[0-9]{{{CODE_DIGITS}}}$",
        help_text=f"The {CODE_DIGITS}-digit code the member's app shows (scanned as a barcode or QR code).",
        error_messages={"invalid": gettext_lazy("A member code is 18 digits.")},
    )


class MemberCodeSerializer(serializers.Serializer):
    code = serializers.CharField(
        help_text=f"{CODE_DIGITS} digits, for the app to show as a barcode or QR code. Single use."
    )
    expires_at = serializers.DateTimeField(help_text="After it the code is refused (about 2 minutes).")


class ReferralSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="8 characters from 23456789ABCDEFGHJKLMNPQRSTUVWXYZ.")
    referred = serializers.BooleanField(help_text="Whether a member referred this one.")
    referees = serializers.IntegerField(help_text="How many members enrolled with this member's code.")


class LinkResultSerializer(serializers.Serializer):
    member = MemberSerializer()
    visit_until = serializers.DateTimeField(
        allow_null=True,
        help_text="Until then this partner may spend the member's points (third-party partners; "
        "first-party partners always may).",
    )
