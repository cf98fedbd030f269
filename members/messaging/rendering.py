"""Template text with {variables}: the variables there are, the check of a template, and filling
one in for a member. Plain ``{name}`` placeholders, not a template language: operators write
them, and nothing in a message may run code or reach attributes."""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

if TYPE_CHECKING:
    from members.messaging.models import Template
    from members.models import Member

#: Every variable a template may use, with what it is (shown beside the template form).
VARIABLES: dict[str, Any] = {
    "name": _("the member's name (or “会员” when none)"),
    "member_number": _("member number"),
    "points": _("available points"),
    "expiring_points": _("points expiring next"),
    "expiring_date": _("the last day they are valid"),
    "tier": _("current tier"),
    "next_tier": _("the next tier"),
    "growth_needed": _("growth value still needed for the next tier (or to keep the tier)"),
    "review_date": _("the date of the next tier review"),
    "coupon": _("the coupon's name"),
    "coupon_expires": _("the coupon's last valid day"),
    "reward": _("a reward the member can afford now"),
    "reward_points": _("what that reward costs in points"),
    "unsubscribe": _("a link to unsubscribe"),
}


class _Plain(string.Formatter):
    """Fills plain names only: "{name.attr}" or "{name[0]}" read as nothing (the template check
    refuses them; this holds for a template saved before a variable was retired too)."""

    def get_field(self, field_name: str, args: Any, kwargs: Any) -> tuple[Any, str]:
        if not field_name.isidentifier():
            return "", field_name
        return kwargs[field_name], field_name


_FORMATTER = _Plain()


def placeholders(text: str) -> list[str]:
    """The {names} in ``text``; raises ValueError on a malformed brace."""
    return [name for _literal, name, _spec, _conv in _FORMATTER.parse(text) if name is not None]


def template_errors(template: Any) -> None:
    """Unknown or malformed variables in a template's subject or text, by field."""
    errors: dict[str, Any] = {}
    for field in ("subject", "body"):
        try:
            names = placeholders(getattr(template, field))
        except ValueError:
            errors[field] = _("A brace is not closed: write {name}, or {{ for a brace itself.")
            continue
        unknown = sorted({n for n in names if n not in VARIABLES})
        if unknown:
            errors[field] = _("Unknown variable: %(names)s. The variables are listed below the form.") % {
                "names": ", ".join("{" + n + "}" for n in unknown)
            }
    if getattr(template, "channel", "") == "wechat":
        for field, error in _wechat_errors(template).items():
            errors.setdefault(field, error)
    if errors:
        raise ValidationError(errors)


#: A line of a WeChat template's text that fills one field: ``thing1: 您的积分即将到期``.
WECHAT_LINE = re.compile(r"^\s*([a-z_]+[0-9]+)\s*[:：]\s*(.*?)\s*$")
#: WeChat refuses a ``thing`` longer than this: such values are cut (a name or reward filled in
#: can make any text too long).
THING_LENGTH = 20


def wechat_fields(text: str, whole: str | None = None) -> dict[str, str]:
    """The WeChat template's fields from a message's text: each line ``key: value``; a text that
    is not such lines goes whole into the field ``whole`` (MESSAGING_WECHAT_FIELD)."""
    lines = [line for line in text.splitlines() if line.strip()]
    matches = [WECHAT_LINE.match(line) for line in lines]
    if lines and all(matches):
        fields = {m[1]: m[2] for m in matches if m}
    else:
        fields = {whole or settings.MESSAGING_WECHAT_FIELD: " ".join(line.strip() for line in lines)}
    return {
        key: (
            value[: THING_LENGTH - 1] + "…"
            if key.startswith("thing") and len(value) > THING_LENGTH
            else value
        )
        for key, value in fields.items()
    }


def _wechat_errors(template: Any) -> dict[str, Any]:
    """A WeChat template needs WeChat's template id, and its text is either all ``key: value``
    lines, each key once, or plain text (which fills one field)."""
    errors: dict[str, Any] = {}
    if not template.wechat_template_id:
        errors["wechat_template_id"] = _("A WeChat message needs the id of its template in WeChat.")
    lines = [line for line in template.body.splitlines() if line.strip()]
    keys = [m[1] for line in lines if (m := WECHAT_LINE.match(line))]
    if keys and len(keys) < len(lines):
        errors["body"] = _(
            "Write every line as “field: value” (e.g. thing1: 积分即将到期), or plain text with no such line."
        )
    elif len(set(keys)) < len(keys):
        errors["body"] = _("A WeChat field is named on two lines.")
    return errors


class _Values(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return ""  # a variable the cause did not supply reads as nothing, never as "{name}"


def render(text: str, values: Mapping[str, Any]) -> str:
    """``text`` with its variables filled in (missing ones empty)."""
    return _FORMATTER.vformat(text, (), _Values(values))


#: Every variable's value for one member on a channel and language: the journeys app, which reads
#: the apps above this one (points, tiers, coupons, rewards), sets it at start-up.
PREVIEW_VALUES: Callable[[Member, str, str], dict[str, Any]] | None = None


def preview(template: Template, member: Member) -> tuple[str, str]:
    """``template``'s subject and text as ``member`` would receive them now."""
    if PREVIEW_VALUES is None:
        values: dict[str, Any] = {"name": member.name, "member_number": member.member_number}
    else:
        values = PREVIEW_VALUES(member, template.channel, template.language)
    return render(template.subject, values), render(template.body, values)
