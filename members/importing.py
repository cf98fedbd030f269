"""Member list import (django-import-export): Chinese or English headers, GBK or UTF-8.

Each row is parsed in full first; every problem in it is reported together against the
column it came from. A row is then matched by its identities (phone, card, UnionID):
- all of them unknown: a new member is enrolled through ``member_enrol``;
- all known and pointing at one member: skipped as already imported (re-importing a file
  changes nothing);
- anything else (the phone is someone else's, two ids of two members): rejected with the
  member it collides with. Two people sharing one phone is therefore never an overwrite:
  the second row is rejected and the operator decides.
The admin only offers "confirm" when every row is either new or skipped: a file goes in
whole or not at all, so a fixed file can simply be uploaded again.
"""

from __future__ import annotations

import datetime
import re
from typing import Any

import tablib
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from import_export import fields, resources
from import_export.formats.base_formats import CSV

from members.models import Channel, Gender, Identity, Member, Store
from members.parsing import decode_text
from members.phones import national_digits, normalize_mobile
from members.selectors import Outcome, member_resolve
from members.services import IdentityKey, member_enrol
from members.validation import FieldErrors

# Canonical column -> header spellings seen in CRM and POS exports (compared case-insensitively).
HEADER_ALIASES: dict[str, tuple[str, ...]] = {
    "name": ("姓名", "会员姓名", "名字", "name", "full name"),
    "mobile": ("手机号", "手机", "手机号码", "电话", "联系电话", "mobile", "phone", "mobile phone"),
    "email": ("邮箱", "电子邮箱", "email", "e-mail"),
    "gender": ("性别", "gender", "sex"),
    "birthday": ("生日", "出生日期", "birthday", "date of birth", "birth date"),
    "province": ("省份", "省", "province"),
    "city": ("城市", "市", "city"),
    "registration_channel": ("注册渠道", "渠道", "来源渠道", "channel", "registration channel"),
    "registration_store": ("注册门店", "门店", "门店编码", "store", "store code", "registration store"),
    "card": ("会员卡号", "卡号", "card", "card number", "membership card"),
    "unionid": ("微信unionid", "unionid", "wechat unionid"),
}

GENDERS = {
    "男": Gender.MALE, "m": Gender.MALE, "male": Gender.MALE, "1": Gender.MALE,
    "女": Gender.FEMALE, "f": Gender.FEMALE, "female": Gender.FEMALE, "2": Gender.FEMALE,
    "未知": Gender.UNKNOWN, "保密": Gender.UNKNOWN, "unknown": Gender.UNKNOWN, "": Gender.UNKNOWN,
    "0": Gender.UNKNOWN,
}  # fmt: skip

CHANNELS = {
    "门店": Channel.STORE, "线下门店": Channel.STORE, "pos": Channel.STORE,
    "微信小程序": Channel.WECHAT_MINIPROGRAM, "小程序": Channel.WECHAT_MINIPROGRAM,
    "公众号": Channel.WECHAT_OA, "微信公众号": Channel.WECHAT_OA,
    "天猫": Channel.TMALL, "淘宝": Channel.TAOBAO, "京东": Channel.JD, "抖音": Channel.DOUYIN,
    "拼多多": Channel.PINDUODUO, "有赞": Channel.YOUZAN, "有赞商城": Channel.YOUZAN,
    "app": Channel.APP, "官网": Channel.WEBSITE, "合作伙伴": Channel.PARTNER, "其他": Channel.OTHER,
    "": Channel.IMPORT,
}  # fmt: skip
CHANNELS.update({c.value: c for c in Channel})

_DATE = re.compile(r"^\s*(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?\s*$")
_COMPACT_DATE = re.compile(r"^\s*(\d{4})(\d{2})(\d{2})\s*$")
OLDEST_BIRTH_YEAR = 1900
MAX_TEXT = {"name": 50, "email": 254, "province": 30, "city": 30, "card": 64, "unionid": 128}


