"""The real channels against a gateway on 127.0.0.1 (tests/messaging/gateway.py) or Django's locmem
email backend: what each sends, and which failures are retried (temporary) and which fail the
message at once (permanent)."""

from __future__ import annotations

import datetime
import hashlib
import hmac
import smtplib
import socket
import time
from urllib.parse import parse_qs

import pytest
from django.core import mail
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.core.mail.backends.base import BaseEmailBackend

from members.messaging.checks import providers_configured
from members.messaging.models import Channel, Kind, Message, Template
from members.messaging.providers import ProviderError, provider_for
from members.messaging.providers.email import EmailProvider
from members.messaging.providers.sms import SignedHttpSmsProvider
from members.messaging.providers.wechat import WeChatSubscribeProvider
from members.messaging.rendering import wechat_fields
from members.messaging.services import (
    Outgoing,
    message_queue,
    message_send,
    messages_claim,
    messages_send_due,
)
from members.models import Identity
from members.services import IdentityKey
from tests.factories import MemberFactory
from tests.messaging.gateway import Gateway
from tests.messaging.test_outbox import NOON

pytestmark = pytest.mark.django_db
SECRET = "sms-shared-secret"
OPENID = "o6_bmjrPTlm6_2sgVt7hMZOPfL2M"


@pytest.fixture
def gateway():
    server = Gateway()
    yield server
    server.close()


@pytest.fixture
def alice(db):
    return MemberFactory(
        name="Alice",
        mobile="13900001234",
        email="alice@example.com",
        identities=[IdentityKey(Identity.Kind.WECHAT_OPENID, OPENID)],
    )


def queue(member, channel, body, *, key="k", template=None, subject="") -> Message:
    return message_queue(
        Outgoing(
            member=member, channel=channel, body=body, key=key, kind=Kind.SERVICE,
            template=template, subject=subject,
        ),
        now=NOON,
    )  # fmt: skip


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- SMS -------------------------------------------------------------------------------------


@pytest.fixture
def sms(settings, gateway):
    settings.MESSAGING_PROVIDERS = {"sms": "sms"}
    settings.MESSAGING_SMS_URL = gateway.url + "/sms/send"
    settings.MESSAGING_SMS_KEY_ID = "brand-1"
    settings.MESSAGING_SMS_SECRET = SECRET
    settings.MESSAGING_SMS_SIGN_NAME = "星河会员"
    settings.MESSAGING_SMS_TEMPLATES = {"points_expiry": "SMS_900"}
    settings.MESSAGING_TIMEOUT = 0.5
    return gateway


def verifies(received, secret: str = SECRET) -> bool:
    """The gateway's side of docs/architecture.md "SMS gateway"."""
    stamp, nonce = received.headers["X-Timestamp"], received.headers["X-Nonce"]
    expected = hmac.new(secret.encode(), f"{stamp}.{nonce}.".encode() + received.body, hashlib.sha256)
    return hmac.compare_digest(expected.hexdigest(), received.headers["X-Signature"])


def test_an_sms_goes_signed_with_the_message_id_as_its_serial(sms, alice):
    sms.routes["/sms/send"] = lambda got: (200, {"id": "gw-77"})
    template = Template.objects.create(code="points_expiry", name="到期", channel="sms", body="{points}")
    message = queue(alice, Channel.SMS, "您的 100 积分将于 12 月 31 日到期", template=template)
    assert messages_send_due(now=NOON) == 1
    message.refresh_from_db()
    assert (message.status, message.provider_ref) == ("sent", "gw-77")
    [got] = sms.received
    assert got.headers["Content-Type"] == "application/json; charset=utf-8"
    assert got.json() == {
        "serial": str(message.pk),
        "phone": "+8613900001234",
        "content": "您的 100 积分将于 12 月 31 日到期",
        "sign_name": "星河会员",
        "template": "SMS_900",
    }
    assert got.headers["X-Key-Id"] == "brand-1"
    assert abs(int(got.headers["X-Timestamp"]) - time.time()) < 60
    assert len(got.headers["X-Nonce"]) == 32
    assert verifies(got)
    assert not verifies(got, secret="guess")
    got.body = got.body.replace(b"100", b"900")
    assert not verifies(got)  # the body is signed


def test_an_sms_as_a_form_is_signed_over_the_form(sms, alice, settings):
    settings.MESSAGING_SMS_FORMAT = "form"
    sms.routes["/sms/send"] = lambda got: (201, {"id": 5})
    message = queue(alice, Channel.SMS, "验证码 4321")
    assert SignedHttpSmsProvider().send(message) == "5"
    [got] = sms.received
    assert got.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert parse_qs(got.body.decode()) == {
        "serial": [str(message.pk)], "phone": ["+8613900001234"], "content": ["验证码 4321"],
        "sign_name": ["星河会员"],
    }  # fmt: skip
    assert verifies(got)


