"""WeChat: a mini-program subscribe message (``MESSAGING_WECHAT_KIND=subscribe``, the default) or an
official account's template message (``template``) to the member's OpenID (the message's
recipient), with the template's ``wechat_template_id``. Plain HTTP: two calls (a token, a send),
and the token kept in Django's cache, which wechatpy would keep in its own session store instead.

The access token comes from ``/cgi-bin/stable_token`` in its normal mode: every caller asking
gets the same token until it is renewed, so workers with separate caches (the default cache is
per process) never invalidate each other's, which ``/cgi-bin/token`` does (each call makes the
previous token die within five minutes). It is cached until five minutes before it expires, when
WeChat starts handing out its successor. A send refused for its token (40001, 40014, 42001)
fetches it once more and is retried once; the forced refresh is never used (twenty a day, and it
kills the token every other system of the brand holds).

How the text fills the template's fields (``wechat_fields``): every line ``key: value`` (the key
as WeChat shows it, e.g. ``thing1``, ``time2``), or, when the text is not such lines, the whole
text in ``MESSAGING_WECHAT_FIELD``. WeChat caps a ``thing`` at 20 characters: longer ones are cut.
"""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.core.cache import cache

from members.messaging.models import Message
from members.messaging.providers import ProviderError
from members.messaging.providers.http import json_object, request
from members.messaging.rendering import wechat_fields

#: The send's token was stale or wrong: fetch it again and retry once.
TOKEN_ERRORS = {40001, 40014, 42001}
#: Refusals a retry cannot change (anything else is retried: busy, quota, unknown).
PERMANENT = {
    43101: "the member has not subscribed to this template (or refused it)",
    40003: "not an OpenID of this app",
    40037: "no such WeChat template",
    47003: "a field's value is not what the WeChat template takes",
}


def _call(path: str, payload: dict[str, Any]) -> dict[str, Any]:
    body = json.dumps(payload, ensure_ascii=False).encode()
    status, answer = request(
        settings.MESSAGING_WECHAT_API.rstrip("/") + path,
        body,
        {"Content-Type": "application/json; charset=utf-8"},
        timeout=settings.MESSAGING_TIMEOUT,
    )
    if status != 200:
        raise ProviderError(f"WeChat answered HTTP {status}", temporary=True)
    return json_object(answer)


def access_token(*, stale: str = "") -> str:
    """The app's access token: the cached one, unless it is ``stale`` (WeChat refused it)."""
    key = f"messaging:wechat-token:{settings.MESSAGING_WECHAT_APPID}"
    token = cache.get(key)
    if token and token != stale:
        return str(token)
    if not (settings.MESSAGING_WECHAT_APPID and settings.MESSAGING_WECHAT_SECRET):
        raise ProviderError("MESSAGING_WECHAT_APPID and MESSAGING_WECHAT_SECRET must be set", temporary=True)
    data = _call(
        "/cgi-bin/stable_token",
        {
            "grant_type": "client_credential",
            "appid": settings.MESSAGING_WECHAT_APPID,
            "secret": settings.MESSAGING_WECHAT_SECRET,
        },
    )
    token, lifetime = data.get("access_token"), data.get("expires_in")
    if not isinstance(token, str) or not token or not isinstance(lifetime, int):
        # a wrong AppID or AppSecret is a setting to fix: the messages wait for it
        raise ProviderError(
            f"WeChat gave no token: {data.get('errcode')} {data.get('errmsg')}", temporary=True
        )
    cache.set(key, token, timeout=lifetime - 300 if lifetime > 600 else lifetime // 2)
    return token


class WeChatSubscribeProvider:
    rate_per_second = 0.0

    def payload(self, message: Message) -> dict[str, Any]:
        template_id = message.template.wechat_template_id if message.template_id else ""  # type: ignore[union-attr]
        if not template_id:
            raise ProviderError("the message's template has no WeChat template id", temporary=False)
        payload: dict[str, Any] = {
            "touser": message.recipient,
            "template_id": template_id,
            "data": {key: {"value": value} for key, value in wechat_fields(message.body).items()},
        }
        page = settings.MESSAGING_WECHAT_PAGE
        if settings.MESSAGING_WECHAT_KIND == "template":
            payload["client_msg_id"] = f"message-{message.pk}"  # WeChat sends one per id (10 minutes)
            if page:
                payload["url"] = page
        else:
            payload.update(miniprogram_state=settings.MESSAGING_WECHAT_STATE, lang="zh_CN")
            if page:
                payload["page"] = page
        return payload

    def send(self, message: Message) -> str:
        payload = self.payload(message)
        path = f"/cgi-bin/message/{settings.MESSAGING_WECHAT_KIND}/send?access_token="
        token = access_token()
        data = _call(path + token, payload)
        if data.get("errcode") in TOKEN_ERRORS:
            token = access_token(stale=token)
            data = _call(path + token, payload)
        code = data.get("errcode", 0)
        if code == 0:
            return str(data.get("msgid") or f"wechat-{message.pk}")
        said = f"WeChat {code}: {PERMANENT.get(code) or data.get('errmsg', '')}"
        raise ProviderError(said, temporary=code not in PERMANENT)