class DetectedEncodingCSV(CSV):
    """CSV whose encoding is detected per file instead of fixed per site."""

    def get_title(self) -> str:
        return "csv"

    def is_binary(self) -> bool:
        return True  # the admin then hands us bytes, and we choose the encoding

    def get_read_mode(self) -> str:
        return "rb"

    def create_dataset(self, in_stream: bytes | str, **kwargs: Any) -> tablib.Dataset:
        text = in_stream if isinstance(in_stream, str) else decode_text(in_stream)
        return tablib.import_set(text, format="csv")


def canonical_headers(headers: list[str]) -> list[str]:
    lookup = {alias.lower(): key for key, aliases in HEADER_ALIASES.items() for alias in aliases}
    return [lookup.get(str(h or "").strip().lower(), str(h or "").strip()) for h in headers]


def parse_date(raw: str) -> datetime.date:
    text = raw.strip()
    match = _DATE.match(text) or _COMPACT_DATE.match(text)
    if not match:
        raise ValidationError(_("“%(value)s” is not a date (use 2026-11-01).") % {"value": text})
    year, month, day = (int(part) for part in match.groups())
    try:
        return datetime.date(year, month, day)
    except ValueError:
        raise ValidationError(_("“%(value)s” is not a real date.") % {"value": text}) from None


def parse_row(row: dict[str, Any], stores: dict[str, Store]) -> dict[str, Any]:
    """Turn one file row into ``member_enrol`` arguments, or raise every problem at once."""
    value = {key: str(row.get(key) or "").strip() for key in HEADER_ALIASES}
    errors = FieldErrors()
    for key, limit in MAX_TEXT.items():
        if len(value[key]) > limit:
            errors.add(key, _("Longer than %(limit)d characters.") % {"limit": limit})
    cleaned: dict[str, Any] = {"name": value["name"], "email": value["email"]}
    cleaned["mobile"] = (
        errors.capture("mobile", normalize_mobile, value["mobile"]) if value["mobile"] else None
    )
    gender = GENDERS.get(value["gender"].lower())
    if gender is None:
        errors.add(
            "gender", _("Unknown gender “%(value)s” (use 男, 女 or 未知).") % {"value": value["gender"]}
        )
    cleaned["gender"] = gender
    cleaned["birthday"] = (
        errors.capture("birthday", parse_date, value["birthday"]) if value["birthday"] else None
    )
    if cleaned["birthday"] and cleaned["birthday"].year < OLDEST_BIRTH_YEAR:
        errors.add("birthday", _("Birthday %(date)s is too far in the past.") % {"date": cleaned["birthday"]})
    channel = CHANNELS.get(value["registration_channel"].lower())
    if channel is None:
        errors.add(
            "registration_channel",
            _("Unknown channel “%(value)s”.") % {"value": value["registration_channel"]},
        )
    cleaned["registration_channel"] = channel
    store_code = value["registration_store"]
    cleaned["registration_store"] = stores.get(store_code.upper()) if store_code else None
    if store_code and cleaned["registration_store"] is None:
        errors.add("registration_store", _("Unknown store code “%(value)s”.") % {"value": store_code})
    cleaned["province"], cleaned["city"] = value["province"], value["city"]
    identities = []
    if value["card"]:
        identities.append(IdentityKey(Identity.Kind.CARD, value["card"]))
    if value["unionid"]:
        identities.append(IdentityKey(Identity.Kind.WECHAT_UNIONID, value["unionid"]))
    cleaned["identities"] = identities
    if not (cleaned["mobile"] or identities or errors.errors.get("mobile")):
        errors.add("mobile", _("A member needs a phone, a card number or a WeChat UnionID."))
    errors.raise_if_any()
    return cleaned


