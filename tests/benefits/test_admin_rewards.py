"""Rewards in the admin: the catalogue with its stock, and the fulfilment queue of gifts (发货),
its steps, masking and query counts."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from benefits.admin_redemptions import FulfilmentForm
from benefits.models import Benefit, Redemption, Reward
from tests.benefits.conftest import earn_now, points_of, redeem_reward
from tests.conftest import login

pytestmark = pytest.mark.django_db

QUEUE = reverse("admin:benefits_redemption_changelist")


# --- rewards ----------------------------------------------------------------------------------


def test_reward_list_shows_stock_and_redemptions(en, operator, member, gift):
    earn_now(member, 2000)
    redeem_reward(member, gift)
    redeem_reward(member, gift)
    five_off = Benefit.objects.create(name="抵5元", kind=Benefit.Kind.AMOUNT_OFF, value=5)
    Reward.objects.create(name="积分抵现", kind=Reward.Kind.CASH, points_price=100, benefit=five_off)
    response = login(en, operator).get(reverse("admin:benefits_reward_changelist"))
    rows = {r.name: r for r in response.context["cl"].result_list}
    assert rows["保温杯"].redeemed == 2 and rows["保温杯"].stock == 8
    assert "unlimited" in response.content.decode()


def test_editing_a_reward_keeps_units_redeemed_while_the_form_was_open(client, operator, member, gift):
    earn_now(member, 2000)
    login(client, operator)
    url = reverse("admin:benefits_reward_change", args=[gift.pk])
    client.get(url)  # the operator opens the form: stock 10
    redeem_reward(member, gift)  # meanwhile one unit goes: stock 9
    form = {"name": "保温杯（新款）", "kind": "physical", "points_price": "500", "active": "on",
            "stock": "10", "initial-stock": "10", "per_member_limit": "", "min_tier": "", "benefit": "",
            "valid_from_0": "", "valid_from_1": "", "valid_until_0": "", "valid_until_1": ""}  # fmt: skip
    assert client.post(url, form).status_code == 302
    gift.refresh_from_db()
    assert gift.name == "保温杯（新款）" and gift.stock == 9  # the name saved, the unit sold kept
    assert client.post(url, {**form, "stock": "15", "initial-stock": "9"}).status_code == 302
    gift.refresh_from_db()
    assert gift.stock == 15  # restocked by six


# --- the fulfilment queue ---------------------------------------------------------------------


def test_queue_shows_open_gifts_by_default(client, operator, orders):
    login(client, operator)
    listed = client.get(QUEUE).context["cl"].result_list
    assert {r.pk for r in listed} == {r.pk for r in orders}
    assert len(client.get(QUEUE, {"status": "all"}).context["cl"].result_list) == 4
    assert len(client.get(QUEUE, {"status": "completed"}).context["cl"].result_list) == 1


def test_fulfilment_actions_move_gifts_on_and_cancel_refunds_the_points(en, operator, member, gift, orders):
    first, second, third = orders
    assert points_of(member) == 500
    login(en, operator)
    en.post(QUEUE, {"action": "mark_shipped", "_selected_action": [first.pk, second.pk]})
    en.post(QUEUE, {"action": "mark_delivered", "_selected_action": [first.pk]})
    response = en.post(QUEUE, {"action": "cancel", "_selected_action": [third.pk]}, follow=True)
    assert "1 redemptions cancelled" in response.content.decode()
    statuses = {r.pk: r.status for r in Redemption.objects.all()}
    assert (statuses[first.pk], statuses[second.pk], statuses[third.pk]) == (
        "delivered",
        "shipped",
        "cancelled",
    )
    assert points_of(member) == 1000  # the cancelled gift's 500 points are back
    gift.refresh_from_db()
    assert gift.stock == 8  # three taken, one returned
    assert Redemption.objects.get(pk=first.pk).history.first().history_user == operator


def test_fulfilment_steps_out_of_order_are_refused_with_a_message(en, operator, member, orders):
    first = orders[0]
    login(en, operator)
    response = en.post(QUEUE, {"action": "mark_delivered", "_selected_action": [first.pk]}, follow=True)
    assert response.status_code == 200 and "It is Waiting for fulfilment now." in response.content.decode()
    en.post(QUEUE, {"action": "mark_shipped", "_selected_action": [first.pk]})
    again = en.post(QUEUE, {"action": "mark_shipped", "_selected_action": [first.pk]}, follow=True)
    assert "It is Shipped now." in again.content.decode()
    cancel = en.post(QUEUE, {"action": "cancel", "_selected_action": [first.pk]}, follow=True)
    assert cancel.status_code == 200 and "cannot be cancelled" in cancel.content.decode()
    assert Redemption.objects.get(pk=first.pk).status == "shipped"
    assert points_of(member) == 500


def test_tracking_number_on_the_change_form_ships_the_gift(client, operator, orders):
    first = orders[0]
    login(client, operator)
    url = reverse("admin:benefits_redemption_change", args=[first.pk])
    assert client.post(url, {"tracking_number": "SF1234567890"}).status_code == 302
    first.refresh_from_db()
    assert first.status == "shipped" and first.tracking_number == "SF1234567890"
    # shipped: the form has nothing left to change, saving changes nothing
    assert client.post(url, {"tracking_number": "OTHER"}).status_code == 302
    first.refresh_from_db()
    assert first.status == "shipped" and first.tracking_number == "SF1234567890"


def test_validating_a_tracking_number_ships_nothing(orders):
    """The gift is shipped by the service the admin calls after validation, not by ``is_valid``."""
    first = orders[0]
    with CaptureQueriesContext(connection) as queries:
        assert FulfilmentForm(data={"tracking_number": "SF1234567890"}, instance=first).is_valid()
    assert queries.captured_queries == []
    first.refresh_from_db()
    assert first.status == "requested" and first.tracking_number == ""


@pytest.mark.parametrize("role", ["finance", "approver"])
def test_queue_masks_member_and_address_and_is_read_only(request, client, role, orders):
    login(client, request.getfixturevalue(role))
    page = client.get(QUEUE).content.decode()
    assert "张*" in page and "上海市徐汇区****" in page
    assert "张伟" not in page and "漕溪北路" not in page and "13812345678" not in page
    assert 'value="cancel"' not in page
    detail = client.get(reverse("admin:benefits_redemption_change", args=[orders[0].pk])).content.decode()
    assert "漕溪北路" not in detail
    client.post(QUEUE, {"action": "cancel", "_selected_action": [orders[0].pk]})
    assert Redemption.objects.get(pk=orders[0].pk).status == "requested"


def test_queue_query_count_does_not_grow(client, operator, member, gift, orders, django_assert_num_queries):
    login(client, operator)
    client.get(QUEUE)
    with django_assert_num_queries(7):  # session, user, 2x permissions, risk badge, count, page
        response = client.get(QUEUE)
    assert len(response.context["cl"].result_list) == 3
    earn_now(member, 5000)
    for _ in range(5):
        redeem_reward(member, gift)
    with django_assert_num_queries(7):
        response = client.get(QUEUE)
    assert len(response.context["cl"].result_list) == 8
