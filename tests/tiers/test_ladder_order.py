"""The tier ladder stays in order: a higher rank needs a strictly higher threshold. An operator
saving 金卡 at 800 growth (below 银卡's 1,000) is refused on the threshold field, naming both
tiers, in their language, and nothing is written; also through the service, and when two
operators save two tiers at the same moment."""

from __future__ import annotations

import time

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.urls import reverse

from tests.concurrency import LOCKED_AND_CONTROL, race, unless
from tests.conftest import login
from tiers import selectors
from tiers.models import Tier
from tiers.services import tier_save

pytestmark = pytest.mark.django_db

HARDER = " A higher tier needs a higher threshold."
GOLD_AT_800 = "金卡 at 800 is not above 银卡 at 1,000, the tier below it."


def tier_form(tier: Tier, **changes) -> dict:
    form = {
        "rank": tier.rank, "code": tier.code, "name": tier.name, "threshold": tier.threshold,
        "earn_multiplier": tier.earn_multiplier, "description": tier.description,
        "entitlements-TOTAL_FORMS": "0", "entitlements-INITIAL_FORMS": "0",
    }  # fmt: skip
    return {**form, **changes}


def thresholds() -> dict[str, int]:
    return dict(Tier.objects.values_list("code", "threshold"))


def test_operator_saving_gold_below_silver_is_refused_on_the_threshold(client, operator, ladder):
    gold = ladder["gold"]
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    login(client, operator)
    versions = gold.history.count()
    response = client.post(
        reverse("admin:tiers_tier_change", args=[gold.pk]), tier_form(gold, threshold="800")
    )
    assert response.status_code == 200
    assert response.context["adminform"].form.errors == {"threshold": [GOLD_AT_800 + HARDER]}
    assert thresholds()["gold"] == 5000 and gold.history.count() == versions  # nothing written


def test_the_refusal_is_in_the_operators_language(client, operator, ladder):
    gold = ladder["gold"]
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "zh-hans"
    login(client, operator)
    response = client.post(
        reverse("admin:tiers_tier_change", args=[gold.pk]), tier_form(gold, threshold="800")
    )
    [message] = response.context["adminform"].form.errors["threshold"]
    assert "金卡" in message and "银卡" in message and "1,000" in message and "800" in message
    assert "threshold" not in message and " at " not in message  # Chinese, no English left


def test_a_new_tier_must_fit_between_its_neighbours(client, operator, ladder):
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    login(client, operator)
    new = Tier(rank=4, code="black", name="黑金", threshold=15000, earn_multiplier=3)
    response = client.post(reverse("admin:tiers_tier_add"), tier_form(new))
    assert response.status_code == 200 and not Tier.objects.filter(code="black").exists()
    assert response.context["adminform"].form.errors["threshold"] == [
        "黑金 at 15,000 is not above 钻石 at 20,000, the tier below it." + HARDER
    ]
    response = client.post(reverse("admin:tiers_tier_add"), tier_form(new, threshold="50000"))
    assert response.status_code == 302 and thresholds()["black"] == 50_000


def test_a_valid_change_is_saved_with_its_author(client, operator, ladder):
    gold = ladder["gold"]
    login(client, operator)
    response = client.post(
        reverse("admin:tiers_tier_change", args=[gold.pk]), tier_form(gold, threshold="6000")
    )
    assert response.status_code == 302 and thresholds()["gold"] == 6000
    assert gold.history.first().history_user == operator


def test_the_service_refuses_a_ladder_out_of_order_and_writes_nothing(ladder):
    silver = ladder["silver"]
    silver.threshold = 5000  # equal to 金卡: 银卡 could never be reached
    with pytest.raises(ValidationError) as refused:
        tier_save(tier=silver)
    assert refused.value.message_dict == {
        "threshold": ["银卡 at 5,000 is not below 金卡 at 5,000, the tier above it." + HARDER]
    }
    assert thresholds() == {"member": 0, "silver": 1000, "gold": 5000, "diamond": 20000}
    silver.threshold = 4999
    tier_save(tier=silver)
    assert thresholds()["silver"] == 4999


def test_moving_a_tier_to_another_rank_is_checked_against_its_new_neighbours(ladder):
    diamond = ladder["diamond"]
    diamond.rank = 5  # still above 金卡 5,000: fine
    tier_save(tier=diamond)
    gold = ladder["gold"]
    gold.rank = 6  # above 钻石 but at 5,000 growth
    assert selectors.ladder_errors(gold, list(Tier.objects.all()))["threshold"].startswith(
        "金卡 at 5,000 is not above 钻石 at 20,000, the tier below it."
    )


@pytest.fixture
def slow_check(monkeypatch):
    """Hold each check for a moment after it read the ladder, so two saves overlap."""
    real = selectors.ladder_errors

    def slow(tier, tiers):
        errors = real(tier, tiers)
        time.sleep(0.5)
        return errors

    monkeypatch.setattr(selectors, "ladder_errors", slow)


def two_operators_at_once() -> list:
    """银卡 to 4,000 and 金卡 to 3,000: each fine alone, out of order together."""
    changes = {"silver": 4000, "gold": 3000}
    codes = list(changes)

    def save(i: int):
        tier = Tier.objects.get(code=codes[i])
        tier.threshold = changes[codes[i]]
        return tier_save(tier=tier)

    return race(2, save)


@pytest.mark.concurrency
@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks and races need PostgreSQL")
@pytest.mark.parametrize("locked", LOCKED_AND_CONTROL)
def test_two_operators_saving_at_once_cannot_put_the_ladder_out_of_order(locked, ladder, slow_check):
    with unless(locked, "tiers/services.py::ladder_lock"):
        results = two_operators_at_once()
    if locked:
        assert sum(isinstance(r, ValidationError) for r in results) == 1, results
        ranked = list(Tier.objects.order_by("rank").values_list("threshold", flat=True))
        assert ranked == sorted(set(ranked))
    else:  # both saved: the ladder is out of order
        assert not any(isinstance(r, Exception) for r in results), results
        assert thresholds()["silver"] > thresholds()["gold"]
