"""The starter risk rules: what a brand's risk desk would switch on first, one per pattern.

The demo programme runs them, and the planted-fraud month checks each catches what it is meant
to (``campaigns.risk.planted``). A new programme has no rules until an operator adds them.
"""

from __future__ import annotations

from typing import Any

from campaigns.models import RiskRule

#: (name, kind, fields): the rules that catch the planted cases, as an operator would set them.
STARTER_RULES: list[tuple[str, str, dict[str, Any]]] = [
    (
        "同一设备一小时注册超过10人",
        RiskRule.Kind.VELOCITY,
        {"measure": "enrolments", "scope": "device", "window": "hour", "threshold": 10, "action": "freeze"},
    ),
    (
        "虚拟号段领取注册礼",
        RiskRule.Kind.VIRTUAL_PHONE,
        {"threshold": 0, "lookback_days": 1, "action": "block_redemptions"},
    ),
    (
        "兑换后退货",
        RiskRule.Kind.REFUND_AFTER_REDEEM,
        {"threshold": 2, "lookback_days": 30, "action": "hold"},
    ),
    (
        "积分转赠成环或汇聚",
        RiskRule.Kind.TRANSFER_RING,
        {"threshold": 5, "lookback_days": 7, "action": "block_redemptions"},
    ),
    (
        "店员在本店自买自积",
        RiskRule.Kind.STAFF_SELF_DEALING,
        {"threshold": 8, "lookback_days": 30, "action": "hold"},
    ),
    (
        "新会员集中兑换稀缺礼品",
        RiskRule.Kind.SCARCE_REWARD_BURST,
        {"threshold": 10, "new_member_days": 7, "scarce_stock": 100, "action": "block_redemptions"},
    ),
    (
        "单会员一天消费超过6笔",
        RiskRule.Kind.VELOCITY,
        {"measure": "purchases", "scope": "member", "window": "day", "threshold": 6, "action": "hold"},
    ),
    (
        "同一合作方一小时查询无效券码超过30次",
        RiskRule.Kind.COUPON_GUESSING,
        {"scope": "partner", "window": "hour", "threshold": 30, "action": "alert"},
    ),
    (
        "同一店员账号一小时查询无效券码超过10次",
        RiskRule.Kind.COUPON_GUESSING,
        {"scope": "staff", "window": "hour", "threshold": 10, "action": "alert"},
    ),
]


def starter_rules(*, active: bool = True) -> list[RiskRule]:
    """The starter rules, once (by name)."""
    rules = []
    for name, kind, fields in STARTER_RULES:
        rule, _created = RiskRule.objects.get_or_create(
            name=name, defaults={"kind": kind, "active": active, "score": 40, **fields}
        )
        rules.append(rule)
    return rules
