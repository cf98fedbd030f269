"""What the members admin exports: members (masked for roles without personal data) and purchases.

Imports are elsewhere (``members.imports.member_rows``); these resources only export. Headers are the
models' labels in the exporting user's language, which the member import reads back in either
language (姓名/手机号/性别... or name/mobile phone/gender...).
"""

from __future__ import annotations

import datetime
from typing import Any

from config.common.exports import ExportResource, column
from members import masking
from members.models import Member
from members.phones import national_digits


class MemberExportResource(ExportResource):
    """One row per member, masked exactly as the admin list masks it for the exporting user."""

    registration_store = column(Member, "registration_store", "registration_store__code")

    select_related = ("registration_store",)

    class Meta:
        model = Member
        fields = (
            "member_number",
            "name",
            "mobile",
            "gender",
            "birthday",
            "city",
            "registration_channel",
            "registration_store",
            "status",
        )

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.full_pii = masking.can_view_pii(self.user)

    def dehydrate_name(self, member: Member) -> str:
        return member.name if self.full_pii else masking.mask_name(member.name)

    def dehydrate_mobile(self, member: Member) -> str:
        if not member.mobile:
            return ""
        return national_digits(member.mobile.as_e164) if self.full_pii else masking.mask_phone(member.mobile)

    def dehydrate_birthday(self, member: Member) -> datetime.date | str | None:
        return member.birthday if self.full_pii else masking.mask_birthday(member.birthday)

    def dehydrate_gender(self, member: Member) -> str:
        return str(member.get_gender_display())

    def dehydrate_registration_channel(self, member: Member) -> str:
        return str(member.get_registration_channel_display())

    def dehydrate_status(self, member: Member) -> str:
        return str(member.get_status_display())