@pytest.mark.parametrize(
    ("status", "answer", "temporary", "said"),
    [
        (429, {"message": "too many requests"}, True, "SMS gateway answered 429: too many requests"),
        (500, {}, True, "SMS gateway answered 500: {}"),
        (503, b"upstream down", True, "SMS gateway answered 503: upstream down"),
        (401, {"message": "bad signature"}, True, "SMS gateway answered 401: bad signature"),
        (400, {"message": "invalid phone number"}, False, "SMS gateway answered 400: invalid phone number"),
        (422, {"error": "number on the carrier's blacklist"}, False, "SMS gateway answered 422: number on"),
        (200, {"status": "ok"}, True, "SMS gateway answered 200: "),  # no id: it may have it, resend
    ],
)
def test_the_gateways_answers_map_to_retry_or_fail(sms, alice, status, answer, temporary, said):
    sms.routes["/sms/send"] = lambda got: (status, answer)
    message = queue(alice, Channel.SMS, "hi")
    with pytest.raises(ProviderError) as refused:
        SignedHttpSmsProvider().send(message)
    assert refused.value.temporary is temporary
    assert str(refused.value).startswith(said)
    messages_claim(limit=1, now=NOON)
    assert message_send(message.pk, now=NOON) == ("queued" if temporary else "failed")
    message.refresh_from_db()
    assert message.attempts == 1
    assert message.send_after == NOON + datetime.timedelta(seconds=30 if temporary else 0)


def test_no_answer_in_time_or_no_gateway_is_temporary(sms, alice, settings):
    def slow(got):
        time.sleep(1.5)
        return 200, {"id": "late"}

    sms.routes["/sms/send"] = slow
    settings.MESSAGING_TIMEOUT = 0.3
    message = queue(alice, Channel.SMS, "hi")
    started = time.monotonic()
    with pytest.raises(ProviderError, match="timed out") as late:
        SignedHttpSmsProvider().send(message)
    assert late.value.temporary and time.monotonic() - started < 1.2
    settings.MESSAGING_SMS_URL = f"http://127.0.0.1:{closed_port()}/sms"
    with pytest.raises(ProviderError, match="no answer from the gateway") as refused:
        SignedHttpSmsProvider().send(message)
    assert refused.value.temporary


# --- WeChat ----------------------------------------------------------------------------------


class WeChat:
    """WeChat's two endpoints: the stable token (the same one until it is rotated) and the send,
    which refuses any token but the current one with 40001."""

    def __init__(self, gateway: Gateway, kind: str = "subscribe") -> None:
        self.gateway, self.token, self.answers = gateway, "T1", []
        self.send_path = f"/cgi-bin/message/{kind}/send"
        gateway.routes["/cgi-bin/stable_token"] = lambda got: (
            200,
            {"access_token": self.token, "expires_in": 7200},
        )
        gateway.routes[self.send_path] = self.send

    def send(self, got):
        if got.query["access_token"] != self.token:
            return 200, {"errcode": 40001, "errmsg": "invalid credential, access_token is invalid"}
        if self.answers:
            return 200, self.answers.pop(0)
        return 200, {"errcode": 0, "errmsg": "ok", "msgid": 1000 + len(self.sends)}  # this one counted

    @property
    def token_calls(self):
        return self.gateway.at("/cgi-bin/stable_token")

    @property
    def sends(self):
        return self.gateway.at(self.send_path)


@pytest.fixture
def wechat(settings, gateway):
    settings.MESSAGING_PROVIDERS = {"wechat": "wechat"}
    settings.MESSAGING_WECHAT_APPID = "wx0123456789abcdef"
    settings.MESSAGING_WECHAT_SECRET = "app-secret"
    settings.MESSAGING_WECHAT_API = gateway.url
    settings.MESSAGING_WECHAT_PAGE = "pages/inbox/index"
    cache.clear()
    return WeChat(gateway)


@pytest.fixture
def expiry(db):
    return Template.objects.create(
        code="points_expiry", name="积分到期", channel="wechat", wechat_template_id="tmpl-expiry",
        body="thing1: {points} 积分即将到期\ndate2: {expiring_date}",
    )  # fmt: skip


