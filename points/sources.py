"""What a ledger entry came from, in the words operators use: "消费 S0001-000123",
"行为：每日签到", "升级奖励：银卡", not the keys the ledger keeps ("purchase:812", "event:98",
"tier_upgrade:2962:silver:20261101093000").

An entry's ``source_ref`` is the key of what posted it, ``prefix:rest``. Facts of the members
app (purchases, refunds, events, transfers) are read here; apps above points register how to
name their own keys in ``DESCRIBERS`` (campaigns: birthdays, tier upgrades, rewards), so this
module never imports them. Every describer takes all the keys of one prefix on a page at once:
a page of entries costs one query per kind of source, not one per entry.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable

from django.utils.translation import gettext as _

from members.purchases.models import MemberEvent, Purchase, Refund

#: prefix -> function(keys of that prefix) -> {key: words}; a key it leaves out shows as itself.
DESCRIBERS: dict[str, Callable[[list[str]], dict[str, str]]] = {}


def _ids(refs: Iterable[str]) -> dict[str, int]:
    found = {}
    for ref in refs:
        tail = ref.split(":", 1)[1].split(":", 1)[0]
        if tail.isdigit():
            found[ref] = int(tail)
    return found


def _purchases(refs: list[str]) -> dict[str, str]:
    ids = _ids(refs)
    numbers = dict(Purchase.objects.filter(pk__in=ids.values()).values_list("pk", "order_number"))
    return {ref: _("Purchase %(order)s") % {"order": numbers[pk]} for ref, pk in ids.items() if pk in numbers}


def _returns(refs: list[str]) -> dict[str, str]:
    ids = _ids(refs)
    found = Refund.objects.filter(pk__in=ids.values()).values_list(
        "pk", "refund_number", "purchase__order_number"
    )
    numbers = {pk: {"refund": refund, "order": order} for pk, refund, order in found}
    words = _("Refund %(refund)s of purchase %(order)s")
    return {ref: words % numbers[pk] for ref, pk in ids.items() if pk in numbers}


def _events(refs: list[str]) -> dict[str, str]:
    ids = _ids(refs)
    names = dict(MemberEvent.objects.filter(pk__in=ids.values()).values_list("pk", "event_type__name"))
    return {ref: _("Event: %(event)s") % {"event": names[pk]} for ref, pk in ids.items() if pk in names}


def _transfers(refs: list[str]) -> dict[str, str]:
    words = {"to": _("Transfer to member %(number)s"), "from": _("Transfer from member %(number)s")}
    return {ref: words[ref.split(":", 1)[0]] % {"number": ref.split(":", 1)[1]} for ref in refs}


def _lots(refs: list[str]) -> dict[str, str]:
    """Expiry takes from lots: named after what earned the lot ("Points of 消费 S0001-…")."""
    from points.models import Lot

    ids = _ids(refs)
    earned = dict(Lot.objects.filter(pk__in=ids.values()).values_list("pk", "source_ref"))
    inner = sources_text(ref for ref in earned.values() if not ref.startswith("lot:"))
    return {
        ref: _("Points of %(source)s") % {"source": inner.get(earned[pk]) or earned[pk]}
        for ref, pk in ids.items()
        if earned.get(pk)
    }


DESCRIBERS.update(
    {
        "purchase": _purchases,
        "return": _returns,
        "event": _events,
        "to": _transfers,
        "from": _transfers,
        "lot": _lots,
    }
)


def sources_text(refs: Iterable[str]) -> dict[str, str]:
    """{source_ref: words} for the given keys; keys nobody can name map to ""."""
    refs = set(refs)
    by_prefix: dict[str, list[str]] = defaultdict(list)
    for ref in refs:
        if ":" in ref:
            by_prefix[ref.split(":", 1)[0]].append(ref)
    words: dict[str, str] = dict.fromkeys(refs, "")  # asked once, also when there is nothing to say
    for prefix, keys in by_prefix.items():
        if describe := DESCRIBERS.get(prefix):
            words.update(describe(sorted(keys)))
    return words


def source_words(ref: str, words: dict[str, str]) -> str:
    """One entry's source as shown: its words, else the reference itself (an order number typed
    by an operator or a partner has no prefix and reads as it is)."""
    return words.get(ref) or ref or "-"
