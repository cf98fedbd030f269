"""A system check (``manage.py check``, and before ``migrate`` on every deploy): a channel sent
through a real provider whose settings are missing would leave each of its messages retrying for
an hour before it fails, so the deploy stops naming what is missing instead."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Error, register
from django.utils.module_loading import import_string

from members.messaging.providers import _PROVIDERS

#: The settings each provider cannot send without.
NEEDS = {
    "sms": ["MESSAGING_SMS_URL", "MESSAGING_SMS_SECRET"],
    "wechat": ["MESSAGING_WECHAT_APPID", "MESSAGING_WECHAT_SECRET"],
}


@register()
def providers_configured(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    errors = []
    for channel, name in getattr(settings, "MESSAGING_PROVIDERS", {}).items():
        try:
            import_string(_PROVIDERS.get(name, name))
        except ImportError:
            errors.append(
                Error(f"MESSAGING_PROVIDERS: {channel}={name} names no provider.", id="messaging.E001")
            )
            continue
        missing = [setting for setting in NEEDS.get(name, []) if not getattr(settings, setting, "")]
        if missing:
            errors.append(
                Error(
                    f"MESSAGING_PROVIDERS: {channel}={name} needs {', '.join(missing)}.", id="messaging.E002"
                )
            )
    return errors