def test_the_token_is_fetched_once_for_many_sends(wechat, alice, expiry):
    for i in range(3):
        text = f"thing1: {i}00 积分即将到期\ndate2：2026-12-31"  # a full-width colon too
        queue(alice, Channel.WECHAT, text, key=f"m{i}", template=expiry)
    assert messages_send_due(now=NOON) == 3
    assert len(wechat.token_calls) == 1
    assert wechat.token_calls[0].json() == {
        "grant_type": "client_credential", "appid": "wx0123456789abcdef", "secret": "app-secret",
    }  # fmt: skip
    assert [s.query["access_token"] for s in wechat.sends] == ["T1", "T1", "T1"]
    assert wechat.sends[0].json() == {
        "touser": OPENID,
        "template_id": "tmpl-expiry",
        "data": {"thing1": {"value": "000 积分即将到期"}, "date2": {"value": "2026-12-31"}},
        "miniprogram_state": "formal",
        "lang": "zh_CN",
        "page": "pages/inbox/index",
    }
    assert sorted(Message.objects.values_list("provider_ref", flat=True)) == ["1001", "1002", "1003"]


def test_a_refused_token_is_fetched_again_once(wechat, alice, expiry):
    first = queue(alice, Channel.WECHAT, "thing1: a", key="a", template=expiry)
    assert WeChatSubscribeProvider().send(first) == "1001"
    wechat.token = "T2"  # another system forced a refresh: T1 is dead
    second = queue(alice, Channel.WECHAT, "thing1: b", key="b", template=expiry)
    assert WeChatSubscribeProvider().send(second) == "1003"  # after a 40001
    assert len(wechat.token_calls) == 2
    assert [s.query["access_token"] for s in wechat.sends] == ["T1", "T1", "T2"]
    assert WeChatSubscribeProvider().send(second) == "1004"  # T2 is the cached one now
    assert len(wechat.token_calls) == 2


def test_a_token_refused_again_after_the_refresh_is_temporary(wechat, alice, expiry):
    wechat.gateway.routes[wechat.send_path] = lambda got: (200, {"errcode": 42001, "errmsg": "expired"})
    message = queue(alice, Channel.WECHAT, "thing1: a", template=expiry)
    with pytest.raises(ProviderError) as refused:
        WeChatSubscribeProvider().send(message)
    assert refused.value.temporary and str(refused.value) == "WeChat 42001: expired"
    assert (len(wechat.token_calls), len(wechat.sends)) == (2, 2)  # one refresh, one retry


@pytest.mark.parametrize(
    ("errcode", "temporary", "said"),
    [
        (43101, False, "WeChat 43101: the member has not subscribed to this template (or refused it)"),
        (40003, False, "WeChat 40003: not an OpenID of this app"),
        (47003, False, "WeChat 47003: a field's value is not what the WeChat template takes"),
        (45009, True, "WeChat 45009: reach max api daily quota limit"),
        (-1, True, "WeChat -1: system error"),
    ],
)
def test_wechats_errcodes_map_to_retry_or_fail(wechat, alice, expiry, errcode, temporary, said):
    wechat.answers = [{"errcode": errcode, "errmsg": said.split(": ", 1)[1]}]
    message = queue(alice, Channel.WECHAT, "thing1: a", template=expiry)
    messages_claim(limit=1, now=NOON)
    assert message_send(message.pk, now=NOON) == ("queued" if temporary else "failed")
    message.refresh_from_db()
    assert (message.last_error, message.attempts) == (said, 1)


def test_official_account_template_messages(wechat, alice, expiry, settings, gateway):
    settings.MESSAGING_WECHAT_KIND = "template"
    settings.MESSAGING_WECHAT_PAGE = "https://club.example.cn/inbox"
    official = WeChat(gateway, kind="template")
    message = queue(alice, Channel.WECHAT, "thing1: a", template=expiry)
    assert WeChatSubscribeProvider().send(message) == "1001"
    assert official.sends[0].json() == {
        "touser": OPENID, "template_id": "tmpl-expiry", "data": {"thing1": {"value": "a"}},
        "client_msg_id": f"message-{message.pk}", "url": "https://club.example.cn/inbox",
    }  # fmt: skip


def test_a_message_without_a_wechat_template_fails(wechat, alice):
    message = queue(alice, Channel.WECHAT, "您好")
    with pytest.raises(ProviderError, match="no WeChat template id") as refused:
        WeChatSubscribeProvider().send(message)
    assert not refused.value.temporary and not wechat.sends


def test_the_text_fills_the_wechat_fields(settings):
    assert wechat_fields("thing1: 积分到期\n\n  time2：2026-12-31 23:59 ") == {
        "thing1": "积分到期",
        "time2": "2026-12-31 23:59",
    }
    settings.MESSAGING_WECHAT_FIELD = "thing3"
    assert wechat_fields("您的积分\n即将到期") == {"thing3": "您的积分 即将到期"}  # not lines of fields
    assert wechat_fields("thing1: " + "长" * 21) == {"thing1": "长" * 19 + "…"}  # WeChat takes 20
    assert wechat_fields("character_string1: " + "9" * 25) == {"character_string1": "9" * 25}


