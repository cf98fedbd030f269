"""SSRF: webhook URLs may not point at private, loopback, link-local, multicast or reserved
addresses (when saved, and again at each delivery: DNS rebinding), unless allowed."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from members.webhooks.delivery import webhooks_deliver_due
from members.webhooks.models import EventType, WebhookEvent
from members.webhooks.services import endpoint_check_url
from members.webhooks.targets import TargetRefused, target_check
from points.services import points_earn
from tests.factories import MemberFactory
from tests.webhooks.conftest import make_partner, subscribe

REFUSED = [
    "http://127.0.0.1/hook",
    "http://127.8.9.10:8080/hook",
    "http://10.0.0.5/hook",
    "http://172.16.3.4/hook",
    "http://192.168.1.1/hook",
    "http://169.254.169.254/latest/meta-data",  # a cloud's metadata service
    "http://100.64.0.1/hook",  # carrier-grade NAT
    "http://0.0.0.0/hook",
    "http://224.0.0.1/hook",  # multicast
    "http://240.0.0.1/hook",  # reserved
    "http://[::1]/hook",
    "http://[fe80::1]/hook",
    "http://[fd00::1]/hook",
    "http://[::ffff:127.0.0.1]/hook",  # loopback written as IPv6
    "http://localhost/hook",  # a name that resolves to loopback
]


@pytest.mark.parametrize("url", REFUSED)
def test_private_and_reserved_addresses_are_refused(url, settings):
    settings.WEBHOOK_ALLOWED_HOSTS, settings.WEBHOOK_ALLOWED_NETWORKS = [], []
    with pytest.raises(TargetRefused):
        target_check(url)


@pytest.mark.parametrize(
    "url",
    ["ftp://93.184.215.14/x", "file:///etc/passwd", "gopher://93.184.215.14/", "http://u:p@93.184.215.14/"],
)
def test_only_plain_http_and_https_urls(url):
    with pytest.raises(TargetRefused):
        target_check(url)


def test_a_public_address_is_called_at_that_address():
    target = target_check("https://93.184.215.14:8443/in?x=1")
    assert (target.scheme, target.host, target.port, target.address, target.path) == (
        "https",
        "93.184.215.14",
        8443,
        "93.184.215.14",
        "/in?x=1",
    )


def test_the_allow_list_lets_on_premise_partners_in(settings):
    settings.WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    settings.WEBHOOK_ALLOWED_NETWORKS = ["10.20.0.0/16"]
    assert target_check("http://127.0.0.1:9000/hook").address == "127.0.0.1"
    assert target_check("http://10.20.30.40/hook").address == "10.20.30.40"
    with pytest.raises(TargetRefused):
        target_check("http://10.21.0.1/hook")  # outside the allowed network
    with pytest.raises(TargetRefused):
        target_check("http://127.0.0.2/hook")  # another loopback address than the allowed host


def test_saving_an_endpoint_names_the_url_field(settings):
    settings.WEBHOOK_ALLOWED_HOSTS = []
    with pytest.raises(ValidationError) as refused:
        endpoint_check_url("http://192.168.0.10/hook")
    assert list(refused.value.message_dict) == ["url"]
    assert "192.168.0.10" in refused.value.message_dict["url"][0]


@pytest.mark.django_db
def test_a_url_refused_at_delivery_time_is_not_called(receiver, settings):
    """Allowed when saved, refused when sent (the allow-list changed; a DNS answer changed)."""
    partner = make_partner("brandpos", first_party=True)
    subscribe(partner, receiver.url, [EventType.POINTS_CHANGED])
    settings.WEBHOOK_ALLOWED_HOSTS = []
    points_earn(member=MemberFactory(), point_type="points", amount=5, source="purchase", source_ref="o",
                idempotency_key="o")  # fmt: skip
    assert webhooks_deliver_due() == 0
    assert receiver.received == []
    event = WebhookEvent.objects.get()
    assert event.status == "pending" and event.attempts == 1
    assert "127.0.0.1" in event.last_error
