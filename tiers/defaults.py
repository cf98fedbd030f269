"""Every programme has an entry tier (rank 0) and one tier policy; operators rename and add."""

from __future__ import annotations

from typing import Any

from django.apps import apps as global_apps


def ladder_ensure(*, apps: Any = None, using: str = "default", **_kwargs: Any) -> None:
    """post_migrate: a database without tiers gets the entry tier; the policy row always exists."""
    apps = apps or global_apps  # flush sends post_migrate without the migration state
    Tier = apps.get_model("tiers", "Tier")
    TierPolicy = apps.get_model("tiers", "TierPolicy")
    if not Tier.objects.using(using).exists():
        Tier.objects.using(using).create(rank=0, code="member", name="普通会员", threshold=0)
    TierPolicy.objects.using(using).get_or_create(pk=1)