def test_a_wechat_template_is_checked_when_saved():
    template = Template(code="x", name="x", channel="wechat", body="thing1: {name}\n您好")
    with pytest.raises(ValidationError) as invalid:
        template.full_clean()
    assert set(invalid.value.message_dict) == {"wechat_template_id", "body"}
    template.wechat_template_id, template.body = "tmpl", "thing1: {name}\nthing1: {points}"
    with pytest.raises(ValidationError, match="named on two lines"):
        template.full_clean()
    template.body = "{name}，您的积分即将到期"  # plain text: one field
    template.full_clean()


# --- email -----------------------------------------------------------------------------------


class FailingBackend(BaseEmailBackend):
    error: Exception = smtplib.SMTPServerDisconnected("gone")

    def send_messages(self, email_messages):
        raise FailingBackend.error


@pytest.fixture
def email(settings):
    settings.MESSAGING_PROVIDERS = {"email": "email"}
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.DEFAULT_FROM_EMAIL = "星河会员 <club@example.cn>"


def test_an_email_lands_in_the_outbox(email, alice):
    message = queue(alice, Channel.EMAIL, "您的积分即将到期。\n详情见会员中心。", subject="积分到期提醒")
    untitled = queue(alice, Channel.EMAIL, "\n生日快乐！\n送您 200 积分。", key="birthday")
    assert messages_send_due(now=NOON) == 2
    sent, birthday = mail.outbox
    assert (sent.subject, sent.body, sent.to, sent.from_email) == (
        "积分到期提醒",
        "您的积分即将到期。\n详情见会员中心。",
        ["alice@example.com"],
        "星河会员 <club@example.cn>",
    )
    message.refresh_from_db()
    assert message.provider_ref == sent.extra_headers["Message-ID"]
    assert message.provider_ref.startswith(f"<message-{message.pk}@")
    assert birthday.subject == "生日快乐！"  # no subject: the first line
    assert Message.objects.get(pk=untitled.pk).status == "sent"


@pytest.mark.parametrize(
    ("error", "temporary"),
    [
        (smtplib.SMTPRecipientsRefused({"alice@example.com": (550, b"no such user")}), False),
        (smtplib.SMTPServerDisconnected("Connection unexpectedly closed"), True),
        (smtplib.SMTPDataError(451, b"try again later"), True),
        (ConnectionRefusedError(111, "Connection refused"), True),
    ],
)
def test_mail_server_failures_map_to_retry_or_fail(email, alice, settings, monkeypatch, error, temporary):
    settings.EMAIL_BACKEND = "tests.messaging.test_providers.FailingBackend"
    monkeypatch.setattr(FailingBackend, "error", error)
    message = queue(alice, Channel.EMAIL, "hi")
    with pytest.raises(ProviderError) as refused:
        EmailProvider().send(message)
    assert refused.value.temporary is temporary


def test_no_mail_server_is_temporary_and_no_address_permanent(email, alice, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", closed_port()
    message = queue(alice, Channel.EMAIL, "hi")
    with pytest.raises(ProviderError) as down:
        EmailProvider().send(message)
    assert down.value.temporary
    message.recipient = "alice-at-example"
    with pytest.raises(ProviderError, match="not an email address") as wrong:
        EmailProvider().send(message)
    assert not wrong.value.temporary


def test_providers_by_name_and_their_rates(settings):
    settings.MESSAGING_PROVIDERS = {"sms": "sms", "wechat": "wechat", "email": "email"}
    settings.MESSAGING_RATES = {"sms": 50.0}
    assert isinstance(provider_for("sms"), SignedHttpSmsProvider)
    assert isinstance(provider_for("wechat"), WeChatSubscribeProvider)
    assert isinstance(provider_for("email"), EmailProvider)
    assert (provider_for("sms").rate_per_second, provider_for("email").rate_per_second) == (50.0, 0.0)


def test_a_provider_without_its_settings_stops_the_process(settings):
    settings.MESSAGING_PROVIDERS = {"sms": "sms", "wechat": "wechat", "email": "email", "inbox": "nope.Nope"}
    settings.MESSAGING_SMS_URL = "https://sms.example.cn/send"
    settings.MESSAGING_SMS_SECRET = ""
    settings.MESSAGING_WECHAT_APPID = settings.MESSAGING_WECHAT_SECRET = ""
    assert [(e.id, e.msg) for e in providers_configured()] == [
        ("messaging.E002", "MESSAGING_PROVIDERS: sms=sms needs MESSAGING_SMS_SECRET."),
        (
            "messaging.E002",
            "MESSAGING_PROVIDERS: wechat=wechat needs MESSAGING_WECHAT_APPID, MESSAGING_WECHAT_SECRET.",
        ),
        ("messaging.E001", "MESSAGING_PROVIDERS: inbox=nope.Nope names no provider."),
    ]
    settings.MESSAGING_PROVIDERS = {}
    assert providers_configured() == []  # the default records: nothing to set