class MemberResource(resources.ModelResource):
    """Import and export of members; see the module docstring for the matching rules."""

    member_number = fields.Field(attribute="member_number", column_name=gettext_lazy("member number"))
    name = fields.Field(attribute="name", column_name="姓名")
    mobile = fields.Field(attribute="mobile", column_name="手机号")
    gender = fields.Field(attribute="gender", column_name="性别")
    birthday = fields.Field(attribute="birthday", column_name="生日")
    city = fields.Field(attribute="city", column_name="城市")
    registration_channel = fields.Field(attribute="registration_channel", column_name="注册渠道")
    registration_store = fields.Field(attribute="registration_store__code", column_name="注册门店")
    status = fields.Field(attribute="status", column_name="状态")

    class Meta:
        model = Member
        fields = (
            "member_number", "name", "mobile", "gender", "birthday", "city",
            "registration_channel", "registration_store", "status",
        )  # fmt: skip
        import_id_fields = ("member_number",)
        skip_unchanged = False
        report_skipped = True
        use_transactions = True
        clean_model_instances = False

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._stores: dict[str, Store] = {}
        self._parsed: dict[int, dict[str, Any]] = {}

    def _check_import_id_fields(self, headers: list[str]) -> None:
        """Rows are matched by identities (get_or_init_instance), not by an id column."""

    def before_import(self, dataset: tablib.Dataset, **kwargs: Any) -> None:
        dataset.headers = canonical_headers(list(dataset.headers or []))
        blank = [i for i, row in enumerate(dataset) if not any(str(c or "").strip() for c in row)]
        for index in reversed(blank):  # blank lines between records are layout, not data
            del dataset[index]
        self._stores = {s.code.upper(): s for s in Store.objects.all()}

    def before_import_row(self, row: dict[str, Any], **kwargs: Any) -> None:
        self._parsed[kwargs["row_number"]] = parse_row(row, self._stores)

    def get_or_init_instance(self, instance_loader: Any, row: dict[str, Any]) -> tuple[Member, bool]:
        parsed = self._current
        keys = list(parsed["identities"])
        if parsed["mobile"]:
            keys.append(IdentityKey(Identity.Kind.PHONE, parsed["mobile"]))
        resolution = member_resolve(keys)
        if resolution.outcome is Outcome.UNKNOWN:
            return Member(), True
        if resolution.outcome is Outcome.FOUND and len(resolution.matches) == len(keys):
            return resolution.member, False
        taken = ", ".join(
            f"{Identity.Kind(key.kind).label} {key.value} → {number}"
            for key, number in self._owners(resolution).items()
        )
        raise ValidationError(
            _("Already belongs to another member: %(taken)s. Fix the row or merge the members first.")
            % {"taken": taken}
        )

    @staticmethod
    def _owners(resolution: Any) -> dict[IdentityKey, str]:
        numbers = {m.pk: m.member_number for m in resolution.candidates}
        return {key: numbers[member_id] for key, member_id in resolution.matches.items()}

    def import_row(self, row: dict[str, Any], instance_loader: Any, **kwargs: Any) -> Any:
        self._row_number = kwargs.get("row_number")
        return super().import_row(row, instance_loader, **kwargs)

    @property
    def _current(self) -> dict[str, Any]:
        return self._parsed[self._row_number]

    def import_instance(self, instance: Member, row: dict[str, Any], **kwargs: Any) -> None:
        if instance.pk:
            return  # existing members are skipped, never overwritten
        parsed = self._current
        for attr in ("name", "mobile", "gender", "birthday", "city", "registration_channel"):
            setattr(instance, attr, parsed[attr])
        instance.registration_store = parsed["registration_store"]

    def skip_row(
        self, instance: Member, original: Any, row: Any, import_validation_errors: Any = None
    ) -> bool:
        return bool(instance.pk) and not import_validation_errors

    def validate_instance(self, instance: Member, import_validation_errors: Any = None, validate_unique=True):
        if import_validation_errors:
            raise ValidationError(import_validation_errors)

    def save_instance(self, instance: Member, is_create: bool, row: Any, **kwargs: Any) -> None:
        member = member_enrol(actor=kwargs.get("user"), source="import", **self._current)
        instance.pk, instance.member_number = member.pk, member.member_number

    def save_m2m(self, instance: Member, row: Any, **kwargs: Any) -> None:
        """Tags and identities are written by ``member_enrol``."""

    def dehydrate_mobile(self, member: Member) -> str:
        return national_digits(member.mobile.as_e164) if member.mobile else ""

    def dehydrate_gender(self, member: Member) -> str:
        return str(member.get_gender_display())

    def dehydrate_registration_channel(self, member: Member) -> str:
        return str(member.get_registration_channel_display())

    def dehydrate_status(self, member: Member) -> str:
        return str(member.get_status_display())
